/* Broadcast and reduce in the cost model (src/model/cost_rooted.c) and the selector: closed forms
 * of the builder's schedules (src/algo/bcast_reduce.c) written out here on a flat single-hop switch
 * with zero latency, agreement with the simulator on trn3-u64, the selector's choices and the
 * NSCCL_ALGO syntax for broadcast / reduce. docs/model.md derives the formulas. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "algo/bcast_reduce.h"
#include "base/check.h"
#include "engine/sim.h"
#include "model/cost_rooted.h"
#include "model/select.h"
#include "topologies/topo.h"

/* trn3-u64's one-crossbar reading with one DMA engine and no engine bandwidth: one message issued per alpha, the world
 * the closed forms and whole-message walk below are exact for. The preset's own 128 engines are tested separately
 * (engines_*). */
#define TRN3_SERIAL "trn3-u64-crossbar?dma_engines=1&engines_per_message=1&dma_engine_bandwidth=0"

#define ALPHA 3e-6
#define BW    2e9 /* beta = 1/BW */
#define RBW   5e9 /* gamma = 1/RBW */

static nsccl_topo_t *load(const char *spec) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static nsccl_topo_t *flat(int p, double alpha) {
  char spec[200];
  snprintf(spec, sizeof(spec), "switch:ranks=%d,link_bandwidth=%g,endpoint_overhead=%g,reduce_bandwidth=%g", p, BW,
           alpha, RBW);
  return load(spec);
}

static double predict(const nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, double n, size_t chunk) {
  nsccl_model_opts_t o = {chunk};
  double s = -1;
  cr_assert_eq(nsccl_model_predict_rooted(t, &o, c, a, (size_t)n, t->nranks, 0, &s), nscclSuccess, "%s",
               nsccl_last_error());
  return s;
}

static void near(double got, double want, const char *what, int p, double n, double k) {
  cr_assert(fabs(got - want) <= 1e-9 * want + 1e-15, "%s p=%d n=%.0f k=%.0f: model %.9g s, formula %.9g s", what, p, n,
            k, got, want);
}

/* On a switch every message crosses the sender's up-link and the receiver's down-link at BW; the
 * sender's issue unit (alpha), its up-link (c beta) and the receiver's reduction unit (c gamma)
 * are separate resources that serve messages one after another. */
Test(rooted, closed_forms_flat_switch) {
  const double b = 1 / BW, g = 1 / RBW;
  double alphas[] = {ALPHA, 1e-9}; /* alpha-bound and bandwidth-bound steps */
  int Ls[] = {1, 2, 3, 4, 6};
  double ns[] = {1024, 1 << 20, 3.0 * (1 << 22)};
  for (size_t ia = 0; ia < 2; ia++)
    for (size_t il = 0; il < sizeof(Ls) / sizeof(Ls[0]); il++)
      for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++) {
        double a = alphas[ia], n = ns[in];
        int L = Ls[il], p = 1 << L;
        nsccl_topo_t *t = flat(p, a);
        /* Binomial reduce, one chunk: a rank's children finish in the order it reduces them
         * (smallest subtree first), so every level costs one alpha + n beta + n gamma. */
        near(predict(t, NSCCL_COLL_REDUCE, NSCCL_ALGO_TREE, n, SIZE_MAX), L * (a + n * b + n * g), "tree reduce", p, n,
             1);
        /* Binomial broadcast as built: the root sends to its children in the same order, smallest
         * subtree first, so the child with the largest subtree starts last: child i (subtree 2^i)
         * has the data at a + n b + i max(a, n b), giving L(a + n b) + L(L-1)/2 max(a, n b). */
        near(predict(t, NSCCL_COLL_BROADCAST, NSCCL_ALGO_TREE, n, SIZE_MAX),
             L * (a + n * b) + L * (L - 1) / 2.0 * fmax(a, n * b), "tree broadcast", p, n, 1);
        /* Flat tree: the root issues p-1 messages one after another; its up-link carries them in turn. */
        near(predict(t, NSCCL_COLL_BROADCAST, NSCCL_ALGO_DIRECT, n, SIZE_MAX), a + n * b + (p - 2) * fmax(a, n * b),
             "direct broadcast", p, n, 1);
        /* Flat reduce: every rank issues at once; the root's down-link takes them in turn and its
         * reduction unit follows: a two-stage pipeline of p-1 messages. */
        near(predict(t, NSCCL_COLL_REDUCE, NSCCL_ALGO_DIRECT, n, SIZE_MAX),
             a + n * b + n * g + (p - 2) * fmax(n * b, n * g), "direct reduce", p, n, 1);
        /* Pipelined chain with k chunks of c = n/k: a tandem of single-server stages (per edge:
         * issue, wire, and for reduce the receiver's reduction), k items: the sum of the stages
         * plus (k-1) times the slowest. */
        for (int k = 1; k <= 16; k *= 4) {
          double c = n / k;
          near(predict(t, NSCCL_COLL_BROADCAST, NSCCL_ALGO_RING, n, (size_t)c),
               (p - 1) * (a + c * b) + (k - 1) * fmax(a, c * b), "chain broadcast", p, n, k);
          near(predict(t, NSCCL_COLL_REDUCE, NSCCL_ALGO_RING, n, (size_t)c),
               (p - 1) * (a + c * b + c * g) + (k - 1) * fmax(a, fmax(c * b, c * g)), "chain reduce", p, n, k);
        }
        nsccl_topo_free(t);
      }
}

Test(rooted, trivial_cases_and_bad_input) {
  nsccl_topo_t *t = flat(8, ALPHA);
  double s = -1;
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_BROADCAST, NSCCL_ALGO_TREE, 0, 8, 0, &s), nscclSuccess);
  cr_assert_eq(s, 0);
  cr_assert_eq(nsccl_model_predict_rooted(NULL, NULL, NSCCL_COLL_REDUCE, NSCCL_ALGO_RING, 1 << 20, 1, 0, &s),
               nscclSuccess);
  cr_assert_eq(s, 0);
  cr_assert_eq(nsccl_model_predict_rooted(NULL, NULL, NSCCL_COLL_REDUCE, NSCCL_ALGO_RING, 1 << 20, 4, 0, &s),
               nscclSuccess);
  cr_assert_gt(s, 0);
  /* A switch is symmetric: the root does not matter. */
  double r0 = -1, r5 = -1;
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_BROADCAST, NSCCL_ALGO_TREE, 1 << 20, 8, 0, &r0),
               nscclSuccess);
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_BROADCAST, NSCCL_ALGO_TREE, 1 << 20, 8, 5, &r5),
               nscclSuccess);
  cr_assert_float_eq(r0, r5, 1e-15);
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_ALLREDUCE, NSCCL_ALGO_TREE, 8, 8, 0, &s),
               nscclInvalidArgument);
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_REDUCE, NSCCL_ALGO_TREE, 8, 8, 8, &s),
               nscclInvalidArgument);
  cr_assert_eq(nsccl_model_predict_rooted(t, NULL, NSCCL_COLL_REDUCE, NSCCL_ALGO_TREE, 8, 7, 0, &s),
               nscclInvalidArgument);
  nsccl_topo_free(t);
}

/* The builder's programs for every rank, timed by the simulator (the reference here). */
static double simulate(const nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, size_t n, int whole) {
  int p = t->nranks;
  nsccl_program_t *pr = calloc((size_t)p, sizeof(*pr));
  cr_assert_not_null(pr);
  nsccl_coll_args_t args = {.coll = c, .count = n, .dtype = nscclUint8, .root = 0};
  nsccl_algo_opts_t o = {0};
  for (int r = 0; r < p; r++) {
    cr_assert_eq(nsccl_prog_init(&pr[r], r, p, &args), nscclSuccess);
    cr_assert_eq(nsccl_bcast_reduce_build(a, &o, &pr[r]), nscclSuccess, "%s", nsccl_last_error());
  }
  nsccl_sim_opts_t so = {0};
  if (whole) so.packet_bytes = NSCCL_SIM_WHOLE_MESSAGE;
  nsccl_sim_result_t res = {0};
  cr_assert_eq(nsccl_sim_run(t, pr, p, &so, &res), nscclSuccess, "%s", nsccl_last_error());
  for (int r = 0; r < p; r++) nsccl_prog_free(&pr[r]);
  free(pr);
  return res.time_s;
}

/* Contention-free cases (each link carries one sender's messages at a time, in the order issued):
 * every family of broadcast and the chain reduce. The flat reduce's messages meet on the root's
 * down-link, which the model serves message by message: it agrees with the simulator sending whole
 * messages (packet-by-packet sharing is slower at mid sizes, docs/model.md). So does the binomial
 * reduce: its memory-bound slots make a parent's children send their chunks at the same moments,
 * and packet sharing then delivers the chunk the reduction needs first later than whole messages
 * would (2.4% at 16 MiB on 64 ranks, none from 64 MiB, where the root's link sets the pace). */
Test(rooted, model_agrees_with_simulator_trn3_u64, .timeout = 60) {
  nsccl_topo_t *t = load(TRN3_SERIAL);
  size_t sizes[] = {8, 1 << 16, 1 << 20, 3 << 20, 16 << 20, 64 << 20};
  for (int c = NSCCL_COLL_BROADCAST; c <= NSCCL_COLL_REDUCE; c++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
      for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int whole = c == NSCCL_COLL_REDUCE && a != NSCCL_ALGO_RING;
        double m = predict(t, (nsccl_coll_t)c, (nsccl_algo_t)a, (double)sizes[i], 0);
        double s = simulate(t, (nsccl_coll_t)c, (nsccl_algo_t)a, sizes[i], whole);
        cr_assert(fabs(m - s) <= 0.02 * s, "%s %s %zu bytes: model %.3f us, simulator%s %.3f us",
                  nsccl_coll_name((nsccl_coll_t)c), nsccl_algo_name((nsccl_algo_t)a), sizes[i], m * 1e6,
                  whole ? " (whole messages)" : "", s * 1e6);
      }
  nsccl_topo_free(t);
}

Test(rooted, selector_on_a_switch) {
  nsccl_topo_t *t = load(TRN3_SERIAL);
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_BROADCAST, 8, 64, &ch), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(ch.algo, NSCCL_ALGO_TREE, "broadcast 8 B: %s", nsccl_algo_name(ch.algo));
  cr_assert_eq(ch.overridden, 0);
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) cr_assert_gt(ch.predicted_s[a], 0);
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_BROADCAST, (size_t)64 << 20, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_RING, "broadcast 64 MiB: %s", nsccl_algo_name(ch.algo));
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_REDUCE, (size_t)64 << 20, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_RING, "reduce 64 MiB: %s", nsccl_algo_name(ch.algo));
  /* A tiny reduce: every rank sends to the root at once, one alpha in all, and the root's 63
   * eight-byte reductions are nothing: the flat tree beats the binomial tree's 6 levels. */
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_REDUCE, 8, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_DIRECT, "reduce 8 B: %s", nsccl_algo_name(ch.algo));
  /* A small flat switch: tree for 8 B, chain for 64 MiB, for both. */
  nsccl_topo_t *f = flat(16, ALPHA);
  cr_assert_eq(nsccl_select(f, NULL, NSCCL_COLL_BROADCAST, 8, 16, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_TREE);
  cr_assert_eq(nsccl_select(f, NULL, NSCCL_COLL_BROADCAST, (size_t)64 << 20, 16, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_RING);
  cr_assert_eq(nsccl_select(f, NULL, NSCCL_COLL_REDUCE, (size_t)64 << 20, 16, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_RING);
  nsccl_topo_free(f);
  nsccl_topo_free(t);
}

Test(rooted, overrides) {
  nsccl_topo_t *t = load(TRN3_SERIAL);
  nsccl_algo_override_t ovr;
  nsccl_choice_t ch;
  /* What NSCCL_ALGO=broadcast:direct gives the runtime (config.c parses it, collectives.c selects). */
  cr_assert_eq(nsccl_algo_override_parse("broadcast:direct", &ovr), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(ovr.algo[NSCCL_COLL_BROADCAST], NSCCL_ALGO_DIRECT);
  for (int c = 0; c < NSCCL_NUM_COLLS_ALL; c++)
    if (c != NSCCL_COLL_BROADCAST) cr_assert_eq(ovr.algo[c], -1, "%s", nsccl_coll_name((nsccl_coll_t)c));
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_BROADCAST, (size_t)64 << 20, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_DIRECT);
  cr_assert_eq(ch.overridden, 1);
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_REDUCE, (size_t)64 << 20, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_RING);
  cr_assert_eq(ch.overridden, 0);
  /* A bare family applies to every collective, rooted ones included; a variant does not apply to
   * them (one schedule per family). */
  cr_assert_eq(nsccl_algo_override_parse("tree/rd", &ovr), nscclSuccess);
  cr_assert_eq(ovr.algo[NSCCL_COLL_REDUCE], NSCCL_ALGO_TREE);
  cr_assert_eq(ovr.variant[NSCCL_COLL_REDUCE], -1);
  cr_assert_eq(nsccl_select(t, &ovr, NSCCL_COLL_REDUCE, 8, 64, &ch), nscclSuccess);
  cr_assert_eq(ch.algo, NSCCL_ALGO_TREE);
  cr_assert_eq(ch.variant[NSCCL_ALGO_TREE], 0);
  cr_assert_eq(nsccl_algo_override_parse("allreduce:ring;reduce:tree/binary;broadcast:ring", &ovr), nscclSuccess);
  cr_assert_eq(ovr.algo[NSCCL_COLL_ALLREDUCE], NSCCL_ALGO_RING);
  cr_assert_eq(ovr.algo[NSCCL_COLL_REDUCE], NSCCL_ALGO_TREE);
  cr_assert_eq(ovr.algo[NSCCL_COLL_BROADCAST], NSCCL_ALGO_RING);
  cr_assert_eq(ovr.algo[NSCCL_COLL_ALLGATHER], -1);
  cr_assert_eq(nsccl_algo_override_parse("bcast:ring", &ovr), nscclInvalidArgument);
  cr_assert_eq(nsccl_algo_override_parse("reduce:chain", &ovr), nscclInvalidArgument);
  nsccl_topo_free(t);
}

/* With the preset's 128 DMA engines a small broadcast's 63 messages start at once: the flat tree
 * costs one alpha and one path and wins (with one engine it pays 63 alphas: see above). */
Test(rooted, engines_make_flat_broadcast_one_alpha) {
  nsccl_topo_t *t = load("trn3-u64-crossbar");
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_BROADCAST, 8, 64, &ch), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(ch.algo, NSCCL_ALGO_DIRECT, "broadcast 8 B: %s", nsccl_algo_name(ch.algo));
  double path = 2 * t->link_latency + t->switch_latency;
  double want = t->endpoint_overhead + path + 8 / t->link_bandwidth;
  cr_assert(fabs(ch.predicted_s[NSCCL_ALGO_DIRECT] - want) <= 0.02 * want, "model %.3f us, alpha + path %.3f us",
            ch.predicted_s[NSCCL_ALGO_DIRECT] * 1e6, want * 1e6);
  nsccl_topo_free(t);
}

/* The preset's engines against the simulator. The walk serves a link whole message by whole
 * message while the simulator interleaves the packets of concurrent messages; with engines that
 * pace each message below the link's rate the two differ by a few percent (docs/model.md). */
Test(rooted, engines_model_agrees_with_simulator_trn3_u64, .timeout = 60) {
  nsccl_topo_t *t = load("trn3-u64-crossbar");
  size_t sizes[] = {8, 1 << 16, 1 << 20, 16 << 20};
  for (int c = NSCCL_COLL_BROADCAST; c <= NSCCL_COLL_REDUCE; c++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
      for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int whole = c == NSCCL_COLL_REDUCE && a != NSCCL_ALGO_RING; /* as above: messages meet at the root */
        double m = predict(t, (nsccl_coll_t)c, (nsccl_algo_t)a, (double)sizes[i], 0);
        double s = simulate(t, (nsccl_coll_t)c, (nsccl_algo_t)a, sizes[i], whole);
        cr_expect(fabs(m - s) <= 0.10 * s, "%s %s %zu bytes: model %.3f us, simulator %.3f us",
                  nsccl_coll_name((nsccl_coll_t)c), nsccl_algo_name((nsccl_algo_t)a), sizes[i], m * 1e6, s * 1e6);
      }
  nsccl_topo_free(t);
}
