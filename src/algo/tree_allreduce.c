/* Tree all-reduce: recursive doubling, Rabenseifner, binary and double-binary trees.
 *
 * Non-powers of two (RD and Rabenseifner) fold in: extra rank 2i+1 sends its vector to core rank
 * 2i, which reduces it into recv (2i's data first); the P = 2^L core ranks run the power-of-two
 * algorithm; core 2i finally sends the result back to 2i+1.
 *
 * Every element of the result is computed in exactly one way and then copied, or (RD) computed by
 * both partners of an exchange with the lower core index's operand first, so all ranks end with
 * bitwise identical results. Incoming data that is combined with data this rank is still sending
 * goes to scratch first: reducing into a region that an outgoing send still reads would make the
 * reduction wait for the send, and with rendezvous semantics the two partners would deadlock. */
#include <stdlib.h>

#include "algo/tree_internal.h"
#include "base/check.h"

static nsccl_region_t whole(nsccl_buf_t buf, size_t bytes) { return nsccl_region(buf, 0, bytes); }

/* Fold-in prologue. Returns true if this rank is an extra (its part is then complete). */
static bool fold_in(nsccl_tree_ctx_t *c, const nsccl_tree_fold_t *f, size_t n) {
  if (f->core < 0) {
    nsccl_tree_send(c, f->partner, whole(NSCCL_BUF_SEND, n));
    nsccl_tree_recv(c, f->partner, whole(NSCCL_BUF_RECV, n));
    return true;
  }
  if (f->partner >= 0) nsccl_tree_recv_reduce(c, f->partner, whole(NSCCL_BUF_SEND, n), whole(NSCCL_BUF_RECV, n));
  return false;
}

static void fold_out(nsccl_tree_ctx_t *c, const nsccl_tree_fold_t *f, size_t n) {
  if (f->core >= 0 && f->partner >= 0) nsccl_tree_send(c, f->partner, whole(NSCCL_BUF_RECV, n));
}

/* Recursive doubling: lg P exchanges of the whole vector, chunk by chunk: every chunk runs all lg P
 * exchanges before the next chunk starts (in program order; the engine overlaps them), and the
 * incoming chunk lands in one of NSCCL_ALGO_SLOTS chunk-sized scratch slots, chunk i in slot
 * i mod NSCCL_ALGO_SLOTS. The hazard map orders a slot's refill after the reduction that read its
 * previous content, so scratch stays NSCCL_ALGO_SLOTS chunks whatever the vector's size (one
 * chunk: the whole vector, as a single exchange per step). */
static void allreduce_rd(nsccl_tree_ctx_t *c, size_t n) {
  nsccl_tree_fold_t f;
  nsccl_tree_fold_init(&f, c->prog->rank, c->prog->nranks);
  if (fold_in(c, &f, n)) return;
  size_t i = 0;
  for (size_t lo = 0; lo < n; lo += c->chunk, i++) {
    size_t len = n - lo < c->chunk ? n - lo : c->chunk;
    nsccl_region_t cur = nsccl_region(f.partner >= 0 ? NSCCL_BUF_RECV : NSCCL_BUF_SEND, lo, len);
    nsccl_region_t in = nsccl_region(NSCCL_BUF_SCRATCH, (i % NSCCL_ALGO_SLOTS) * c->chunk, len);
    nsccl_region_t out = nsccl_region(NSCCL_BUF_RECV, lo, len);
    for (int k = 0; k < f.L; k++) {
      int peer_core = nsccl_tree_hc_peer(&f, f.core, k);
      int peer = nsccl_tree_core_rank(&f, peer_core);
      nsccl_tree_send(c, peer, cur);
      nsccl_tree_recv(c, peer, in);
      if (f.core < peer_core)
        nsccl_tree_reduce(c, cur, in, out);
      else
        nsccl_tree_reduce(c, in, cur, out);
      cur = out;
    }
  }
  fold_out(c, &f, n);
}

/* Rabenseifner: recursive-halving reduce-scatter then recursive-doubling all-gather, on P blocks of
 * the vector (sizes differ by at most one element; empty blocks move nothing). */
static nscclResult_t allreduce_rabenseifner(nsccl_tree_ctx_t *c, size_t n) {
  nsccl_tree_fold_t f;
  nsccl_tree_fold_init(&f, c->prog->rank, c->prog->nranks);
  if (fold_in(c, &f, n)) return nscclSuccess;
  size_t count = c->prog->args.count, base = count / (size_t)f.P, rem = count % (size_t)f.P;
  size_t *sb = malloc(((size_t)f.P + 1) * sizeof(*sb));
  if (!sb) NSCCL_FAIL(nscclSystemError, "tree: out of memory for %d block bounds", f.P + 1);
  for (size_t s = 0; s <= (size_t)f.P; s++) sb[s] = (s * base + (s < rem ? s : rem)) * c->elem;
  nsccl_tree_halving_t h = {
      .fold = &f, .sb = sb, .cur_in_acc = f.partner >= 0, .acc_buf = NSCCL_BUF_RECV, .acc_base = 0, .final_block = 0};
  nsccl_tree_rs_halving(c, &h);
  nsccl_tree_ag_doubling(c, &f, sb);
  free(sb);
  fold_out(c, &f, n);
  return nscclSuccess;
}

/* One binary tree over bytes [lo, hi): heap numbering v (parent (v-1)/2, children 2v+1, 2v+2) over
 * ranks in order (mirror = false) or in reverse order (mirror = true). Chunk by chunk: reduce the
 * children's partials into recv (own data first, then children in order), pass it up, take the
 * result from the parent, pass it down. Chunks pipeline up and down the tree. */
static void binary_tree(nsccl_tree_ctx_t *c, bool mirror, size_t lo, size_t hi) {
  int p = c->prog->nranks, r = c->prog->rank;
  int v = mirror ? p - 1 - r : r;
#define TREE_RANK(x) (mirror ? p - 1 - (x) : (x))
  int parent = v > 0 ? TREE_RANK((v - 1) / 2) : -1;
  int kids[2], nkids = 0;
  for (int k = 2 * v + 1; k <= 2 * v + 2 && k < p; k++) kids[nkids++] = TREE_RANK(k);
#undef TREE_RANK
  for (size_t a = lo; a < hi; a += c->chunk) {
    size_t len = hi - a < c->chunk ? hi - a : c->chunk;
    nsccl_region_t s = nsccl_region(NSCCL_BUF_SEND, a, len), d = nsccl_region(NSCCL_BUF_RECV, a, len);
    nsccl_region_t cur = s;
    for (int i = 0; i < nkids; i++, cur = d) nsccl_tree_recv_reduce(c, kids[i], cur, d);
    if (parent >= 0) {
      nsccl_tree_send(c, parent, cur);
      nsccl_tree_recv(c, parent, d);
    } else if (!nkids) {
      nsccl_tree_copy(c, s, d);
    }
    for (int i = 0; i < nkids; i++) nsccl_tree_send(c, kids[i], d);
  }
}

nscclResult_t nsccl_tree_allreduce(nsccl_tree_ctx_t *c, int variant) {
  size_t n = c->prog->args.count * c->elem;
  switch (variant) {
  case NSCCL_TREE_RD: allreduce_rd(c, n); return nscclSuccess;
  case NSCCL_TREE_RABENSEIFNER: return allreduce_rabenseifner(c, n);
  case NSCCL_TREE_BINARY: binary_tree(c, false, 0, n); return nscclSuccess;
  case NSCCL_TREE_DOUBLE_BINARY: {
    /* Tree 0 (ranks in order) carries the first half, tree 1 (mirrored: the inner ranks of one are
     * leaves of the other) the second. All of tree 0 is emitted before tree 1 so that messages a
     * pair exchanges in both trees match in the same order on both sides. */
    size_t half = c->prog->args.count / 2 * c->elem;
    binary_tree(c, false, 0, half);
    binary_tree(c, true, half, n);
    return nscclSuccess;
  }
  default: NSCCL_FAIL(nscclInternalError, "tree: all-reduce variant %d has no builder", variant);
  }
}
