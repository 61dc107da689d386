/* Tree all-gather. Block j (count elements, B bytes) of the result is rank j's input.
 *
 * Powers of two: recursive doubling. Step k pairs rank r with r ^ 2^k; each sends the 2^k blocks
 * of its aligned group (contiguous in recv) and receives the partner group's. lg p steps.
 *
 * Other rank counts (or NSCCL_TREE_BRUCK): Bruck. After step k rank r holds the cyclic run of
 * blocks [r, r + 2^k) (mod p); in step k it sends the first min(2^k, p - 2^k) of them to r - 2^k
 * and receives as many starting at r + 2^k from r + 2^k. ceil(lg p) steps. Blocks are stored at
 * their final positions from the start, so the textbook final rotation is not needed: a run that
 * wraps past block p-1 is sent as two pieces instead (both sides cut it identically). */
#include "algo/tree_internal.h"

static void allgather_rd(nsccl_tree_ctx_t *c, size_t B) {
  int r = c->prog->rank, p = c->prog->nranks;
  for (int k = 0; (1 << k) < p; k++) {
    int w = 1 << k, peer = r ^ w;
    int mine = r & ~(w - 1), theirs = peer & ~(w - 1);
    /* Step 0 sends the input itself, so it need not wait for the local copy. */
    nsccl_region_t src =
        k == 0 ? nsccl_region(NSCCL_BUF_SEND, 0, B) : nsccl_region(NSCCL_BUF_RECV, (size_t)mine * B, (size_t)w * B);
    nsccl_tree_send(c, peer, src);
    nsccl_tree_recv(c, peer, nsccl_region(NSCCL_BUF_RECV, (size_t)theirs * B, (size_t)w * B));
  }
}

/* The cyclic run of m blocks starting at block s, as at most two contiguous recv regions. */
static int cyclic_run(int s, int m, int p, size_t B, nsccl_region_t out[2]) {
  int first = m < p - s ? m : p - s;
  out[0] = nsccl_region(NSCCL_BUF_RECV, (size_t)s * B, (size_t)first * B);
  out[1] = nsccl_region(NSCCL_BUF_RECV, 0, (size_t)(m - first) * B);
  return m > first ? 2 : 1;
}

static void allgather_bruck(nsccl_tree_ctx_t *c, size_t B) {
  int r = c->prog->rank, p = c->prog->nranks;
  for (int k = 0; (1 << k) < p; k++) {
    int d = 1 << k, m = d < p - d ? d : p - d;
    int to = (r - d + p) % p, from = (r + d) % p;
    nsccl_region_t out[2], in[2];
    int nout = cyclic_run(r, m, p, B, out), nin = cyclic_run(from, m, p, B, in);
    if (k == 0) out[0] = nsccl_region(NSCCL_BUF_SEND, 0, B);
    for (int i = 0; i < nout; i++) nsccl_tree_send(c, to, out[i]);
    for (int i = 0; i < nin; i++) nsccl_tree_recv(c, from, in[i]);
  }
}

void nsccl_tree_allgather(nsccl_tree_ctx_t *c, int variant) {
  int r = c->prog->rank, p = c->prog->nranks;
  size_t B = c->prog->args.count * c->elem;
  /* My own block: later steps forward it from recv (dropped in place, where it already is). */
  nsccl_tree_copy(c, nsccl_region(NSCCL_BUF_SEND, 0, B), nsccl_region(NSCCL_BUF_RECV, (size_t)r * B, B));
  if (variant != NSCCL_TREE_BRUCK && (p & (p - 1)) == 0)
    allgather_rd(c, B);
  else
    allgather_bruck(c, B);
}
