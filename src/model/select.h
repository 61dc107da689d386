/* The selector: picks the algorithm for a collective from the cost model over a topology, unless
 * the user overrides it (NSCCL_ALGO or nscclConfig_t.algo). */
#ifndef NSCCL_MODEL_SELECT_H
#define NSCCL_MODEL_SELECT_H

#include "algo/algo.h"
#include "sched/sched.h"

struct nsccl_topo;

/* A parsed override: per collective an algorithm, or -1 for "let the model choose". Indexed by
 * every nsccl_coll_t, rooted ones (broadcast, reduce) included. */
typedef struct {
  int algo[NSCCL_NUM_COLLS_ALL];
  /* Added: a variant forced with "family/variant" (e.g. "ring/hier", names as
   * nsccl_model_variant_name prints them), or -1: the family's cheapest variant. */
  int variant[NSCCL_NUM_COLLS_ALL];
} nsccl_algo_override_t;

/* Parse "ring" | "tree" | "direct" | "auto" (every collective, broadcast and reduce too) or a list
 * "allreduce:tree;allgather:direct;broadcast:direct" (the rest stay auto). Broadcast and reduce
 * have one schedule per family (algo/bcast_reduce.h): a variant named for them is ignored. A family may name its
 * variant: "ring/hier", "allreduce:tree/rabenseifner"; a forced variant that does not apply to the topology falls back
 * to the family's cheapest. "msccl:FILE" (alone or as "allgather:msccl:FILE") reads an MSCCL-IR file (algo/msccl.h)
 * and forces it for the file's collective only; the file's errors (with its line) fail the parse; a path must not hold
 * ',' or ';'. NULL or "" means all auto. A bad spec returns nscclInvalidArgument with a message naming
 * the bad part. */
nscclResult_t nsccl_algo_override_parse(const char *spec, nsccl_algo_override_t *out);

typedef struct {
  nsccl_algo_t algo;                   /* the choice */
  int overridden;                      /* 1 if it came from an override */
  double predicted_s[NSCCL_NUM_ALGOS]; /* model time of each candidate, seconds (< 0: not applicable) */
  /* Added: the builder variant (nsccl_algo_opts_t.variant) the model priced for each family, its
   * cheapest on this topology. Build the chosen family with variant[algo] to run what was priced. */
  int variant[NSCCL_NUM_ALGOS];
} nsccl_choice_t;

/* Choose the algorithm for `coll` moving `bytes` (nccl-tests convention: the whole array, i.e.
 * all-gather output, reduce-scatter input, all-reduce, broadcast and reduce vector; broadcast and
 * reduce are priced rooted at rank 0 by model/cost_rooted.h, with variant 0) on nranks ranks of topo (NULL: a flat
 * crossbar with default host parameters). */
nscclResult_t nsccl_select(const struct nsccl_topo *topo, const nsccl_algo_override_t *ovr, nsccl_coll_t coll,
                           size_t bytes, int nranks, nsccl_choice_t *out);

#endif
