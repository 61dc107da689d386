/* Broadcast and reduce schedules over a chain, a binomial tree or a flat tree (see bcast_reduce.h). */
#include <stdlib.h>

#include "algo/bcast_reduce.h"
#include "algo/membound.h"
#include "base/check.h"

int nsccl_bcast_tree_links(nsccl_algo_t algo, int v, int n, int *children, int *nchildren) {
  int parent = -1, nc = 0;
  switch (algo) {
  case NSCCL_ALGO_RING:
    parent = v > 0 ? v - 1 : -1;
    if (v + 1 < n) children[nc++] = v + 1;
    break;
  case NSCCL_ALGO_DIRECT:
    parent = v > 0 ? 0 : -1;
    if (v == 0)
      for (int c = 1; c < n; c++) children[nc++] = c;
    break;
  default: { /* binomial */
    int low = 1;
    while (low < n) low <<= 1; /* the root's span: the power of two >= n */
    if (v > 0) {
      low = v & -v;
      parent = v - low;
    }
    for (int m = 1; m < low; m <<= 1)
      if (v + m < n) children[nc++] = v + m;
    break;
  }
  }
  *nchildren = nc;
  return parent;
}

nscclResult_t nsccl_bcast_reduce_build(nsccl_algo_t algo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  const nsccl_coll_args_t *a = &prog->args;
  if (a->coll != NSCCL_COLL_BROADCAST && a->coll != NSCCL_COLL_REDUCE)
    NSCCL_FAIL(nscclInvalidArgument, "rooted builder: %s is not a broadcast or reduce", nsccl_coll_name(a->coll));
  if ((unsigned)algo >= NSCCL_NUM_ALGOS)
    NSCCL_FAIL(nscclInvalidArgument, "rooted builder: unknown algorithm %d", (int)algo);
  int n = prog->nranks, root = a->root;
  if (root < 0 || root >= n)
    NSCCL_FAIL(nscclInvalidArgument, "%s: root %d outside [0, %d)", nsccl_coll_name(a->coll), root, n);
  int v = (prog->rank - root + n) % n;
  int *children = malloc((size_t)n * sizeof(int));
  if (!children) NSCCL_FAIL(nscclSystemError, "rooted builder: out of memory for %d ranks", n);
  int nc = 0;
  int pv = nsccl_bcast_tree_links(algo, v, n, children, &nc);
  int parent = pv < 0 ? -1 : (pv + root) % n;
  for (int i = 0; i < nc; i++) children[i] = (children[i] + root) % n;

  size_t total = a->count * nsccl_algo_elem_bytes(prog);
  size_t chunk = nsccl_algo_chunk_bytes(prog, opts);
  int is_root = parent < 0;
  if (a->coll == NSCCL_COLL_BROADCAST) {
    /* The root copies its input once; every chunk it sends reads the send buffer, which the copy
     * only reads too, so they need no ordering. */
    if (is_root && !a->in_place && total)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, total), nsccl_region(NSCCL_BUF_RECV, 0, total),
                      NSCCL_NODEPS);
    for (size_t off = 0; off < total; off += chunk) {
      size_t len = total - off < chunk ? total - off : chunk;
      nsccl_region_t src = nsccl_region(is_root ? NSCCL_BUF_SEND : NSCCL_BUF_RECV, off, len);
      nsccl_step_id_t got = NSCCL_NO_STEP;
      if (!is_root) got = nsccl_prog_recv(prog, parent, src, NSCCL_NODEPS);
      for (int i = 0; i < nc; i++) nsccl_prog_send(prog, children[i], src, NSCCL_DEP1(got));
    }
  } else {
    /* An inner rank accumulates its children's partials in chunk-sized slots (membound.h): chunk c
     * reuses chunk c - NSCCL_ALGO_SLOTS's slot once that chunk went up to the parent. */
    nsccl_slots_t slots = {0};
    size_t nch = nsccl_chunk_count(total, chunk);
    if (!is_root && nc) {
      nscclResult_t rc = nsccl_slots_init(&slots, prog, 0, total < chunk ? total : chunk,
                                          (uint32_t)(nch < NSCCL_ALGO_SLOTS ? nch : NSCCL_ALGO_SLOTS));
      if (rc != nscclSuccess) {
        free(children);
        return rc;
      }
    }
    if (is_root && nc == 0 && !a->in_place && total)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, total), nsccl_region(NSCCL_BUF_RECV, 0, total),
                      NSCCL_NODEPS);
    for (size_t off = 0; off < total; off += chunk) {
      size_t len = total - off < chunk ? total - off : chunk;
      nsccl_region_t cur = nsccl_region(NSCCL_BUF_SEND, off, len);
      nsccl_region_t acc = nsccl_region(NSCCL_BUF_RECV, off, len);
      nsccl_step_id_t last = NSCCL_NO_STEP;
      uint32_t slot = 0;
      if (!is_root && nc) {
        slot = nsccl_slots_take(&slots, &last);
        acc = nsccl_slots_region(&slots, slot, 0, len);
      }
      for (int i = 0; i < nc; i++) {
        last = nsccl_prog_recv_reduce(prog, children[i], cur, acc, NSCCL_DEP1(last));
        cur = acc;
      }
      if (!is_root) {
        nsccl_step_id_t up = nsccl_prog_send(prog, parent, cur, NSCCL_DEP1(last));
        if (nc) nsccl_slots_release(&slots, slot, up);
      }
    }
    nsccl_slots_free(&slots);
  }
  free(children);
  if (nsccl_prog_failed(prog))
    NSCCL_FAIL(nscclSystemError, "out of memory building the %s %s schedule", nsccl_algo_name(algo),
               nsccl_coll_name(a->coll));
  return nsccl_algo_window(prog, chunk);
}
