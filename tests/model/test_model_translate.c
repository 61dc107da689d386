/* Flows priced by translation (model/cost_translate.c) against every flow priced by its own route
 * (the topology's nsccl_topo_route, as before the shortcut): every offered variant of every
 * collective on tori with odd, even, two-long and long rings, mixed bandwidths and storing chips,
 * at sizes the rank count does and does not divide, must give the same seconds, bit for bit. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/cost_internal.h"
#include "topologies/topo.h"

static double price(const nsccl_topo_t *t, const nsccl_variant_t *v, nsccl_coll_t coll, size_t bytes, int fast) {
  nsccl_model_xlat_enabled = fast;
  double s = -1;
  nscclResult_t rc = nsccl_model_predict(t, NULL, coll, v->family, v->id, bytes, t->nranks, &s);
  nsccl_model_xlat_enabled = 1;
  cr_assert_eq(rc, nscclSuccess, "%s %s on %s: %s", v->name, nsccl_coll_name(coll), t->name, nsccl_last_error());
  return s;
}

static void compare_all(const char *grid) {
  char spec[512];
  snprintf(spec, sizeof(spec),
           "%s,link_latency=2e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1.7e12,dma_engines=16,"
           "engines_per_message=4,dma_engine_bandwidth=2.7e10",
           grid);
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", spec);
  const nsccl_coll_t colls[] = {NSCCL_COLL_ALLREDUCE, NSCCL_COLL_ALLGATHER, NSCCL_COLL_REDUCESCATTER};
  const size_t sizes[] = {4096, 1000003, 16u << 20};
  int priced = 0;
  for (size_t c = 0; c < sizeof(colls) / sizeof(colls[0]); c++)
    for (int i = 0; i < nsccl_variant_count(); i++) {
      const nsccl_variant_t *v = nsccl_variant_at(i);
      if (!nsccl_variant_offered(v, t, colls[c], t->nranks) || !v->price) continue;
      for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        double fast = price(t, v, colls[c], sizes[s], 1), each = price(t, v, colls[c], sizes[s], 0);
        cr_expect(fast == each, "%s %s %zu B on %s: by translation %.17g s, flow by flow %.17g s", v->name,
                  nsccl_coll_name(colls[c]), sizes[s], grid, fast, each);
        priced++;
      }
    }
  cr_assert(priced > 0, "%s: no variant priced", grid);
  nsccl_topo_free(t);
}

Test(model_translate, square_tori) {
  compare_all("torus:dims=4x4,link_bandwidth=1e11");
  compare_all("torus:dims=16x16,link_bandwidth=1.28e11");
}

Test(model_translate, odd_mixed_and_two_long_rings) {
  compare_all("torus:dims=5x4,link_bandwidth=1e11");
  compare_all("torus:dims=2x3x4,dim_bandwidth=1e11,5e10,2e11");
  compare_all("torus:dims=2x8,link_bandwidth=1e11");
}

/* Long rings: recursive doubling's far partners cross many links, where the lines are swept. */
Test(model_translate, long_rings) {
  compare_all("torus:dims=64,link_bandwidth=1e11");
  compare_all("torus:dims=32x4,dim_bandwidth=1e11,6e10");
}

/* Storing chips and several ranks per chip declare no coordinate-addition symmetry the shortcut
 * can use: both ways must still agree (the shortcut steps aside). */
Test(model_translate, where_it_steps_aside) {
  compare_all("torus:dims=4x4,link_bandwidth=1e11,forward=store");
  compare_all("torus:dims=4x2,link_bandwidth=1e11,ranks_per_chip=2,intra_chip_bandwidth=2e11");
}
