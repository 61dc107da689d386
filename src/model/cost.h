/* The alpha-beta-gamma cost model (cost.c and the cost_*.c files beside it, derived in docs/model.md).
 *
 * A schedule is priced as a sequence of steps. In a step every rank sends some messages (the flows
 * of the step), and possibly reduces what it receives. With
 *   alpha = topo->endpoint_overhead  (per message a rank sends, serial at the rank),
 *   k     = messages (chunks) the busiest rank sends in the step,
 *   W     = max over links of (bytes the step's flows put on the link / link bandwidth),
 *   R     = bytes the busiest rank reduces, gamma = 1 / reduce_bandwidth,
 *   L     = max over flows of the route latency (links, plus alpha and a chunk's re-send per chip
 *           passed when the torus stores and forwards),
 * the step takes the time of a k-item pipeline through three stages (issue alpha, wire W/k,
 * reduce gamma R/k):  T = alpha + W/k + gamma R/k + (k-1) max(alpha, W/k, gamma R/k) + L.
 * With one message per step (k = 1) this is alpha + W + gamma R + L, and on a flat single-hop switch
 * with zero latency the sums over the steps are the textbook formulas. */
#ifndef NSCCL_MODEL_COST_H
#define NSCCL_MODEL_COST_H

#include <stddef.h>

#include "algo/algo.h"
#include "algo/variant.h"
#include "topologies/topo.h"

typedef struct {
  size_t chunk_bytes; /* 0: NSCCL_DEFAULT_CHUNK_BYTES; SIZE_MAX: never split (textbook) */
} nsccl_model_opts_t;

/* Predicted seconds for (coll, algo, variant) moving `bytes` (nccl-tests convention: the whole
 * array) on nranks ranks of topo (NULL: a flat host crossbar with the default host parameters of
 * topologies/host.h). nranks must equal topo->nranks when topo is given. Variants are the builders'
 * (NSCCL_TREE_*, NSCCL_DIRECT_*, NSCCL_RING_* of algo/topo_algo.h); AUTO variants resolve as the
 * builders resolve them. */
nscclResult_t nsccl_model_predict(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                  nsccl_algo_t algo, int variant, size_t bytes, int nranks, double *seconds);

/* The cheapest variant of a family that has a builder on this topology. */
nscclResult_t nsccl_model_best_variant(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                       nsccl_algo_t algo, size_t bytes, int nranks, int *variant, double *seconds);

/* Variants of a family the model knows for (topo, coll), in a fixed order; returns how many. */
int nsccl_model_variants(const nsccl_topo_t *topo, nsccl_coll_t coll, nsccl_algo_t algo, int nranks, int *variants,
                         int max);
/* "ring", "ring/dims", "tree/rd", "direct/oneshot", ... (the registry's names, algo/variant.h) */
const char *nsccl_model_variant_name(nsccl_algo_t algo, int variant);
/* The registered variant that runs for (algo, variant) on coll: itself, or the family default when
 * it is named for other collectives only; NULL if (algo, variant) is not registered. */
const struct nsccl_variant *nsccl_model_resolve(nsccl_algo_t algo, int variant, nsccl_coll_t coll);

#endif
