/* tree/rdh and tree/rdh-rd: Neuron's RDH ("recursive doubling / halving") on a torus seen as a
 * hypercube (docs/algorithms.md, "RDH").
 *
 * Every ring of the torus, of k = 2^b chips, gives b hypercube dimensions: bit i of the ring
 * coordinate, i.e. the pairs of chips 2^i apart (a ring of 4: the pairs at distance 1, 0-1 and 2-3,
 * and at distance 2, 0-2 and 1-3; a ring of 2: one pair). A step exchanges across one such
 * dimension. A distance-2^i pair is routed over 2^i hops and every link of that direction then
 * carries 2^i of the step's flows, so a step of message m costs about 2^i m / bw_d: the dimension's
 * "cost factor" 2^i / bw_d. All-gather doubles its message every step, so it takes the dimensions
 * in decreasing cost factor (the last, largest step over distance-1 pairs of the fastest ring);
 * reduce-scatter halves, so the same plan read backwards takes the cheapest first. All-reduce is
 * Rabenseifner's reduce-scatter by halving then all-gather by doubling on this plan (tree/rdh), or
 * whole-vector recursive doubling for small vectors (tree/rdh-rd, priced separately so the
 * selector picks by size). Small all-gathers and reduce-scatters, whose time is messages, take the
 * dimensions in rank-bit order instead (every set one run: one message per step).
 *
 * This is Neuron's pairing, not the Gray-coded relabelling of tree/rd-mapped (topo_tree.c), where
 * every pair of a ring of 4 is one hop (0-1, 2-3 then 0-3, 1-2); docs/algorithms.md compares them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "algo/tree_torus.h"
#include "algo/variant.h"
#include "algo/xchg_plan.h"
#include "base/check.h"
#include "model/price.h"

int nsccl_tree_torus_pow2(const nsccl_topo_t *t, int nranks, char *why, size_t len) {
  char dummy[8];
  if (!why) why = dummy, len = sizeof(dummy);
  if (!t || t->ndims <= 0) {
    snprintf(why, len, "needs a torus (a topology with dimensions), got %s", t ? t->name : "a flat topology");
    return 0;
  }
  long n = 1;
  int longer = 0;
  for (int d = 0; d < t->ndims; d++) {
    if (t->dims[d] & (t->dims[d] - 1)) {
      snprintf(why, len,
               "dimension %d of %s has %d chips, not a power of two: the exchange partners are defined on rings "
               "of 2^k chips (a hypercube needs 2^L ranks)",
               d, t->name, t->dims[d]);
      return 0;
    }
    longer |= t->dims[d] > 1;
    n *= t->dims[d];
  }
  if (n != nranks || n != t->nranks) {
    snprintf(why, len, "%s has %d ranks for %ld torus vertices: it needs exactly one rank per chip", t->name, t->nranks,
             n);
    return 0;
  }
  if (!longer) {
    snprintf(why, len, "%s has no dimension longer than 1", t->name);
    return 0;
  }
  return 1;
}

typedef struct {
  int d, bit;
  double factor; /* 2^bit / dim_bandwidth[d] */
} hbit_t;

/* The hypercube dimensions in all-gather order. by_cost: decreasing cost factor, ties by the
 * position of the bit in the rank number, lowest first; otherwise rank-bit order, lowest first,
 * which keeps every gathered set one run of consecutive ranks (one message per step: what small
 * all-gathers and reduce-scatters want, whose time is messages, not bytes). Returns L. */
static int rdh_bits(const nsccl_topo_t *t, hbit_t *bits, int by_cost) {
  int L = 0;
  for (int d = 0; d < t->ndims; d++)
    for (int b = 0; (1 << b) < t->dims[d]; b++) bits[L++] = (hbit_t){d, b, (double)(1 << b) / t->dim_bandwidth[d]};
  for (int i = 1; i < L && by_cost; i++) /* insertion sort, stable: ties keep rank-bit order */
    for (int j = i; j > 0 && bits[j].factor > bits[j - 1].factor; j--) {
      hbit_t x = bits[j];
      bits[j] = bits[j - 1], bits[j - 1] = x;
    }
  return L;
}

static nscclResult_t plan_of(const nsccl_topo_t *t, const hbit_t *bits, int L, nsccl_xchg_plan_t *pl) {
  int p = t->nranks;
  /* The peers follow from these alone (coordinates come from the dimensions). */
  int key[3 + NSCCL_TOPO_MAX_DIMS + 2 * 64] = {'R', p, L}, nk = 3;
  for (int d = 0; d < t->ndims; d++) key[nk++] = t->dims[d];
  for (int s = 0; s < L && s < 64; s++) key[nk++] = bits[s].d, key[nk++] = bits[s].bit;
  size_t keylen = L <= 64 ? sizeof(int) * (size_t)nk : 0;
  if (keylen && nsccl_xchg_plan_find(pl, key, keylen)) return nscclSuccess;
  int *peer = malloc(sizeof(int) * ((size_t)L * p + 1));
  if (!peer) NSCCL_FAIL(nscclSystemError, "tree/rdh: out of memory for %d ranks", p);
  for (int s = 0; s < L; s++)
    for (int r = 0; r < p; r++) {
      int c[NSCCL_TOPO_MAX_DIMS];
      nsccl_topo_coord(t, r, c);
      c[bits[s].d] ^= 1 << bits[s].bit;
      peer[s * p + r] = nsccl_topo_rank_at(t, c);
    }
  nscclResult_t rc = nsccl_xchg_plan_init_key(pl, "tree/rdh", p, L, peer, key, keylen);
  free(peer);
  return rc;
}

/* Rough time of the all-gather of blocks of B bytes on a plan (rank 0): alpha per message (run),
 * each step's bytes times its cost factor. */
static double estimate(const nsccl_topo_t *t, const nsccl_xchg_plan_t *pl, const hbit_t *bits, double B) {
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)pl->p);
  double T = 0;
  if (!runs) return INFINITY;
  for (int s = 0; s < pl->L; s++) {
    const uint64_t *h = nsccl_xchg_held(pl, s, 0);
    T += nsccl_xchg_runs(pl, h, runs) * t->endpoint_overhead + nsccl_xchg_count(pl, h) * B * bits[s].factor;
  }
  free(runs);
  return T;
}

/* The plan for coll with blocks of B bytes: all-reduce (whose blocks are ordered so that every
 * exchange is one message) in cost order; all-gather and reduce-scatter in whichever of cost and
 * rank-bit order estimates faster. The builder and the price call this with the same B. */
static nscclResult_t rdh_plan(const nsccl_topo_t *t, nsccl_coll_t coll, double B, nsccl_xchg_plan_t *pl) {
  hbit_t bits[64], flat[64];
  int L = rdh_bits(t, bits, 1);
  NSCCL_CHECK(plan_of(t, bits, L, pl));
  if (coll == NSCCL_COLL_ALLREDUCE) return nscclSuccess;
  rdh_bits(t, flat, 0);
  nsccl_xchg_plan_t alt;
  NSCCL_CHECK(plan_of(t, flat, L, &alt));
  if (estimate(t, &alt, flat, B) < estimate(t, pl, bits, B)) {
    nsccl_xchg_plan_free(pl);
    *pl = alt;
  } else {
    nsccl_xchg_plan_free(&alt);
  }
  return nscclSuccess;
}

static int rdh_applies(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll;
  return nsccl_tree_torus_pow2(t, nranks, NULL, 0);
}

static nscclResult_t rdh_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  char why[256];
  const char *name = o->variant == NSCCL_TREE_RDH_RD ? "tree/rdh-rd" : "tree/rdh";
  if (!nsccl_tree_torus_pow2(t, prog->nranks, why, sizeof(why)))
    NSCCL_FAIL(nscclInvalidArgument, "%s does not apply: it %s", name, why);
  nsccl_xchg_plan_t pl;
  NSCCL_CHECK(rdh_plan(t, prog->args.coll, (double)(prog->args.count * nsccl_algo_elem_bytes(prog)), &pl));
  double w = 1;
  nscclResult_t rc = nsccl_xchg_build(o, prog, &pl, &w, 1, o->variant == NSCCL_TREE_RDH_RD);
  nsccl_xchg_plan_free(&pl);
  return rc;
}

static void rdh_price_as(nsccl_model_t *m, nsccl_coll_t coll, double n, int whole) {
  nsccl_xchg_plan_t pl;
  if (rdh_plan(m->t, coll, n / m->p, &pl) != nscclSuccess) {
    m->rc = nscclInvalidArgument;
    return;
  }
  double w = 1;
  nsccl_xchg_price(m, coll, &pl, &w, 1, whole, n);
  nsccl_xchg_plan_free(&pl);
}
static void rdh_price(nsccl_model_t *m, nsccl_coll_t coll, double n) { rdh_price_as(m, coll, n, 0); }
static void rdh_rd_price(nsccl_model_t *m, nsccl_coll_t coll, double n) { rdh_price_as(m, coll, n, 1); }

const nsccl_variant_t nsccl_variant_tree_rdh = {
    "tree/rdh",
    NSCCL_ALGO_TREE,
    NSCCL_TREE_RDH,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    rdh_applies,
    NULL,
    rdh_build,
    rdh_price,
    "torus of 2^k rings: Neuron's RDH, hypercube steps between chips 1, 2, 4... apart in one ring; all-reduce "
    "halving + doubling"};
const nsccl_variant_t nsccl_variant_tree_rdh_rd = {
    "tree/rdh-rd",
    NSCCL_ALGO_TREE,
    NSCCL_TREE_RDH_RD,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    rdh_applies,
    NULL,
    rdh_build,
    rdh_rd_price,
    "torus of 2^k rings: RDH all-reduce exchanging whole vectors (recursive doubling on the RDH pairs)"};
