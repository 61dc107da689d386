/* The fabric engine (see fabric.h): its lifetime and the per-step arrays every run uses. The parts
 * of a run are in the other fabric_*.c files (fabric_internal.h lists them). */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/fabric_internal.h"

nscclResult_t nsccl_fabric_create(nsccl_transport_t *tp, int timeout_ms, nsccl_fabric_t **out) {
  nsccl_fabric_t *f = calloc(1, sizeof(*f));
  if (!f) NSCCL_FAIL(nscclSystemError, "fabric engine: out of memory");
  f->tp = tp;
  f->timeout_ms = timeout_ms;
  f->seq_mask = ((uint64_t)1 << NSCCL_FABRIC_SEQ_BITS) - 1;
  nsccl_fabric_set_oversubscribed(f, 0);
  const char *fuse = getenv("NSCCL_ENGINE_FUSE");
  f->fuse = !(fuse && !strcmp(fuse, "0"));
  if (tp) {
    int bits = nsccl_transport_tag_bits(tp);
    if (bits < 40) {
      free(f);
      NSCCL_FAIL(nscclInternalError, "fabric engine: the transport offers %d tag bits, 40 are needed", bits);
    }
    /* The top usable tag bit is reserved for point-to-point messages (NSCCL_FABRIC_P2P_TAG). */
    if (bits - 33 < NSCCL_FABRIC_SEQ_BITS) f->seq_mask = ((uint64_t)1 << (bits - 33)) - 1;
    /* Small same-host messages through shared-memory rings instead of libfabric (transport.h,
     * docs/transport.md "Fast path"): every rank's engine turns it on, and every message step
     * posts its receive with the message's exact length, as the fast path requires. */
    nsccl_transport_enable_fastpath(tp);
  }
  *out = f;
  return nscclSuccess;
}

static void free_arrays(nsccl_fabric_t *f) {
  free(f->missing);
  free(f->ready);
  free(f->local);
  free(f->inflight);
  free(f->xfer);
  free(f->stage);
  free(f->fused);
  f->fused = NULL;
  f->missing = f->ready = f->local = f->inflight = NULL;
  f->xfer = NULL;
  f->stage = NULL;
  f->cap_steps = 0;
}

void nsccl_fabric_destroy(nsccl_fabric_t *f) {
  if (!f) return;
  free_arrays(f);
  free(f->scratch);
  for (int c = 0; c < NCLASSES; c++) {
    for (int i = 0; i < f->pool[c].n; i++) free(f->pool[c].bufs[i]);
    free(f->pool[c].bufs);
  }
  free(f);
}

nscclResult_t fabric_reserve(nsccl_fabric_t *f, const nsccl_program_t *p) {
  if (p->nsteps + 1 > f->cap_steps) {
    uint32_t ns = p->nsteps + 1;
    free_arrays(f);
    f->missing = malloc(ns * sizeof(uint32_t));
    f->ready = malloc(ns * sizeof(uint32_t));
    f->local = malloc(ns * sizeof(uint32_t));
    f->inflight = malloc(ns * sizeof(uint32_t));
    f->xfer = malloc(ns * sizeof(nsccl_xfer_t));
    f->stage = calloc(ns, sizeof(void *));
    f->fused = calloc(ns, 1);
    if (!f->missing || !f->ready || !f->local || !f->inflight || !f->xfer || !f->stage || !f->fused) {
      free_arrays(f);
      NSCCL_FAIL(nscclSystemError, "fabric engine: out of memory for a program of %u steps", p->nsteps);
    }
    f->cap_steps = ns;
  }
  size_t need = p->buf_bytes[NSCCL_BUF_SCRATCH];
  if (need > f->scratch_cap) {
    free(f->scratch);
    f->scratch = malloc(need);
    f->scratch_cap = f->scratch ? need : 0;
    if (!f->scratch) NSCCL_FAIL(nscclSystemError, "fabric engine: cannot allocate %zu bytes of scratch", need);
  }
  return nscclSuccess;
}
