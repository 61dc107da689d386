/* The cost model of the mapped tree all-gather and reduce-scatter (NSCCL_TREE_MAPPED on a torus)
 * against closed forms written out here from the schedule's shape (docs/model.md, "tree/mapped"),
 * and against the simulator running the built schedules on trn2-16. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "base/check.h"
#include "engine/sim.h"
#include "model/cost.h"
#include "model/simulate.h"
#include "topologies/topo.h"

/* The closed forms below are written for one message issued per alpha (one DMA engine, no engine
 * bandwidth figure); the presets' own engines are priced by the step formula (docs/model.md). */
#define SERIAL "?dma_engines=1&engines_per_message=1&dma_engine_bandwidth=0"

static nsccl_topo_t *load(const char *name) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(name, &t), nscclSuccess, "%s: %s", name, nsccl_last_error());
  return t;
}

static double predict(const nsccl_topo_t *t, nsccl_coll_t c, int variant, double n, size_t chunk) {
  nsccl_model_opts_t o = {chunk};
  double s = -1;
  cr_assert_eq(nsccl_model_predict(t, &o, c, NSCCL_ALGO_TREE, variant, (size_t)n, t->nranks, &s), nscclSuccess, "%s",
               nsccl_last_error());
  return s;
}

static void near(double got, double want, const char *what, double n) {
  cr_assert(fabs(got - want) <= 1e-9 * want, "%s n=%.0f: model %.6f us, closed form %.6f us", what, n, got * 1e6,
            want * 1e6);
}

/* One step in which the busiest rank sends k messages of W seconds of wire time in all, reduces R
 * bytes, over one hop of latency lat: the pipelined step of cost.h. */
static double step(double a, double k, double W, double gR, double lat) {
  return a + W / k + gR / k + (k - 1) * fmax(a, fmax(W / k, gR / k)) + lat;
}

/* trn2-16 (4x4, routed, X and Y alike): two Gray-coded doubling steps per dimension, all one hop,
 * one message per step (the runs are contiguous: dimension 0 first). Messages B, 2B, 4B, 8B. */
Test(model_mapped, closed_form_trn2_16) {
  nsccl_topo_t *t = load("trn2-16" SERIAL);
  double a = t->endpoint_overhead, lat = t->link_latency, b = 1 / t->dim_bandwidth[0], g = 1 / t->reduce_bandwidth;
  double ns[] = {1 << 10, 1 << 20, 3.0 * (1 << 24)};
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    double n = ns[i], B = n / 16, ag = 0, rs = 0;
    for (int s = 0; s < 4; s++) {
      double m = B * (1 << s);
      ag += a + m * b + lat;
      rs += a + m * (b + g) + lat;
    }
    near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_TREE_MAPPED, n, SIZE_MAX), ag, "trn2-16 mapped AG", n);
    near(predict(t, NSCCL_COLL_REDUCESCATTER, NSCCL_TREE_MAPPED, n, SIZE_MAX), rs, "trn2-16 mapped RS", n);
    /* lg p alpha and (p-1)/p n beta, as recursive doubling on a flat switch plus one hop per step */
    near(ag, 4 * (a + lat) + 15.0 / 16 * n * b, "closed form itself", n);
  }
  nsccl_topo_free(t);
}

/* A pair queue fed messages ready at ready[0..n) (ascending), each a + hop to stream once the
 * previous has left: message i streams from max(ready_i + a, end_{i-1}); arrivals one latency
 * after. */
static void queue(double a, double hop, double lat, const double *ready, double *arrive, int n) {
  double end = 0;
  for (int i = 0; i < n; i++) {
    end = fmax(ready[i] + a, end) + hop;
    arrive[i] = end + lat;
  }
}

/* trn2-u64 (4x4x4, Z = dimension 2 thinner): all-gather runs Z first. The Z slices of a rank are 16
 * ranks apart, so its Z steps send 1 and 2 single-block messages; X then sends 4 runs (one per Z
 * coordinate) of 1 and 2 blocks, Y 4 runs of 4 and 8. Reduce-scatter is the mirror image. The
 * steps form one pipelined phase: the smaller of the steps in series and the larger of the busiest
 * link's window and the fill plus the busiest other resource; the all-gather also the walk of its
 * messages (docs/model.md, "Tree phases", "All-gather phases"). */
Test(model_mapped, closed_form_trn2_u64) {
  nsccl_topo_t *t = load("trn2-u64" SERIAL);
  cr_assert_lt(t->dim_bandwidth[2], t->dim_bandwidth[0]);
  double a = t->endpoint_overhead, lat = t->link_latency, g = 1 / t->reduce_bandwidth;
  double bz = 1 / t->dim_bandwidth[2], bx = 1 / t->dim_bandwidth[0], by = 1 / t->dim_bandwidth[1];
  double ns[] = {1 << 12, 1 << 22, 1 << 27};
  /* (messages, blocks in all, beta) of each all-gather step */
  const double k[6] = {1, 2, 4, 4, 4, 4}, blocks[6] = {1, 2, 4, 8, 16, 32};
  const double *beta[6] = {&bz, &bz, &bx, &bx, &by, &by};
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    double n = ns[i], B = n / 64, ag = 0, rs = 0, fill_ag = 0, fill_rs = 0, maxW = 0, red = 0, msgs = 0;
    for (int s = 0; s < 6; s++) {
      double W = blocks[s] * B * *beta[s], gR = g * blocks[s] * B;
      ag += step(a, k[s], W, 0, lat);
      rs += step(a, k[s], W, gR, lat);
      /* the pipelined phase (docs/model.md, "Tree phases"): a step of several messages to its one
       * partner lets the next start after its first message, a one-message step after all of it;
       * every step uses links of its own (Gray partners), so the busiest link over the phase
       * carries the largest step's load; one engine issues all 19 messages one per alpha */
      fill_ag += k[s] > 1 ? a + W / k[s] + lat : step(a, k[s], W, 0, lat);
      fill_rs += k[s] > 1 ? a + W / k[s] + gR / k[s] + lat : step(a, k[s], W, gR, lat);
      maxW = fmax(maxW, W), red += gR, msgs += k[s];
    }
    /* The link window (docs/model.md, "The link window"): every directed link is loaded in one
     * step only (Gray partners), so its window is the other steps' fill and its own load, or its
     * whole step when that is one message (k = 1: the fill already counts it). Reduce-scatter runs
     * the same steps in reverse order. */
    double win_ag = 0, win_rs = 0;
    for (int s = 0; s < 6; s++) {
      double W = blocks[s] * B * *beta[s], gR = g * blocks[s] * B;
      double own_ag = k[s] > 1 ? a + W / k[s] + lat : step(a, k[s], W, 0, lat);
      double own_rs = k[s] > 1 ? a + W / k[s] + gR / k[s] + lat : step(a, k[s], W, gR, lat);
      win_ag = fmax(win_ag, k[s] > 1 ? fill_ag - own_ag + W : fill_ag);
      win_rs = fmax(win_rs, k[s] > 1 ? fill_rs - own_rs + W : fill_rs);
    }
    /* The walk, the same at every rank: Z1 sends the own block; Z2 the own block (ready at once)
     * and the one Z1 brought. After Z a rank holds its Z line, one block per Z coordinate z, ready
     * at zt[z]. Each X and Y step then sends, per z, the run of the blocks gathered so far at that
     * z: ready when the latest of them came, which is what the step before brought for z. */
    double z1 = a + B * bz + lat, zt[4] = {0, z1, 0, 0}, got[4];
    queue(a, B * bz, lat, zt, got, 2); /* Z2: the own block, then the Z1 block */
    zt[2] = got[0], zt[3] = got[1];
    double run = 1, hops[4] = {B * bx, 2 * B * bx, 4 * B * by, 8 * B * by};
    for (int s = 0; s < 4; s++, run *= 2) {
      double rd[4] = {zt[0], zt[1], zt[2], zt[3]};
      for (int x = 1; x < 4; x++) /* ascending */
        for (int y = x; y > 0 && rd[y - 1] > rd[y]; y--) {
          double v = rd[y];
          rd[y] = rd[y - 1], rd[y - 1] = v;
        }
      queue(a, hops[s], lat, rd, got, 4);
      for (int z = 0; z < 4; z++) zt[z] = got[z];
    }
    double walk = fmax(fmax(zt[0], zt[1]), fmax(zt[2], zt[3]));
    (void)run;
    ag = fmin(ag, fmin(fmax(win_ag, fill_ag + msgs * a), fmax(walk, a + fmax(maxW, msgs * a))));
    rs = fmin(rs, fmax(win_rs, fill_rs + fmax(red, msgs * a)));
    near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_TREE_MAPPED, n, SIZE_MAX), ag, "trn2-u64 mapped AG", n);
    near(predict(t, NSCCL_COLL_REDUCESCATTER, NSCCL_TREE_MAPPED, n, SIZE_MAX), rs, "trn2-u64 mapped RS", n);
  }
  nsccl_topo_free(t);
}

/* A ring of 5 (Bruck): steps send 1, 2 and 1 blocks to ranks 1, 2 and 4 (= 1 back) hops away. The
 * 2-hop step puts two flows on every link of its direction, so it costs twice its bytes. */
Test(model_mapped, closed_form_bruck_ring_of_5) {
  nsccl_topo_t *t = load("torus:dims=5,link_bandwidth=1e9,endpoint_overhead=2e-6,link_latency=1e-7,"
                         "reduce_bandwidth=4e9");
  double a = 2e-6, lat = 1e-7, b = 1e-9, n = 5e6, B = n / 5;
  double s1 = a + B * b + lat, s2 = a + 2 * (2 * B) * b + 2 * lat, s3 = a + B * b + lat, serial = s1 + s2 + s3;
  /* The steps form one all-gather phase (docs/model.md, "Tree phases"): step 2 sends its 2 blocks as
   * 2 messages (a run that wraps), so it may start on the block held from the start and only its
   * half delivered by step 1 waits for step 1: it ends at max(s2, s1 + a + W2 / 2 + 2 lat) = s2;
   * step 3 is one message and follows step 2. No less than the busiest link over the phase (the -1
   * links carry step 1's B and step 2's 2 x 2B) after one alpha. */
  double chain = fmax(s2, s1 + a + 0.5 * (2 * (2 * B) * b) + 2 * lat) + s3;
  double ag = fmin(serial, fmax(chain, a + 5 * B * b));
  near(predict(t, NSCCL_COLL_ALLGATHER, NSCCL_TREE_MAPPED, n, SIZE_MAX), ag, "ring of 5 mapped AG", n);
  nsccl_topo_free(t);
}

/* The model against the simulator on the schedules the builder makes, at sizes where every message
 * is one chunk (so the step-by-step model and the simulator's overlap of chunks do not differ;
 * docs/model.md explains the gap above): within 2%. */
Test(model_mapped, agrees_with_simulator_trn2_16) {
  nsccl_topo_t *t = load("trn2-16");
  for (int c = NSCCL_COLL_ALLGATHER; c <= NSCCL_COLL_REDUCESCATTER; c++)
    for (size_t bytes = 1024; bytes <= ((size_t)1 << 20); bytes *= 4) {
      double model = predict(t, (nsccl_coll_t)c, NSCCL_TREE_MAPPED, (double)bytes, 0);
      nsccl_sim_result_t res;
      memset(&res, 0, sizeof(res));
      cr_assert_eq(nsccl_sim_collective(t, (nsccl_coll_t)c, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, bytes, NULL, &res),
                   nscclSuccess, "%s", nsccl_last_error());
      cr_assert(fabs(res.time_s - model) <= 0.02 * model,
                "trn2-16 tree/mapped %s of %zu bytes: sim %.3f us, model %.3f us", nsccl_coll_name((nsccl_coll_t)c),
                bytes, res.time_s * 1e6, model * 1e6);
    }
  nsccl_topo_free(t);
}

/* Offered on tori, named, and picked where it is cheapest: on trn2-16 a small all-gather takes lg p
 * one-hop steps against the per-dimension ring's sum (k_d - 1). */
Test(model_mapped, offered_and_selected) {
  nsccl_topo_t *t = load("trn2-16");
  cr_assert_str_eq(nsccl_model_variant_name(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED), "tree/mapped");
  for (int c = NSCCL_COLL_ALLGATHER; c <= NSCCL_COLL_REDUCESCATTER; c++) {
    int v;
    double s;
    cr_assert_eq(nsccl_model_best_variant(t, NULL, (nsccl_coll_t)c, NSCCL_ALGO_TREE, 4096, 16, &v, &s), nscclSuccess);
    /* tree/mapped, or a torus exchange variant (tree/rdh, tree/swing-bw) priced cheaper still */
    cr_assert(v == NSCCL_TREE_MAPPED || v == 0x400 || v == 0x402, "%s: best tree variant %s",
              nsccl_coll_name((nsccl_coll_t)c), nsccl_model_variant_name(NSCCL_ALGO_TREE, v));
    double flat, mapped;
    cr_assert_eq(nsccl_model_predict(t, NULL, (nsccl_coll_t)c, NSCCL_ALGO_TREE, 0, 4096, 16, &flat), nscclSuccess);
    cr_assert_eq(nsccl_model_predict(t, NULL, (nsccl_coll_t)c, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, 4096, 16, &mapped),
                 nscclSuccess);
    cr_assert_lt(mapped, flat, "%s: tree/mapped %g s, flat tree %g s", nsccl_coll_name((nsccl_coll_t)c), mapped, flat);
  }
  nsccl_topo_free(t);
  /* not on a switch */
  t = load("trn3-u64");
  int v[NSCCL_MAX_VARIANTS],
      nv = nsccl_model_variants(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, t->nranks, v, NSCCL_MAX_VARIANTS);
  for (int i = 0; i < nv; i++) cr_assert_neq(v[i], NSCCL_TREE_MAPPED);
  nsccl_topo_free(t);
}
