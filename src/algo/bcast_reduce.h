/* Rooted collectives: broadcast and reduce (NSCCL_COLL_BROADCAST, NSCCL_COLL_REDUCE).
 *
 * One builder, three tree shapes over the ranks renumbered so that the root is 0
 * (v = (rank - root) mod n):
 *   NSCCL_ALGO_RING   a chain 0 - 1 - ... - n-1, pipelined in chunks (bandwidth: every rank sends
 *                     each byte once; latency grows with n);
 *   NSCCL_ALGO_TREE   a binomial tree (parent v - lowbit(v), children v + 2^k below lowbit(v)):
 *                     ceil(log2 n) rounds, also chunked;
 *   NSCCL_ALGO_DIRECT a flat tree: the root talks to every rank.
 * Broadcast moves each chunk down the tree (a rank receives it into recv, then forwards it from
 * there); reduce moves it up (a rank reduces its children's partial results into its own
 * contribution, in scratch, or in recv at the root, then sends that to its parent). Chunks are
 * independent, so engines pipeline them. */
#ifndef NSCCL_ALGO_BCAST_REDUCE_H
#define NSCCL_ALGO_BCAST_REDUCE_H

#include "algo/algo.h"

/* prog: freshly initialised (nsccl_prog_init) with args.coll BROADCAST or REDUCE and args.root. */
nscclResult_t nsccl_bcast_reduce_build(nsccl_algo_t algo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

/* Shape of the tree around virtual rank v = (rank - root) mod n: returns the parent (-1 at the
 * root) and fills children[] in the order a reduce combines them (nearest subtree first, which
 * finishes first); children have larger virtual ranks than their parent. The cost model prices
 * the same shape. */
int nsccl_bcast_tree_links(nsccl_algo_t algo, int v, int n, int *children, int *nchildren);

#endif
