/* Dispatch of algorithms when a topology is known: the topology-aware builders (topo_ring.c,
 * topo_tree.c) for their variants, the flat builders otherwise. */
#include <stdlib.h>

#include "algo/hier.h"
#include "algo/ring.h"
#include "algo/topo_algo.h"
#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "algo/variant.h"
#include "base/check.h"
#include "topologies/topo.h"

nscclResult_t nsccl_ring_dims_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
nscclResult_t nsccl_tree_mapped_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

/* Torus-aware schedules read rank coordinates; with several ranks per chip the coordinates are the
 * chips' (topo.h), so those schedules refuse such a topology rather than place ranks wrongly. */
static int ranks_are_chips(const nsccl_topo_t *t) { return t && t->ranks_per_chip <= 1; }

static int torus_dims_pow2(const nsccl_topo_t *t, int *has_big) {
  *has_big = 0;
  if (!t || t->ndims == 0 || !ranks_are_chips(t)) return 0;
  for (int d = 0; d < t->ndims; d++) {
    if (t->dims[d] & (t->dims[d] - 1)) return 0;
    if (t->dims[d] > 2) *has_big = 1;
  }
  return 1;
}

int nsccl_topo_hypercube_perm(const struct nsccl_topo *topo, int *perm) {
  int big, n = topo->nranks;
  if (!torus_dims_pow2(topo, &big)) {
    for (int v = 0; v < n; v++) perm[v] = v;
    return 0;
  }
  for (int v = 0; v < n; v++) {
    int c[NSCCL_TOPO_MAX_DIMS], shift = 0;
    for (int d = 0; d < topo->ndims; d++) {
      int bits = 0;
      while ((1 << bits) < topo->dims[d]) bits++;
      int g = (v >> shift) & ((1 << bits) - 1), x = 0;
      /* Coordinate = inverse Gray code of the dimension's bits: flipping any one bit of a 4-ring's
       * label moves one hop (00-01-11-10 around the ring). */
      for (; g; g >>= 1) x ^= g;
      c[d] = x;
      shift += bits;
    }
    perm[v] = nsccl_topo_rank_at(topo, c);
  }
  return 1;
}

int nsccl_topo_algo_supported(nsccl_algo_t algo, int variant, const struct nsccl_topo *topo, nsccl_coll_t coll,
                              int nranks) {
  return nsccl_variant_applies(nsccl_variant_find(algo, variant), topo, coll, nranks);
}

nscclResult_t nsccl_topo_algo_build(nsccl_algo_t algo, const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts,
                                    nsccl_program_t *prog) {
  const nsccl_topo_t *t = topo;
  if (t->nranks != prog->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "topology %s has %d ranks, the program %d", t->name, t->nranks, prog->nranks);
  nsccl_algo_opts_t o = *opts;
  if (o.variant & NSCCL_VARIANT_HIER) {
    if (o.variant != NSCCL_VARIANT_HIER)
      NSCCL_FAIL(nscclInvalidArgument, "%s: variant 0x%x combines NSCCL_VARIANT_HIER with other flags",
                 nsccl_algo_name(algo), (unsigned)o.variant);
    return nsccl_hier_build(t, algo, &o, prog);
  }
  switch (algo) {
  case NSCCL_ALGO_RING: {
    if (o.variant == NSCCL_RING_DIMS && nsccl_topo_algo_supported(algo, o.variant, topo, prog->args.coll, prog->nranks))
      return nsccl_ring_dims_build(t, &o, prog);
    if (o.variant != 0 && o.variant != NSCCL_RING_TOPO)
      NSCCL_FAIL(nscclInvalidArgument, "ring: variant %d does not apply to topology %s", o.variant, t->name);
    o.variant = 0;
    int *order = malloc(sizeof(int) * (size_t)t->nranks);
    if (!order) NSCCL_FAIL(nscclSystemError, "ring: out of memory for the ring of %s", t->name);
    nsccl_topo_ring(t, order);
    nscclResult_t rc = nsccl_ring_build_ordered(order, &o, prog);
    free(order);
    return rc;
  }
  case NSCCL_ALGO_TREE:
    if (o.variant & NSCCL_TREE_MAPPED) {
      return nsccl_tree_mapped_build(t, &o, prog); /* refuses what it does not apply to, saying why */
    }
    return nsccl_tree_build(topo, &o, prog);
  default: return nsccl_direct_build(topo, &o, prog);
  }
}
