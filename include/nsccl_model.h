/* nsccl modelling API: load a topology (a preset such as "trn2-16", an INI file, or a spec
 * "torus:dims=4x4,..."), predict the time of a collective with the alpha-beta-gamma cost model, and
 * pick the algorithm the library would pick. docs/model.md derives the formulas, docs/topologies.md
 * lists the modules, keys and presets. Link with -lnsccl. */
#ifndef NSCCL_MODEL_H
#define NSCCL_MODEL_H

#include <stddef.h>

#include "nsccl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque topology. */
typedef struct nsccl_topo nscclTopo_t;

/* Values equal the library's internal numbering. */
typedef enum {
  nscclModelAllGather = 0,
  nscclModelReduceScatter = 1,
  nscclModelAllReduce = 2,
  nscclModelNumColls = 3
} nscclModelColl_t;
typedef enum { nscclModelRing = 0, nscclModelTree = 1, nscclModelDirect = 2, nscclModelNumAlgos = 3 } nscclModelAlgo_t;

/* Load a topology by preset name (searched in $NSCCL_PRESET_DIR, then <datadir>/nsccl/presets, or
 * the source tree's presets for a library still in its build tree), file path or spec string. A bad file returns
 * nscclInvalidArgument and nscclGetLastError() names file:line. */
nscclResult_t nscclModelTopoLoad(const char *nameOrPath, nscclTopo_t **topo);
void nscclModelTopoFree(nscclTopo_t *topo);
int nscclModelTopoRanks(const nscclTopo_t *topo);
const char *nscclModelTopoName(const nscclTopo_t *topo);

/* Predicted seconds of `coll` moving `bytes` (nccl-tests convention: all-gather output,
 * reduce-scatter input, all-reduce vector) with algorithm family `algo` at its cheapest variant on
 * topo (NULL: a flat host crossbar of nranks ranks; with a topology nranks must be its rank count
 * or 0). variantName (may be NULL) receives the variant's name, e.g. "tree/rabenseifner". */
nscclResult_t nscclModelPredict(const nscclTopo_t *topo, int nranks, nscclModelColl_t coll, nscclModelAlgo_t algo,
                                size_t bytes, double *seconds, const char **variantName);

/* The algorithm the library selects (cheapest prediction), honouring an override string like
 * NSCCL_ALGO ("ring", "allreduce:tree;allgather:direct", NULL for none). */
nscclResult_t nscclModelSelect(const nscclTopo_t *topo, int nranks, nscclModelColl_t coll, size_t bytes,
                               const char *override, nscclModelAlgo_t *algo, double *seconds);

const char *nscclModelCollName(nscclModelColl_t coll);
const char *nscclModelAlgoName(nscclModelAlgo_t algo);

/* ==== Simulator (src/engine/sim.c): declarations below are added by the simulator's owner ==== */
/* A deterministic discrete-event simulation of the library's own schedules on the topology's links:
 * messages cut into packets cross the links of their routes, each link serving packets in arrival
 * order at its bandwidth. docs/simulator.md states the semantics and the accuracy of the options. */
#include <stdint.h>

#define NSCCL_SIM_DEFAULT_PACKET_BYTES ((size_t)64 << 10)
#define NSCCL_SIM_DEFAULT_MAX_PACKETS  16u
#define NSCCL_SIM_WHOLE_MESSAGE        ((size_t)-1) /* packet_bytes: one packet per message */
#define NSCCL_SIM_UNLIMITED_PACKETS    UINT32_MAX   /* max_packets: never grow packets */
#define NSCCL_SIM_DEFAULT_BUDGET       ((uint64_t)1 << 17)
#define NSCCL_SIM_UNLIMITED_BUDGET     UINT64_MAX /* packet_budget: never grow packets */

typedef struct {
  /* Packet size in bytes (0: NSCCL_SIM_DEFAULT_PACKET_BYTES; NSCCL_SIM_WHOLE_MESSAGE: one packet). */
  size_t packet_bytes;
  /* A message is cut into at most this many packets: the packet grows to ceil(bytes / max_packets)
   * when the configured size would give more (0: NSCCL_SIM_DEFAULT_MAX_PACKETS). Bounds the work per
   * message; docs/simulator.md measures what it costs in accuracy. */
  uint32_t max_packets;
  /* Packets of a whole run: the packet grows to ceil(all message bytes / packet_budget) when that is
   * larger still (0: NSCCL_SIM_DEFAULT_BUDGET). Bounds the work of a run whatever its size. */
  uint64_t packet_budget;
  /* Bytes/s of a COPY step (0: free, the topology has no memcpy figure). */
  double copy_bandwidth;
  /* Deprecated (kept for old callers): 1 gives every message its own DMA engine, whatever the
   * topology says. Concurrency is now the topology's: keys dma_engines, engines_per_message and
   * dma_engine_bandwidth (docs/topologies.md), which the cost model prices too. 0 (default): the
   * topology's engines. */
  int overlap_overhead;
} nsccl_sim_opts_t;

typedef struct {
  double time_s;       /* completion of the last rank */
  double *rank_time_s; /* in: NULL or an array of nranks; out: each rank's completion time */
  uint64_t events;     /* events processed */
  uint64_t messages;   /* messages sent */
  uint64_t packets;    /* packet injections (counting each store-and-forward re-send) */
  double wall_s;       /* host seconds the simulation took */
  int bottleneck_link; /* index of the link busy longest (-1 if no link was used) */
  double bottleneck_busy_s;
} nsccl_sim_result_t;

/* Simulate `coll` moving `bytes` (nccl-tests convention) with family `algo` at the variant the cost
 * model prices cheapest (the schedule the library would run) on every rank of topo. opts may be
 * NULL. result->rank_time_s may point to an array of nscclModelTopoRanks(topo) doubles. */
nscclResult_t nscclModelSimulate(const nscclTopo_t *topo, nscclModelColl_t coll, nscclModelAlgo_t algo, size_t bytes,
                                 const nsccl_sim_opts_t *opts, nsccl_sim_result_t *result);

/* ---- Watching a simulated run (docs/simulator.md, "Timelines and link use") ---- */
/* What one directed link of the topology did during a run. */
typedef struct {
  int src, dst;  /* its vertices: ranks are 0 .. nranks-1, then switches, NICs, chips */
  double bytes;  /* bytes it carried */
  double busy_s; /* seconds it was transmitting (busy_s / result->time_s: its share of the span) */
} nscclModelLinkUse_t;

#define NSCCL_MODEL_TRACE_DEFAULT_LIMIT 500000u

typedef struct {
  /* NULL, or a file to write the run's timeline to: Trace Event Format JSON (Perfetto,
   * chrome://tracing), a track per rank with its steps, a track per link with its busy intervals and
   * a bytes-in-flight counter, times in microseconds. */
  const char *trace_path;
  /* Step and link slices in the file at most (0: NSCCL_MODEL_TRACE_DEFAULT_LIMIT); later ones are
   * dropped and the file records up to which simulated time it is complete. */
  uint64_t trace_limit;
  /* NULL, or nscclModelTopoLinks(topo) entries: entry i receives link i's use. */
  nscclModelLinkUse_t *links;
} nscclModelWatch_t;

/* Directed links of topo, and a printable name of vertex v ("rank 3", "chip 1", "switch 0", "NIC 5",
 * "network", ...) in buf. */
int nscclModelTopoLinks(const nscclTopo_t *topo);
nscclResult_t nscclModelVertexName(const nscclTopo_t *topo, int v, char *buf, size_t len);

/* nscclModelSimulate, watched: the same run and result, plus the trace file and / or the link use
 * that watch asks for (watch may be NULL: exactly nscclModelSimulate). */
nscclResult_t nscclModelSimulateWatched(const nscclTopo_t *topo, nscclModelColl_t coll, nscclModelAlgo_t algo,
                                        size_t bytes, const nsccl_sim_opts_t *opts, const nscclModelWatch_t *watch,
                                        nsccl_sim_result_t *result);

/* ==== end of simulator section ==== */

#ifdef __cplusplus
}
#endif

#endif
