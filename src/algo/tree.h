/* Tree family variants: logarithmic-depth schedules (recursive doubling / halving, Bruck,
 * Rabenseifner, binary and double-binary trees). nsccl_algo_opts_t.variant takes these values.
 * A variant that does not apply to a collective falls back to that collective's default, so a
 * selector may pass one variant for every collective. */
#ifndef NSCCL_ALGO_TREE_H
#define NSCCL_ALGO_TREE_H

#include <stddef.h>

#include "sched/sched.h"

enum {
  NSCCL_TREE_AUTO = 0,          /* all-reduce: RD up to NSCCL_TREE_RD_MAX_BYTES, Rabenseifner above */
  NSCCL_TREE_RD = 1,            /* all-reduce: recursive doubling on whole vectors */
  NSCCL_TREE_RABENSEIFNER = 2,  /* all-reduce: recursive-halving reduce-scatter + recursive-doubling all-gather */
  NSCCL_TREE_BINARY = 3,        /* all-reduce: reduce up one binary tree, broadcast down, chunk-pipelined */
  NSCCL_TREE_DOUBLE_BINARY = 4, /* all-reduce: two complementary binary trees, each with half the vector */
  NSCCL_TREE_BRUCK = 5,         /* all-gather: Bruck's algorithm even for powers of two (default: only others) */
  NSCCL_TREE_NUM_VARIANTS
};

/* Vectors up to this many bytes use recursive doubling under NSCCL_TREE_AUTO. */
#define NSCCL_TREE_RD_MAX_BYTES ((size_t)64 << 10)

/* The variant nsccl_tree_build really uses for this program and requested variant (AUTO resolved;
 * variants that do not apply to the collective mapped to its default). -1 if out of range. */
int nsccl_tree_resolve_variant(const nsccl_program_t *prog, int requested);
const char *nsccl_tree_variant_name(int variant);

#endif
