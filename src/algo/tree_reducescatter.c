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
 * Partials live in scratch. A core rank that folds needs the whole vector there (p * B); the
 * others need the half they keep after step 0. Inputs are read only from the send buffer and the
 * output block is written last, so in place (recv = send block `rank`) is safe. */
#include <stdlib.h>

#include "algo/tree_internal.h"
#include "core/check.h"

nscclResult_t nsccl_tree_reducescatter(nsccl_tree_ctx_t *c) {
  int rank = c->prog->rank, p = c->prog->nranks;
  size_t B = c->prog->args.count * c->elem, total = B * (size_t)p;
  nsccl_tree_fold_t f;
  nsccl_tree_fold_init(&f, rank, p);
  if (f.core < 0) { /* extra: hand everything to the partner, get my block back */
    nsccl_tree_send(c, f.partner, nsccl_region(NSCCL_BUF_SEND, 0, total));
    nsccl_tree_recv(c, f.partner, nsccl_region(NSCCL_BUF_RECV, 0, B));
    return nscclSuccess;
  }
  size_t *sb = malloc(((size_t)f.P + 1) * sizeof(*sb));
  if (!sb) NSCCL_FAIL(nscclSystemError, "tree: out of memory for %d super-block bounds", f.P + 1);
  for (int s = 0; s <= f.P; s++) sb[s] = (size_t)nsccl_tree_core_first_block(&f, s) * B;
  nsccl_tree_halving_t h = {.fold = &f, .sb = sb, .acc_buf = NSCCL_BUF_SCRATCH, .final_block = B};
  if (f.partner >= 0) {
    h.cur_in_acc = true;
    h.acc_base = 0;
    nsccl_tree_recv_reduce(c, f.partner, nsccl_region(NSCCL_BUF_SEND, 0, total),
                           nsccl_region(NSCCL_BUF_SCRATCH, 0, total));
  } else {
    h.acc_base = f.core < f.P / 2 ? 0 : sb[f.P / 2]; /* only the half kept after step 0 */
  }
  nsccl_tree_rs_halving(c, &h);
  if (f.partner >= 0)
    nsccl_tree_send(c, f.partner, nsccl_region(NSCCL_BUF_SCRATCH, (size_t)f.partner * B - h.acc_base, B));
  free(sb);
  return nscclSuccess;
}
