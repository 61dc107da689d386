/* direct/mesh and direct/mesh-oneshot: Neuron's Mesh on a torus (docs/algorithms.md, "Mesh").
 *
 * Step 1: every rank writes its block directly to the rank of the same local index on every other
 * chip; the torus routes the messages through the chips between (multi-hop flows share links, which
 * the price sees through the routes' link loads). Step 2: the intra-chip exchange, every rank giving
 * the blocks it gathered to the other ranks of its chip. With one rank per chip step 2 is empty and
 * Mesh all-gather is the routed direct all-gather (the direct builder, direct.c). Reduce-scatter
 * mirrors it (intra-chip reduction of the blocks for each local index, then the inter-chip step);
 * all-reduce = reduce-scatter + all-gather on the vector's block partition. mesh-oneshot is the
 * single-step all-reduce: every rank sends its whole vector to every other rank and reduces all
 * (direct.c's one-shot; with several ranks per chip the same single step).
 *
 * The two-step builder (ranks_per_chip > 1) uses the hazard-tracked emitters (tree_internal.h);
 * reduce-scatter's partial sums of foreign blocks live in scratch at their input offsets (scratch =
 * the input size), all-reduce's in the receive buffer. */
#include <math.h>

#include "algo/direct.h"
#include "algo/ring.h"
#include "algo/tree_internal.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/price.h"
#include "topologies/topo.h"

#define NSCCL_DIRECT_MESH         3
#define NSCCL_DIRECT_MESH_ONESHOT 4

typedef struct {
  nsccl_tree_ctx_t c;
  const nsccl_coll_args_t *a;
  int n, me, L, C, chip, loc; /* ranks, this rank, ranks per chip, chips, my chip and local index */
} mesh_t;

static int rank_of(const mesh_t *M, int chip, int loc) { return chip * M->L + loc; }

/* Block j in a buffer: all-reduce's partition of the vector, else rank j's count elements. */
static nsccl_region_t block(const mesh_t *M, nsccl_buf_t buf, int j) {
  size_t elem = M->c.elem;
  if (M->a->coll == NSCCL_COLL_ALLREDUCE) {
    size_t first, len;
    nsccl_algo_block(M->a->count, M->n, j, &first, &len);
    return nsccl_region(buf, first * elem, len * elem);
  }
  return nsccl_region(buf, (size_t)j * M->a->count * elem, M->a->count * elem);
}

static nsccl_region_t with_buf(nsccl_region_t r, nsccl_buf_t b) { return nsccl_region(b, r.offset, r.bytes); }

/* All-gather of the blocks in RECV (own block already there). */
static void mesh_all_gather(mesh_t *M) {
  nsccl_region_t mine = block(M, NSCCL_BUF_RECV, M->me);
  for (int i = 1; i < M->C; i++) { /* step 1: same local index on every other chip, staggered */
    int to = rank_of(M, (M->chip + i) % M->C, M->loc), from = rank_of(M, (M->chip - i + M->C) % M->C, M->loc);
    nsccl_tree_send(&M->c, to, mine);
    nsccl_tree_recv(&M->c, from, block(M, NSCCL_BUF_RECV, from));
  }
  for (int i = 1; i < M->L; i++) { /* step 2: the chip's other ranks get what step 1 gathered */
    int to = rank_of(M, M->chip, (M->loc + i) % M->L), from = rank_of(M, M->chip, (M->loc - i + M->L) % M->L);
    for (int c = 0; c < M->C; c++) nsccl_tree_send(&M->c, to, block(M, NSCCL_BUF_RECV, rank_of(M, c, M->loc)));
    int fl = from % M->L;
    for (int c = 0; c < M->C; c++) nsccl_tree_recv(&M->c, from, block(M, NSCCL_BUF_RECV, rank_of(M, c, fl)));
  }
}

/* Reduce-scatter (all-reduce: onto the vector's blocks, results in RECV at the block's place). */
static void mesh_reduce_scatter(mesh_t *M) {
  bool rs = M->a->coll == NSCCL_COLL_REDUCESCATTER;
  nsccl_buf_t part = rs ? NSCCL_BUF_SCRATCH : NSCCL_BUF_RECV;
  /* Step 1, intra-chip: local index l' gets my input blocks of every chip's rank l'; I reduce the
   * chip's contributions to the blocks of local index loc (every chip's), in source order. */
  for (int i = 1; i < M->L; i++) {
    int to = rank_of(M, M->chip, (M->loc + i) % M->L), tl = to % M->L;
    for (int c = 0; c < M->C; c++) nsccl_tree_send(&M->c, to, block(M, NSCCL_BUF_SEND, rank_of(M, c, tl)));
  }
  for (int i = 1; i < M->L; i++) {
    int from = rank_of(M, M->chip, (M->loc - i + M->L) % M->L);
    for (int c = 0; c < M->C; c++) {
      int j = rank_of(M, c, M->loc);
      nsccl_region_t in = block(M, NSCCL_BUF_SEND, j), acc = with_buf(in, part);
      bool final = M->C == 1 && i == M->L - 1;
      if (final && rs) acc = nsccl_region(NSCCL_BUF_RECV, 0, in.bytes);
      nsccl_tree_recv_reduce(&M->c, from, i == 1 ? in : with_buf(in, part), acc);
    }
  }
  /* Step 2, inter-chip: the chip's partial of block (c, loc) goes to (c, loc); mine arrives from
   * every other chip and is reduced into the output. */
  nsccl_region_t own = block(M, NSCCL_BUF_SEND, M->me);
  nsccl_region_t cur = M->L > 1 ? with_buf(own, part) : own;
  for (int i = 1; i < M->C; i++) {
    int to = rank_of(M, (M->chip + i) % M->C, M->loc);
    nsccl_region_t b = block(M, NSCCL_BUF_SEND, to);
    nsccl_tree_send(&M->c, to, M->L > 1 ? with_buf(b, part) : b);
  }
  nsccl_region_t out = rs ? nsccl_region(NSCCL_BUF_RECV, 0, own.bytes) : block(M, NSCCL_BUF_RECV, M->me);
  nsccl_region_t acc = rs ? with_buf(own, NSCCL_BUF_SCRATCH) : out;
  for (int i = 1; i < M->C; i++) {
    int from = rank_of(M, (M->chip - i + M->C) % M->C, M->loc);
    nsccl_region_t dst = i == M->C - 1 ? out : acc;
    nsccl_tree_recv_reduce(&M->c, from, cur, dst);
    cur = dst;
  }
}

static nscclResult_t mesh_two_step(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  const nsccl_coll_args_t *a = &prog->args;
  size_t recv_bytes = prog->buf_bytes[NSCCL_BUF_RECV];
  if (a->count == 0) return nscclSuccess;
  mesh_t M = {.a = a, .n = prog->nranks, .me = prog->rank, .L = t->ranks_per_chip};
  M.C = M.n / M.L, M.chip = M.me / M.L, M.loc = M.me % M.L;
  NSCCL_CHECK(nsccl_tree_ctx_init(&M.c, prog, o));
  if (a->coll == NSCCL_COLL_ALLGATHER) {
    nsccl_tree_copy(&M.c, nsccl_region(NSCCL_BUF_SEND, 0, a->count * M.c.elem), block(&M, NSCCL_BUF_RECV, M.me));
    mesh_all_gather(&M);
  } else {
    if (a->coll == NSCCL_COLL_REDUCESCATTER) nsccl_prog_need_scratch(prog, prog->buf_bytes[NSCCL_BUF_SEND]);
    mesh_reduce_scatter(&M);
    if (a->coll == NSCCL_COLL_ALLREDUCE) mesh_all_gather(&M);
  }
  (void)recv_bytes;
  return nsccl_tree_ctx_finish(&M.c);
}

static int chips_of(const nsccl_topo_t *t) { return t->ranks_per_chip > 1 ? t->ranks_per_chip : 1; }

static int mesh_applies(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll, (void)nranks;
  return t && t->ndims > 0 && t->nranks % chips_of(t) == 0;
}

static nscclResult_t mesh_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  if (!mesh_applies(t, prog->args.coll, prog->nranks))
    NSCCL_FAIL(nscclInvalidArgument, "direct/mesh: needs a torus (topology %s)", t ? t->name : "flat");
  nsccl_algo_opts_t d = *o;
  bool oneshot = o->variant == NSCCL_DIRECT_MESH_ONESHOT;
  if (oneshot || chips_of(t) == 1 || prog->nranks == 1) {
    d.variant = oneshot ? NSCCL_DIRECT_ONESHOT : NSCCL_DIRECT_RSAG;
    return nsccl_direct_build(t, &d, prog);
  }
  return mesh_two_step(t, o, prog);
}

/* The price follows the builder: with one rank per chip, direct's (one step of routed flows per
 * half); with several, step 1 and step 2 as emitted, a message per block and chunk. Block sizes
 * are the builder's: all-reduce cuts `bytes` one-byte elements into n blocks (some empty when
 * bytes < n, and those send nothing), the others move bytes / n per rank. */
static double block_bytes(const nsccl_model_t *m, nsccl_coll_t coll, double bytes, int j) {
  if (coll != NSCCL_COLL_ALLREDUCE) return fmax(1.0, floor(bytes / m->p));
  size_t first, len;
  nsccl_algo_block((size_t)bytes, m->p, j, &first, &len);
  return (double)len;
}

/* Do all p blocks have the same size (and send something)? */
static bool uniform_blocks(const nsccl_model_t *m, nsccl_coll_t coll, double bytes) {
  double B0 = block_bytes(m, coll, bytes, 0);
  for (int j = 1; j < m->p && B0 > 0; j++)
    if (block_bytes(m, coll, bytes, j) != B0) return false;
  return B0 > 0;
}

/* One step: inter (to the same local index on the other chips) or intra (to the chip's other
 * ranks, every chip's block of the sender's or receiver's local index); reduce: reduce-scatter. */
static void mesh_step(nsccl_model_t *m, nsccl_coll_t coll, double bytes, int L, bool inter, bool reduce) {
  int n = m->p, C = n / L;
  if (inter && L == 1 && uniform_blocks(m, coll, bytes)) { /* every rank to every other, equal blocks */
    double B = block_bytes(m, coll, bytes, 0);
    nsccl_model_all_to_all(m, B, fmax(1.0, ceil(B / m->chunk)));
    if (reduce)
      for (int r = 0; r < n; r++) nsccl_model_reduce(m, r, (n - 1) * B);
    nsccl_model_step(m, 1);
    return;
  }
  if (inter && L == 1 && coll == NSCCL_COLL_ALLREDUCE) { /* blocks of q + 1 and q elements */
    double q = floor(bytes / n);
    int nhi = (int)(bytes - q * n);
    if (nsccl_model_all_to_all_split(m, q, q + 1, nhi, reduce)) {
      if (reduce)
        for (int r = 0; r < n; r++) nsccl_model_reduce(m, r, (n - 1) * block_bytes(m, coll, bytes, r));
      nsccl_model_step(m, 1);
      return;
    }
  }
  for (int r = 0; r < n; r++) {
    int chip = r / L, loc = r % L;
    for (int i = 1; i < (inter ? C : L); i++) {
      int to = inter ? ((chip + i) % C) * L + loc : chip * L + (loc + i) % L;
      double sum = 0, msgs = 0;
      for (int c = 0; c < (inter ? 1 : C); c++) {
        /* reduce-scatter sends the receiver's blocks, all-gather the sender's */
        int j = inter ? (reduce ? to : r) : c * L + (reduce ? to : r) % L;
        double B = block_bytes(m, coll, bytes, j);
        if (B <= 0) continue;
        sum += B, msgs += fmax(1.0, ceil(B / m->chunk));
      }
      nsccl_model_flow(m, r, to, sum, msgs);
      if (reduce) nsccl_model_reduce(m, to, sum);
    }
  }
  nsccl_model_step(m, 1);
}

static void mesh_price_as(nsccl_model_t *m, nsccl_coll_t coll, double bytes, bool oneshot) {
  int L = chips_of(m->t);
  if (oneshot) {
    nsccl_model_oneshot(m, bytes);
    return;
  }
  if (coll != NSCCL_COLL_ALLGATHER) {
    if (L > 1) mesh_step(m, coll, bytes, L, false, true);
    mesh_step(m, coll, bytes, L, true, true);
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    if (L > 1) nsccl_model_phase_begin(m), nsccl_model_phase_gather(m);
    mesh_step(m, coll, bytes, L, true, false);
    if (L > 1) mesh_step(m, coll, bytes, L, false, false);
    if (L > 1) nsccl_model_phase_end(m);
  }
}

static void mesh_price(nsccl_model_t *m, nsccl_coll_t c, double bytes) { mesh_price_as(m, c, bytes, false); }
static void mesh_oneshot_price(nsccl_model_t *m, nsccl_coll_t c, double bytes) { mesh_price_as(m, c, bytes, true); }

const nsccl_variant_t nsccl_variant_direct_mesh = {
    "direct/mesh",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_MESH,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    mesh_applies,
    NULL,
    mesh_build,
    mesh_price,
    "torus: Neuron's Mesh, direct writes to the same local index on every chip (routed), then the intra-chip "
    "exchange; all-reduce = RS + AG"};
const nsccl_variant_t nsccl_variant_direct_mesh_oneshot = {
    "direct/mesh-oneshot",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_MESH_ONESHOT,
    NSCCL_COLLS_AR,
    NSCCL_COLLS_AR,
    mesh_applies,
    NULL,
    mesh_build,
    mesh_oneshot_price,
    "torus: Neuron's single-step Mesh all-reduce, every rank's whole vector to every rank (routed)"};
