/* Tree schedules with hypercube steps mapped onto torus dimensions (NSCCL_TREE_MAPPED).
 *
 * All-gather and reduce-scatter follow the plan of topo_tree_blocks.c: one dimension at a time,
 * Gray-coded recursive doubling/halving inside a power-of-two dimension, Bruck inside any other,
 * so every partner differs from the rank in one coordinate. Blocks are named by rank throughout
 * (rank q's block at q * B in recv, its partials at q * B in send or scratch), so placement is
 * right whatever the labelling; each maximal run of consecutive ranks in a step's set is one
 * message, chunked and ordered by the tree family's hazard-tracking emitters (tree_internal.h).
 *
 * All-reduce keeps the relabelling: the flat recursive-doubling or Rabenseifner schedule is built
 * for virtual rank v = perm^-1(rank) and its peers renamed through perm
 * (nsccl_topo_hypercube_perm), so every hypercube step of a torus whose dimensions are 2 or 4 long
 * is a one-hop exchange. Renaming is sound for all-reduce only: every rank ends with the whole
 * reduced vector whatever the labelling, while all-gather and reduce-scatter place blocks by rank. */
#include <stdlib.h>

#include "algo/topo_algo.h"
#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "algo/tree_internal.h"
#include "base/check.h"
#include "topologies/topo.h"

nscclResult_t nsccl_tree_mapped_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

int nsccl_tree_mapped_supported(const nsccl_topo_t *t, int variant, nsccl_coll_t coll) {
  /* Coordinates are the chips' when a chip runs several ranks (topo.h): refuse rather than misplace. */
  if (!t || t->ndims <= 0 || t->ranks_per_chip > 1 || !(variant & NSCCL_TREE_MAPPED)) return 0;
  int base = variant & ~NSCCL_TREE_MAPPED, big = 0, longer = 0;
  for (int d = 0; d < t->ndims; d++) {
    if (t->dims[d] > 1) longer = 1;
    if (t->dims[d] > 2) big = 1;
  }
  if (coll == NSCCL_COLL_ALLGATHER || coll == NSCCL_COLL_REDUCESCATTER) return base == 0 && longer;
  if (coll != NSCCL_COLL_ALLREDUCE || (base != NSCCL_TREE_RD && base != NSCCL_TREE_RABENSEIFNER)) return 0;
  for (int d = 0; d < t->ndims; d++)
    if (t->dims[d] & (t->dims[d] - 1)) return 0;
  return big;
}

static nscclResult_t allreduce_relabelled(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts,
                                          nsccl_program_t *prog) {
  int n = prog->nranks, v = -1;
  int *perm = malloc(sizeof(int) * (size_t)n);
  if (!perm) NSCCL_FAIL(nscclSystemError, "tree: out of memory for a rank map of %d", n);
  nsccl_topo_hypercube_perm(topo, perm);
  for (int i = 0; i < n; i++)
    if (perm[i] == prog->rank) v = i;
  nsccl_program_t tmp;
  nscclResult_t rc = nsccl_prog_init(&tmp, v, n, &prog->args);
  if (rc == nscclSuccess) {
    nsccl_algo_opts_t o = *opts;
    o.variant &= ~NSCCL_TREE_MAPPED;
    rc = nsccl_tree_build(NULL, &o, &tmp);
    if (rc == nscclSuccess && nsccl_prog_failed(&tmp)) rc = nscclSystemError;
  }
  if (rc == nscclSuccess) {
    for (uint32_t s = 0; s < tmp.nsteps; s++)
      if (tmp.steps[s].peer >= 0) tmp.steps[s].peer = perm[tmp.steps[s].peer];
    tmp.rank = prog->rank;
    nsccl_prog_free(prog);
    *prog = tmp;
  } else {
    nsccl_prog_free(&tmp);
  }
  free(perm);
  return rc;
}

/* All-gather: every block sits at its final offset in recv; the own block is sent from send (it
 * need not wait for the local copy), every other block from recv. */
static void allgather(nsccl_tree_ctx_t *c, const nsccl_topo_t *t, const nsccl_mapped_step_t *st, int nst,
                      int (*runs)[2], size_t B) {
  int r = c->prog->rank;
  nsccl_tree_copy(c, nsccl_region(NSCCL_BUF_SEND, 0, B), nsccl_region(NSCCL_BUF_RECV, (size_t)r * B, B));
  for (int i = 0; i < nst; i++) {
    int nr = nsccl_blockset_runs(t, &st[i].send, runs);
    for (int k = 0; k < nr; k++) {
      size_t lo = (size_t)runs[k][0] * B, len = (size_t)(runs[k][1] - runs[k][0]) * B;
      nsccl_region_t src = nsccl_region(NSCCL_BUF_RECV, lo, len);
      if (runs[k][0] == r && runs[k][1] == r + 1) src = nsccl_region(NSCCL_BUF_SEND, 0, B);
      nsccl_tree_send(c, st[i].to, src);
    }
    nr = nsccl_blockset_runs(t, &st[i].recv, runs);
    for (int k = 0; k < nr; k++)
      nsccl_tree_recv(c, st[i].from,
                      nsccl_region(NSCCL_BUF_RECV, (size_t)runs[k][0] * B, (size_t)(runs[k][1] - runs[k][0]) * B));
  }
}

/* The region holding the partials of the run of blocks [j0, j1) at step i of rank r: one buffer
 * for the whole run (acc), else the plan is broken. */
static nscclResult_t partials(const unsigned char *acc, int j0, int j1, size_t B, int r, int i, nsccl_region_t *out) {
  for (int j = j0; j < j1; j++)
    if (acc[j] != acc[j0])
      NSCCL_FAIL(nscclInternalError, "tree/mapped: rank %d step %d: partials of one run in two buffers", r, i);
  *out = nsccl_region(acc[j0] ? NSCCL_BUF_SCRATCH : NSCCL_BUF_SEND, (size_t)j0 * B, (size_t)(j1 - j0) * B);
  return nscclSuccess;
}

/* Reduce-scatter: the partials of block q live in send (the input, before anything was reduced
 * into them) or in scratch at q * B; acc[q] says which. The final reduction of the own block lands
 * in recv. A held set is reduced as a whole in every step but a Bruck step with m < 2^s, which
 * keeps blocks it did not receive; those are copied to scratch so that a set's partials are always
 * in one buffer, and every run stays one message. */
static nscclResult_t reducescatter(nsccl_tree_ctx_t *c, const nsccl_topo_t *t, const nsccl_mapped_step_t *st, int nst,
                                   int (*runs)[2], unsigned char *acc, size_t B) {
  int r = c->prog->rank, n = t->nranks;
  for (int i = 0; i < nst; i++) {
    int nr = nsccl_blockset_runs(t, &st[i].send, runs);
    for (int k = 0; k < nr; k++) {
      nsccl_region_t src;
      NSCCL_CHECK(partials(acc, runs[k][0], runs[k][1], B, r, i, &src));
      nsccl_tree_send(c, st[i].to, src);
    }
    nr = nsccl_blockset_runs(t, &st[i].recv, runs);
    for (int k = 0; k < nr; k++) {
      int j0 = runs[k][0], j1 = runs[k][1];
      nsccl_region_t src;
      NSCCL_CHECK(partials(acc, j0, j1, B, r, i, &src));
      size_t lo = (size_t)j0 * B, len = (size_t)(j1 - j0) * B;
      nsccl_region_t dst = nsccl_region(NSCCL_BUF_SCRATCH, lo, len);
      if (i == nst - 1) { /* the last step receives exactly the own block (the plan ends on it) */
        if (j0 != r || j1 != r + 1)
          NSCCL_FAIL(nscclInternalError, "tree/mapped: rank %d ends on blocks [%d, %d)", r, j0, j1);
        dst = nsccl_region(NSCCL_BUF_RECV, 0, B);
      }
      nsccl_tree_recv_reduce(c, st[i].from, src, dst);
      for (int j = j0; j < j1; j++) acc[j] = 1;
    }
    /* Kept but not received, still in send: move to scratch (runs of such blocks). */
    for (int q = 0, q0 = -1; q <= n; q++) {
      int move = q < n && !acc[q] && nsccl_blockset_has(t, &st[i].keep, q);
      if (move && q0 < 0) q0 = q;
      if (!move && q0 >= 0) {
        size_t lo = (size_t)q0 * B, len = (size_t)(q - q0) * B;
        nsccl_tree_copy(c, nsccl_region(NSCCL_BUF_SEND, lo, len), nsccl_region(NSCCL_BUF_SCRATCH, lo, len));
        for (int j = q0; j < q; j++) acc[j] = 1;
        q0 = -1;
      }
    }
  }
  return nscclSuccess;
}

static nscclResult_t blocks_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  nsccl_mapped_step_t st[NSCCL_MAPPED_MAX_STEPS];
  int nst = nsccl_mapped_plan(t, prog->args.coll, prog->rank, st, NSCCL_MAPPED_MAX_STEPS);
  if (nst < 0)
    NSCCL_FAIL(nscclInvalidArgument, "tree/mapped: topology %s has no torus dimensions to map onto", t->name);
  nsccl_tree_ctx_t c;
  NSCCL_CHECK(nsccl_tree_ctx_init(&c, prog, opts));
  size_t B = prog->args.count * c.elem;
  int n = prog->nranks;
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)n);
  unsigned char *acc = calloc((size_t)n, 1);
  nscclResult_t rc = nscclSuccess;
  if (!runs || !acc) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "tree/mapped: out of memory for %d ranks", n);
  } else if (B == 0) {
    /* count 0: nothing to move */
  } else if (n == 1) {
    nsccl_tree_copy(&c, nsccl_region(NSCCL_BUF_SEND, 0, B), nsccl_region(NSCCL_BUF_RECV, 0, B));
  } else if (prog->args.coll == NSCCL_COLL_ALLGATHER) {
    allgather(&c, t, st, nst, runs, B);
  } else {
    rc = reducescatter(&c, t, st, nst, runs, acc, B);
  }
  free(runs);
  free(acc);
  nscclResult_t frc = nsccl_tree_ctx_finish(&c);
  NSCCL_CHECK(rc);
  return frc;
}

nscclResult_t nsccl_tree_mapped_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  if (!nsccl_tree_mapped_supported(topo, opts->variant, prog->args.coll))
    NSCCL_FAIL(nscclInvalidArgument,
               "tree: mapped variant 0x%x does not apply to %s on %s (all-gather and reduce-scatter need a torus; "
               "all-reduce RD or Rabenseifner needs power-of-two dims)",
               (unsigned)opts->variant, nsccl_coll_name(prog->args.coll), topo ? topo->name : "a flat topology");
  if (prog->args.coll == NSCCL_COLL_ALLREDUCE) return allreduce_relabelled(topo, opts, prog);
  return blocks_build(topo, opts, prog);
}
