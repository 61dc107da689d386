/* The fabric engine's receive-and-reduce path: a RECV_REDUCE step computes dst = src (+) message.
 * Three ways, picked when the step is posted: the transport reduces each piece where it lies (the
 * peer's shared slot, or its registered buffer mapped here); the message lands in dst and is
 * combined there; or, when dst is src, it lands in a staging buffer first. */
#include "base/check.h"
#include "engine/fabric_internal.h"
#include "reduce/reduce.h"

nscclResult_t fabric_combine(run_t *r, void *dst, const void *a, const void *b, size_t bytes) {
  size_t elem = nsccl_type_size(r->p->args.dtype);
  if (bytes % elem)
    NSCCL_FAIL(nscclInternalError, "%s schedule, rank %d: reduction over %zu bytes, not whole elements",
               nsccl_coll_name(r->p->args.coll), r->p->rank, bytes);
  return nsccl_reduce(dst, a, b, bytes / elem, r->p->args.dtype, r->op);
}

/* The transport's callback for a receive that reduces (transport.h): ctx is the run. */
static nscclResult_t combine_cb(void *ctx, void *dst, const void *a, const void *b, size_t bytes) {
  return fabric_combine(ctx, dst, a, b, bytes);
}

nscclResult_t fabric_post_recv_reduce(run_t *r, uint32_t s, uint64_t tag, nsccl_xfer_t *x) {
  nsccl_fabric_t *f = r->f;
  const nsccl_step_t *st = &r->pl->steps[s];
  /* dst = src (+) incoming. When dst does not overlap src, the message can land in dst itself and
   * be combined there (dst = src (+) dst): no staging copy to write and read back, and dst's lines
   * are in cache for the reduction. Nothing else touches dst meanwhile: the schedule orders every
   * access to it after this step. In place (dst is src) it has to be staged. */
  const unsigned char *d = fabric_ptr(r, st->dst), *a = fabric_ptr(r, st->src);
  size_t n = st->dst.bytes;
  nscclResult_t rc;
  f->fused[s] = 0;
  if ((d == a || d + n <= a || a + n <= d) && nsccl_transport_reduces(f->tp, st->peer, n)) {
    /* The transport reduces each piece where it lies (the peer's shared slot, or its registered
     * buffer mapped here): dst = src (+) message in one pass, in place too. */
    nsccl_recv_reduce_t red = {combine_cb, r, a};
    f->stage[s] = NULL;
    f->fused[s] = 1;
    rc = nsccl_transport_irecv_reduce(f->tp, st->peer, fabric_ptr(r, st->dst), n, tag, &red, x);
  } else if (d + n <= a || a + n <= d) {
    f->stage[s] = NULL;
    rc = nsccl_transport_irecv(f->tp, st->peer, fabric_ptr(r, st->dst), n, tag, x);
  } else {
    f->stage[s] = fabric_stage_get(f, n);
    if (!f->stage[s]) NSCCL_FAIL(nscclSystemError, "fabric engine: no memory for %zu bytes of staging", n);
    rc = nsccl_transport_irecv(f->tp, st->peer, f->stage[s], n, tag, x);
    if (rc != nscclSuccess) {
      fabric_stage_put(f, f->stage[s], n);
      f->stage[s] = NULL;
    }
  }
  return rc;
}

nscclResult_t fabric_finish_recv_reduce(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_step_t *st = &r->pl->steps[s];
  if (f->fused[s]) return nscclSuccess;                          /* the transport reduced it */
  void *in = f->stage[s] ? f->stage[s] : fabric_ptr(r, st->dst); /* staged, or received in place */
  nscclResult_t rc = fabric_combine(r, fabric_ptr(r, st->dst), fabric_ptr(r, st->src), in, st->dst.bytes);
  if (f->stage[s]) fabric_stage_put(f, f->stage[s], st->dst.bytes);
  f->stage[s] = NULL;
  return rc;
}
