/* Recursive halving (reduce-scatter) and recursive doubling (all-gather) over the 2^L core ranks,
 * on a vector cut into P = 2^L super-blocks. Shared by the reduce-scatter and the Rabenseifner
 * all-reduce.
 *
 * Halving step k (k = 0..L-1) pairs core c with its partner across hypercube dimension L-1-k. The
 * window of super-blocks still being reduced, [lo, lo + w) with w = P >> k, always contains c; c
 * keeps the half that contains c, sends the other half's partials and folds the partner's partials
 * of its own half in. Highest dimension first keeps every window contiguous, so each exchange is
 * one message (plus chunks). Doubling is the mirror image, lowest dimension first. */
#include "algo/tree_internal.h"

static nsccl_region_t acc_region(const nsccl_tree_halving_t *h, size_t lo, size_t hi) {
  return nsccl_region(h->acc_buf, lo - h->acc_base, hi - lo);
}

/* Where the partials of logical bytes [lo, hi) are before a step. */
static nsccl_region_t cur_region(const nsccl_tree_halving_t *h, bool in_acc, size_t lo, size_t hi) {
  return in_acc ? acc_region(h, lo, hi) : nsccl_region(NSCCL_BUF_SEND, lo, hi - lo);
}

/* Piece i of [lo, hi) cut at multiples of `cut` (cut 0: one piece). */
static void piece(size_t lo, size_t hi, size_t cut, size_t i, size_t *plo, size_t *phi) {
  if (!cut) {
    *plo = lo, *phi = hi;
    return;
  }
  size_t first_end = (lo / cut + 1) * cut;
  *plo = i == 0 ? lo : first_end + (i - 1) * cut;
  *phi = i == 0 ? first_end : *plo + cut;
  if (*phi > hi) *phi = hi;
}

/* How many pieces piece() makes of [lo, hi). */
static size_t npieces(size_t lo, size_t hi, size_t cut) {
  if (!cut || hi <= lo) return hi > lo;
  return (hi - 1) / cut - lo / cut + 1;
}

void nsccl_tree_rs_halving(nsccl_tree_ctx_t *c, const nsccl_tree_halving_t *h) {
  const nsccl_tree_fold_t *f = h->fold;
  int me = f->core, rank = c->prog->rank;
  int lo = 0, w = f->P;
  bool in_acc = h->cur_in_acc;
  for (int k = 0; k < f->L; k++, w /= 2) {
    int half = w / 2;
    int peer_core = nsccl_tree_hc_peer(f, me, f->L - 1 - k);
    int peer = nsccl_tree_core_rank(f, peer_core);
    /* Keep the half holding me, give the half holding the partner. */
    int keep_lo = me < lo + half ? lo : lo + half;
    int give_lo = peer_core < lo + half ? lo : lo + half;
    size_t klo = h->sb[keep_lo], khi = h->sb[keep_lo + half];
    size_t glo = h->sb[give_lo], ghi = h->sb[give_lo + half];
    bool last = k == f->L - 1;
    size_t cut = last ? h->final_block : 0;
    /* Send first: the partner's half does not depend on what arrives here. */
    for (size_t i = 0, n = npieces(glo, ghi, cut); i < n; i++) {
      size_t a, b;
      piece(glo, ghi, cut, i, &a, &b);
      nsccl_tree_send(c, peer, cur_region(h, in_acc, a, b));
    }
    for (size_t i = 0, n = npieces(klo, khi, cut); i < n; i++) {
      size_t a, b;
      piece(klo, khi, cut, i, &a, &b);
      nsccl_region_t dst = acc_region(h, a, b);
      if (cut && a / cut == (size_t)rank) dst = nsccl_region(NSCCL_BUF_RECV, 0, b - a);
      nsccl_tree_recv_reduce(c, peer, cur_region(h, in_acc, a, b), dst);
    }
    in_acc = true;
    lo = keep_lo;
  }
}

void nsccl_tree_ag_doubling(nsccl_tree_ctx_t *c, const nsccl_tree_fold_t *f, const size_t *sb) {
  int me = f->core;
  for (int k = 0; k < f->L; k++) {
    int w = 1 << k;
    int peer_core = nsccl_tree_hc_peer(f, me, k);
    int peer = nsccl_tree_core_rank(f, peer_core);
    int mine = me & ~(w - 1), theirs = peer_core & ~(w - 1);
    nsccl_tree_send(c, peer, nsccl_region(NSCCL_BUF_RECV, sb[mine], sb[mine + w] - sb[mine]));
    nsccl_tree_recv(c, peer, nsccl_region(NSCCL_BUF_RECV, sb[theirs], sb[theirs + w] - sb[theirs]));
  }
}
