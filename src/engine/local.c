/* The local engine: all ranks' programs in one process.
 *
 * Semantics match what a real transport may do at worst: a step starts when its dependencies are
 * done; a SEND and its matching RECV complete together, only once both have started (rendezvous).
 * A schedule that finishes here cannot rely on buffering the fabric does not promise. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/local.h"
#include "reduce/reduce.h"

typedef struct {
  const nsccl_program_t *prog;
  unsigned char *base[NSCCL_NUM_BUFS];
  uint32_t *missing;  /* per step: dependencies not yet done */
  uint32_t *succ_off; /* CSR of successors: succ[succ_off[s] .. succ_off[s+1]) */
  uint32_t *succ;
  uint32_t *match;       /* per SEND/RECV step: its index among this rank's messages with that peer and direction */
  uint32_t *by_peer_off; /* CSR per (direction, peer): step ids in program order; direction 0 send, 1 recv */
  uint32_t *by_peer;
  unsigned char *posted;
  unsigned char *done;
  uint32_t ndone;
} rank_state_t;

typedef struct {
  rank_state_t *ranks;
  int nranks;
  uint64_t *ready; /* queue of (rank << 32 | step) */
  size_t head, tail, cap;
  nscclRedOp_t op;
  char *err;
  size_t errlen;
} engine_t;

static bool push_ready(engine_t *e, int rank, uint32_t step) {
  if (e->tail == e->cap) {
    if (e->head > 0) {
      memmove(e->ready, e->ready + e->head, (e->tail - e->head) * sizeof(uint64_t));
      e->tail -= e->head;
      e->head = 0;
    } else {
      size_t ncap = e->cap ? e->cap * 2 : 1024;
      uint64_t *n = realloc(e->ready, ncap * sizeof(uint64_t));
      if (!n) return false;
      e->ready = n;
      e->cap = ncap;
    }
  }
  e->ready[e->tail++] = ((uint64_t)rank << 32) | step;
  return true;
}

static nscclResult_t fail(engine_t *e, nscclResult_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static nscclResult_t fail(engine_t *e, nscclResult_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->err, e->errlen, fmt, ap);
  va_end(ap);
  NSCCL_FAIL(code, "local engine: %s", e->err);
}

static unsigned char *region_ptr(engine_t *e, int rank, uint32_t step, nsccl_region_t r, nscclResult_t *rc) {
  rank_state_t *rs = &e->ranks[rank];
  if (r.buf >= NSCCL_NUM_BUFS || r.offset > rs->prog->buf_bytes[r.buf] ||
      r.bytes > rs->prog->buf_bytes[r.buf] - r.offset) {
    *rc = fail(e, nscclInvalidUsage, "rank %d step %d: region out of bounds of buffer %d", rank, (int)step, (int)r.buf);
    return NULL;
  }
  return rs->base[r.buf] + r.offset;
}

static nscclResult_t combine(engine_t *e, int rank, uint32_t step, void *dst, const void *a, const void *b,
                             size_t bytes) {
  nscclDataType_t dt = e->ranks[rank].prog->args.dtype;
  size_t elem = nsccl_type_size(dt);
  if (bytes % elem)
    return fail(e, nscclInvalidUsage, "rank %d step %d: reduces %zu bytes, not whole elements", rank, (int)step, bytes);
  nscclRedOp_t op = e->op == nscclAvg ? nscclSum : e->op;
  return nsccl_reduce(dst, a, b, bytes / elem, dt, op);
}

static nscclResult_t complete(engine_t *e, int rank, uint32_t step) {
  rank_state_t *rs = &e->ranks[rank];
  rs->done[step] = 1;
  rs->ndone++;
  for (uint32_t i = rs->succ_off[step]; i < rs->succ_off[step + 1]; i++) {
    uint32_t s = rs->succ[i];
    if (--rs->missing[s] == 0 && !push_ready(e, rank, s)) NSCCL_FAIL(nscclSystemError, "local engine: out of memory");
  }
  return nscclSuccess;
}

/* Move the bytes of a matched pair and complete both steps. */
static nscclResult_t transfer(engine_t *e, int src_rank, uint32_t send_step, int dst_rank, uint32_t recv_step) {
  nscclResult_t rc = nscclSuccess;
  const nsccl_step_t *snd = &e->ranks[src_rank].prog->steps[send_step];
  const nsccl_step_t *rcv = &e->ranks[dst_rank].prog->steps[recv_step];
  if (snd->src.bytes != rcv->dst.bytes)
    return fail(e, nscclInvalidUsage, "rank %d receives a message of a different size than rank %d sends (step %d)",
                dst_rank, src_rank, (int)recv_step);
  const unsigned char *in = region_ptr(e, src_rank, send_step, snd->src, &rc);
  unsigned char *out = region_ptr(e, dst_rank, recv_step, rcv->dst, &rc);
  if (rc != nscclSuccess) return rc;
  if (rcv->kind == NSCCL_STEP_RECV) {
    if (snd->src.bytes) memmove(out, in, snd->src.bytes);
  } else {
    if (rcv->src.bytes != rcv->dst.bytes)
      return fail(e, nscclInvalidUsage, "rank %d step %d: RECV_REDUCE operand sizes differ", dst_rank, (int)recv_step);
    const unsigned char *acc = region_ptr(e, dst_rank, recv_step, rcv->src, &rc);
    if (rc != nscclSuccess) return rc;
    NSCCL_CHECK(combine(e, dst_rank, recv_step, out, acc, in, rcv->dst.bytes));
  }
  NSCCL_CHECK(complete(e, src_rank, send_step));
  return complete(e, dst_rank, recv_step);
}

/* The step of rank `owner` that is message number k with `peer` in direction dir, or UINT32_MAX. */
static uint32_t partner(engine_t *e, int owner, int dir, int peer, uint32_t k) {
  rank_state_t *rs = &e->ranks[owner];
  uint32_t slot = (uint32_t)(dir * e->nranks + peer);
  uint32_t lo = rs->by_peer_off[slot], hi = rs->by_peer_off[slot + 1];
  return lo + k < hi ? rs->by_peer[lo + k] : UINT32_MAX;
}

static nscclResult_t start(engine_t *e, int rank, uint32_t step) {
  rank_state_t *rs = &e->ranks[rank];
  const nsccl_step_t *s = &rs->prog->steps[step];
  nscclResult_t rc = nscclSuccess;
  switch (s->kind) {
  case NSCCL_STEP_COPY: {
    if (s->src.bytes != s->dst.bytes)
      return fail(e, nscclInvalidUsage, "rank %d step %d: COPY sizes differ", rank, (int)step);
    const unsigned char *in = region_ptr(e, rank, step, s->src, &rc);
    unsigned char *out = region_ptr(e, rank, step, s->dst, &rc);
    if (rc != nscclSuccess) return rc;
    if (in != out && s->src.bytes) memmove(out, in, s->src.bytes);
    return complete(e, rank, step);
  }
  case NSCCL_STEP_REDUCE: {
    if (s->src.bytes != s->dst.bytes || s->src2.bytes != s->dst.bytes)
      return fail(e, nscclInvalidUsage, "rank %d step %d: REDUCE sizes differ", rank, (int)step);
    const unsigned char *a = region_ptr(e, rank, step, s->src, &rc);
    const unsigned char *b = region_ptr(e, rank, step, s->src2, &rc);
    unsigned char *out = region_ptr(e, rank, step, s->dst, &rc);
    if (rc != nscclSuccess) return rc;
    NSCCL_CHECK(combine(e, rank, step, out, a, b, s->dst.bytes));
    return complete(e, rank, step);
  }
  case NSCCL_STEP_SEND:
  case NSCCL_STEP_RECV:
  case NSCCL_STEP_RECV_REDUCE: {
    if (s->peer < 0 || s->peer >= e->nranks)
      return fail(e, nscclInvalidUsage, "rank %d step %d: peer %d out of range", rank, (int)step, s->peer);
    rs->posted[step] = 1;
    int is_send = s->kind == NSCCL_STEP_SEND;
    /* My message number k to peer as a send is the peer's receive number k from me. */
    uint32_t other = partner(e, s->peer, is_send ? 1 : 0, rank, rs->match[step]);
    if (other == UINT32_MAX || !e->ranks[s->peer].posted[other]) return nscclSuccess;
    return is_send ? transfer(e, rank, step, s->peer, other) : transfer(e, s->peer, other, rank, step);
  }
  default: return fail(e, nscclInvalidUsage, "rank %d step %d: unknown step kind %d", rank, (int)step, s->kind);
  }
}

static nscclResult_t setup_rank(engine_t *e, int r, const nsccl_program_t *p, const void *sendbuf, void *recvbuf) {
  rank_state_t *rs = &e->ranks[r];
  uint32_t n = p->nsteps;
  size_t np = (size_t)e->nranks * 2;
  rs->prog = p;
  rs->base[NSCCL_BUF_SEND] = (unsigned char *)sendbuf;
  rs->base[NSCCL_BUF_RECV] = recvbuf;
  rs->base[NSCCL_BUF_SCRATCH] = malloc(p->buf_bytes[NSCCL_BUF_SCRATCH] ? p->buf_bytes[NSCCL_BUF_SCRATCH] : 1);
  rs->missing = calloc(n + 1, sizeof(uint32_t));
  rs->succ_off = calloc(n + 2, sizeof(uint32_t));
  rs->succ = calloc(p->ndeps + 1, sizeof(uint32_t));
  rs->match = calloc(n + 1, sizeof(uint32_t));
  rs->by_peer_off = calloc(np + 1, sizeof(uint32_t));
  rs->by_peer = calloc(n + 1, sizeof(uint32_t));
  rs->posted = calloc(n + 1, 1);
  rs->done = calloc(n + 1, 1);
  if (!rs->base[NSCCL_BUF_SCRATCH] || !rs->missing || !rs->succ_off || !rs->succ || !rs->match || !rs->by_peer_off ||
      !rs->by_peer || !rs->posted || !rs->done)
    NSCCL_FAIL(nscclSystemError, "local engine: out of memory for rank %d", r);
  for (uint32_t s = 0; s < n; s++) {
    const nsccl_step_t *st = &p->steps[s];
    rs->missing[s] = st->ndeps;
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      if (dep >= s) return fail(e, nscclInvalidUsage, "rank %d step %d depends on later step %d", r, (int)s, (int)dep);
      rs->succ_off[dep + 1]++;
    }
    if (st->kind == NSCCL_STEP_SEND || st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE) {
      if (st->peer < 0 || st->peer >= e->nranks)
        return fail(e, nscclInvalidUsage, "rank %d step %d: peer %d out of range", r, (int)s, st->peer);
      uint32_t slot = (uint32_t)((st->kind == NSCCL_STEP_SEND ? 0 : 1) * e->nranks + st->peer);
      rs->match[s] = rs->by_peer_off[slot + 1]++;
    }
  }
  for (uint32_t s = 0; s < n; s++) rs->succ_off[s + 1] += rs->succ_off[s];
  for (size_t i = 0; i < np; i++) rs->by_peer_off[i + 1] += rs->by_peer_off[i];
  uint32_t *fill = calloc(n + 1, sizeof(uint32_t));
  if (!fill) NSCCL_FAIL(nscclSystemError, "local engine: out of memory");
  for (uint32_t s = 0; s < n; s++) {
    const nsccl_step_t *st = &p->steps[s];
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      rs->succ[rs->succ_off[dep] + fill[dep]++] = s;
    }
    if (st->kind == NSCCL_STEP_SEND || st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE) {
      uint32_t slot = (uint32_t)((st->kind == NSCCL_STEP_SEND ? 0 : 1) * e->nranks + st->peer);
      rs->by_peer[rs->by_peer_off[slot] + rs->match[s]] = s;
    }
  }
  free(fill);
  for (uint32_t s = 0; s < n; s++)
    if (rs->missing[s] == 0 && !push_ready(e, r, s)) NSCCL_FAIL(nscclSystemError, "local engine: out of memory");
  return nscclSuccess;
}

static void report_stuck(engine_t *e) {
  size_t used = (size_t)snprintf(e->err, e->errlen, "deadlock: no step can make progress;");
  int shown = 0;
  for (int r = 0; r < e->nranks && shown < 8; r++) {
    rank_state_t *rs = &e->ranks[r];
    for (uint32_t s = 0; s < rs->prog->nsteps && shown < 8; s++) {
      if (rs->done[s] || !rs->posted[s]) continue;
      const nsccl_step_t *st = &rs->prog->steps[s];
      if (used < e->errlen)
        used += (size_t)snprintf(e->err + used, e->errlen - used, " rank %d step %u (%s %s peer %d) waits;", r, s,
                                 nsccl_step_kind_name((nsccl_step_kind_t)st->kind),
                                 st->kind == NSCCL_STEP_SEND ? "to" : "from", st->peer);
      shown++;
    }
  }
  if (!shown && used < e->errlen) snprintf(e->err + used, e->errlen - used, " steps wait on each other");
}

nscclResult_t nsccl_local_run(const nsccl_program_t *progs, int nranks, const void *const *sendbufs,
                              void *const *recvbufs, nscclRedOp_t op, char *err, size_t errlen) {
  char dummy[1];
  engine_t e = {0};
  e.nranks = nranks;
  e.op = op;
  e.err = err ? err : dummy;
  e.errlen = err ? errlen : sizeof(dummy);
  e.err[0] = '\0';
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "local engine: %d ranks", nranks);
  if ((unsigned)op >= nscclNumOps) NSCCL_FAIL(nscclInvalidArgument, "local engine: unknown op %d", (int)op);
  e.ranks = calloc((size_t)nranks, sizeof(rank_state_t));
  nscclResult_t rc = e.ranks ? nscclSuccess : nscclSystemError;
  for (int r = 0; r < nranks && rc == nscclSuccess; r++) rc = setup_rank(&e, r, &progs[r], sendbufs[r], recvbufs[r]);
  while (rc == nscclSuccess && e.head < e.tail) {
    uint64_t item = e.ready[e.head++];
    rc = start(&e, (int)(item >> 32), (uint32_t)item);
  }
  if (rc == nscclSuccess) {
    for (int r = 0; r < nranks; r++)
      if (e.ranks[r].ndone != progs[r].nsteps) {
        report_stuck(&e);
        nsccl_set_error(__FILE__, __LINE__, nscclInvalidUsage, "local engine: %s", e.err);
        rc = nscclInvalidUsage;
        break;
      }
  }
  if (rc == nscclSuccess && op == nscclAvg) {
    for (int r = 0; r < nranks && rc == nscclSuccess; r++) {
      if (!nsccl_coll_output_reduced(&progs[r].args, r)) continue;
      size_t elem = nsccl_type_size(progs[r].args.dtype);
      rc = nsccl_reduce_avg_finish(recvbufs[r], progs[r].buf_bytes[NSCCL_BUF_RECV] / elem, progs[r].args.dtype, nranks);
    }
  }
  for (int r = 0; e.ranks && r < nranks; r++) {
    rank_state_t *rs = &e.ranks[r];
    free(rs->base[NSCCL_BUF_SCRATCH]);
    free(rs->missing);
    free(rs->succ_off);
    free(rs->succ);
    free(rs->match);
    free(rs->by_peer_off);
    free(rs->by_peer);
    free(rs->posted);
    free(rs->done);
  }
  free(e.ranks);
  free(e.ready);
  return rc;
}
