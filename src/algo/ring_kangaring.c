/* ring/kangaring: Neuron's KangaRing (kangaring.h): four directed rings over the two edge-disjoint
 * Hamiltonian cycles of a 2D torus, each with a quarter of the data; on a 3D torus two parts at
 * once, plane rings then Z rings and Z rings then plane rings, split so that every link's load is
 * proportional to its bandwidth. The schedule is a set of lanes (lanes.h); its price follows it step
 * by step (docs/model.md, "Lanes"). */
#include "algo/kangaring.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/price.h"
#include "topologies/topo.h"

static int kangaring_applies(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll, (void)nranks;
  nsccl_kangaring_t k;
  if (!t || nsccl_kangaring_plan(t, &k) != nscclSuccess) return 0;
  nsccl_kangaring_free(&k);
  return 1;
}

static nscclResult_t kangaring_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  nsccl_kangaring_t k;
  NSCCL_CHECK(nsccl_kangaring_plan(t, &k));
  if (t->nranks != prog->nranks) {
    nsccl_kangaring_free(&k);
    NSCCL_FAIL(nscclInvalidArgument, "ring/kangaring: %s has %d ranks, the program %d", t->name, t->nranks,
               prog->nranks);
  }
  nscclResult_t rc = nsccl_lanes_build(k.lane, k.nlanes, o, prog);
  nsccl_kangaring_free(&k);
  return rc;
}

static void kangaring_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes) {
  nsccl_kangaring_t k;
  if (nsccl_kangaring_plan(m->t, &k) != nscclSuccess) {
    m->rc = nscclInvalidArgument;
    return;
  }
  nsccl_lanes_price(m, k.lane, k.nlanes, coll, bytes);
  nsccl_kangaring_free(&k);
}

const nsccl_variant_t nsccl_variant_ring_kangaring = {
    "ring/kangaring",
    NSCCL_ALGO_RING,
    NSCCL_RING_KANGARING,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    kangaring_applies,
    NULL,
    kangaring_build,
    kangaring_price,
    "torus: 4 directed rings over 2 edge-disjoint Hamiltonian cycles per plane (every link both ways); 3D: "
    "plane-then-Z and Z-then-plane parts split by link bandwidth"};
