/* Plan of the mapped tree all-gather and reduce-scatter (topo_tree_blocks.c): hypercube-style steps
 * run inside one torus dimension at a time, so every partner differs from the rank in one
 * coordinate only. The blocks a rank holds are always a product of per-dimension index sets
 * (a cyclic run of coordinates in each dimension), which is what makes block placement by rank
 * sound. The builder (topo_tree.c) and the cost model (model/cost.c) read the same plan, so the
 * model prices exactly the messages the schedule sends. */
#ifndef NSCCL_ALGO_TOPO_TREE_BLOCKS_H
#define NSCCL_ALGO_TOPO_TREE_BLOCKS_H

#include "sched/sched.h"
#include "topologies/topo.h"

/* Blocks of the ranks whose coordinate in every dimension d lies in the cyclic run
 * [start[d], start[d] + len[d]) (mod dims[d]). */
typedef struct {
  int start[NSCCL_TOPO_MAX_DIMS], len[NSCCL_TOPO_MAX_DIMS];
} nsccl_blockset_t;

/* One step of a rank: send the blocks of `send` to `to`, receive those of `recv` from `from`
 * (all-gather: store them; reduce-scatter: reduce them into the rank's partials). After a
 * reduce-scatter step the rank keeps the partials of `keep`. */
typedef struct {
  int dim;       /* torus dimension of the step */
  int to, from;  /* ranks (equal for a recursive-doubling exchange) */
  int hypercube; /* 1: Gray-coded recursive doubling/halving (power-of-two dim); 0: Bruck */
  nsccl_blockset_t send, recv, keep;
} nsccl_mapped_step_t;

/* Most steps any plan has: sum over dims of ceil(lg k_d) <= lg(nranks) + dims. */
#define NSCCL_MAPPED_MAX_STEPS 64

/* Steps of rank `rank` for coll (all-gather or reduce-scatter) on torus t; returns how many (the
 * same for every rank), or -1 if t has no dimension structure. All-gather runs the dimensions
 * thinnest first (its messages grow by k_d per dimension, so thin links carry the smallest),
 * reduce-scatter the reverse. */
int nsccl_mapped_plan(const nsccl_topo_t *t, nsccl_coll_t coll, int rank, nsccl_mapped_step_t *steps, int max);

/* Does NSCCL_TREE_MAPPED (| base) build coll on t? All-gather and reduce-scatter: base 0 on any
 * torus (ndims > 0, some dimension longer than 1); all-reduce: base RD or Rabenseifner on a torus
 * whose dimensions are all powers of two, one longer than 2 (the hypercube relabelling). */
int nsccl_tree_mapped_supported(const nsccl_topo_t *t, int variant, nsccl_coll_t coll);

/* The model's price of the mapped all-gather / reduce-scatter from this plan (tree_mapped_price.c;
 * m is the model's step accumulator, model/price.h). */
struct nsccl_model;
void nsccl_tree_mapped_price(struct nsccl_model *m, nsccl_coll_t coll, double n);

/* Is rank q in the set? */
int nsccl_blockset_has(const nsccl_topo_t *t, const nsccl_blockset_t *s, int q);
/* Blocks in the set. */
int nsccl_blockset_size(const nsccl_topo_t *t, const nsccl_blockset_t *s);
/* Maximal runs [runs[i][0], runs[i][1]) of consecutive ranks in the set, in rank order; returns how
 * many (at most t->nranks). Each run is one message of the schedule (before chunking). */
int nsccl_blockset_runs(const nsccl_topo_t *t, const nsccl_blockset_t *s, int (*runs)[2]);

#endif
