/* Ring schedules over an explicit ring order, and the block partition that ring and direct share.
 *
 * A flat topology uses the ring 0, 1, ..., n-1 (nsccl_ring_build); topology-aware callers pass a
 * ring embedding whose neighbours are one hop apart. */
#ifndef NSCCL_ALGO_RING_H
#define NSCCL_ALGO_RING_H

#include "algo/algo.h"

/* Build prog->rank's ring program for prog->args, where order[i] is the rank at ring position i
 * (a permutation of [0, prog->nranks)). Each rank sends to the next position and receives from the
 * previous one. */
nscclResult_t nsccl_ring_build_ordered(const int *order, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

/* Block b of a vector of count elements cut into nblocks nearly equal blocks: the first
 * count % nblocks blocks hold one element more. Blocks may be empty when count < nblocks. */
static inline void nsccl_algo_block(size_t count, int nblocks, int b, size_t *first, size_t *len) {
  size_t q = count / (size_t)nblocks, rem = count % (size_t)nblocks, ub = (size_t)b;
  *first = ub * q + (ub < rem ? ub : rem);
  *len = q + (ub < rem ? 1 : 0);
}

#endif
