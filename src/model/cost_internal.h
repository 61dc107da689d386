/* The step accumulator's own helpers (model/cost.c and the cost_*.c files beside it), shared with
 * the model's other files that add flows to a step in bulk (cost_symmetry.c). Not for variants:
 * they use model/price.h. */
#ifndef NSCCL_MODEL_COST_INTERNAL_H
#define NSCCL_MODEL_COST_INTERNAL_H

#include "model/price.h"

/* fmax as glibc computes it on x86-64 (maxsd: x when x > y, else y; a NaN loses to a number),
 * inlined: the compiler leaves fmax a call into libm, and the loops over every flow and rank call
 * it millions of times per selector row at thousands of ranks. Same results bit for bit. */
static inline double nsccl_max(double x, double y) { return x > y || y != y ? x : y; }

/* The rank a virtual rank stands for (m->map: a mapped tree's relabelling). */
static inline int nsccl_model_phys(const nsccl_model_t *m, int v) { return m->map ? m->map[v] : v; }

/* A rank's DMA engines, and how many of them one message of per_msg bytes takes (one per
 * NSCCL_DMA_SPREAD_BYTES, at most engines_per_message, at most all of them). */
static inline int nsccl_model_rank_engines(const nsccl_topo_t *t) { return t->dma_engines > 0 ? t->dma_engines : 1; }
static inline double nsccl_model_message_engines(const nsccl_topo_t *t, double per_msg) {
  int E = nsccl_model_rank_engines(t), epm = t->engines_per_message > 0 ? t->engines_per_message : 1;
  return nsccl_dma_engines_for(per_msg, epm < E ? epm : E);
}

/* What a flow's route contributes besides its links' load: its latency (with the re-sends of
 * storing chips) and one message's own time on it (slowest link, or its engines' streaming). */
typedef struct {
  double lat, hop;
} route_cost_t;

route_cost_t nsccl_model_route_cost(const nsccl_model_t *m, const int *route, int n, double per_msg);
/* The same in two halves: what the route is made of (its links' latency, slowest bandwidth, storing
 * chips passed), then its cost for messages of per_msg bytes. */
typedef struct {
  double lat, minbw;
  int forwards;
} route_walk_t;
route_walk_t nsccl_model_route_walk(const nsccl_topo_t *t, const int *route, int n);
route_cost_t nsccl_model_route_cost_of(const nsccl_model_t *m, route_walk_t w, double per_msg);
/* Fold `count` flows of cost c into the step's latency and per-message trackers. */
void nsccl_model_add_route_cost(nsccl_model_t *m, route_cost_t c, double count);
/* `seconds` of traffic and `msgs` messages on a link in this step. */
void nsccl_model_add_load(nsccl_model_t *m, int link, double seconds, double msgs);

/* Flows by translation (cost_translate.c) on a topology whose translations are coordinate
 * additions: nsccl_model_xlat_flow returns 1 with the flow's route cost in *c and its links' loads
 * kept pending (msgs: its messages), or 0 (no such symmetry, or no route) for the caller to route
 * the flow itself. nsccl_model_xlat_flush adds the pending loads to m->load / m->load_msgs (every
 * reader and writer of those calls it first); nsccl_model_xlat_free releases the state. */
int nsccl_model_xlat_flow(nsccl_model_t *m, int src, int dst, double bytes, double msgs, double per_msg,
                          route_cost_t *c);
void nsccl_model_xlat_flush(nsccl_model_t *m);
void nsccl_model_xlat_free(nsccl_model_t *m);
/* 1 (default): flows go by translation where the topology allows; 0: every flow by its own route
 * (tests compare the two). */
extern int nsccl_model_xlat_enabled;

/* The checks and setup both entry points share (model/predict.c): topology against nranks, seconds
 * not NULL and zeroed; *nothing = 1 when there is nothing to price (one rank or no bytes); else a
 * NULL *topo becomes the flat host topology, built into *flat for the caller to free. */
nscclResult_t nsccl_model_begin(const nsccl_topo_t **topo, nsccl_topo_t **flat, size_t bytes, int nranks,
                                double *seconds, int *nothing);

#endif
