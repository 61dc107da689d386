/* Tree reduce-scatter: recursive halving, with fold-in for rank counts that are not powers of two.
 *
 * With p = P + x (P = 2^L): extra rank 2i+1 sends its whole input (p blocks) to core rank 2i, which
 * reduces it into a scratch copy. The P core ranks then run recursive halving on p blocks grouped
 * into P super-blocks: core c's super-block is the blocks of the ranks it stands for ({2i, 2i+1} for
 * a folded pair, {c + x} otherwise). Because extras are the odd ranks below 2x, each super-block is
 * a contiguous run of blocks, so every halving exchange stays one message. At the last step the
 * kept super-block is cut per block: the rank's own block lands straight in recv, a folded pair's
 * second block is sent on to the extra rank, which receives it into recv.
 *
 * Partials live in scratch, and the message is processed in rounds (docs/algorithms.md, "Memory
 * bound"): round g reduces bytes [g R, g R + R) of every block, R = NSCCL_ALGO_SLOTS chunks, as a
 * complete recursive halving of its own, so scratch holds one round's pieces (p R for a core rank
 * that folds, the half kept after step 0 for the others) whatever the block size. A message of one
 * round moves each run of consecutive blocks as one message, exactly as a whole-vector halving
 * would; with more rounds each block's piece is its own message. The hazard map orders a round's
 * scratch writes after the previous round's reads. Inputs are read only from the send buffer and
 * the output piece is written last, so in place (recv = send block `rank`) is safe. */
#include "algo/tree_internal.h"
#include "base/check.h"

typedef struct {
  nsccl_tree_ctx_t *c;
  nsccl_tree_fold_t f;
  size_t B, po, L, R; /* block bytes; this round's piece offset and length; scratch bytes per block */
  int base;           /* first block kept in scratch */
  bool one_round;     /* pieces of consecutive blocks are adjacent: merge runs into one message */
} rs_t;

static nsccl_region_t in_piece(const rs_t *t, int j0, int j1) {
  return nsccl_region(NSCCL_BUF_SEND, (size_t)j0 * t->B + t->po, (size_t)(j1 - j0) * t->L);
}

static nsccl_region_t acc_piece(const rs_t *t, int j0, int j1) {
  return nsccl_region(NSCCL_BUF_SCRATCH, (size_t)(j0 - t->base) * t->R, (size_t)(j1 - j0) * t->L);
}

/* Pieces of blocks [j0, j1): one message if the round covers whole blocks, else one per block. */
#define FOR_PIECES(t, j0, j1, a, b)                                                                                    \
  for (int a = (j0), b = (t)->one_round ? (j1) : (j0) + 1; a < (j1); a = b, b = (t)->one_round ? (j1) : b + 1)

static void send_blocks(rs_t *t, int peer, int j0, int j1, bool in_acc) {
  FOR_PIECES(t, j0, j1, a, b) nsccl_tree_send(t->c, peer, in_acc ? acc_piece(t, a, b) : in_piece(t, a, b));
}

static void reduce_blocks(rs_t *t, int peer, int j0, int j1, bool in_acc, bool last) {
  int rank = t->c->prog->rank;
  FOR_PIECES(t, j0, j1, a, b) {
    nsccl_region_t src = in_acc ? acc_piece(t, a, b) : in_piece(t, a, b), dst = acc_piece(t, a, b);
    if (last && a == rank) dst = nsccl_region(NSCCL_BUF_RECV, t->po, t->L); /* only at the last step, b = a + 1 */
    nsccl_tree_recv_reduce(t->c, peer, src, dst);
  }
}

/* One round: fold-in, recursive halving over the P core ranks, fold-out. */
static void rs_round(rs_t *t) {
  const nsccl_tree_fold_t *f = &t->f;
  nsccl_tree_ctx_t *c = t->c;
  int p = f->nranks, me = f->core;
  if (me < 0) { /* extra: hand everything to the partner, get my piece back */
    send_blocks(t, f->partner, 0, p, false);
    nsccl_tree_recv(c, f->partner, nsccl_region(NSCCL_BUF_RECV, t->po, t->L));
    return;
  }
  bool in_acc = false;
  if (f->partner >= 0) {
    reduce_blocks(t, f->partner, 0, p, false, false);
    in_acc = true;
  }
  int lo = 0, w = f->P;
  for (int k = 0; k < f->L; k++, w /= 2) {
    int half = w / 2, peer_core = nsccl_tree_hc_peer(f, me, f->L - 1 - k);
    int peer = nsccl_tree_core_rank(f, peer_core);
    int keep_lo = me < lo + half ? lo : lo + half, give_lo = peer_core < lo + half ? lo : lo + half;
    bool last = k == f->L - 1;
    int g0 = nsccl_tree_core_first_block(f, give_lo), g1 = nsccl_tree_core_first_block(f, give_lo + half);
    int k0 = nsccl_tree_core_first_block(f, keep_lo), k1 = nsccl_tree_core_first_block(f, keep_lo + half);
    /* Send first: the partner's half does not depend on what arrives here. The last step cuts the
     * super-blocks per block (the own block goes to recv, a folded pair's second block on). */
    bool merge = t->one_round;
    if (last) t->one_round = false; /* both sides cut the last step per block */
    send_blocks(t, peer, g0, g1, in_acc);
    reduce_blocks(t, peer, k0, k1, in_acc, last);
    t->one_round = merge;
    in_acc = true;
    lo = keep_lo;
  }
  if (f->partner >= 0) nsccl_tree_send(c, f->partner, acc_piece(t, f->partner, f->partner + 1));
}

nscclResult_t nsccl_tree_reducescatter(nsccl_tree_ctx_t *c) {
  rs_t t = {.c = c};
  t.B = c->prog->args.count * c->elem;
  nsccl_tree_fold_init(&t.f, c->prog->rank, c->prog->nranks);
  size_t round = (size_t)NSCCL_ALGO_SLOTS * c->chunk;
  t.R = t.B < round ? t.B : round;
  t.one_round = t.R == t.B;
  /* A core rank that folds keeps every block in scratch; the others only the half kept after step
   * 0 (an extra rank keeps nothing). */
  t.base = t.f.partner >= 0 || t.f.core < t.f.P / 2 ? 0 : nsccl_tree_core_first_block(&t.f, t.f.P / 2);
  for (t.po = 0; t.po < t.B; t.po += t.R) {
    t.L = t.B - t.po < t.R ? t.B - t.po : t.R;
    rs_round(&t);
  }
  return nscclSuccess;
}
