/* What the fabric engine's files share (fabric.h is the interface): the engine, a prepared plan,
 * one run's state, and the calls between the parts.
 *   fabric.c             the engine's lifetime and its per-step arrays
 *   fabric_staging.c     the pool of staging buffers (RECV_REDUCE receives that must be staged)
 *   fabric_plan.c        a program checked and turned into a plan (dependencies, message numbers)
 *   fabric_fuse.c        a receive into scratch and its one REDUCE made one receive that reduces
 *   fabric_post.c        starting and finishing steps (local steps, sends, receives)
 *   fabric_recv_reduce.c the receive-and-reduce path (fused in the transport, in place, or staged)
 *   fabric_run.c         the progress loop, its idle policy, and failure reports */
#ifndef NSCCL_ENGINE_FABRIC_INTERNAL_H
#define NSCCL_ENGINE_FABRIC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/fabric.h"

#define NCLASSES  48
#define MIN_CLASS 12 /* 4 KiB: smaller staging requests share one class */

typedef struct {
  void **bufs;
  int n, cap;
} pool_class_t;

struct nsccl_fabric {
  nsccl_transport_t *tp;
  int timeout_ms;
  uint64_t seq_mask; /* sequence bits that fit the transport's tags */
  unsigned spins;    /* idle polls before yielding */
  unsigned yields;   /* idle yields before sleeping */
  long sleep_ns;
  int fuse; /* run a receive into scratch and its one REDUCE as one receive that reduces (NSCCL_ENGINE_FUSE) */
  int64_t contended_until; /* a yield showed the core shared: spin little until then */
  /* Per-step state, sized for the largest program seen so far. */
  uint32_t cap_steps;
  uint32_t *missing; /* dependencies not yet complete */
  uint32_t *ready;   /* queue of steps whose dependencies are complete */
  uint32_t *local;   /* ready COPY / REDUCE steps, run one at a time after messages are posted */
  uint32_t *inflight;
  nsccl_xfer_t *xfer;
  void **stage;         /* RECV_REDUCE: staging buffer while posted */
  unsigned char *fused; /* RECV_REDUCE: the transport reduces the message where it lies */
  unsigned char *scratch;
  size_t scratch_cap;
  pool_class_t pool[NCLASSES];
  size_t pool_bytes; /* bytes cached in the pool */
};

/* What the engine derives from a program once (nsccl_fabric_prepare) instead of on every run: the
 * regions checked, every step's successors, initial dependency counts and message numbers. For an
 * 8-byte all-reduce this setup was the largest part of the engine's per-call instructions. */
struct nsccl_fabric_plan {
  const nsccl_program_t *p;
  uint32_t n;
  nsccl_step_t *steps; /* the program's steps as the engine runs them (fuse_receives) */
  uint32_t nfused;     /* receive + reduce pairs run as one receive that reduces */
  uint32_t *missing0;  /* dependencies of every step */
  uint32_t *succ_off;  /* successors of s: succ[succ_off[s] .. succ_off[s+1]) */
  uint32_t *succ;
  uint32_t *msg_idx; /* message number within (direction, peer) */
  uint32_t *roots;   /* steps without dependencies, in index order */
  uint32_t nroots;
  /* SEND steps that no step waits for and whose source no step writes (the caller's input as it
   * was passed): the transport may send them by single-copy rendezvous from a lower size. */
  unsigned char *unawaited;
};

/* One run of a plan. */
typedef struct {
  nsccl_fabric_t *f;
  const nsccl_fabric_plan_t *pl;
  const nsccl_program_t *p;
  unsigned char *base[NSCCL_NUM_BUFS];
  nscclRedOp_t op; /* avg already mapped to sum */
  uint64_t seq;
  uint32_t head, tail, ninflight, ndone;
  uint32_t lhead, ltail; /* local[] queue */
} run_t;

static inline void *fabric_ptr(const run_t *r, nsccl_region_t reg) { return r->base[reg.buf] + reg.offset; }

static inline int fabric_is_msg(const nsccl_step_t *s) {
  return s->kind == NSCCL_STEP_SEND || s->kind == NSCCL_STEP_RECV || s->kind == NSCCL_STEP_RECV_REDUCE;
}

/* Step s is complete: its successors whose last dependency it was become ready. */
static inline void fabric_complete(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_fabric_plan_t *pl = r->pl;
  r->ndone++;
  for (uint32_t i = pl->succ_off[s]; i < pl->succ_off[s + 1]; i++) {
    uint32_t q = pl->succ[i];
    if (--f->missing[q] == 0) f->ready[r->tail++] = q;
  }
}

/* fabric.c: per-step arrays and scratch large enough for p. */
nscclResult_t fabric_reserve(nsccl_fabric_t *f, const nsccl_program_t *p);

/* fabric_staging.c */
void *fabric_stage_get(nsccl_fabric_t *f, size_t bytes);
void fabric_stage_put(nsccl_fabric_t *f, void *buf, size_t bytes);
void fabric_stage_trim(nsccl_fabric_t *f);

/* fabric_fuse.c: rewrites pl->steps (see the file). */
void fabric_fuse_receives(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t *pl);

/* fabric_post.c: start a ready step (a local one runs to completion; a message is posted and, if
 * in flight, added to f->inflight); finish a message step whose transfer is done. */
nscclResult_t fabric_start(run_t *r, uint32_t s);
nscclResult_t fabric_finish(run_t *r, uint32_t s);

/* fabric_recv_reduce.c: dst = a (+) b over bytes with the run's type and op; posting a
 * RECV_REDUCE (tag, x as for any receive) and reducing it once its message is in. */
nscclResult_t fabric_combine(run_t *r, void *dst, const void *a, const void *b, size_t bytes);
nscclResult_t fabric_post_recv_reduce(run_t *r, uint32_t s, uint64_t tag, nsccl_xfer_t *x);
nscclResult_t fabric_finish_recv_reduce(run_t *r, uint32_t s);

#endif
