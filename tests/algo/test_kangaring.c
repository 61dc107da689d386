/* ring/kangaring: the staircase cycles are Hamiltonian and edge-disjoint (checked here by walking
 * them and counting every directed torus link), the lanes form a proper hierarchy, the split
 * balances link loads (checked against loads counted here), and the schedule is correct on many
 * tori, sizes and in/out of place against a serial reference; shapes it cannot serve are refused. */
#include "algo/kangaring.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "torus_run.h"

/* Every node of the a x b torus: its four out-links (+x, -x, +y, -y) are taken by exactly one of
 * H1, H1 reversed, H2, H2 reversed; and H1, H2 are each one cycle of length a*b. */
static void check_cycles(int a, int b, const int *h1, const int *h2) {
  int n = a * b;
  int *inv1 = malloc(sizeof(int) * n), *inv2 = malloc(sizeof(int) * n);
  for (int v = 0; v < n; v++) inv1[v] = inv2[v] = -1;
  for (int v = 0; v < n; v++) {
    cr_assert_eq(inv1[h1[v]], -1, "%dx%d: H1 is not a permutation", a, b);
    cr_assert_eq(inv2[h2[v]], -1, "%dx%d: H2 is not a permutation", a, b);
    inv1[h1[v]] = v, inv2[h2[v]] = v;
  }
  const int *cyc[2] = {h1, h2};
  for (int c = 0; c < 2; c++) {
    int v = 0, len = 0;
    do v = cyc[c][v], len++;
    while (v != 0 && len <= n);
    cr_assert_eq(len, n, "%dx%d: H%d has a cycle of %d through node 0, not %d", a, b, c + 1, len, n);
  }
  for (int v = 0; v < n; v++) {
    int x = v % a, y = v / a;
    int nb[4] = {(x + 1) % a + a * y, (x + a - 1) % a + a * y, x + a * ((y + 1) % b), x + a * ((y + b - 1) % b)};
    int used[4] = {h1[v], inv1[v], h2[v], inv2[v]};
    for (int i = 0; i < 4; i++) {
      int hits = 0;
      for (int j = 0; j < 4; j++) hits += used[j] == nb[i];
      cr_assert_eq(hits, 1, "%dx%d: link %d -> %d is in %d of the 4 rings", a, b, v, nb[i], hits);
    }
  }
  free(inv1);
  free(inv2);
}

Test(kangaring, cycles) {
  int good[][2] = {{3, 3}, {4, 4}, {5, 5}, {4, 8}, {8, 8}, {3, 9}, {6, 6}, {4, 16}, {7, 7}};
  int bad[][2] = {{2, 2}, {2, 4}, {4, 6}, {8, 4}, {3, 6}};
  int h1[256], h2[256];
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    cr_assert(nsccl_kangaring_cycles(good[i][0], good[i][1], h1, h2), "%dx%d refused", good[i][0], good[i][1]);
    check_cycles(good[i][0], good[i][1], h1, h2);
  }
  /* 2 x k: a dimension of two has one link; 4 x 6, 8 x 4: a does not divide b (the plan swaps
   * the dims for 8 x 4); 3 x 6: the staircase complement H2 closes after 9 of 18 nodes. */
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_not(nsccl_kangaring_cycles(bad[i][0], bad[i][1], h1, h2), "%dx%d accepted", bad[i][0], bad[i][1]);
}

static nsccl_topo_t *torus(const char *dims) {
  char spec[200];
  snprintf(spec, sizeof(spec), "torus:dims=%s,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9", dims);
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static const nsccl_variant_t *kr(void) { return nsccl_variant_by_name("ring/kangaring"); }

Test(kangaring, applies_where_cycles_exist) {
  const char *yes[] = {"4x4", "3x3", "8x4", "4x8", "5x5", "4x4x4", "3x3x3", "4x4x3", "1x4x4"};
  const char *no[] = {"2x2", "4x2", "2x2x2", "4x4x2", "16", "3x6", "4x6", "2x2x2x2"};
  cr_assert_not_null(kr());
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    nsccl_topo_t *t = torus(yes[i]);
    cr_assert(nsccl_variant_applies(kr(), t, NSCCL_COLL_ALLREDUCE, t->nranks), "%s refused", yes[i]);
    nsccl_kangaring_t k;
    cr_assert_eq(nsccl_kangaring_plan(t, &k), nscclSuccess);
    /* Every byte of every block is gathered by exactly one lane of each stage, and the lanes of the
     * last stage (those whose phases end with a Z ring or a plane ring after a virtual phase, or
     * the 2D rings) gather all blocks; first-stage lanes of 3D gather a plane or a Z line. */
    for (int l = 0; l < k.nlanes; l++) {
      int got = nsccl_lane_check(&k.lane[l], t->nranks);
      cr_assert_gt(got, 0, "%s lane %d is not a hierarchy", yes[i], l);
      int last_stage = k.zdim < 0 || k.lane[l].nphases == 2;
      if (last_stage) cr_assert_eq(got, t->nranks, "%s lane %d gathers %d blocks", yes[i], l, got);
    }
    double cover[2] = {0, 0}; /* share of [0, 1) per stage */
    for (int l = 0; l < k.nlanes; l++) cover[k.lane[l].nphases - 1] += k.lane[l].hi - k.lane[l].lo;
    cr_assert_float_eq(cover[k.zdim < 0 ? 0 : 1], 1.0, 1e-12, "%s", yes[i]);
    if (k.zdim >= 0) cr_assert_float_eq(cover[0], 1.0, 1e-12, "%s", yes[i]);
    cr_assert_float_eq(k.lane[k.nlanes - 1].hi, 1.0, 1e-12);
    nsccl_kangaring_free(&k);
    nsccl_topo_free(t);
  }
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
    nsccl_topo_t *t = torus(no[i]);
    cr_assert_not(nsccl_variant_applies(kr(), t, NSCCL_COLL_ALLREDUCE, t->nranks), "%s accepted", no[i]);
    nsccl_program_t prog;
    nsccl_coll_args_t args = {.coll = NSCCL_COLL_ALLGATHER, .count = 8, .dtype = nscclInt32};
    nsccl_algo_opts_t o = {0, NSCCL_RING_KANGARING};
    cr_assert_eq(nsccl_prog_init(&prog, 0, t->nranks, &args), nscclSuccess);
    cr_assert_neq(nsccl_algo_build(NSCCL_ALGO_RING, t, &o, &prog), nscclSuccess, "%s built", no[i]);
    nsccl_prog_free(&prog);
    nsccl_topo_free(t);
  }
}

/* The split of trn2-u64 (4x4x4, XY at twice Z): recount the per-link loads of both parts here
 * from the construction (part 1: plane rings of s/4 then Z rings with 16-block super-blocks of s/2;
 * part 2: Z rings of (1-s)/2 then plane rings with 4-block super-blocks of (1-s)/4) and check
 * that XY and Z finish together, at the injection bound 63 / (4 x 128 + 2 x 64) block-seconds. */
Test(kangaring, split_balances_links) {
  double s = nsccl_kangaring_split(16, 4, 128e9, 64e9);
  cr_assert(s > 0.20 && s < 0.22, "split %g, want about 0.213", s);
  double xy = (15 * s / 4 + 15 * 4 * (1 - s) / 4) / 128e9, z = (3 * 16 * s / 2 + 3 * (1 - s) / 2) / 64e9;
  cr_assert_float_eq(xy, z, 1e-6 * z);
  cr_assert_float_eq(xy, 63.0 / 640e9, 1e-6 * xy);
  cr_assert_eq(nsccl_kangaring_split(16, 4, 1e9, 1e12), 1.0); /* Z nearly free: all plane-first */
}

static void cases(const char *dims, const size_t *counts, int ncounts) {
  nsccl_topo_t *t = torus(dims);
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (int k = 0; k < ncounts; k++)
      for (int ip = 0; ip < 2; ip++)
        torus_run_case(t, (nsccl_coll_t)c, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, counts[k], ip, false, 4096);
  /* float max, and the default chunk size */
  torus_run_case(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, 1001, false, true, 0);
  torus_run_case(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, 77, true, true, 0);
  nsccl_topo_free(t);
}

Test(kangaring, torus_2d) {
  size_t counts[] = {0, 1, 17, 1000};
  const char *shapes[] = {"4x4", "3x3", "8x4", "4x8", "5x5"};
  for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) cases(shapes[i], counts, 4);
}

Test(kangaring, torus_3d, .timeout = 120) {
  size_t counts[] = {0, 1, 65, 700, 3001};
  cases("4x4x4", counts, 5);
  cases("3x3x3", counts, 5);
  cases("3x4x4", counts, 3);
}

/* A few MiB per rank with 1 MiB chunks: several chunks per lane share. */
Test(kangaring, large, .timeout = 120) {
  nsccl_topo_t *t = torus("4x4");
  torus_run_case(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, (size_t)3 << 20, false, false, 0);
  torus_run_case(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, (size_t)1 << 18, true, false, 0);
  nsccl_topo_free(t);
}

Test(kangaring, model_agrees_with_simulator, .timeout = 300) {
  double err[64];
  int n = 0;
  /* trn2-16 only (the lockstep 2D lanes); trn2-u64's planned 3D lanes are checked, 8 B to 1 GiB, by
   * the global model_vs_sim test (docs/model.md, "Lanes"). */
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    torus_model_vs_sim("trn2-16", NSCCL_ALGO_RING, NSCCL_RING_KANGARING, (nsccl_coll_t)c, err, &n);
  torus_median_ok(err, n);
}

/* The targets of issue 12 (simulated, 1 GiB): all-gather within 1.3x of the torus injection bound
 * ((p-1)/p bytes over the sum of a chip's link bandwidths, both neighbours per dimension), on trn2-16
 * (4 x 128 GB/s) where KangaRing uses every link in both directions. trn2-u64 misses it for now
 * (docs/algorithms.md): checked here at its present level so a regression shows. */
static double injection_bound(const nsccl_topo_t *t, double bytes) {
  double bw = 0;
  for (int d = 0; d < t->ndims; d++)
    if (t->dims[d] > 2) bw += 2 * t->dim_bandwidth[d];
  return bytes * (t->nranks - 1) / t->nranks / bw;
}

static void near_bound(const char *preset, nsccl_coll_t coll, double factor) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess);
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  size_t bytes = (size_t)1 << 30;
  cr_assert_eq(nsccl_sim_collective(t, coll, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, bytes, NULL, &res), nscclSuccess);
  double bound = injection_bound(t, (double)bytes) * (coll == NSCCL_COLL_ALLREDUCE ? 2 : 1);
  cr_assert(res.time_s <= factor * bound, "%s %s: %.1f us, %.2fx the bound %.1f us", preset, nsccl_coll_name(coll),
            res.time_s * 1e6, res.time_s / bound, bound * 1e6);
  nsccl_topo_free(t);
}

Test(kangaring, injection_bound, .timeout = 120) {
  for (int c = 0; c < NSCCL_NUM_COLLS; c++) near_bound("trn2-16", (nsccl_coll_t)c, 1.3);
  near_bound("trn2-u64", NSCCL_COLL_ALLGATHER, 1.3);
  near_bound("trn2-u64", NSCCL_COLL_REDUCESCATTER, 1.3);
  near_bound("trn2-u64", NSCCL_COLL_ALLREDUCE, 1.3);
}
