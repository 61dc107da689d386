/* The direct family's variants: every rank to every other in one step (on a torus the routed
 * multi-hop mesh). Builder in direct.c; prices here (docs/model.md, "Direct"). */
#include <math.h>
#include <stdlib.h>

#include "algo/direct.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "model/price.h"
#include "topologies/topo.h"

typedef nsccl_model_t model_t;

/* One half of the direct exchange: every rank sends a block to every other, blocks j < nhi of
 * q + 1 bytes and the others of q: the destination's block (by_dst, reduce-scatter) or the
 * source's (all-gather), one message per chunk. */
static void direct_half(model_t *m, double q, int nhi, int by_dst) {
  int p = m->p;
  if (nhi == 0) {
    nsccl_model_all_to_all(m, q, 0);
    return;
  }
  if (nsccl_model_all_to_all_split(m, q, q + 1, nhi, by_dst)) return;
  for (int r = 0; r < p; r++)
    for (int j = 0; j < p; j++) {
      double b = q + ((by_dst ? j : r) < nhi);
      if (j != r && b > 0) nsccl_model_flow1(m, r, j, b);
    }
}

static void model_direct(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int p = m->p;
  double B = n / p;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_AUTO)
    variant = n <= (double)NSCCL_DIRECT_ONESHOT_MAX_BYTES ? NSCCL_DIRECT_ONESHOT : NSCCL_DIRECT_RSAG;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_ONESHOT) {
    nsccl_model_oneshot(m, n);
    return;
  }
  /* The all-reduce's halves move the builder's blocks of the vector (one-byte elements here): the
   * first nhi hold q + 1 bytes, the others q, and empty ones send nothing (below p bytes most
   * ranks own none, and the all-gather is the few owners' p - 1 messages each). */
  double q = coll == NSCCL_COLL_ALLREDUCE ? floor(n / p) : B;
  int nhi = coll == NSCCL_COLL_ALLREDUCE ? (int)(n - q * p) : 0;
  if (coll != NSCCL_COLL_ALLGATHER) {
    direct_half(m, q, nhi, 1);
    for (int r = 0; r < p; r++) nsccl_model_reduce(m, r, (p - 1) * (q + (r < nhi)));
    nsccl_model_step(m, 1);
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    direct_half(m, q, nhi, 0);
    nsccl_model_step(m, 1);
  }
}

static nscclResult_t build_direct(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return t ? nsccl_topo_algo_build(NSCCL_ALGO_DIRECT, t, o, p) : nsccl_direct_build(t, o, p);
}
static void price_auto(model_t *m, nsccl_coll_t c, double n) { model_direct(m, c, NSCCL_DIRECT_AUTO, n); }
static void price_oneshot(model_t *m, nsccl_coll_t c, double n) { model_direct(m, c, NSCCL_DIRECT_ONESHOT, n); }
static void price_rsag(model_t *m, nsccl_coll_t c, double n) { model_direct(m, c, NSCCL_DIRECT_RSAG, n); }

const nsccl_variant_t nsccl_variant_direct = {
    "direct",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_AUTO,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_AG | NSCCL_COLLS_RS,
    NULL,
    NULL,
    build_direct,
    price_auto,
    "one exchange with every rank; all-reduce one-shot up to 64 KiB, RS + AG above"};
const nsccl_variant_t nsccl_variant_direct_oneshot = {
    "direct/oneshot",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_ONESHOT,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    NULL,
    NULL,
    build_direct,
    price_oneshot,
    "all-reduce: every rank sends its whole vector to every other and reduces all"};
const nsccl_variant_t nsccl_variant_direct_rsag = {
    "direct/rsag",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_RSAG,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    NULL,
    NULL,
    build_direct,
    price_rsag,
    "all-reduce: direct reduce-scatter, then direct all-gather of the reduced blocks"};
