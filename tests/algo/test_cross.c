/* direct/cross: correct on two switches joined chip by chip (every shape the switch module builds:
 * servers of one to three chips, either cross route, direct links slow and fast enough to forward
 * over), in and out of place, int32 sums and float max, against a serial reference; priced as the simulator times it; refused where the pairing is
 * missing (one switch, a torus, a crossbar, several ranks per chip). */
#include "algo/variant.h"
#include "torus_run.h"

#define CROSS 5

#define SW(s)                                                                                                          \
  "switch:levels=1,switches=2," s ",link_bandwidth=1e9,cross_bandwidth=2e8,endpoint_overhead=1e-6,"                  \
  "reduce_bandwidth=1e9"

static nsccl_topo_t *load(const char *spec) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static void cases(const char *spec) {
  nsccl_topo_t *t = load(spec);
  cr_assert(nsccl_variant_applies(nsccl_variant_by_name("direct/cross"), t, NSCCL_COLL_ALLREDUCE, t->nranks), "%s",
            spec);
  size_t counts[] = {0, 1, 17, 1000};
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
      for (int ip = 0; ip < 2; ip++) torus_run_case(t, (nsccl_coll_t)c, NSCCL_ALGO_DIRECT, CROSS, counts[k], ip, false, 4096);
  /* Fewer elements than ranks (empty all-reduce blocks), float max, and a chunk smaller than a block. */
  torus_run_case(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_DIRECT, CROSS, 3, false, true, 0);
  torus_run_case(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_DIRECT, CROSS, 999, true, true, 256);
  torus_run_case(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_DIRECT, CROSS, 33, true, true, 64);
  torus_run_case(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, CROSS, 257, false, true, 128);
  nsccl_topo_free(t);
}

Test(cross, shapes, .timeout = 120) {
  cases(SW("ranks=4,server_chips=1,cross_links=0-2 1-3"));
  cases(SW("ranks=6,server_chips=1,cross_links=0-3 1-4 2-5"));
  cases(SW("ranks=8,server_chips=2,cross_links=0-2 1-3"));
  cases(SW("ranks=8,server_chips=2,cross_links=0-3 1-2,cross_route=dest"));
  cases(SW("ranks=12,server_chips=3,cross_links=0-2 1-3"));
}

/* A direct link fast enough that the all-gather forwards blocks over it (cross_forward: x = 1 of
 * 4 ranks per switch, x = 2 of 6), as on trn3-u64 at large sizes. */
#define FAST(s)                                                                                                        \
  "switch:levels=1,switches=2," s ",link_bandwidth=1e9,cross_bandwidth=5e8,endpoint_overhead=1e-6,"                  \
  "reduce_bandwidth=1e9"
Test(cross, forwarding, .timeout = 120) {
  cases(FAST("ranks=8,server_chips=2,cross_links=0-2 1-3"));
  cases(FAST("ranks=12,server_chips=3,cross_links=0-2 1-3"));
  cases(FAST("ranks=12,server_chips=3,cross_links=0-3 1-2,cross_route=dest"));
}

Test(cross, trn3_u64, .timeout = 120) { cases("trn3-u64"); }

Test(cross, pairing_only) {
  const char *no[] = {"host:ranks=4", "trn2-16", "trn3-u64-crossbar", "trn3-u64-lnc2", "trn3-u144",
                      "switch:ranks=8,levels=1,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9"};
  const nsccl_variant_t *v = nsccl_variant_by_name("direct/cross");
  cr_assert(v);
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
    nsccl_topo_t *t = load(no[i]);
    cr_assert_not(nsccl_variant_applies(v, t, NSCCL_COLL_ALLGATHER, t->nranks), "%s", no[i]);
    nsccl_program_t prog;
    nsccl_coll_args_t args = {.coll = NSCCL_COLL_ALLGATHER, .count = 4, .dtype = nscclInt32};
    cr_assert_eq(nsccl_prog_init(&prog, 0, t->nranks, &args), nscclSuccess);
    nsccl_algo_opts_t opts = {0, CROSS};
    cr_assert_neq(nsccl_algo_build(NSCCL_ALGO_DIRECT, t, &opts, &prog), nscclSuccess, "%s", no[i]);
    nsccl_prog_free(&prog);
    nsccl_topo_free(t);
  }
}

Test(cross, model_agrees_with_simulator, .timeout = 300) {
  double err[64];
  int n = 0;
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    torus_model_vs_sim("trn3-u64", NSCCL_ALGO_DIRECT, CROSS, (nsccl_coll_t)c, err, &n);
  torus_median_ok(err, n);
}

/* At 1 GiB the simulated all-gather is within 1.1x of the bound set by a rank's switch port and its
 * cross link together, (p-1)/p N / (port + cross) (a textbook injection bound, computed here from
 * the preset's two bandwidths): every block crosses once and the direct links carry their share. */
Test(cross, near_injection_bound, .timeout = 120) {
  nsccl_topo_t *t = load("trn3-u64");
  double n = (double)(1u << 30), p = t->nranks;
  double bound = (p - 1) / p * n / (t->link_bandwidth + t->cross_bandwidth);
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, CROSS, (size_t)n, NULL, &res),
               nscclSuccess, "%s", nsccl_last_error());
  cr_assert(res.time_s <= 1.1 * bound, "sim %.1f us, bound %.1f us", res.time_s * 1e6, bound * 1e6);
  nsccl_topo_free(t);
}
