/* The cost model against the textbook alpha-beta-gamma formulas (Thakur, Rabenseifner & Gropp
 * 2005, as listed in collectives.md), written out here, on a flat single-hop switch with zero port
 * latency and no chunking; plus closed forms on a torus, and the selector. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/direct.h"
#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "model/simulate.h"
#include "topologies/topo.h"

#define ALPHA 3e-6
#define BW    2e9 /* beta = 1/BW */
#define RBW   5e9 /* gamma = 1/RBW */

static nsccl_topo_t *flat(int p) {
  char spec[200];
  snprintf(spec, sizeof(spec), "switch:ranks=%d,link_bandwidth=%g,endpoint_overhead=%g,reduce_bandwidth=%g", p, BW,
           ALPHA, RBW);
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", nsccl_last_error());
  return t;
}

static double predict(nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, int v, double n, size_t chunk) {
  nsccl_model_opts_t o = {chunk};
  double s = -1;
  cr_assert_eq(nsccl_model_predict(t, &o, c, a, v, (size_t)n, t->nranks, &s), nscclSuccess, "%s", nsccl_last_error());
  return s;
}

static void near(double got, double want, const char *what, int p, double n) {
  cr_assert(fabs(got - want) <= 1e-12 * want + 1e-18, "%s p=%d n=%.0f: model %.9g s, textbook %.9g s", what, p, n, got,
            want);
}

Test(model, textbook_flat_switch) {
  const double a = ALPHA, b = 1 / BW, g = 1 / RBW;
  int ps[] = {2, 3, 4, 5, 6, 7, 8, 12, 16, 64};
  double ns[] = {1024, 1 << 20, 3.0 * (1 << 24)};
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
    for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
      int p = ps[i];
      double n = ns[j] - fmod(ns[j], p), f = (p - 1.0) / p, lg = ceil(log2(p));
      nsccl_topo_t *t = flat(p);
      /* ring */
      near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, 0, n, SIZE_MAX), (p - 1) * a + f * n * b, "ring AG", p, n);
      near(predict(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_RING, 0, n, SIZE_MAX), (p - 1) * a + f * n * (b + g),
           "ring RS", p, n);
      near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, 0, n, SIZE_MAX),
           2 * (p - 1) * a + 2 * f * n * b + f * n * g, "ring AR", p, n);
      /* recursive doubling (p = 2^k) and Bruck (any p) all-gather */
      /* Bruck as built: step k sends run = min(2^k, p - 2^k) blocks; a run that wraps past block p-1
       * (rank p-1's, whenever run > 1) goes as two messages, so that step is a 2-message pipeline.
       * Below a power of two the last step's m = p - 2^(L-1) blocks are held after step
       * ceil(lg m) - 1, so its messages go with step ceil(lg m)'s (the byte-range dependencies
       * allow it): that step is a pipeline of both steps' messages on the rank's one engine. */
      double bruck = 0;
      int L = (int)lg, last = p - (1 << (L - 1)), early = (int)ceil(log2(last));
      if (early >= L - 1) early = -1;
      for (int k = 0; k < L; k++) {
        if (k == L - 1 && early >= 0) break;
        int d = 1 << k;
        double run = d < p - d ? d : p - d, msgs = run > 1 ? 2 : 1;
        if (k == early) run += last, msgs += last > 1 ? 2 : 1;
        double w = run * (n / p) * b;
        bruck += a + w / msgs + (msgs - 1) * fmax(a, w / msgs);
      }
      near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, NSCCL_TREE_BRUCK, n, SIZE_MAX), bruck, "Bruck AG", p, n);
      if ((p & (p - 1)) == 0) {
        near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, 0, n, SIZE_MAX), lg * a + f * n * b, "RD AG", p, n);
        near(predict(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_TREE, 0, n, SIZE_MAX), lg * a + f * n * (b + g),
             "halving RS", p, n);
        near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_RD, n, SIZE_MAX), lg * (a + n * b + n * g),
             "RD AR", p, n);
        near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_RABENSEIFNER, n, SIZE_MAX),
             2 * lg * a + 2 * f * n * b + f * n * g, "Rabenseifner AR", p, n);
      }
      /* direct: p-1 messages issued back to back (alpha each) while the port drains them */
      double m = n / p, step = fmax(a, m * b);
      near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, n, SIZE_MAX), a + m * b + (p - 2) * step, "direct AG",
           p, n);
      nsccl_topo_free(t);
    }
}

/* Chunking: a ring step of B bytes in c chunks is a c-stage pipeline of (alpha, chunk beta). */
Test(model, chunk_pipeline) {
  const double a = ALPHA, b = 1 / BW;
  nsccl_topo_t *t = flat(4);
  double n = 4.0 * 10 * 4096, B = n / 4, chunk = 4096, c = B / chunk; /* 10 chunks per block */
  /* A chunk moves on as soon as it arrived, so the 3 steps' 30 chunks run through one issuing
   * engine back to back (alpha > a chunk's wire time here): the first chunk's alpha and wire, then
   * 29 more alphas; the step-synchronous sum 3 (a + w + 9 max(a, w)) would be 4 us more. */
  double want = a + chunk * b + (3 * c - 1) * fmax(a, chunk * b);
  near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, 0, n, 4096), want, "chunked ring AG", 4, n);
  nsccl_topo_free(t);
}

/* A 4x4 torus with link latency L: the snake ring is one hop per step and pays each edge's latency
 * once per block journey (p-1 edges); dims ring has 3+3 steps; routed vs store. */
Test(model, torus_closed_forms) {
  const double a = ALPHA, b = 1 / BW, L = 5e-7;
  nsccl_topo_t *t;
  char spec[256];
  snprintf(spec, sizeof(spec),
           "torus:dims=4x4,link_bandwidth=%g,endpoint_overhead=%g,reduce_bandwidth=%g,link_latency=%g", BW, ALPHA, RBW,
           L);
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", nsccl_last_error());
  double n = 16.0 * 1024, B = n / 16;
  near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, NSCCL_RING_TOPO, n, SIZE_MAX), 15 * (a + B * b) + 15 * L,
       "torus snake ring AG", 16, n);
  /* dims: phase 1 along x sends B per step, phase 2 along y sends 4B (one run) per step */
  near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, NSCCL_RING_DIMS, n, SIZE_MAX),
       3 * (a + B * b + L) + 3 * (a + 4 * B * b + L), "torus dims ring AG", 16, n);
  /* mapped RD all-reduce: 4 one-hop exchanges of n */
  const double g = 1 / RBW;
  near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, n, SIZE_MAX),
       4 * (a + n * b + n * g + L), "mapped RD AR", 16, n);
  /* unmapped RD: in steps 2 and 4 partners are 2 apart in a ring of 4: 2 hops, and both pairs of a
   * ring (0<->2, 1<->3) break the distance tie the same way round, so two flows share each link */
  near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_RD, n, SIZE_MAX),
       4 * (a + n * g) + 2 * n * b + 2 * (2 * n * b) + 6 * L, "RD AR on torus", 16, n);
  nsccl_topo_free(t);
}

Test(model, selector_picks_cheapest_and_overrides) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load("trn2-16", &t), nscclSuccess);
  size_t sizes[] = {8, 4096, 1 << 20, 1 << 26};
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (size_t i = 0; i < 4; i++) {
      nsccl_choice_t ch;
      cr_assert_eq(nsccl_select(t, NULL, (nsccl_coll_t)c, sizes[i], 16, &ch), nscclSuccess);
      cr_assert_not(ch.overridden);
      for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
        double s;
        int v;
        cr_assert_eq(nsccl_model_best_variant(t, NULL, (nsccl_coll_t)c, (nsccl_algo_t)a, sizes[i], 16, &v, &s),
                     nscclSuccess);
        cr_assert_float_eq(ch.predicted_s[a], s, 1e-15);
        cr_assert_leq(ch.predicted_s[ch.algo], s);
      }
    }
  nsccl_algo_override_t ovr;
  cr_assert_eq(nsccl_algo_override_parse("allreduce:direct;allgather:ring", &ovr), nscclSuccess);
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_ALLREDUCE, 1 << 26, 16, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_DIRECT);
  cr_assert(ch.overridden);
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_REDUCESCATTER, 8, 16, &ch), nscclSuccess);
  cr_assert_not(ch.overridden);
  cr_assert_eq(nsccl_algo_override_parse("allreduce:bogus", &ovr), nscclInvalidArgument);
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_ALLREDUCE, 8, 15, &ch), nscclInvalidArgument); /* wrong rank count */
  nsccl_topo_free(t);
}

Test(model, null_topology_is_flat_host) {
  nsccl_choice_t ch;
  for (int p = 1; p <= 9; p++) {
    cr_assert_eq(nsccl_select(NULL, NULL, NSCCL_COLL_ALLREDUCE, 1 << 20, p, &ch), nscclSuccess, "%s",
                 nsccl_last_error());
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) cr_assert_geq(ch.predicted_s[a], 0);
  }
  /* small messages favour few steps, large ones the bandwidth-optimal ring */
  cr_assert_eq(nsccl_select(NULL, NULL, NSCCL_COLL_ALLREDUCE, 8, 8, &ch), nscclSuccess);
  cr_assert_neq(ch.algo, NSCCL_ALGO_RING);
  cr_assert_eq(nsccl_select(NULL, NULL, NSCCL_COLL_ALLGATHER, (size_t)1 << 30, 8, &ch), nscclSuccess);
  cr_assert_gt(ch.predicted_s[NSCCL_ALGO_TREE], ch.predicted_s[NSCCL_ALGO_RING] * 0.999);
}

/* ---- hierarchical schedules (algo/hier.h) and binary trees ---- */

/* S servers of G ranks: a zero-latency switch inside (port bandwidth BW), a NIC per rank of NBW
 * bytes/s with network latency NLAT (on the way in to the network only). */
#define NBW  5e8
#define NLAT 7e-6
static nsccl_topo_t *efa(int S, int G) {
  char spec[300];
  snprintf(spec, sizeof(spec),
           "efa:servers=%d,nic_bandwidth=%g,network_latency=%g,inner.module=switch,inner.ranks=%d,"
           "inner.link_bandwidth=%g,inner.endpoint_overhead=%g,inner.reduce_bandwidth=%g",
           S, NBW, NLAT, G, BW, ALPHA, RBW);
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", nsccl_last_error());
  return t;
}

/* Closed forms of the three inter-group patterns, written from the schedules (docs/model.md,
 * "## Hierarchical (EFA)"), with no chunking. */
Test(model, hier_closed_forms) {
  const double a = ALPHA, bi = 1 / BW, bn = 1 / NBW, g = 1 / RBW;
  int S = 4, G = 4, p = S * G;
  nsccl_topo_t *t = efa(S, G);
  double n = p * 4096.0, B = n / p;
  /* ring/hier all-reduce: intra ring RS of n/G blocks, inter ring RS + AG of n/(G S) shares (a
   * block's journey crosses the network S-1 times), intra ring AG */
  double sh = n / (G * S);
  double want = (G - 1) * (a + n / G * (bi + g)) + (S - 1) * (a + sh * (bn + g)) + (S - 1) * NLAT +
                (S - 1) * (a + sh * bn) + (S - 1) * NLAT + (G - 1) * (a + n / G * bi);
  near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_VARIANT_HIER, n, SIZE_MAX), want, "ring/hier AR", p, n);
  /* direct/hier all-gather: one exchange of S-1 blocks over the NIC, and an intra ring whose
   * steps send S separate blocks (ranks s*G + i are not adjacent); the ring's (G-1) S messages run
   * back to back through the issuing engine, each moving on as soon as it arrived. The ring starts
   * on the own group's blocks at once, so the two overlap: the ring alone, or the exchange and then
   * its last block's G-1 hops around the ring (alpha and B bi each), whichever is longer. */
  double exchange = a + B * bn + (S - 2) * fmax(a, B * bn) + NLAT;
  want = fmax(a + B * bi + ((G - 1) * S - 1) * fmax(a, B * bi), exchange + (G - 1) * (a + B * bi));
  near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, NSCCL_VARIANT_HIER, n, SIZE_MAX), want, "direct/hier AG", p,
       n);
  /* tree/hier reduce-scatter: intra ring RS of S-block sets (pipelined as above), then halving
   * across the 4 servers */
  want = a + B * (bi + g) + ((G - 1) * S - 1) * fmax(a, fmax(B * bi, B * g)) +
         (a + B * (bn + g) + fmax(a, fmax(B * bn, B * g)) + NLAT) + (a + B * (bn + g) + NLAT);
  near(predict(t, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_TREE, NSCCL_VARIANT_HIER, n, SIZE_MAX), want, "tree/hier RS", p,
       n);
  nsccl_topo_free(t);
}

/* Per-rank ready times (docs/model.md): Bruck's all-gather on 8 ranks under two leaf switches whose
 * only latency is the spine's S = 10 us (alpha 1 us, 64 engines, 8 B blocks: wire time ~0). Rank r
 * receives from r + d. Step d = 1: only ranks 3 and 7 receive across the spine (ready at alpha + S),
 * the others at alpha. Step d = 2: every rank's input comes from a rank ready at alpha + S or over
 * the spine from one ready at alpha: all ready at 2 alpha + S. Step d = 4 crosses for everyone:
 * 3 alpha + 2 S = 23 us. A barrier per step charged 3 (alpha + S) = 33 us. */
Test(model, ready_times_follow_each_rank) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("switch:ranks=8,levels=2,ranks_per_switch=4,link_bandwidth=1e12,spine_bandwidth=1e12,"
                               "link_latency=0,switch_latency=0,spine_latency=10e-6,endpoint_overhead=1e-6,"
                               "reduce_bandwidth=1e12,dma_engines=64",
                               &t),
               nscclSuccess, "%s", nsccl_last_error());
  double want = 3 * 1e-6 + 2 * 10e-6, m = predict(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, NSCCL_TREE_BRUCK, 64, 0);
  cr_assert(fabs(m - want) <= 1e-3 * want, "model %.4f us, chain %.4f us", m * 1e6, want * 1e6);
  nsccl_sim_result_t res = {0};
  cr_assert_eq(nsccl_sim_collective(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, NSCCL_TREE_BRUCK, 64, NULL, &res),
               nscclSuccess, "%s", nsccl_last_error());
  cr_assert(fabs(res.time_s - want) <= 1e-2 * want, "simulator %.4f us, chain %.4f us", res.time_s * 1e6, want * 1e6);
  nsccl_topo_free(t);
}

/* On trn2-16x4-efa a large all-reduce goes hierarchical: the flat ring pays the 25 GB/s NIC in each
 * of its 2(p-1) = 126 steps, the hierarchical one only in 2(S-1) = 6 steps of 1/64 of the vector,
 * the rest on the torus links (a gap of about 2.9x with the preset's numbers; the simulator agrees). */
Test(model, efa_prefers_hierarchical_allreduce) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load("trn2-16x4-efa", &t), nscclSuccess, "%s", nsccl_last_error());
  size_t sizes[] = {(size_t)16 << 20, (size_t)256 << 20, (size_t)1 << 30};
  for (int i = 0; i < 3; i++) {
    nsccl_choice_t ch;
    cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_ALLREDUCE, sizes[i], 64, &ch), nscclSuccess);
    cr_assert_eq(ch.variant[ch.algo], NSCCL_VARIANT_HIER, "%zu bytes: chose %s", sizes[i],
                 nsccl_model_variant_name(ch.algo, ch.variant[ch.algo]));
    double flat = predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_RING_TOPO, (double)sizes[i], 0);
    double hier = predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_VARIANT_HIER, (double)sizes[i], 0);
    cr_assert_lt(hier * 2.5, flat, "%zu bytes: ring/hier %.1f us, flat ring %.1f us", sizes[i], hier * 1e6, flat * 1e6);
    cr_assert_leq(ch.predicted_s[ch.algo], hier);
  }
  /* NSCCL_ALGO=ring/hier forces it even where it is not the cheapest (8 bytes) */
  nsccl_algo_override_t ovr;
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_algo_override_parse("allreduce:ring/hier;allgather:tree", &ovr), nscclSuccess, "%s",
               nsccl_last_error());
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_ALLREDUCE, 8, 64, &ch), nscclSuccess);
  cr_assert(ch.overridden && ch.algo == NSCCL_ALGO_RING && ch.variant[NSCCL_ALGO_RING] == NSCCL_VARIANT_HIER);
  cr_assert_float_eq(ch.predicted_s[NSCCL_ALGO_RING],
                     predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, NSCCL_VARIANT_HIER, 8, 0), 1e-15);
  cr_assert_eq(nsccl_algo_override_parse("ring/bogus", &ovr), nscclInvalidArgument);
  /* every variant name the model prints parses back, tree/mapped included */
  cr_assert_eq(nsccl_algo_override_parse("allgather:tree/mapped", &ovr), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(ovr.variant[NSCCL_COLL_ALLGATHER], NSCCL_TREE_MAPPED);
  /* every family offers its hierarchical variant there (4 servers: tree/hier too) */
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
    int v[NSCCL_MAX_VARIANTS],
        nv = nsccl_model_variants(t, NSCCL_COLL_ALLGATHER, (nsccl_algo_t)a, 64, v, NSCCL_MAX_VARIANTS), has = 0;
    for (int i = 0; i < nv; i++) has |= v[i] == NSCCL_VARIANT_HIER;
    cr_assert(has, "%s offers no hierarchical all-gather", nsccl_algo_name(a));
  }
  nsccl_topo_free(t);
  /* a torus has no groups: no hierarchical variant */
  cr_assert_eq(nsccl_topo_load("trn2-16", &t), nscclSuccess);
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
    int v[NSCCL_MAX_VARIANTS],
        nv = nsccl_model_variants(t, NSCCL_COLL_ALLREDUCE, (nsccl_algo_t)a, 16, v, NSCCL_MAX_VARIANTS);
    for (int i = 0; i < nv; i++) cr_assert_neq(v[i], NSCCL_VARIANT_HIER);
  }
  nsccl_topo_free(t);
}

/* Binary tree on 4 ranks of a flat switch (heap 0 <- 1 <- 3, 0 <- 2), one chunk, as its schedule
 * runs: the leaves 2 and 3 send at once (arriving after a + nb); rank 1 reduces 3's chunk and sends
 * it up (a + nb + ng later); the root reduces 1's and then 2's chunk (2ng: 2's arrived long before),
 * so it has the sum at T0 = 2a + 2nb + 3ng. Down: the root sends to 1 and then to 2 on its one
 * engine and one up-link (2's message streams after 1's: a + nb + max(a, nb) + nb), and 1 forwards
 * to 3 (a + nb after its arrival), which is last: T0 + 2a + 2nb. The simulator runs the same. (The
 * former level-by-level price charged the root's down-link both children's chunks at once and the
 * levels one after another: 4a + 5nb + 3ng + max(a, nb).) */
Test(model, binary_trees_priced) {
  const double a = ALPHA, b = 1 / BW, g = 1 / RBW;
  nsccl_topo_t *t = flat(4);
  double n = 1 << 16;
  double want = (2 * a + 2 * n * b + 3 * n * g) + (2 * a + 2 * n * b);
  near(predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_BINARY, n, SIZE_MAX), want, "binary tree AR", 4, n);
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_BINARY, (size_t)n, NULL, &res),
               nscclSuccess, "%s", nsccl_last_error());
  near(res.time_s, want, "binary tree AR, simulated", 4, n);
  /* the double tree halves what each tree carries: cheaper than one tree for large vectors */
  double one = predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_BINARY, 1 << 26, 0);
  double two = predict(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_DOUBLE_BINARY, 1 << 26, 0);
  cr_assert_lt(two, one);
  int v[NSCCL_MAX_VARIANTS],
      nv = nsccl_model_variants(t, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, 4, v, NSCCL_MAX_VARIANTS), seen = 0;
  for (int i = 0; i < nv; i++) seen |= (v[i] == NSCCL_TREE_BINARY) | (v[i] == NSCCL_TREE_DOUBLE_BINARY) << 1;
  cr_assert_eq(seen, 3, "the selector's candidates lack the binary trees");
  nsccl_topo_free(t);
}

/* On one host the receiving rank's CPU makes every copy (topology cpu_copies): a step's chunks pay
 * alpha, the copy and the reduction one after another, k (alpha + w + g), instead of pipelining
 * behind the slowest, alpha + w + g + (k - 1) max(alpha, w, g), as on a switch. Written out for a
 * 2-rank direct all-gather of 8 MiB in 1 MiB chunks (4 chunks each way) and a 2-rank ring
 * reduce-scatter (one step of 4 chunks, each reduced). */
Test(model, one_host_copies_and_reductions_add_up) {
  const double a = 1e-6, bw = 1e9, rbw = 2e9, chunk = 1 << 20, n = 8 << 20;
  char spec[200];
  snprintf(spec, sizeof(spec), "host:ranks=2,endpoint_overhead=%g,link_bandwidth=%g,reduce_bandwidth=%g", a, bw, rbw);
  nsccl_topo_t *h = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &h), nscclSuccess, "%s", nsccl_last_error());
  cr_assert(h->cpu_copies);
  double w = chunk / bw, g = chunk / rbw;
  near(predict(h, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, n, (size_t)chunk), 4 * (a + w), "host direct AG", 2, n);
  near(predict(h, NSCCL_COLL_REDUCESCATTER, NSCCL_ALGO_RING, 0, n, (size_t)chunk), 4 * (a + w + g), "host ring RS", 2,
       n);
  snprintf(spec, sizeof(spec), "switch:ranks=2,endpoint_overhead=%g,link_bandwidth=%g,reduce_bandwidth=%g", a, bw, rbw);
  nsccl_topo_t *s = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &s), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_not(s->cpu_copies);
  near(predict(s, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, n, (size_t)chunk), a + w + 3 * w, "switch direct AG", 2,
       n);
  /* So on one host a recursive-doubling all-reduce (the whole vector each way, all of it reduced)
   * costs more than the ring (half reduced), where a pipelined model called them equal. */
  double ring = predict(h, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_RING, 0, 16 << 20, 0);
  double rd = predict(h, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, NSCCL_TREE_RD, 16 << 20, 0);
  cr_assert_lt(ring, rd, "ring %.3g s, recursive doubling %.3g s", ring, rd);
  nsccl_topo_free(h);
  nsccl_topo_free(s);
}

/* The registry fits NSCCL_MAX_VARIANTS, names are unique, (family, id) pairs are unique, and every
 * descriptor has a builder and a price (algo/variant.h). */
Test(model, variant_registry_is_consistent) {
  int n = nsccl_variant_count();
  cr_assert(n > 0 && n <= NSCCL_MAX_VARIANTS, "%d variants", n);
  for (int i = 0; i < n; i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    cr_assert(v->name && v->build && v->price, "variant %d incomplete", i);
    cr_assert_eq((v->offered & ~v->colls), 0u, "%s offered for collectives it does not build", v->name);
    cr_assert_eq(nsccl_variant_by_name(v->name), v, "%s: name not unique", v->name);
    cr_assert_eq(nsccl_variant_find(v->family, v->id), v, "%s: (family, id) not unique", v->name);
    cr_assert(strchr(v->name, '/') || v->id == 0, "%s: a family default must have id 0", v->name);
  }
}
