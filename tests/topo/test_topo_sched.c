/* Every topology-aware schedule on every preset: built for all ranks, checked by the validator,
 * run by the local engine and compared with a serial reference computed here (int32 sums of
 * distinct small values, exact in any order). Also a few small tori with odd and size-2 dims. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/direct.h"
#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "base/check.h"
#include "engine/local.h"
#include "model/cost.h"
#include "sched/sched.h"
#include "topologies/host.h"
#include "topologies/topo.h"

#include "../algo/torus_run.h"

/* Build, validate, run one case against the serial reference (int32 sums); small chunks, so that
 * the chunking paths run too. */
static void run_case(const nsccl_topo_t *t, nsccl_coll_t coll, nsccl_algo_t algo, int variant, size_t count,
                     bool in_place) {
  torus_run_case(t, coll, algo, variant, count, in_place, false, 4096);
}

/* topo_sched_hier below runs the hierarchical variants on trn2-16x4-efa with more counts. */
static bool skip_hier(const nsccl_topo_t *t, int variant) {
  return variant == NSCCL_VARIANT_HIER && !strcmp(t->name, "trn2-16x4-efa");
}

static void all_cases(const char *name) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(name, &t), nscclSuccess, "%s: %s", name, nsccl_last_error());
  int p = t->nranks;
  size_t counts[] = {0, 1, (size_t)p + 1, 1000};
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
      int v[8], nv = nsccl_model_variants(t, (nsccl_coll_t)c, (nsccl_algo_t)a, p, v, 8);
      cr_assert_gt(nv, 0, "%s: no variant of %s for %s", name, nsccl_algo_name(a), nsccl_coll_name(c));
      for (int i = 0; i < nv; i++)
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]) && !skip_hier(t, v[i]); k++)
          for (int ip = 0; ip < 2; ip++) run_case(t, (nsccl_coll_t)c, (nsccl_algo_t)a, v[i], counts[k], ip);
    }
  nsccl_topo_free(t);
}

Test(topo_sched, trn2_16) { all_cases("trn2-16"); }
Test(topo_sched, trn2_u64, .timeout = 300) { all_cases("trn2-u64"); }
Test(topo_sched, trn3_u64, .timeout = 300) { all_cases("trn3-u64"); }
Test(topo_sched, trn3_u144, .timeout = 300) { all_cases("trn3-u144"); }
Test(topo_sched, trn2_16x4_efa, .timeout = 300) { all_cases("trn2-16x4-efa"); }
Test(topo_sched, trn3_u64_tray, .timeout = 300) { all_cases("trn3-u64-tray"); }
Test(topo_sched, trn2_16_lnc2, .timeout = 300) { all_cases("trn2-16-lnc2"); } /* 4 ranks per chip */
Test(topo_sched, odd_torus) {
  all_cases("torus:dims=3x5,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9");
}
Test(topo_sched, mixed_torus) {
  all_cases("torus:dims=2x3x4,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9,forward=store");
}
Test(topo_sched, host_two_hosts) { all_cases("host:ranks=6,ranks_per_host=3"); }

/* ---- hierarchical variants (algo/hier.h) ---- */

/* Every hierarchical variant that applies to t, all collectives, counts around the rank count and
 * one that chunks (4 KiB chunks), in and out of place. All-gather and reduce-scatter counts are per
 * rank, so the largest one is scaled down to keep the whole array near 65539 elements. */
static void hier_cases(const nsccl_topo_t *t, int expect_variants) {
  int p = t->nranks, found = 0;
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      if (!nsccl_topo_algo_supported((nsccl_algo_t)a, NSCCL_VARIANT_HIER, t, (nsccl_coll_t)c, p)) continue;
      found++;
      size_t big = c == NSCCL_COLL_ALLREDUCE ? 65539 : 65539 / (size_t)p + 1;
      size_t counts[] = {0, 1, (size_t)p - 1, (size_t)p + 1, 1000, big};
      for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
        for (int ip = 0; ip < 2; ip++) run_case(t, (nsccl_coll_t)c, (nsccl_algo_t)a, NSCCL_VARIANT_HIER, counts[k], ip);
    }
  cr_assert_eq(found, expect_variants * NSCCL_NUM_COLLS, "%s: %d hierarchical (family, collective) pairs, want %d",
               t->name, found, expect_variants * NSCCL_NUM_COLLS);
}

static void hier_named(const char *name, int expect_variants) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(name, &t), nscclSuccess, "%s: %s", name, nsccl_last_error());
  hier_cases(t, expect_variants);
  nsccl_topo_free(t);
}

/* Ranks on hosts in any order and any number per host (host_of_rank[r] = host of rank r). */
static void hier_hosts(const int *host_of_rank, int n, int expect_variants) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_host_build(n, host_of_rank, 0, 0, 0, 0, 0, 0, &t), nscclSuccess, "%s", nsccl_last_error());
  hier_cases(t, expect_variants);
  nsccl_topo_free(t);
}

Test(topo_sched_hier, trn2_16x4_efa, .timeout = 300) { hier_named("trn2-16x4-efa", 3); }

/* 3 servers x 2 ranks, the inner topology given inline; 3 groups: no tree/hier. */
#define EFA_3X2                                                                                                        \
  "efa:servers=3,nic_bandwidth=25e9,network_latency=15e-6,inner.module=switch,inner.ranks=2,"                          \
  "inner.link_bandwidth=100e9,inner.endpoint_overhead=1e-6,inner.reduce_bandwidth=1e11"
Test(topo_sched_hier, efa_3x2) { hier_named(EFA_3X2, 2); }
Test(topo_sched_hier, efa_2x3_nic_per_server) {
  hier_named("efa:servers=2,nic=server,nic_bandwidth=25e9,network_latency=15e-6,inner.module=switch,inner.ranks=3,"
             "inner.link_bandwidth=100e9,inner.endpoint_overhead=1e-6,inner.reduce_bandwidth=1e11",
             3);
}

/* Uneven, interleaved groups: sizes 3, 2, 2 (no tree), then 3, 2, 1, 1 and 3, 2 (tree too). */
Test(topo_sched_hier, uneven_hosts) {
  int h3[] = {0, 1, 0, 2, 1, 0, 2};
  hier_hosts(h3, 7, 2);
  int h4[] = {0, 1, 2, 3, 0, 0, 1};
  hier_hosts(h4, 7, 3);
  int h2[] = {1, 1, 0, 1, 0};
  hier_hosts(h2, 5, 3);
}

/* What does not qualify is refused with a reason, not built wrong. */
Test(topo_sched_hier, rejects) {
  nsccl_topo_t *t;
  nsccl_coll_args_t args = {.coll = NSCCL_COLL_ALLREDUCE, .count = 10, .dtype = nscclInt32};
  nsccl_program_t prog;
  nsccl_algo_opts_t opts = {0, NSCCL_VARIANT_HIER};
  cr_assert_eq(nsccl_topo_load("trn2-16", &t), nscclSuccess);
  cr_assert_not(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_VARIANT_HIER, t, NSCCL_COLL_ALLREDUCE, 16));
  cr_assert_eq(nsccl_prog_init(&prog, 0, 16, &args), nscclSuccess);
  cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_RING, t, &opts, &prog), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "group"), "message: %s", nsccl_last_error());
  nsccl_prog_free(&prog);
  nsccl_topo_free(t);
  cr_assert_eq(nsccl_topo_load(EFA_3X2, &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_not(nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_VARIANT_HIER, t, NSCCL_COLL_ALLREDUCE, 6));
  cr_assert_eq(nsccl_prog_init(&prog, 0, 6, &args), nscclSuccess);
  cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_TREE, t, &opts, &prog), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "power-of-two"), "message: %s", nsccl_last_error());
  nsccl_prog_free(&prog);
  nsccl_topo_free(t);
}

/* Leaf switches are groups too (built on request; the selector offers hier only across a network). */
Test(topo_sched_hier, two_level_switch) {
  hier_named("switch:ranks=8,levels=2,ranks_per_switch=4,spine_bandwidth=1e10,link_bandwidth=1e10,"
             "endpoint_overhead=1e-6,reduce_bandwidth=1e10",
             3);
}

/* ---- mapped tree all-gather / reduce-scatter (NSCCL_TREE_MAPPED, algo/topo_tree.c) ---- */

/* Every partner of every step differs from the rank in exactly one torus coordinate (the step stays
 * inside one dimension); with one_hop, each is also a torus neighbour (dimensions of 2 and 4). */
static void check_partners(const nsccl_topo_t *t, nsccl_coll_t coll, bool one_hop) {
  int p = t->nranks;
  nsccl_coll_args_t args = {.coll = coll, .count = 3, .dtype = nscclInt32};
  nsccl_algo_opts_t opts = {0, NSCCL_TREE_MAPPED};
  for (int r = 0; r < p; r++) {
    nsccl_program_t prog;
    cr_assert_eq(nsccl_prog_init(&prog, r, p, &args), nscclSuccess);
    cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_TREE, t, &opts, &prog), nscclSuccess, "%s", nsccl_last_error());
    int cr[NSCCL_TOPO_MAX_DIMS], cq[NSCCL_TOPO_MAX_DIMS];
    /* coordinates by hand, independent of nsccl_topo_coord: dimension 0 varies fastest */
    for (int d = 0, s = 1; d < t->ndims; s *= t->dims[d], d++) cr[d] = r / s % t->dims[d];
    for (uint32_t i = 0; i < prog.nsteps; i++) {
      int q = prog.steps[i].peer;
      if (q < 0) continue;
      int differ = 0, dist = 0;
      for (int d = 0, s = 1; d < t->ndims; s *= t->dims[d], d++) {
        cq[d] = q / s % t->dims[d];
        if (cq[d] != cr[d]) {
          int a = abs(cq[d] - cr[d]);
          differ++;
          dist += a < t->dims[d] - a ? a : t->dims[d] - a;
        }
      }
      cr_assert_eq(differ, 1, "%s %s: rank %d step %u talks to %d, %d coordinates apart", t->name,
                   nsccl_coll_name(coll), r, i, q, differ);
      if (one_hop) cr_assert_eq(dist, 1, "%s: rank %d step %u partner %d is %d hops away", t->name, r, i, q, dist);
    }
    nsccl_prog_free(&prog);
  }
}

static void mapped_cases(const char *name, bool one_hop) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(name, &t), nscclSuccess, "%s: %s", name, nsccl_last_error());
  int p = t->nranks;
  size_t counts[] = {0, 1, (size_t)p - 1, (size_t)p + 1, 1000};
  for (int c = NSCCL_COLL_ALLGATHER; c <= NSCCL_COLL_REDUCESCATTER; c++) {
    cr_assert(nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, t, (nsccl_coll_t)c, p), "%s", name);
    /* offered to the selector */
    int v[8], nv = nsccl_model_variants(t, (nsccl_coll_t)c, NSCCL_ALGO_TREE, p, v, 8), found = 0;
    for (int i = 0; i < nv; i++) found |= v[i] == NSCCL_TREE_MAPPED;
    cr_assert(found, "%s: tree/mapped not among the %s variants", name, nsccl_coll_name(c));
    check_partners(t, (nsccl_coll_t)c, one_hop);
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
      for (int ip = 0; ip < 2; ip++) run_case(t, (nsccl_coll_t)c, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, counts[k], ip);
  }
  nsccl_topo_free(t);
}

#define TORUS_SPEC(dims) "torus:dims=" dims ",link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9"
Test(topo_sched_mapped, trn2_16) { mapped_cases("trn2-16", true); }
Test(topo_sched_mapped, trn2_u64, .timeout = 300) { mapped_cases("trn2-u64", true); }
Test(topo_sched_mapped, spec_4x4) { mapped_cases(TORUS_SPEC("4x4"), true); }
Test(topo_sched_mapped, spec_4x4x4, .timeout = 300) { mapped_cases(TORUS_SPEC("4x4x4"), true); }
Test(topo_sched_mapped, spec_2x3x4) { mapped_cases(TORUS_SPEC("2x3x4") ",forward=store", false); }
Test(topo_sched_mapped, spec_3x5) { mapped_cases(TORUS_SPEC("3x5"), false); }
/* Gray-coded doubling on a dimension of 8 (partners up to 3 hops), Bruck on 6 and 7 (one dimension),
 * a dimension of 1 between longer ones. */
Test(topo_sched_mapped, spec_other_shapes) {
  mapped_cases(TORUS_SPEC("8x2"), false);
  mapped_cases(TORUS_SPEC("6"), false);
  mapped_cases(TORUS_SPEC("7"), false);
  mapped_cases(TORUS_SPEC("3x1x2"), false);
}

/* Where the mapping does not apply it is refused with a reason, not built wrong. */
Test(topo_sched_mapped, rejects) {
  nsccl_topo_t *t;
  nsccl_coll_args_t args = {.coll = NSCCL_COLL_ALLGATHER, .count = 10, .dtype = nscclInt32};
  nsccl_program_t prog;
  nsccl_algo_opts_t opts = {0, NSCCL_TREE_MAPPED};
  cr_assert_eq(nsccl_topo_load("trn3-u64", &t), nscclSuccess, "%s", nsccl_last_error()); /* a switch */
  cr_assert_not(nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, t, NSCCL_COLL_ALLGATHER, t->nranks));
  cr_assert_eq(nsccl_prog_init(&prog, 0, t->nranks, &args), nscclSuccess);
  cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_TREE, t, &opts, &prog), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "torus"), "message: %s", nsccl_last_error());
  nsccl_prog_free(&prog);
  nsccl_topo_free(t);
  /* all-gather takes no base variant; the relabelled all-reduce still needs power-of-two dims */
  cr_assert_eq(nsccl_topo_load(TORUS_SPEC("3x5"), &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_not(
      nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, t, NSCCL_COLL_ALLGATHER, 15));
  cr_assert_not(
      nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, t, NSCCL_COLL_ALLREDUCE, 15));
  nsccl_topo_free(t);
}
