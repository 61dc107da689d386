/* The cost model of the rooted collectives, broadcast and reduce (cost_rooted.c, derived in
 * docs/model.md, "Broadcast and reduce"). The selector prices them through this entry point;
 * nsccl_model_predict (cost.c) keeps to the collectives below NSCCL_NUM_COLLS. */
#ifndef NSCCL_MODEL_COST_ROOTED_H
#define NSCCL_MODEL_COST_ROOTED_H

#include "model/cost.h"

/* Predicted seconds for a broadcast or reduce (coll) of `bytes` (the whole vector) rooted at
 * `root`, built by family `algo` as src/algo/bcast_reduce.c builds it (ring: the pipelined chain,
 * tree: the binomial tree, direct: the flat tree), on nranks ranks of topo (NULL: a flat host
 * crossbar with default parameters). opts as for nsccl_model_predict (chunk size). */
nscclResult_t nsccl_model_predict_rooted(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                         nsccl_algo_t algo, size_t bytes, int nranks, int root, double *seconds);

/* The heap-ordered binary trees' all-reduce (tree_allreduce.c: `trees` = 1, tree/binary; 2, the
 * double tree, the second mirrored, each with half of `bytes`), walked message by message as the
 * rooted reduce and broadcast are: every chunk reduced up its tree and, from the root, sent back
 * down, the trees sharing the ranks' engines and reduction, the links and the pair queues. chunk:
 * the builders' chunk size. docs/model.md, "Binary and double-binary trees". */
nscclResult_t nsccl_model_walk_heap_trees(const nsccl_topo_t *topo, int nranks, int trees, double bytes, double chunk,
                                          double *seconds);

/* 1 (default): the walks keep their events in the simulator's radix queue (engine/sim_queue.h),
 * falling back to a binary heap should an event come out of time order; 0: always the binary heap.
 * Both serve events in the same order (tests compare the prices). */
extern int nsccl_model_walk_radix;

#endif
