/* Starting and finishing one step of the fabric engine's plan. Local steps (COPY, REDUCE) run at
 * once; message steps are posted to the transport with their tag (fabric.h, "Tags") and finish
 * when the transport marks their xfer done. Empty messages complete locally on both sides. */
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "engine/fabric_internal.h"

nscclResult_t fabric_start(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_step_t *st = &r->pl->steps[s];
  switch (st->kind) {
  case NSCCL_STEP_COPY:
    if (st->src.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: COPY of %zu bytes into %zu", r->p->rank, s, st->src.bytes,
                 st->dst.bytes);
    if (st->dst.bytes && fabric_ptr(r, st->src) != fabric_ptr(r, st->dst))
      memmove(fabric_ptr(r, st->dst), fabric_ptr(r, st->src), st->dst.bytes);
    fabric_complete(r, s);
    return nscclSuccess;
  case NSCCL_STEP_REDUCE:
    if (st->src.bytes != st->dst.bytes || st->src2.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: REDUCE operands of different sizes", r->p->rank, s);
    if (st->dst.bytes)
      NSCCL_CHECK(
          fabric_combine(r, fabric_ptr(r, st->dst), fabric_ptr(r, st->src), fabric_ptr(r, st->src2), st->dst.bytes));
    fabric_complete(r, s);
    return nscclSuccess;
  default: break;
  }
  uint64_t tag = NSCCL_FABRIC_TAG(r->seq, r->pl->msg_idx[s], f->seq_mask);
  nsccl_xfer_t *x = &f->xfer[s];
  memset(x, 0, sizeof(*x));
  nscclResult_t rc;
  if (st->kind == NSCCL_STEP_SEND) {
    if (st->src.bytes == 0) return fabric_complete(r, s), nscclSuccess;
    /* No step waits for it and nothing wrote its bytes (fabric_plan.c): the transport may send it
     * by rendezvous from a lower size. */
    if (r->pl->unawaited[s])
      rc = nsccl_transport_isend_unawaited(f->tp, st->peer, fabric_ptr(r, st->src), st->src.bytes, tag, x);
    else
      rc = nsccl_transport_isend(f->tp, st->peer, fabric_ptr(r, st->src), st->src.bytes, tag, x);
  } else if (st->kind == NSCCL_STEP_RECV) {
    if (st->dst.bytes == 0) return fabric_complete(r, s), nscclSuccess;
    rc = nsccl_transport_irecv(f->tp, st->peer, fabric_ptr(r, st->dst), st->dst.bytes, tag, x);
  } else {
    if (st->src.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: RECV_REDUCE operands of different sizes", r->p->rank, s);
    if (st->dst.bytes == 0) return fabric_complete(r, s), nscclSuccess;
    rc = fabric_post_recv_reduce(r, s, tag, x);
  }
  if (rc != nscclSuccess) return rc;
  f->inflight[r->ninflight++] = s;
  return nscclSuccess;
}

nscclResult_t fabric_finish(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_step_t *st = &r->pl->steps[s];
  nsccl_xfer_t *x = &f->xfer[s];
  /* A peer that died closes every connection at once; if the provider saw it first, the transport's
   * peer watch names the rank and host within a few milliseconds. */
  nscclResult_t gone = x->status != nscclSuccess ? nsccl_transport_peer_gone(f->tp, 50) : nscclSuccess;
  if (gone != nscclSuccess) return gone;
  if (x->status != nscclSuccess)
    NSCCL_FAIL(x->status == nscclTimeout ? nscclTimeout : nscclRemoteError, "the %s rank %d failed (%s)",
               st->kind == NSCCL_STEP_SEND ? "send to" : "receive from", st->peer, nscclGetErrorString(x->status));
  if (st->kind == NSCCL_STEP_RECV_REDUCE) NSCCL_CHECK(fabric_finish_recv_reduce(r, s));
  fabric_complete(r, s);
  return nscclSuccess;
}
