/* tree/swing-lat and tree/swing-bw: Swing (De Sensi, Bonato, Saam, Hoefler, "Swing: Short-cutting
 * Rings for Higher Bandwidth Allreduce", NSDI 2024) on tori of power-of-two rings
 * (docs/algorithms.md, "Swing").
 *
 * In a ring of k = 2^b chips, step i (i = 0 .. b-1) pairs the chip at coordinate x with
 * x + rho(i) if x is even and x - rho(i) if x is odd, rho(i) = sum_{j<=i} (-2)^j = 1, -1, 3, -5,
 * 11, ... (rho is odd, so an even chip meets an odd one and the pairing is an involution). The
 * partners swing from one side to the other, so the distance after i steps is |rho(i)| ~ 2^(i+1)/3
 * hops instead of recursive doubling's 2^i. On a torus the steps take the dimensions round robin
 * (the held blocks are a product of per-ring sets, each evolving as in its ring).
 *
 * swing-lat: all-reduce exchanging whole vectors in steps 0, 1, 2, ... (lg p steps of n bytes).
 * swing-bw: reduce-scatter in steps 0, 1, 2, ... (halves the data every step, the largest half to
 * the nearest partner), all-gather in the reverse order, all-reduce as both. The blocks each step
 * sends are the blocks the partner will still be reached through: computed by simulating the
 * exchanges (algo/xchg_plan.h), so every rank ends with exactly its block. To use every port of a
 * chip at once (the paper's multi-port Swing), the data is cut into 2D parts for D dimensions: part
 * (c, m) starts the round robin at dimension c and, for m = 1, mirrors the directions (even chips
 * go -rho). In every step the 2D parts then leave each chip on 2D different links. Cutting costs
 * messages (an all-gather piece of every block is its own message), so small collectives run one
 * part: the builder and the price pick the same way (estimate()). */
#include <math.h>
#include <stdlib.h>

#include "algo/tree_torus.h"
#include "algo/variant.h"
#include "algo/xchg_plan.h"
#include "base/check.h"
#include "model/price.h"

#define MAX_PARTS (2 * NSCCL_TOPO_MAX_DIMS)

static int swing_rho(int i) {
  int r = 0, term = 1;
  for (int j = 0; j <= i; j++, term *= -2) r += term;
  return r;
}

/* Swing step sequence of a part starting at the start-th dimension longer than 1: the dimensions
 * round robin, each for lg k_d steps. dim[s], idx[s]: the dimension of step s and its step index
 * inside that ring. Returns L. */
static int swing_steps(const nsccl_topo_t *t, int start, int *dim, int *idx) {
  int ds[NSCCL_TOPO_MAX_DIMS], nd = 0, left[NSCCL_TOPO_MAX_DIMS], done[NSCCL_TOPO_MAX_DIMS], L = 0, more = 1;
  for (int d = 0; d < t->ndims; d++)
    if (t->dims[d] > 1) ds[nd++] = d;
  for (int i = 0; i < nd; i++) {
    left[i] = 0, done[i] = 0;
    while ((1 << left[i]) < t->dims[ds[i]]) left[i]++;
  }
  while (more) {
    more = 0;
    for (int i = 0; i < nd; i++) {
      int k = (start + i) % nd;
      if (done[k] == left[k]) continue;
      dim[L] = ds[k], idx[L] = done[k]++, L++;
      more = 1;
    }
  }
  return L;
}

/* A part's plan in the order it is read forwards: ascending Swing steps (reverse = 0; the whole
 * vector all-reduce) or descending (reverse = 1; the all-gather order, whose backward reading is the
 * reduce-scatter in ascending steps). */
static nscclResult_t swing_plan(const nsccl_topo_t *t, int start, int mirror, int reverse, nsccl_xchg_plan_t *pl) {
  int dim[64], idx[64], L = swing_steps(t, start, dim, idx), p = t->nranks;
  /* The peers follow from these alone (coordinates come from the dimensions). */
  int key[5 + NSCCL_TOPO_MAX_DIMS] = {'S', p, start, mirror, reverse};
  for (int d = 0; d < t->ndims; d++) key[5 + d] = t->dims[d];
  size_t keylen = sizeof(int) * (5 + (size_t)t->ndims);
  if (nsccl_xchg_plan_find(pl, key, keylen)) return nscclSuccess;
  int *peer = malloc(sizeof(int) * ((size_t)L * p + 1));
  if (!peer) NSCCL_FAIL(nscclSystemError, "tree/swing: out of memory for %d ranks", p);
  for (int s = 0; s < L; s++) {
    int u = reverse ? L - 1 - s : s, d = dim[u], k = t->dims[d], rho = swing_rho(idx[u]);
    for (int r = 0; r < p; r++) {
      int c[NSCCL_TOPO_MAX_DIMS];
      nsccl_topo_coord(t, r, c);
      int up = (c[d] % 2 == 0) != mirror;
      c[d] = (((c[d] + (up ? rho : -rho)) % k) + k) % k;
      peer[s * p + r] = nsccl_topo_rank_at(t, c);
    }
  }
  nscclResult_t rc = nsccl_xchg_plan_init_key(pl, "tree/swing", p, L, peer, key, keylen);
  free(peer);
  return rc;
}

/* A rough alpha-beta time of one exchange phase of rank 0 with J parts (blocks of B bytes): every
 * message pays alpha; J parts move 1/J of the bytes each, on J links at once. All-gather and
 * reduce-scatter cut each block into J pieces, so with J > 1 every block is a message; all-reduce
 * orders its blocks so that a part's exchange is one message. */
static double estimate(const nsccl_topo_t *t, const nsccl_xchg_plan_t *pl, int J, double B, int ar) {
  double bw = INFINITY, T = 0;
  for (int d = 0; d < t->ndims; d++)
    if (t->dims[d] > 1 && t->dim_bandwidth[d] < bw) bw = t->dim_bandwidth[d];
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)pl->p);
  if (!runs) return INFINITY;
  for (int s = 0; s < pl->L; s++) {
    const uint64_t *h = nsccl_xchg_held(pl, s, 0);
    int count = nsccl_xchg_count(pl, h);
    double msgs = ar ? J : J == 1 ? nsccl_xchg_runs(pl, h, runs) : (double)J * count;
    T += msgs * t->endpoint_overhead + count * B / J / bw;
  }
  free(runs);
  return T;
}

/* Link time per byte of a part starting at the start-th dimension, in each dimension: the blocks a
 * rank moves in that dimension's steps (the same in both phases) times the hops of the partner,
 * over the dimension's links (a ring of 2 has one link per rank, longer rings two, the mirrored
 * parts using the other one) and their bandwidth. */
static void part_load(const nsccl_topo_t *t, int start, double *load) {
  int dim[64], idx[64], L = swing_steps(t, start, dim, idx);
  for (int d = 0; d < t->ndims; d++) load[d] = 0;
  for (int u = 0; u < L; u++) {
    int d = dim[u], k = t->dims[d], a = abs(swing_rho(idx[u])) % k, hops = a < k - a ? a : k - a;
    double blocks = ldexp(1.0, L - 1 - u); /* reduce-scatter step u moves half of what is left */
    load[d] += blocks * hops / ((k > 2 ? 2 : 1) * t->dim_bandwidth[d]);
  }
}

/* Weights per start dimension (its two mirrored parts share it) that minimise the most loaded
 * dimension's time: equal loads per bandwidth. On equal dimensions that is equal weights; on
 * trn2-u64 (Z at half the bandwidth of X and Y) Z-first parts get less. A grid over the weights
 * (step 1/60) for up to 3 dimensions, equal weights beyond. */
static void start_weights(const nsccl_topo_t *t, int nd, double *ws) {
  double load[NSCCL_TOPO_MAX_DIMS][NSCCL_TOPO_MAX_DIMS];
  for (int c = 0; c < nd; c++) {
    ws[c] = 1.0 / nd;
    part_load(t, c, load[c]);
  }
  if (nd < 2 || nd > 3) return;
  const int G = 60;
  double best = INFINITY;
  for (int a = 0; a <= G; a++)
    for (int b = 0; b <= (nd == 3 ? G - a : 0); b++) {
      double w[3] = {(double)a / G, nd == 3 ? (double)b / G : 1.0 - (double)a / G, 0};
      if (nd == 3) w[2] = 1.0 - w[0] - w[1];
      double worst = 0;
      for (int d = 0; d < t->ndims; d++) {
        double x = 0;
        for (int c = 0; c < nd; c++) x += w[c] * load[c][d];
        worst = fmax(worst, x);
      }
      if (worst < best - 1e-15) {
        best = worst;
        for (int c = 0; c < nd; c++) ws[c] = w[c];
      }
    }
}

/* The parts of a variant: swing-lat one (start 0, not mirrored, ascending); swing-bw 2D (every
 * start, both mirrors, descending, weights of start_weights) when that estimates faster than one
 * part for blocks of B bytes, else one. Returns how many, 0 on error (rc set). */
static int swing_parts(const nsccl_topo_t *t, int bw, nsccl_coll_t coll, double B, nsccl_xchg_plan_t *plans, double *w,
                       nscclResult_t *rc) {
  int nd = 0;
  for (int d = 0; d < t->ndims; d++) nd += t->dims[d] > 1;
  int J = bw ? 2 * nd : 1;
  for (int j = 0; j < J; j++) {
    *rc = swing_plan(t, j / 2, j % 2, bw, &plans[j]);
    if (*rc != nscclSuccess) {
      while (j-- > 0) nsccl_xchg_plan_free(&plans[j]);
      return 0;
    }
  }
  int ar = coll == NSCCL_COLL_ALLREDUCE;
  if (J > 1 && estimate(t, &plans[0], 1, B, ar) <= estimate(t, &plans[0], J, B, ar)) {
    while (J > 1) nsccl_xchg_plan_free(&plans[--J]);
  }
  double ws[NSCCL_TOPO_MAX_DIMS];
  start_weights(t, nd, ws);
  for (int j = 0; j < J; j++) w[j] = J == 1 ? 1.0 : ws[j / 2] / 2;
  return J;
}

static int swing_applies(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll;
  return nsccl_tree_torus_pow2(t, nranks, NULL, 0);
}

static nscclResult_t swing_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  char why[256];
  int bw = o->variant == NSCCL_TREE_SWING_BW;
  if (!nsccl_tree_torus_pow2(t, prog->nranks, why, sizeof(why)))
    NSCCL_FAIL(nscclInvalidArgument, "%s does not apply: it %s", bw ? "tree/swing-bw" : "tree/swing-lat", why);
  nsccl_xchg_plan_t plans[MAX_PARTS];
  double w[MAX_PARTS];
  nscclResult_t rc;
  size_t bytes = prog->args.count * nsccl_algo_elem_bytes(prog);
  double B = prog->args.coll == NSCCL_COLL_ALLREDUCE ? (double)bytes / prog->nranks : (double)bytes;
  int J = swing_parts(t, bw, prog->args.coll, B, plans, w, &rc);
  if (!J) return rc;
  rc = nsccl_xchg_build(o, prog, plans, w, J, !bw);
  for (int j = 0; j < J; j++) nsccl_xchg_plan_free(&plans[j]);
  return rc;
}

static void swing_price_as(nsccl_model_t *m, nsccl_coll_t coll, double n, int bw) {
  nsccl_xchg_plan_t plans[MAX_PARTS];
  double w[MAX_PARTS];
  nscclResult_t rc;
  int J = swing_parts(m->t, bw, coll, n / m->p, plans, w, &rc);
  if (!J) {
    m->rc = rc;
    return;
  }
  nsccl_xchg_price(m, coll, plans, w, J, !bw, n);
  for (int j = 0; j < J; j++) nsccl_xchg_plan_free(&plans[j]);
}
static void swing_lat_price(nsccl_model_t *m, nsccl_coll_t coll, double n) { swing_price_as(m, coll, n, 0); }
static void swing_bw_price(nsccl_model_t *m, nsccl_coll_t coll, double n) { swing_price_as(m, coll, n, 1); }

const nsccl_variant_t nsccl_variant_tree_swing_lat = {
    "tree/swing-lat",
    NSCCL_ALGO_TREE,
    NSCCL_TREE_SWING_LAT,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    swing_applies,
    NULL,
    swing_build,
    swing_lat_price,
    "torus of 2^k rings: Swing all-reduce, whole vectors exchanged with partners 1, -1, 3, -5, ... away"};
const nsccl_variant_t nsccl_variant_tree_swing_bw = {
    "tree/swing-bw",
    NSCCL_ALGO_TREE,
    NSCCL_TREE_SWING_BW,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    swing_applies,
    NULL,
    swing_build,
    swing_bw_price,
    "torus of 2^k rings: Swing halving reduce-scatter / doubling all-gather, one part per port (2 per "
    "dimension)"};
