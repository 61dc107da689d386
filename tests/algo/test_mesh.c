/* direct/mesh and direct/mesh-oneshot: correct on tori with one and several ranks per chip, in
 * and out of place, against a serial reference; priced as the simulator times them; refused off a
 * torus. */
#include "algo/variant.h"
#include "torus_run.h"

#define MESH         3
#define MESH_ONESHOT 4

static nsccl_topo_t *load(const char *spec) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static void cases(const char *spec) {
  nsccl_topo_t *t = load(spec);
  size_t counts[] = {0, 1, 17, 1000};
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
      for (int ip = 0; ip < 2; ip++) {
        torus_run_case(t, (nsccl_coll_t)c, NSCCL_ALGO_DIRECT, MESH, counts[k], ip, false, 4096);
        if (c == NSCCL_COLL_ALLREDUCE)
          torus_run_case(t, (nsccl_coll_t)c, NSCCL_ALGO_DIRECT, MESH_ONESHOT, counts[k], ip, false, 4096);
      }
  torus_run_case(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_DIRECT, MESH, 999, false, true, 0);
  torus_run_case(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_DIRECT, MESH, 33, true, true, 0);
  nsccl_topo_free(t);
}

#define T(d) "torus:dims=" d ",link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9"
Test(mesh, one_rank_per_chip) {
  const char *shapes[] = {T("4x4"), T("2x2"), T("3x3"), T("4x2"), T("4x4x4"), T("3x5")};
  for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) cases(shapes[i]);
}

Test(mesh, ranks_per_chip, .timeout = 60) {
  cases("torus:dims=2x2,ranks_per_chip=2,intra_chip_bandwidth=4e9,link_bandwidth=1e9,endpoint_overhead=1e-6,"
        "reduce_bandwidth=1e9");
  cases("torus:dims=3x2,ranks_per_chip=4,intra_chip_bandwidth=4e9,link_bandwidth=1e9,endpoint_overhead=1e-6,"
        "reduce_bandwidth=1e9");
  cases("trn2-16-lnc2");
}

Test(mesh, torus_only) {
  nsccl_topo_t *t = load("host:ranks=4");
  cr_assert_not(nsccl_variant_applies(nsccl_variant_by_name("direct/mesh"), t, NSCCL_COLL_ALLGATHER, 4));
  nsccl_topo_free(t);
}

Test(mesh, model_agrees_with_simulator, .timeout = 300) {
  double err[256];
  int n = 0;
  const char *presets[] = {"trn2-16", "trn2-u64"};
  for (int p = 0; p < 2; p++)
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      torus_model_vs_sim(presets[p], NSCCL_ALGO_DIRECT, MESH, (nsccl_coll_t)c, err, &n);
      if (c == NSCCL_COLL_ALLREDUCE)
        torus_model_vs_sim(presets[p], NSCCL_ALGO_DIRECT, MESH_ONESHOT, (nsccl_coll_t)c, err, &n);
    }
  torus_median_ok(err, n);
}
