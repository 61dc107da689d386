/* The tree family's variants: recursive doubling / halving (Bruck for non-powers of two),
 * Rabenseifner, binary and double-binary trees, and the torus-mapped hypercube schedules. Builders in
 * tree*.c / topo_tree*.c; prices here follow the builders step by step (docs/model.md, "Tree"). */
#include <math.h>
#include <stdlib.h>

#include "algo/topo_algo.h"
#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "algo/variant.h"
#include "model/cost_rooted.h"
#include "model/price.h"
#include "topologies/topo.h"

typedef nsccl_model_t model_t;

typedef struct {
  int P, L, x;
} fold_t;

static fold_t fold_of(int p) {
  fold_t f = {1, 0, 0};
  while (f.P * 2 <= p) f.P *= 2, f.L++;
  f.x = p - f.P;
  return f;
}

static int core_rank(const fold_t *f, int c) { return c < f->x ? 2 * c : c + f->x; }

/* Messages for `bytes` of whole blocks of B bytes that the tree reduce-scatter sends block by block
 * (tree_reducescatter.c): each block's piece is its own message, chunked. It does so when the
 * message needs several rounds of NSCCL_ALGO_SLOTS chunks per block (docs/algorithms.md, "Memory
 * bound"; a round is a multiple of the chunk, so a block costs ceil(B / chunk) messages over all
 * rounds) and in the last halving step; otherwise a run of consecutive blocks is one message, and
 * 0 (one message per chunk of the run) is returned. B = 0: not a reduce-scatter, runs throughout. */
static double rs_msgs(const model_t *m, double bytes, double B, int last) {
  if (B <= 0 || (!last && B <= NSCCL_ALGO_SLOTS * m->chunk)) return 0;
  return bytes / B * fmax(1.0, ceil(B / m->chunk));
}

/* Extras (odd ranks below 2x) hand `bytes` to their core partner, which reduces them. B: as for
 * rs_msgs. */
static void fold_in(model_t *m, const fold_t *f, double bytes, double B) {
  if (!f->x) return;
  for (int i = 0; i < f->x; i++) {
    nsccl_model_flow(m, 2 * i + 1, 2 * i, bytes, rs_msgs(m, bytes, B, 0));
    nsccl_model_reduce(m, 2 * i, bytes);
  }
  nsccl_model_step(m, 1);
}

static void fold_out(model_t *m, const fold_t *f, double bytes) {
  if (!f->x) return;
  for (int i = 0; i < f->x; i++) nsccl_model_flow1(m, 2 * i, 2 * i + 1, bytes);
  nsccl_model_step(m, 1);
}

/* Recursive halving over the cores, highest hypercube dimension first. B: as for rs_msgs (the
 * halving of the tree reduce-scatter, whose blocks are n / p; 0 for Rabenseifner's). */
static void halving(model_t *m, const fold_t *f, double n, double B) {
  for (int k = 0; k < f->L; k++) {
    double part = n / (double)(2 << k);
    for (int c = 0; c < f->P; c++) {
      int peer = core_rank(f, c ^ (1 << (f->L - 1 - k)));
      nsccl_model_flow(m, core_rank(f, c), peer, part, rs_msgs(m, part, B, k == f->L - 1));
      nsccl_model_reduce(m, peer, part);
    }
    nsccl_model_step(m, 1);
  }
}

static void doubling(model_t *m, const fold_t *f, double n) {
  for (int k = 0; k < f->L; k++) {
    double part = n / f->P * (1 << k);
    for (int c = 0; c < f->P; c++) nsccl_model_flow1(m, core_rank(f, c), core_rank(f, c ^ (1 << k)), part);
    nsccl_model_step(m, 1);
  }
}

/* Binary trees (tree_allreduce.c): heap order over the ranks (mirror: reversed), chunk by chunk
 * up (reduced at the parent) and down; the double tree runs both trees at once, each with half the
 * vector. Their chunks do not move in steps: a rank sends a chunk up when its children's have
 * arrived and are reduced, so leaves send at once and the levels overlap, and the trees' edges
 * share links at moments no step describes. The model walks their messages as it walks the
 * rooted trees' (model/cost_rooted.h). On one host, where the CPU does each copy (cpu_copies),
 * nothing overlaps and the steps are priced level by level: a chunk climbs the depth-D tree and
 * comes back down (2D steps), and each further chunk costs one stage in which every edge carries a
 * chunk each way. docs/model.md, "Binary and double-binary trees". */
static int heap_depth(int v) {
  int d = 0;
  while (v > 0) v = (v - 1) / 2, d++;
  return d;
}

static void btree_flows(model_t *m, int trees, double c, int level, int up, int down) {
  int p = m->p;
  for (int t = 0; t < trees; t++)
    for (int v = 1; v < p; v++) {
      if (level >= 0 && heap_depth(v) != level) continue;
      int child = t ? p - 1 - v : v, parent = t ? p - 1 - (v - 1) / 2 : (v - 1) / 2;
      if (up) {
        nsccl_model_flow(m, child, parent, c, 1);
        nsccl_model_reduce(m, parent, c);
      }
      if (down) nsccl_model_flow(m, parent, child, c, 1);
    }
}

static void model_btree(model_t *m, int trees, double n) {
  if (!m->serial) {
    double s = 0;
    nscclResult_t rc = nsccl_model_walk_heap_trees(m->t, m->p, trees, n, m->chunk, &s);
    if (rc != nscclSuccess) m->rc = rc;
    m->total += s;
    return;
  }
  double share = n / trees, c = fmin(share, m->chunk), k = ceil(share / c);
  int D = heap_depth(m->p - 1);
  for (int l = D; l >= 1; l--) {
    btree_flows(m, trees, c, l, 1, 0);
    nsccl_model_step(m, 1);
  }
  for (int l = 1; l <= D; l++) {
    btree_flows(m, trees, c, l, 0, 1);
    nsccl_model_step(m, 1);
  }
  if (k > 1) {
    btree_flows(m, trees, c, -1, 1, 1);
    m->lat_override = 0; /* the fill already paid the latency of the tree's depth */
    nsccl_model_step(m, k - 1);
  }
}

static void model_tree_steps(model_t *m, nsccl_coll_t coll, int variant, double n);

/* The tree builders emit with automatic chunk-level dependencies (tree_internal.h), so a step's
 * chunks move on as soon as what they need arrived: the steps are one pipelined phase
 * (model/price.h). The binary trees price their own pipeline. */
static void model_tree(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int v = variant & ~NSCCL_TREE_MAPPED;
  if (coll == NSCCL_COLL_ALLREDUCE && (v == NSCCL_TREE_BINARY || v == NSCCL_TREE_DOUBLE_BINARY)) {
    model_btree(m, v == NSCCL_TREE_DOUBLE_BINARY ? 2 : 1, n);
    return;
  }
  nsccl_model_phase_begin(m);
  model_tree_steps(m, coll, variant, n);
  nsccl_model_phase_end(m);
}

/* Step k of Bruck's all-gather: every rank sends its run of min(2^k, p - 2^k) blocks to r - 2^k. */
static void bruck_flows(model_t *m, int k, double B) {
  int p = m->p, d = 1 << k, run = d < p - d ? d : p - d;
  for (int r = 0; r < p; r++) {
    double pieces = r + run > p ? 2 : 1; /* a run wrapping past block p-1 goes as two messages */
    nsccl_model_flow(m, r, (r - d + p) % p, B * run, pieces * fmax(1.0, ceil(B * run / pieces / m->chunk)));
  }
}

static void model_tree_steps(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int p = m->p;
  fold_t f = fold_of(p);
  double B = n / p;
  if (coll == NSCCL_COLL_ALLGATHER) {
    if (variant != NSCCL_TREE_BRUCK && (p & (p - 1)) == 0) {
      for (int k = 0; (1 << k) < p; k++) {
        for (int r = 0; r < p; r++) nsccl_model_flow1(m, r, r ^ (1 << k), B * (1 << k));
        nsccl_model_step(m, 1);
      }
    } else {
      /* Bruck. Its last step sends the first m = p - 2^(L-1) blocks of the run a rank holds, which
       * it has after step ceil(lg m) - 1: the builder's byte-range dependencies send them then, so
       * below a power of two that step runs beside step ceil(lg m), not after all the others
       * (docs/model.md, "Tree phases"). */
      int L = 0, early = -1;
      while ((1 << L) < p) L++;
      if (L > 0) {
        int m_last = p - (1 << (L - 1)), lg = 0;
        while ((1 << lg) < m_last) lg++;
        if (lg < L - 1) early = lg;
      }
      for (int k = 0; k < L; k++) {
        if (k == L - 1 && early >= 0) break; /* already told with step `early` */
        bruck_flows(m, k, B);
        if (k == early) bruck_flows(m, L - 1, B);
        nsccl_model_step(m, 1);
      }
    }
  } else if (coll == NSCCL_COLL_REDUCESCATTER) {
    fold_in(m, &f, n, B);
    halving(m, &f, n, B);
    fold_out(m, &f, B);
  } else {
    int v = variant & ~NSCCL_TREE_MAPPED;
    if (v == NSCCL_TREE_AUTO) v = n <= (double)NSCCL_TREE_RD_MAX_BYTES ? NSCCL_TREE_RD : NSCCL_TREE_RABENSEIFNER;
    if (v == NSCCL_TREE_BINARY || v == NSCCL_TREE_DOUBLE_BINARY) {
      model_btree(m, v == NSCCL_TREE_DOUBLE_BINARY ? 2 : 1, n);
      return;
    }
    fold_in(m, &f, n, 0);
    if (v == NSCCL_TREE_RD) {
      for (int k = 0; k < f.L; k++) {
        for (int c = 0; c < f.P; c++) {
          int peer = core_rank(&f, c ^ (1 << k));
          nsccl_model_flow1(m, core_rank(&f, c), peer, n);
          nsccl_model_reduce(m, peer, n);
        }
        nsccl_model_step(m, 1);
      }
    } else {
      halving(m, &f, n, 0);
      doubling(m, &f, n);
    }
    fold_out(m, &f, n);
  }
}

static nscclResult_t build_tree(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return t ? nsccl_topo_algo_build(NSCCL_ALGO_TREE, t, o, p) : nsccl_tree_build(t, o, p);
}

static void price_auto(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_AUTO, n); }
static void price_rd(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_RD, n); }
static void price_rab(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_RABENSEIFNER, n); }
static void price_bin(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_BINARY, n); }
static void price_dbin(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_DOUBLE_BINARY, n); }
static void price_bruck(model_t *m, nsccl_coll_t c, double n) { model_tree(m, c, NSCCL_TREE_BRUCK, n); }

/* Mapped all-reduce: the flat recursive schedule on the hypercube relabelling of the torus. */
static void price_mapped_ar(model_t *m, int variant, double n) {
  int *perm = malloc(sizeof(int) * (size_t)m->p);
  if (!perm) {
    m->rc = nscclSystemError;
    return;
  }
  nsccl_topo_hypercube_perm(m->t, perm);
  m->map = perm;
  model_tree(m, NSCCL_COLL_ALLREDUCE, variant, n);
  m->map = NULL;
  free(perm);
}
static void price_mapped(model_t *m, nsccl_coll_t c, double n) { nsccl_tree_mapped_price(m, c, n); }
static void price_rd_mapped(model_t *m, nsccl_coll_t c, double n) {
  (void)c;
  price_mapped_ar(m, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, n);
}
static void price_rab_mapped(model_t *m, nsccl_coll_t c, double n) {
  (void)c;
  price_mapped_ar(m, NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER, n);
}

static int mapped_apply(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)nranks;
  return t && nsccl_tree_mapped_supported(t, NSCCL_TREE_MAPPED, coll);
}
static int rd_mapped_apply(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)nranks;
  return t && nsccl_tree_mapped_supported(t, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, coll);
}
static int rab_mapped_apply(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)nranks;
  return t && nsccl_tree_mapped_supported(t, NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER, coll);
}

#define TREE NSCCL_ALGO_TREE
const nsccl_variant_t nsccl_variant_tree = {
    "tree",
    TREE,
    NSCCL_TREE_AUTO,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_AG | NSCCL_COLLS_RS,
    NULL,
    NULL,
    build_tree,
    price_auto,
    "recursive doubling (all-gather; Bruck off powers of two), recursive halving (reduce-scatter); "
    "all-reduce: doubling up to 64 KiB, Rabenseifner above"};
const nsccl_variant_t nsccl_variant_tree_rd = {
    "tree/rd", TREE, NSCCL_TREE_RD, NSCCL_COLLS_AR, NSCCL_COLLS_AR,
    NULL,      NULL, build_tree,    price_rd,       "all-reduce: recursive doubling on whole vectors"};
const nsccl_variant_t nsccl_variant_tree_rabenseifner = {
    "tree/rabenseifner",
    TREE,
    NSCCL_TREE_RABENSEIFNER,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    NULL,
    NULL,
    build_tree,
    price_rab,
    "all-reduce: recursive-halving reduce-scatter, then recursive-doubling all-gather"};
const nsccl_variant_t nsccl_variant_tree_binary = {
    "tree/binary",
    TREE,
    NSCCL_TREE_BINARY,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    NULL,
    NULL,
    build_tree,
    price_bin,
    "all-reduce: reduce up one binary tree and broadcast down, chunk-pipelined"};
const nsccl_variant_t nsccl_variant_tree_double_binary = {
    "tree/double-binary",
    TREE,
    NSCCL_TREE_DOUBLE_BINARY,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    NULL,
    NULL,
    build_tree,
    price_dbin,
    "all-reduce: two complementary binary trees, each with half the vector"};
const nsccl_variant_t nsccl_variant_tree_bruck = {
    "tree/bruck", TREE, NSCCL_TREE_BRUCK, NSCCL_COLLS_AG, 0,
    NULL,         NULL, build_tree,       price_bruck,    "all-gather: Bruck's algorithm even for powers of two"};
const nsccl_variant_t nsccl_variant_tree_mapped = {
    "tree/mapped",
    TREE,
    NSCCL_TREE_MAPPED,
    NSCCL_COLLS_AG | NSCCL_COLLS_RS,
    NSCCL_COLLS_AG | NSCCL_COLLS_RS,
    mapped_apply,
    NULL,
    build_tree,
    price_mapped,
    "torus: hypercube-style steps inside one dimension at a time (Bruck in odd dimensions)"};
const nsccl_variant_t nsccl_variant_tree_rd_mapped = {
    "tree/rd-mapped",
    TREE,
    NSCCL_TREE_MAPPED | NSCCL_TREE_RD,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    rd_mapped_apply,
    NULL,
    build_tree,
    price_rd_mapped,
    "torus of 2s and 4s: recursive doubling on the Gray-coded hypercube labelling"};
const nsccl_variant_t nsccl_variant_tree_rabenseifner_mapped = {
    "tree/rabenseifner-mapped",
    TREE,
    NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    rab_mapped_apply,
    NULL,
    build_tree,
    price_rab_mapped,
    "torus of 2s and 4s: Rabenseifner on the Gray-coded hypercube labelling"};
