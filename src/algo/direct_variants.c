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

static void model_direct(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int p = m->p;
  double B = n / p;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_AUTO)
    variant = n <= (double)NSCCL_DIRECT_ONESHOT_MAX_BYTES ? NSCCL_DIRECT_ONESHOT : NSCCL_DIRECT_RSAG;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_ONESHOT) {
    nsccl_model_oneshot(m, n);
    return;
  }
  if (coll != NSCCL_COLL_ALLGATHER) {
    nsccl_model_all_to_all(m, B, 0);
    for (int r = 0; r < p; r++) nsccl_model_reduce(m, r, (p - 1) * B);
    nsccl_model_step(m, 1);
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    nsccl_model_all_to_all(m, B, 0);
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
