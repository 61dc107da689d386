/* The fabric engine (see fabric.h): a dependency-driven loop over one rank's program.
 *
 * A step starts as soon as its last dependency completes. Local steps (COPY, REDUCE) run at once;
 * message steps are posted to the transport and complete when the transport marks their xfer done.
 * The calling thread polls the transport; when nothing moves it yields the CPU (sched_yield, then
 * short sleeps), so that more ranks than cores still progress. A collective that makes no progress
 * for timeout_ms is cancelled and reported. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "engine/fabric.h"
#include "reduce/reduce.h"

#define NCLASSES  48
#define MIN_CLASS 12 /* 4 KiB: smaller staging requests share one class */
/* Idle policy: poll, then yield, then sleep. With a core per rank the peer is running: spin a while
 * (tens of microseconds) first, since sched_yield is a system call that costs more than a small
 * message takes to arrive (16 polls made an 8-byte all-reduce on 2 ranks 1.0 us, 4096 made it
 * 0.65), then yield for a long while. When the host runs more ranks than it has cores, sched_yield
 * hands the CPU over poorly under CFS, so a waiting rank yields briefly and sleeps early to let the
 * rank it waits for run (8 ranks on 2 cores: yielding long made small all-reduces 2-3x slower). */
#define SPIN_POLLS         4096
#define SPIN_POLLS_OVERSUB 16
#define YIELDS             1024
#define YIELDS_OVERSUB     16
#define SLEEP_NS           20000
#define SLEEP_NS_OVERSUB   50000
/* A core shared with the peer one waits for (other work on the machine, or "hosts" that are
 * namespaces of one machine): the peer cannot run while this rank spins, so every wait costs the
 * whole spin (4096 polls of the tcp provider are ~1.6 ms: the millisecond rows of
 * docs/performance.md, "Between hosts"). A sched_yield that returns after more than
 * YIELD_CONTENDED_NS shows that something else ran on this core meanwhile (an uncontended one
 * returns in < 0.5 us here, 99.8% of 200,000); from then on, for CONTENDED_HOLD_NS, waits spin only
 * SPIN_POLLS_CONTENDED polls before yielding (a poll of the tcp provider is a system call; 2 polls
 * made the 8 B all-reduce of 2 namespace hosts pinned to one core 12.5-14.3 us against 14.3-18.1
 * with 16, Open MPI 14.7-18.6 alongside). An oversubscribed communicator keeps its own policy. */
#define YIELD_CONTENDED_NS   5000
#define CONTENDED_HOLD_NS    50000000
#define SPIN_POLLS_CONTENDED 2

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
};

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

void nsccl_fabric_set_oversubscribed(nsccl_fabric_t *f, int oversubscribed) {
  f->spins = oversubscribed ? SPIN_POLLS_OVERSUB : SPIN_POLLS;
  f->yields = oversubscribed ? YIELDS_OVERSUB : YIELDS;
  f->sleep_ns = oversubscribed ? SLEEP_NS_OVERSUB : SLEEP_NS;
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

static int size_class(size_t bytes) {
  int c = MIN_CLASS;
  while (c < NCLASSES - 1 && ((size_t)1 << c) < bytes) c++;
  return c;
}

static void *stage_get(nsccl_fabric_t *f, size_t bytes) {
  int c = size_class(bytes);
  pool_class_t *pc = &f->pool[c];
  if (pc->n > 0) {
    f->pool_bytes -= (size_t)1 << c;
    return pc->bufs[--pc->n];
  }
  return malloc((size_t)1 << c);
}

static void stage_put(nsccl_fabric_t *f, void *buf, size_t bytes) {
  int c = size_class(bytes);
  pool_class_t *pc = &f->pool[c];
  if (pc->n == pc->cap) {
    int ncap = pc->cap ? pc->cap * 2 : 4;
    void **n = realloc(pc->bufs, (size_t)ncap * sizeof(void *));
    if (!n) {
      free(buf);
      return;
    }
    pc->bufs = n;
    pc->cap = ncap;
  }
  pc->bufs[pc->n++] = buf;
  f->pool_bytes += (size_t)1 << c;
}

/* Release cached staging beyond the cache limit, largest classes first. */
static void stage_trim(nsccl_fabric_t *f) {
  for (int c = NCLASSES - 1; c >= 0 && f->pool_bytes > NSCCL_FABRIC_STAGING_CACHE; c--)
    while (f->pool[c].n > 0 && f->pool_bytes > NSCCL_FABRIC_STAGING_CACHE) {
      free(f->pool[c].bufs[--f->pool[c].n]);
      f->pool_bytes -= (size_t)1 << c;
    }
}

static nscclResult_t reserve(nsccl_fabric_t *f, const nsccl_program_t *p) {
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

static int is_msg(const nsccl_step_t *s) {
  return s->kind == NSCCL_STEP_SEND || s->kind == NSCCL_STEP_RECV || s->kind == NSCCL_STEP_RECV_REDUCE;
}

static nscclResult_t check_region(const nsccl_program_t *p, uint32_t s, nsccl_region_t r, const char *which) {
  if (r.bytes == 0) return nscclSuccess;
  if (r.buf >= NSCCL_NUM_BUFS || r.offset > p->buf_bytes[r.buf] || r.bytes > p->buf_bytes[r.buf] - r.offset)
    NSCCL_FAIL(nscclInternalError,
               "%s schedule, rank %d step %u: %s region [%zu, +%zu) lies outside the %s buffer "
               "(%zu bytes)",
               nsccl_coll_name(p->args.coll), p->rank, s, which, r.offset, r.bytes,
               nsccl_buf_name((nsccl_buf_t)(r.buf < NSCCL_NUM_BUFS ? r.buf : 0)),
               r.buf < NSCCL_NUM_BUFS ? p->buf_bytes[r.buf] : 0);
  return nscclSuccess;
}

void nsccl_fabric_plan_free(nsccl_fabric_plan_t *pl) {
  if (!pl) return;
  free(pl->steps);
  free(pl->missing0);
  free(pl->succ_off);
  free(pl->succ);
  free(pl->msg_idx);
  free(pl->roots);
  free(pl);
}

/* Checks every step of p and fills pl's dependency counts, roots, successor counts and message
 * numbers (count: [2 * nranks] zeroed, messages per (direction, peer)). */
static nscclResult_t plan_steps(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t *pl,
                                uint32_t *count) {
  for (uint32_t s = 0; s < p->nsteps; s++) {
    const nsccl_step_t *st = &p->steps[s];
    pl->missing0[s] = st->ndeps;
    if (st->ndeps == 0) pl->roots[pl->nroots++] = s;
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      if (dep >= s)
        NSCCL_FAIL(nscclInternalError, "%s schedule, rank %d: step %u depends on later step %u",
                   nsccl_coll_name(p->args.coll), p->rank, s, dep);
      pl->succ_off[dep + 1]++;
    }
    if (st->kind >= NSCCL_NUM_STEP_KINDS)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: unknown step kind %d", p->rank, s, st->kind);
    NSCCL_CHECK(check_region(p, s, st->src, "source"));
    NSCCL_CHECK(check_region(p, s, st->src2, "second source"));
    NSCCL_CHECK(check_region(p, s, st->dst, "destination"));
    if (!is_msg(st)) continue;
    if (st->peer < 0 || st->peer >= p->nranks || st->peer == p->rank)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: message peer %d is not another rank of %d", p->rank, s, st->peer,
                 p->nranks);
    if (!f->tp && (st->kind == NSCCL_STEP_SEND ? st->src.bytes : st->dst.bytes))
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: a message without a transport", p->rank, s);
    pl->msg_idx[s] = count[(st->kind == NSCCL_STEP_SEND ? 0 : 1) * p->nranks + st->peer]++;
  }
  return nscclSuccess;
}

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
static void fuse_receives(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t *pl) {
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

/* Dependency graph, message numbers and region checks of a program, once. */
nscclResult_t nsccl_fabric_prepare(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t **out) {
  uint32_t n = p->nsteps;
  nsccl_fabric_plan_t *pl = calloc(1, sizeof(*pl));
  /* count: messages per (direction, peer) while numbering; then a fill cursor per step. */
  uint32_t *count = calloc(2 * (size_t)p->nranks + n + 1, sizeof(uint32_t));
  if (pl) {
    pl->p = p;
    pl->n = n;
    pl->missing0 = malloc((n + 1) * sizeof(uint32_t));
    pl->succ_off = calloc(n + 1, sizeof(uint32_t));
    pl->succ = malloc((p->ndeps + 1) * sizeof(uint32_t));
    pl->msg_idx = malloc((n + 1) * sizeof(uint32_t));
    pl->roots = malloc((n + 1) * sizeof(uint32_t));
    pl->steps = malloc((n + 1) * sizeof(nsccl_step_t));
  }
  nscclResult_t rc = nscclSystemError;
  if (pl && count && pl->missing0 && pl->succ_off && pl->succ && pl->msg_idx && pl->roots && pl->steps)
    rc = plan_steps(f, p, pl, count);
  else
    nsccl_set_error(__FILE__, __LINE__, rc, "fabric engine: out of memory for a program of %u steps", n);
  if (rc != nscclSuccess) {
    free(count);
    nsccl_fabric_plan_free(pl);
    return rc;
  }
  for (uint32_t s = 0; s < n; s++) pl->succ_off[s + 1] += pl->succ_off[s];
  uint32_t *fill = count + 2 * (size_t)p->nranks; /* successors placed so far, per step */
  for (uint32_t s = 0; s < n; s++) {
    const nsccl_step_t *st = &p->steps[s];
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      pl->succ[pl->succ_off[dep] + fill[dep]++] = s;
    }
  }
  free(count);
  if (n) memcpy(pl->steps, p->steps, n * sizeof(nsccl_step_t));
  fuse_receives(f, p, pl);
  *out = pl;
  return nscclSuccess;
}

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

static void *ptr(run_t *r, nsccl_region_t reg) { return r->base[reg.buf] + reg.offset; }

static nscclResult_t combine(run_t *r, void *dst, const void *a, const void *b, size_t bytes) {
  size_t elem = nsccl_type_size(r->p->args.dtype);
  if (bytes % elem)
    NSCCL_FAIL(nscclInternalError, "%s schedule, rank %d: reduction over %zu bytes, not whole elements",
               nsccl_coll_name(r->p->args.coll), r->p->rank, bytes);
  return nsccl_reduce(dst, a, b, bytes / elem, r->p->args.dtype, r->op);
}

/* The transport's callback for a receive that reduces (transport.h): ctx is the run. */
static nscclResult_t combine_cb(void *ctx, void *dst, const void *a, const void *b, size_t bytes) {
  return combine(ctx, dst, a, b, bytes);
}

static void complete(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_fabric_plan_t *pl = r->pl;
  r->ndone++;
  for (uint32_t i = pl->succ_off[s]; i < pl->succ_off[s + 1]; i++) {
    uint32_t q = pl->succ[i];
    if (--f->missing[q] == 0) f->ready[r->tail++] = q;
  }
}

static nscclResult_t finish(run_t *r, uint32_t s);

static nscclResult_t start(run_t *r, uint32_t s) {
  nsccl_fabric_t *f = r->f;
  const nsccl_step_t *st = &r->pl->steps[s];
  switch (st->kind) {
  case NSCCL_STEP_COPY:
    if (st->src.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: COPY of %zu bytes into %zu", r->p->rank, s, st->src.bytes,
                 st->dst.bytes);
    if (st->dst.bytes && ptr(r, st->src) != ptr(r, st->dst)) memmove(ptr(r, st->dst), ptr(r, st->src), st->dst.bytes);
    complete(r, s);
    return nscclSuccess;
  case NSCCL_STEP_REDUCE:
    if (st->src.bytes != st->dst.bytes || st->src2.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: REDUCE operands of different sizes", r->p->rank, s);
    if (st->dst.bytes) NSCCL_CHECK(combine(r, ptr(r, st->dst), ptr(r, st->src), ptr(r, st->src2), st->dst.bytes));
    complete(r, s);
    return nscclSuccess;
  default: break;
  }
  uint64_t tag = NSCCL_FABRIC_TAG(r->seq, r->pl->msg_idx[s], f->seq_mask);
  nsccl_xfer_t *x = &f->xfer[s];
  memset(x, 0, sizeof(*x));
  nscclResult_t rc;
  if (st->kind == NSCCL_STEP_SEND) {
    if (st->src.bytes == 0) return complete(r, s), nscclSuccess;
    rc = nsccl_transport_isend(f->tp, st->peer, ptr(r, st->src), st->src.bytes, tag, x);
  } else if (st->kind == NSCCL_STEP_RECV) {
    if (st->dst.bytes == 0) return complete(r, s), nscclSuccess;
    rc = nsccl_transport_irecv(f->tp, st->peer, ptr(r, st->dst), st->dst.bytes, tag, x);
  } else {
    if (st->src.bytes != st->dst.bytes)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: RECV_REDUCE operands of different sizes", r->p->rank, s);
    if (st->dst.bytes == 0) return complete(r, s), nscclSuccess;
    /* dst = src (+) incoming. When dst does not overlap src, the message can land in dst itself and
     * be combined there (dst = src (+) dst): no staging copy to write and read back, and dst's lines
     * are in cache for the reduction. Nothing else touches dst meanwhile: the schedule orders every
     * access to it after this step. In place (dst is src) it has to be staged. */
    const unsigned char *d = ptr(r, st->dst), *a = ptr(r, st->src);
    size_t n = st->dst.bytes;
    f->fused[s] = 0;
    if ((d == a || d + n <= a || a + n <= d) && nsccl_transport_reduces(f->tp, st->peer, n)) {
      /* The transport reduces each piece where it lies (the peer's shared slot, or its registered
       * buffer mapped here): dst = src (+) message in one pass, in place too. */
      nsccl_recv_reduce_t red = {combine_cb, r, a};
      f->stage[s] = NULL;
      f->fused[s] = 1;
      rc = nsccl_transport_irecv_reduce(f->tp, st->peer, ptr(r, st->dst), n, tag, &red, x);
    } else if (d + n <= a || a + n <= d) {
      f->stage[s] = NULL;
      rc = nsccl_transport_irecv(f->tp, st->peer, ptr(r, st->dst), n, tag, x);
    } else {
      f->stage[s] = stage_get(f, n);
      if (!f->stage[s]) NSCCL_FAIL(nscclSystemError, "fabric engine: no memory for %zu bytes of staging", n);
      rc = nsccl_transport_irecv(f->tp, st->peer, f->stage[s], n, tag, x);
      if (rc != nscclSuccess) {
        stage_put(f, f->stage[s], n);
        f->stage[s] = NULL;
      }
    }
  }
  if (rc != nscclSuccess) return rc;
  f->inflight[r->ninflight++] = s;
  return nscclSuccess;
}

static nscclResult_t finish(run_t *r, uint32_t s) {
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
  if (st->kind == NSCCL_STEP_RECV_REDUCE && !f->fused[s]) {
    void *in = f->stage[s] ? f->stage[s] : ptr(r, st->dst); /* staged, or received in place */
    nscclResult_t rc = combine(r, ptr(r, st->dst), ptr(r, st->src), in, st->dst.bytes);
    if (f->stage[s]) stage_put(f, f->stage[s], st->dst.bytes);
    f->stage[s] = NULL;
    NSCCL_CHECK(rc);
  }
  complete(r, s);
  return nscclSuccess;
}

/* "receives from ranks 1, 3 never arrived; sends to rank 2 never completed" for in-flight steps. */
static void describe_pending(run_t *r, char *buf, size_t len) {
  const nsccl_program_t *p = r->p;
  size_t used = 0;
  buf[0] = '\0';
  for (int dir = 1; dir >= 0; dir--) {
    int shown = 0;
    for (int peer = 0; peer < p->nranks && used < len; peer++) {
      int pending = 0;
      for (uint32_t i = 0; i < r->ninflight && !pending; i++) {
        const nsccl_step_t *st = &r->pl->steps[r->f->inflight[i]];
        pending =
            st->peer == peer && (st->kind == NSCCL_STEP_SEND) == (dir == 0) && !r->f->xfer[r->f->inflight[i]].done;
      }
      if (!pending) continue;
      if (!shown)
        used += (size_t)snprintf(buf + used, len - used, "%s%s rank%s", used ? "; " : "",
                                 dir ? "messages from" : "sends to", "");
      used += (size_t)snprintf(buf + used, len - used, "%s %d", shown ? "," : "", peer);
      shown++;
    }
    if (shown && used < len)
      used += (size_t)snprintf(buf + used, len - used, dir ? " never arrived" : " never completed");
  }
  if (!buf[0]) snprintf(buf, len, "no transfer was pending");
}

/* Cancel what is posted, return staging to the pool, and record the failure. */
static nscclResult_t abandon(run_t *r, nscclResult_t code, const char *why) {
  nsccl_fabric_t *f = r->f;
  char pending[512];
  describe_pending(r, pending, sizeof(pending));
  if (f->tp) nsccl_transport_cancel_all(f->tp, code);
  /* Staging memory is not reused after a failure: a cancelled receive might still be written by a
   * provider that ignores the cancellation, so it is kept until the engine is destroyed (after
   * the transport is closed). */
  NSCCL_FAIL(code, "%s #%llu (rank %d of %d, %zu elements of %s) %s: %s", nsccl_coll_name(r->p->args.coll),
             (unsigned long long)r->seq, r->p->rank, r->p->nranks, r->p->args.count, nsccl_type_name(r->p->args.dtype),
             why, pending);
}

nscclResult_t nsccl_fabric_run(nsccl_fabric_t *f, const nsccl_program_t *p, const void *sendbuff, void *recvbuff,
                               nscclRedOp_t op, uint64_t seq) {
  nsccl_fabric_plan_t *pl = NULL;
  NSCCL_CHECK(nsccl_fabric_prepare(f, p, &pl));
  nscclResult_t rc = nsccl_fabric_run_plan(f, pl, sendbuff, recvbuff, op, seq);
  nsccl_fabric_plan_free(pl);
  return rc;
}

nscclResult_t nsccl_fabric_run_plan(nsccl_fabric_t *f, const nsccl_fabric_plan_t *pl, const void *sendbuff,
                                    void *recvbuff, nscclRedOp_t op, uint64_t seq) {
  const nsccl_program_t *p = pl->p;
  NSCCL_CHECK(reserve(f, p));
  /* Small programs are a few steps: a loop costs less than a call to memcpy. */
  for (uint32_t s = 0; s < pl->n; s++) f->missing[s] = pl->missing0[s];
  run_t r = {0};
  r.f = f;
  r.pl = pl;
  r.p = p;
  r.base[NSCCL_BUF_SEND] = (unsigned char *)(uintptr_t)sendbuff;
  r.base[NSCCL_BUF_RECV] = recvbuff;
  r.base[NSCCL_BUF_SCRATCH] = f->scratch;
  r.op = op == nscclAvg ? nscclSum : op;
  r.seq = seq;
  for (uint32_t s = 0; s < pl->nroots; s++) f->ready[s] = pl->roots[s];
  r.tail = pl->nroots;

  /* The clock is read only once idle: reading it on every step costs ~20 ns a time on a VM. */
  int64_t idle_since = 0;
  int64_t timeout_ns = (int64_t)f->timeout_ms * 1000000;
  unsigned idle = 0;
  unsigned spins = f->spins;
  if (f->contended_until && spins == SPIN_POLLS) {
    if (nsccl_now_ns() < f->contended_until)
      spins = SPIN_POLLS_CONTENDED;
    else
      f->contended_until = 0;
  }
  nscclResult_t rc = nscclSuccess;
  char why[1024]; /* room for a peer watcher's report inside the transport's error */
  while (r.ndone < p->nsteps) {
    int moved = 0;
    /* Messages first: post every ready transfer before copying or reducing, so that peers can
     * start on what this rank sends (a long local copy would otherwise hold back the send behind
     * it); then one local step, and poll again before the next. */
    while (r.head < r.tail || r.lhead < r.ltail) {
      while (r.head < r.tail) {
        uint32_t s = f->ready[r.head++];
        if (!is_msg(&pl->steps[s])) {
          f->local[r.ltail++] = s;
          continue;
        }
        rc = start(&r, s);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "could not post a transfer: %s", nsccl_error_detail());
          return abandon(&r, rc == nscclSystemError ? nscclSystemError : nscclRemoteError, why);
        }
        moved = 1;
        /* Done as it was posted (a send copied into the peer's slot, a receive whose message was
         * already there): finished now, without a round through the transport's progress. */
        if (r.ninflight && f->inflight[r.ninflight - 1] == s && f->xfer[s].done) {
          r.ninflight--;
          rc = finish(&r, s);
          if (rc != nscclSuccess) {
            snprintf(why, sizeof(why), "%s", nsccl_error_detail());
            return abandon(&r, rc, why);
          }
        }
      }
      if (r.lhead < r.ltail) {
        rc = start(&r, f->local[r.lhead++]);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "a local step failed: %s", nsccl_error_detail());
          return abandon(&r, rc, why);
        }
        moved = 1;
        if (r.ninflight) break; /* poll before the next local step */
      }
    }
    if (r.ninflight) {
      int n = nsccl_transport_progress(f->tp);
      if (n < 0) {
        snprintf(why, sizeof(why), "the transport failed (%s: %s)", nscclGetErrorString((nscclResult_t)-n),
                 nsccl_error_detail());
        return abandon(&r, -n == nscclTimeout ? nscclTimeout : nscclRemoteError, why);
      }
      for (uint32_t i = 0; i < r.ninflight;) {
        uint32_t s = f->inflight[i];
        if (!f->xfer[s].done) {
          i++;
          continue;
        }
        f->inflight[i] = f->inflight[--r.ninflight];
        rc = finish(&r, s);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "%s", nsccl_error_detail());
          return abandon(&r, rc, why);
        }
        moved = 1;
      }
    } else if (r.head == r.tail && r.lhead == r.ltail && r.ndone < p->nsteps) {
      NSCCL_FAIL(nscclInternalError, "%s #%llu: rank %d's schedule is stuck (%u of %u steps done, none runnable)",
                 nsccl_coll_name(p->args.coll), (unsigned long long)seq, p->rank, r.ndone, p->nsteps);
    }
    if (moved) {
      idle = 0;
      continue;
    }
    if (++idle <= spins) continue;
    int64_t now = nsccl_now_ns();
    if (idle == spins + 1)
      idle_since = now;
    else if (now - idle_since > timeout_ns) {
      snprintf(why, sizeof(why), "made no progress for %d ms (NSCCL_TIMEOUT_MS)", f->timeout_ms);
      return abandon(&r, nscclTimeout, why);
    }
    if (idle <= spins + f->yields) {
      sched_yield();
      if (nsccl_now_ns() - now > YIELD_CONTENDED_NS) {
        f->contended_until = now + CONTENDED_HOLD_NS;
        if (spins == SPIN_POLLS) spins = SPIN_POLLS_CONTENDED, idle = spins + 1; /* keep yielding */
      }
    } else {
      struct timespec ts = {0, f->sleep_ns};
      nanosleep(&ts, NULL);
    }
  }
  stage_trim(f);
  /* Average divides the reduced output once (a non-root's recvbuff of a reduce may be NULL). */
  if (op == nscclAvg && nsccl_coll_output_reduced(&p->args, p->rank) && p->buf_bytes[NSCCL_BUF_RECV]) {
    size_t elem = nsccl_type_size(p->args.dtype);
    NSCCL_CHECK(nsccl_reduce_avg_finish(recvbuff, p->buf_bytes[NSCCL_BUF_RECV] / elem, p->args.dtype, p->nranks));
  }
  return nscclSuccess;
}
