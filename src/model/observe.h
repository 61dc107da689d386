/* Watching a simulated run (docs/simulator.md, "Timelines and link use"): a Trace Event Format file
 * that Perfetto and chrome://tracing open (sim_trace.c), and per-link totals for the "busiest links"
 * reports (sim_links.c). Both are observers of the simulator (engine/sim_observe.h); this file puts
 * them together for the tools and the modelling API. */
#ifndef NSCCL_MODEL_OBSERVE_H
#define NSCCL_MODEL_OBSERVE_H

#include <stdint.h>
#include <stdio.h>

#include "engine/sim_observe.h"
#include "model/simulate.h"

/* Slices a trace file holds at most unless told otherwise (about 150 bytes each): step slices and
 * link busy intervals together; metadata is never dropped and the counter has a budget of its own. */
#define NSCCL_TRACE_DEFAULT_LIMIT NSCCL_MODEL_TRACE_DEFAULT_LIMIT

/* Tracks (lanes) per rank: a rank's concurrent steps go on separate tracks so that slices on one
 * track never overlap; beyond this many the rest overlap on the lane that frees first. */
#define NSCCL_TRACE_LANES 1024

/* An open trace file; it may hold several runs, each with its own tracks. */
typedef struct nsccl_trace nsccl_trace_t;

/* Create `path` and start the file. limit 0: NSCCL_TRACE_DEFAULT_LIMIT. */
nscclResult_t nsccl_trace_open(const char *path, uint64_t limit, nsccl_trace_t **out);
/* Finish the file (the run table, the closing brackets) and close it; reports a failed write. NULL:
 * nothing. */
nscclResult_t nsccl_trace_close(nsccl_trace_t *tr);
/* Events written and dropped so far (for the tools' summary line). */
void nsccl_trace_counts(const nsccl_trace_t *tr, uint64_t *written, uint64_t *dropped);

/* What a link did in one run. */
typedef struct {
  double bytes;  /* bytes it carried (every packet that crossed it) */
  double busy_s; /* seconds it was transmitting: the simulator's own busy figure */
} nsccl_link_use_t;

/* What to watch in one run; any member may be NULL. */
typedef struct {
  nsccl_trace_t *trace;    /* add the run to this file */
  const char *label;       /* the run's name in the file (NULL: nsccl_sim_collective_observed names it
                            * "allreduce ring/dims 1048576 B on trn2-16"; nsccl_sim_observed the topology) */
  nsccl_link_use_t *links; /* [topo->nlinks], zeroed and filled */
} nsccl_observe_t;

/* nsccl_sim_run watched by ob (NULL or all members NULL: no observer at all). */
nscclResult_t nsccl_sim_observed(const struct nsccl_topo *topo, const nsccl_program_t *progs, int nranks,
                                 const nsccl_sim_opts_t *opts, const nsccl_observe_t *ob, nsccl_sim_result_t *res);

/* nsccl_sim_collective watched by ob. chunk_bytes: the builders' chunk (0: the library's default). */
nscclResult_t nsccl_sim_collective_observed(const struct nsccl_topo *topo, nsccl_coll_t coll, nsccl_algo_t algo,
                                            int variant, size_t bytes, size_t chunk_bytes, const nsccl_sim_opts_t *opts,
                                            const nsccl_observe_t *ob, nsccl_sim_result_t *res);

/* ---- the trace writer's side of a run (sim_trace.c; nsccl_sim_observed calls these) ---- */
typedef struct nsccl_trace_run nsccl_trace_run_t;
nscclResult_t nsccl_trace_run_begin(nsccl_trace_t *tr, const char *label, const struct nsccl_topo *topo,
                                    const nsccl_program_t *progs, int nranks, nsccl_trace_run_t **out);
void nsccl_trace_step_start(nsccl_trace_run_t *run, int rank, uint32_t step, double t);
void nsccl_trace_step_end(nsccl_trace_run_t *run, int rank, uint32_t step, double t);
void nsccl_trace_link_busy(nsccl_trace_run_t *run, int link, double start, double end, double bytes);
void nsccl_trace_message(nsccl_trace_run_t *run, int src, uint32_t send_step, int dst, uint32_t recv_step, double bytes,
                         double t, int arrived);
/* The run is over (span_s: the collective's time; ok 0: it failed, write what there is): flush the
 * links, write the counter and the names, free the run. */
nscclResult_t nsccl_trace_run_end(nsccl_trace_run_t *run, double span_s, int ok);

/* ---- link reports (sim_links.c) ---- */
/* The `top` busiest links (0: all), busiest first, ties by index: link, from, to, share of span_s
 * busy, bytes carried, busy us. */
void nsccl_links_table(FILE *f, const struct nsccl_topo *topo, const nsccl_link_use_t *links, double span_s, int top);
/* Every link as CSV rows "PREFIX,link,from,to,carried_bytes,busy_us,span_us,busy_share" (prefix: the run's
 * own leading fields, already CSV-quoted, or "" for none); header: nsccl_links_csv_header. */
void nsccl_links_csv(FILE *f, const char *prefix, const struct nsccl_topo *topo, const nsccl_link_use_t *links,
                     double span_s);
#define NSCCL_LINKS_CSV_COLUMNS "link,from,to,carried_bytes,busy_us,span_us,busy_share"

#endif
