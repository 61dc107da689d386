/* tree: logarithmic-depth schedules for all-gather, reduce-scatter and all-reduce.
 *
 *   all-gather      recursive doubling (powers of two), Bruck (other counts)   tree_allgather.c
 *   reduce-scatter  recursive halving, fold-in for non-powers of two           tree_reducescatter.c
 *   all-reduce      recursive doubling, Rabenseifner, binary / double-binary   tree_allreduce.c
 *
 * docs/algorithms.md ("## Tree") explains each schedule and its cost. This file dispatches and
 * holds the rank renumbering that the fold-in variants share. */
#include "algo/tree_internal.h"
#include "base/check.h"

int nsccl_tree_resolve_variant(const nsccl_program_t *prog, int requested) {
  if (requested < 0 || requested >= NSCCL_TREE_NUM_VARIANTS) return -1;
  switch (prog->args.coll) {
  case NSCCL_COLL_ALLGATHER: return requested == NSCCL_TREE_BRUCK ? NSCCL_TREE_BRUCK : NSCCL_TREE_AUTO;
  case NSCCL_COLL_REDUCESCATTER: return NSCCL_TREE_AUTO;
  case NSCCL_COLL_ALLREDUCE:
    if (requested == NSCCL_TREE_RD || requested == NSCCL_TREE_RABENSEIFNER || requested == NSCCL_TREE_BINARY ||
        requested == NSCCL_TREE_DOUBLE_BINARY)
      return requested;
    return prog->args.count * nsccl_algo_elem_bytes(prog) <= NSCCL_TREE_RD_MAX_BYTES ? NSCCL_TREE_RD
                                                                                     : NSCCL_TREE_RABENSEIFNER;
  default: return -1;
  }
}

const char *nsccl_tree_variant_name(int variant) {
  static const char *const names[] = {"auto", "rd", "rabenseifner", "binary", "double-binary", "bruck"};
  return variant >= 0 && variant < NSCCL_TREE_NUM_VARIANTS ? names[variant] : "?";
}

void nsccl_tree_fold_init(nsccl_tree_fold_t *f, int rank, int nranks) {
  f->nranks = nranks;
  f->L = 0;
  while ((2 << f->L) <= nranks) f->L++;
  f->P = 1 << f->L;
  f->nextra = nranks - f->P;
  if (rank < 2 * f->nextra) {
    f->core = rank % 2 ? -1 : rank / 2;
    f->partner = rank % 2 ? rank - 1 : rank + 1;
  } else {
    f->core = rank - f->nextra;
    f->partner = -1;
  }
}

int nsccl_tree_core_rank(const nsccl_tree_fold_t *f, int core) {
  return core < f->nextra ? 2 * core : core + f->nextra;
}

int nsccl_tree_hc_peer(const nsccl_tree_fold_t *f, int core, int dim) {
  (void)f;
  return core ^ (1 << dim);
}

nscclResult_t nsccl_tree_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)topo; /* flat for now: every rank one hop from every other */
  int variant = nsccl_tree_resolve_variant(prog, opts ? opts->variant : 0);
  if (variant < 0)
    NSCCL_FAIL(nscclInvalidArgument, "tree: variant %d is not one of NSCCL_TREE_* (0..%d)", opts ? opts->variant : 0,
               NSCCL_TREE_NUM_VARIANTS - 1);
  nsccl_tree_ctx_t c;
  NSCCL_CHECK(nsccl_tree_ctx_init(&c, prog, opts));
  nscclResult_t rc = nscclSuccess;
  size_t bytes = prog->args.count * c.elem;
  if (bytes == 0) {
    /* count 0: nothing to move on any rank */
  } else if (prog->nranks == 1) {
    /* One rank: every collective is a copy (send and recv have the same size). */
    nsccl_tree_copy(&c, nsccl_region(NSCCL_BUF_SEND, 0, bytes), nsccl_region(NSCCL_BUF_RECV, 0, bytes));
  } else {
    switch (prog->args.coll) {
    case NSCCL_COLL_ALLGATHER: nsccl_tree_allgather(&c, variant); break;
    case NSCCL_COLL_REDUCESCATTER: rc = nsccl_tree_reducescatter(&c); break;
    case NSCCL_COLL_ALLREDUCE: rc = nsccl_tree_allreduce(&c, variant); break;
    default: rc = nscclInvalidArgument; break;
    }
  }
  nscclResult_t frc = nsccl_tree_ctx_finish(&c);
  NSCCL_CHECK(rc);
  return frc;
}
