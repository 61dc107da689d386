/* The step accumulator's own helpers (model/cost.c), shared with the model's other files that add
 * flows to a step in bulk (cost_symmetry.c). Not for variants: they use model/price.h. */
#ifndef NSCCL_MODEL_COST_INTERNAL_H
#define NSCCL_MODEL_COST_INTERNAL_H

#include "model/price.h"

/* What a flow's route contributes besides its links' load: its latency (with the re-sends of
 * storing chips) and one message's own time on it (slowest link, or its engines' streaming). */
typedef struct {
  double lat, hop;
} route_cost_t;

route_cost_t nsccl_model_route_cost(const nsccl_model_t *m, const int *route, int n, double per_msg);
/* Fold `count` flows of cost c into the step's latency and per-message trackers. */
void nsccl_model_add_route_cost(nsccl_model_t *m, route_cost_t c, double count);
/* `seconds` of traffic and `msgs` messages on a link in this step. */
void nsccl_model_add_load(nsccl_model_t *m, int link, double seconds, double msgs);

/* The checks and setup both entry points share (model/predict.c): topology against nranks, seconds
 * not NULL and zeroed; *nothing = 1 when there is nothing to price (one rank or no bytes); else a
 * NULL *topo becomes the flat host topology, built into *flat for the caller to free. */
nscclResult_t nsccl_model_begin(const nsccl_topo_t **topo, nsccl_topo_t **flat, size_t bytes, int nranks,
                                double *seconds, int *nothing);

#endif
