/* Receives fused with their reduction (docs/runtime.md): the fabric engine's rewrite of a plan's
 * steps, decided from the program alone. */
#include "engine/fabric_internal.h"

/* Does region a overlap region b (same buffer, intersecting bytes)? */
static int overlaps(nsccl_region_t a, nsccl_region_t b) {
  return a.bytes && b.bytes && a.buf == b.buf && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

static int same_region(nsccl_region_t a, nsccl_region_t b) {
  return a.buf == b.buf && a.offset == b.offset && a.bytes == b.bytes;
}

/* A receive into scratch whose only successor is a REDUCE reading exactly that scratch (the direct
 * and tree schedules at small sizes: RECV peer -> X, then dst = src (+) X) runs as one receive that
 * reduces, dst = src (+) message, which the same-host fast path applies straight from the peer's
 * slot: no copy into scratch, no second step (docs/runtime.md, "Receives fused with their
 * reduction"). The engine decides this from the program alone, as a compiler would: the RECV
 * becomes an empty local step (its one successor no longer needs it) and the REDUCE becomes the
 * RECV_REDUCE with the RECV's peer and message number. Only when nothing else touches X (so the
 * scratch bytes are never needed), and for small programs (the check is quadratic). */
#define FUSE_MAX_STEPS 64
void fabric_fuse_receives(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t *pl) {
  if (!f->tp || !f->fuse || p->nsteps > FUSE_MAX_STEPS) return;
  nsccl_step_t *st = pl->steps;
  /* The fused receive is posted only once the REDUCE's other dependencies are done. If one of them
   * waits for a send of this rank, that can deadlock: a send by rendezvous (registered buffers,
   * large messages) completes only once the peer has posted its receive, and the peer's may be
   * waiting the same way for ours (the in-place all-reduce: its REDUCE waits for the send that
   * reads the same bytes). So only REDUCEs whose other dependencies never wait for a send. */
  unsigned char after_send[FUSE_MAX_STEPS];
  for (uint32_t q = 0; q < p->nsteps; q++) {
    after_send[q] = st[q].kind == NSCCL_STEP_SEND;
    for (uint32_t d = 0; d < st[q].ndeps && !after_send[q]; d++)
      after_send[q] = after_send[p->deps[st[q].dep_first + d]];
  }
  for (uint32_t rs = 0; rs < p->nsteps; rs++) {
    nsccl_step_t *rv = &st[rs];
    if (rv->kind != NSCCL_STEP_RECV || rv->dst.buf != NSCCL_BUF_SCRATCH || !rv->dst.bytes) continue;
    if (pl->succ_off[rs + 1] - pl->succ_off[rs] != 1) continue;
    uint32_t ds = pl->succ[pl->succ_off[rs]];
    nsccl_step_t *rd = &st[ds];
    if (rd->kind != NSCCL_STEP_REDUCE || rd->dst.bytes != rv->dst.bytes) continue;
    nsccl_region_t other;
    if (same_region(rd->src2, rv->dst) && !overlaps(rd->src, rv->dst))
      other = rd->src;
    else if (same_region(rd->src, rv->dst) && !overlaps(rd->src2, rv->dst))
      other = rd->src2;
    else
      continue;
    if (overlaps(rd->dst, rv->dst) || !nsccl_transport_reduces(f->tp, rv->peer, rv->dst.bytes)) continue;
    int alone = 1; /* nothing but the pair touches the scratch bytes */
    for (uint32_t q = 0; q < p->nsteps && alone; q++)
      if (q != rs && q != ds)
        alone = !overlaps(st[q].src, rv->dst) && !overlaps(st[q].src2, rv->dst) && !overlaps(st[q].dst, rv->dst);
    for (uint32_t d = 0; d < rd->ndeps && alone; d++) {
      uint32_t dep = p->deps[rd->dep_first + d];
      alone = dep == rs || !after_send[dep];
    }
    if (!alone) continue;
    nsccl_region_t none = {0, 0, 0};
    rd->kind = NSCCL_STEP_RECV_REDUCE;
    rd->peer = rv->peer;
    rd->src = other;
    rd->src2 = none;
    pl->msg_idx[ds] = pl->msg_idx[rs];
    rv->kind = NSCCL_STEP_COPY; /* empty: completes at once */
    rv->peer = -1;
    rv->dst = none;
    pl->nfused++;
  }
}
