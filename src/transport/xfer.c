/* Tagged send/receive, fragmentation, deferred posts, progress and cancel.
 *
 * A message becomes one or more fragments of at most the provider's fragment size, all posted with
 * the message's tag (docs/transport.md): FI_ORDER_SAS makes the k-th fragment sent match the k-th
 * receive posted, as MPI's non-overtaking rule does. Every fragment owns a context
 * (nsccl_frag_t) that the completion hands back; the xfer is done when its last fragment completes.
 * A post refused with -FI_EAGAIN gets one round of completion polling and one retry, then waits in a
 * per-provider FIFO that progress drains: nothing here spins. */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/tp_internal.h"

#define FRAGS_PER_CHUNK    256
#define CQ_BATCH           16
#define CQ_ROUNDS          8   /* batches read per provider per progress call: bounded work per call */
#define CANCEL_DRAIN_MS    100 /* how long cancel_all waits for the provider to hand back canceled ops */
#define DEAD_PEER_DRAIN_MS 10  /* the same once a peer is known to be gone */

static void list_push(nsccl_frag_t **head, nsccl_frag_t *f) {
  f->prev = NULL;
  f->next = *head;
  if (*head) (*head)->prev = f;
  *head = f;
}

static void list_unlink(nsccl_frag_t **head, nsccl_frag_t *f) {
  if (f->prev)
    f->prev->next = f->next;
  else
    *head = f->next;
  if (f->next) f->next->prev = f->prev;
  f->prev = f->next = NULL;
}

static nsccl_frag_t *frag_alloc(nsccl_transport_t *t) {
  if (!t->free_frags) {
    if (t->nchunks == t->chunks_cap) {
      int cap = t->chunks_cap ? 2 * t->chunks_cap : 8;
      void **nc = realloc(t->chunks, (size_t)cap * sizeof(*nc));
      if (!nc) return NULL;
      t->chunks = nc;
      t->chunks_cap = cap;
    }
    nsccl_frag_t *chunk = calloc(FRAGS_PER_CHUNK, sizeof(*chunk));
    if (!chunk) return NULL;
    t->chunks[t->nchunks++] = chunk;
    for (int i = FRAGS_PER_CHUNK - 1; i >= 0; i--) {
      chunk[i].next = t->free_frags;
      t->free_frags = &chunk[i];
    }
  }
  nsccl_frag_t *f = t->free_frags;
  t->free_frags = f->next;
  memset(f, 0, sizeof(*f));
  return f;
}

static void frag_free(nsccl_transport_t *t, nsccl_frag_t *f) {
  f->state = NSCCL_FRAG_FREE;
  f->x = NULL;
  f->prev = NULL;
  f->next = t->free_frags;
  t->free_frags = f;
}

/* Account one finished fragment (successful, failed or canceled) and recycle it. */
static void frag_complete(nsccl_transport_t *t, nsccl_frag_t *f, nscclResult_t st, size_t len) {
  if (f->state == NSCCL_FRAG_POSTED)
    list_unlink(&t->posted, f);
  else if (f->state == NSCCL_FRAG_ORPHAN)
    list_unlink(&t->orphans, f);
  nsccl_mr_cache_put(f->mr);
  nsccl_xfer_t *x = f->x;
  if (x) {
    if (st != nscclSuccess && x->status == nscclSuccess) x->status = st;
    x->bytes += len;
    if (--x->pending <= 0) x->done = 1;
  }
  frag_free(t, f);
}

static int post_frag(nsccl_transport_t *t, nsccl_frag_t *f) {
  nsccl_tp_prov_t *p = &t->provs[f->prov];
  void *desc = f->mr ? f->mr->desc : NULL;
  fi_addr_t a = t->peer_addr[f->peer];
  ssize_t rc;
  if (f->kind == NSCCL_FRAG_SEND)
    rc = fi_tsend(p->ep, f->buf, f->len, desc, a, f->tag, &f->ctx);
  else
    rc = fi_trecv(p->ep, f->buf, f->len, desc, p->directed ? a : FI_ADDR_UNSPEC, f->tag, 0, &f->ctx);
  if (rc == 0) {
    f->state = NSCCL_FRAG_POSTED;
    list_push(&t->posted, f);
    t->stats.fragments++;
  }
  return (int)rc;
}

static nscclResult_t map_fi_error(int err) {
  switch (err) {
  case FI_ECONNRESET:
  case FI_ECONNABORTED:
  case FI_ECONNREFUSED:
  case FI_ENOTCONN:
  case FI_ESHUTDOWN:
  case FI_EHOSTDOWN:
  case FI_EHOSTUNREACH:
  case FI_ENETUNREACH:
  case FI_ENETDOWN:
  case FI_ETIMEDOUT:
  case FI_EREMOTEIO:
  case FI_EIO: return nscclRemoteError;     /* peer gone or the path to it broken */
  case FI_ETRUNC: return nscclInvalidUsage; /* receive buffer shorter than the message */
  default: return nscclSystemError;
  }
}

/* Read one error entry and account it. Returns the error it stands for (nscclSuccess for a cancel). */
static nscclResult_t read_cq_error(nsccl_transport_t *t, nsccl_tp_prov_t *p, int quiet, int *ncomp) {
  struct fi_cq_err_entry err;
  memset(&err, 0, sizeof(err));
  ssize_t r = fi_cq_readerr(p->cq, &err, 0);
  if (r == -FI_EAGAIN) return nscclSuccess;
  if (r < 0) {
    if (!quiet)
      nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "transport: fi_cq_readerr on %s failed: %s (%zd)",
                      p->full_name, fi_strerror((int)-r), r);
    return nscclSystemError;
  }
  nsccl_frag_t *f = err.op_context;
  (*ncomp)++;
  /* Some providers (shm in 1.17) report err negated: normalise to the positive FI_E* value. */
  int e = err.err < 0 ? -err.err : err.err;
  if (e == FI_ECANCELED) {
    if (f) frag_complete(t, f, t->cancel_status, 0);
    return nscclSuccess;
  }
  nscclResult_t code = map_fi_error(e);
  if (!quiet) {
    char pe[256] = "";
    if (err.prov_errno) {
      const char *ps = fi_cq_strerror(p->cq, err.prov_errno, err.err_data, pe, sizeof(pe));
      if (ps && ps != pe) snprintf(pe, sizeof(pe), "%s", ps);
    }
    nsccl_set_error(__FILE__, __LINE__, code, "transport: %s %s rank %d over %s failed: %s (%d)%s%s%s",
                    f ? (f->kind == NSCCL_FRAG_SEND ? "send" : "receive") : "operation",
                    f ? (f->kind == NSCCL_FRAG_SEND ? "to" : "from") : "with", f ? f->peer : -1, p->full_name,
                    fi_strerror(e), e, pe[0] ? "; provider: " : "", pe,
                    code == nscclRemoteError ? " (peer gone or connection lost)" : "");
  }
  if (f) frag_complete(t, f, code, 0);
  return code;
}

/* Poll one provider's CQ: at most CQ_ROUNDS batches. Returns the first error seen. */
static nscclResult_t poll_cq(nsccl_transport_t *t, nsccl_tp_prov_t *p, int quiet, int *ncomp) {
  struct fi_cq_tagged_entry ent[CQ_BATCH];
  nscclResult_t first = nscclSuccess;
  for (int round = 0; round < CQ_ROUNDS; round++) {
    ssize_t n = fi_cq_read(p->cq, ent, CQ_BATCH);
    if (n == -FI_EAGAIN) break;
    if (n == -FI_EAVAIL) {
      nscclResult_t e = read_cq_error(t, p, quiet, ncomp);
      if (e != nscclSuccess && first == nscclSuccess) first = e;
      continue;
    }
    if (n < 0) {
      if (!quiet)
        nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "transport: fi_cq_read on %s failed: %s (%zd)",
                        p->full_name, fi_strerror((int)-n), n);
      if (first == nscclSuccess) first = nscclSystemError;
      break;
    }
    for (ssize_t k = 0; k < n; k++) {
      nsccl_frag_t *f = ent[k].op_context;
      if (!f) continue;
      frag_complete(t, f, nscclSuccess, f->kind == NSCCL_FRAG_RECV ? ent[k].len : f->len);
      (*ncomp)++;
    }
    if (n < CQ_BATCH) break;
  }
  return first;
}

static void defer(nsccl_tp_prov_t *p, nsccl_frag_t *f) {
  int q = f->kind;
  f->state = NSCCL_FRAG_DEFERRED;
  f->next = NULL;
  if (p->dq_tail[q])
    p->dq_tail[q]->next = f;
  else
    p->dq_head[q] = f;
  p->dq_tail[q] = f;
}

static nsccl_frag_t *undefer(nsccl_tp_prov_t *p, int q) {
  nsccl_frag_t *f = p->dq_head[q];
  if (!f) return NULL;
  p->dq_head[q] = f->next;
  if (!p->dq_head[q]) p->dq_tail[q] = NULL;
  f->next = NULL;
  return f;
}

/* Resource exhaustion: -FI_EAGAIN, and -FI_ENOMEM from shm when its receive queue is full. The
 * latter only counts while something is in flight, since only completions can free space. */
static int is_full(nsccl_transport_t *t, int rc) { return rc == -FI_EAGAIN || (rc == -FI_ENOMEM && t->posted); }

/* Post deferred fragments in order until the provider refuses again. */
static nscclResult_t flush_deferred(nsccl_transport_t *t, nsccl_tp_prov_t *p, int q, int *ncomp) {
  nscclResult_t first = nscclSuccess;
  nsccl_frag_t *f;
  while ((f = undefer(p, q))) {
    int rc = post_frag(t, f);
    if (is_full(t, rc)) {
      f->next = p->dq_head[q];
      p->dq_head[q] = f;
      if (!p->dq_tail[q]) p->dq_tail[q] = f;
      break;
    }
    if (rc != 0) {
      nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "transport: posting a deferred %s %s rank %d failed: %s",
                      f->kind == NSCCL_FRAG_SEND ? "send" : "receive", f->kind == NSCCL_FRAG_SEND ? "to" : "from",
                      f->peer, fi_strerror(-rc));
      frag_complete(t, f, nscclSystemError, 0);
      (*ncomp)++;
      if (first == nscclSuccess) first = nscclSystemError;
    }
  }
  return first;
}

/* Post now if the provider takes it; on -FI_EAGAIN poll completions once (that is what frees
 * provider resources under manual progress), retry once, then queue. Fragments queue behind
 * earlier deferred ones so that posting order is kept. */
static int submit(nsccl_transport_t *t, nsccl_frag_t *f) {
  nsccl_tp_prov_t *p = &t->provs[f->prov];
  if (p->dq_head[f->kind]) {
    defer(p, f);
    t->stats.deferred++;
    return 0;
  }
  int rc = post_frag(t, f);
  if (is_full(t, rc)) {
    int n = 0;
    nscclResult_t e = poll_cq(t, p, 0, &n);
    if (e != nscclSuccess && t->deferred_error == nscclSuccess) t->deferred_error = e;
    rc = post_frag(t, f);
  }
  if (is_full(t, rc)) {
    defer(p, f);
    t->stats.deferred++;
    return 0;
  }
  return rc;
}

static nscclResult_t post_xfer(nsccl_transport_t *t, int kind, int peer, void *buf, size_t len, uint64_t tag,
                               const nsccl_recv_reduce_t *red, int unawaited, nsccl_xfer_t *x) {
  const char *op = kind == NSCCL_FRAG_SEND ? "nsccl_transport_isend" : "nsccl_transport_irecv";
  if (!t) NSCCL_FAIL(nscclInvalidArgument, "%s: transport is NULL", op);
  if (!x) NSCCL_FAIL(nscclInvalidArgument, "%s: xfer is NULL", op);
  if (!t->connected) NSCCL_FAIL(nscclInvalidUsage, "%s: transport not connected (call nsccl_transport_connect)", op);
  if (peer < 0 || peer >= t->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "%s: peer %d outside [0, %d)", op, peer, t->nranks);
  if (!buf && len > 0) NSCCL_FAIL(nscclInvalidArgument, "%s: buffer is NULL with length %zu", op, len);
  int pi = t->prov_of_peer[peer];
  nsccl_tp_prov_t *p = &t->provs[pi];
  int fold = !p->directed && t->rank_bits > 0;
  if (fold && (tag >> (64 - t->rank_bits)))
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: tag 0x%llx does not fit in %d bits (%s has no directed receive: the top %d bits carry the rank)",
               op, (unsigned long long)tag, 64 - t->rank_bits, p->full_name, t->rank_bits);
  x->done = 0;
  x->status = nscclSuccess;
  x->bytes = 0;
  x->pending = 1;
  x->next = NULL;
  /* Same-host messages bypass libfabric when the fast path is on (fastpath.c). */
  if (nsccl_fp_takes(t->fp, peer, len, kind == NSCCL_FRAG_SEND)) {
    return kind == NSCCL_FRAG_SEND ? nsccl_fp_isend(t->fp, peer, buf, len, tag, unawaited, x)
                                   : nsccl_fp_irecv(t->fp, peer, buf, len, tag, red, x);
  }
  if (red && red->fn)
    NSCCL_FAIL(nscclInternalError,
               "nsccl_transport_irecv_reduce: a %zu-byte message from rank %d cannot be reduced "
               "in the transport (ask nsccl_transport_reduces first)",
               len, peer);
  size_t fsz = nsccl_transport_max_msg(t, peer);
  size_t nfrags = len == 0 ? 1 : len / fsz + (len % fsz != 0);
  if (nfrags > 1 && !p->ordered)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: %zu bytes exceed the %zu-byte message limit of %s, which does not keep send order (FI_ORDER_SAS) "
               "so the message cannot be split",
               op, len, fsz, p->full_name);
  if (nfrags > (size_t)INT_MAX)
    NSCCL_FAIL(nscclInvalidArgument, "%s: %zu bytes in fragments of %zu bytes is too many fragments", op, len, fsz);
  nsccl_mr_entry_t *mr = NULL;
  if (p->need_mr && len > 0) NSCCL_CHECK(nsccl_mr_cache_get(&p->mrc, buf, len, &mr));

  x->pending = (int)nfrags;
  uint64_t src = (uint64_t)(kind == NSCCL_FRAG_SEND ? t->rank : peer);
  /* Fragments share the tag: with FI_ORDER_SAS they match the receive fragments in posting order. */
  uint64_t ftag = fold ? tag | (src << (64 - t->rank_bits)) : tag;
  for (size_t i = 0; i < nfrags; i++) {
    nsccl_frag_t *f = frag_alloc(t);
    int rc = f ? 0 : -FI_ENOMEM;
    if (f) {
      f->x = x;
      f->kind = kind;
      f->peer = peer;
      f->prov = pi;
      f->buf = (char *)buf + i * fsz;
      f->len = (i + 1 < nfrags) ? fsz : len - i * fsz;
      f->tag = ftag;
      f->mr = mr;
      if (mr) mr->inflight++;
      rc = submit(t, f);
      if (rc != 0) {
        nsccl_mr_cache_put(mr);
        frag_free(t, f);
      }
    }
    if (rc != 0) {
      /* Fragments already posted stay in flight (cancel_all reclaims them); the rest never will be. */
      x->status = rc == -FI_ENOMEM ? nscclSystemError : map_fi_error(-rc);
      x->pending -= (int)(nfrags - i);
      if (x->pending <= 0) x->done = 1;
      NSCCL_FAIL(x->status, "%s: posting fragment %zu/%zu (%zu bytes, tag 0x%llx) %s rank %d over %s failed: %s (%d)",
                 op, i, nfrags, len, (unsigned long long)tag, kind == NSCCL_FRAG_SEND ? "to" : "from", peer,
                 p->full_name, fi_strerror(-rc), rc);
    }
  }
  return nscclSuccess;
}

nscclResult_t nsccl_transport_isend(nsccl_transport_t *t, int peer, const void *buf, size_t len, uint64_t tag,
                                    nsccl_xfer_t *x) {
  return post_xfer(t, NSCCL_FRAG_SEND, peer, (void *)buf, len, tag, NULL, 0, x);
}

nscclResult_t nsccl_transport_isend_unawaited(nsccl_transport_t *t, int peer, const void *buf, size_t len, uint64_t tag,
                                              nsccl_xfer_t *x) {
  return post_xfer(t, NSCCL_FRAG_SEND, peer, (void *)buf, len, tag, NULL, 1, x);
}

nscclResult_t nsccl_transport_irecv(nsccl_transport_t *t, int peer, void *buf, size_t len, uint64_t tag,
                                    nsccl_xfer_t *x) {
  return post_xfer(t, NSCCL_FRAG_RECV, peer, buf, len, tag, NULL, 0, x);
}

int nsccl_transport_reduces(const nsccl_transport_t *t, int peer, size_t len) {
  return t && peer >= 0 && peer < t->nranks && nsccl_fp_takes(t->fp, peer, len, 0);
}

nscclResult_t nsccl_transport_irecv_reduce(nsccl_transport_t *t, int peer, void *dst, size_t len, uint64_t tag,
                                           const nsccl_recv_reduce_t *red, nsccl_xfer_t *x) {
  return post_xfer(t, NSCCL_FRAG_RECV, peer, dst, len, tag, red, 0, x);
}

/* Nothing posted to libfabric: its completion queues have nothing for us (messages sent to us
 * wait in the provider until we post their receives, which then get polled). */
static int provider_idle(const nsccl_transport_t *t) {
  int idle = !t->posted;
  for (int i = 0; i < t->nprovs && idle; i++) idle = !t->provs[i].dq_head[0] && !t->provs[i].dq_head[1];
  return idle;
}

int nsccl_transport_polls_memory_only(const nsccl_transport_t *t) { return t && t->fp && provider_idle(t); }

static int progress_all(nsccl_transport_t *t, int quiet, nscclResult_t *err) {
  int ncomp = nsccl_fp_progress(t->fp);
  if (t->fp && provider_idle(t)) return ncomp;
  for (int i = 0; i < t->nprovs; i++) {
    nsccl_tp_prov_t *p = &t->provs[i];
    nscclResult_t e = poll_cq(t, p, quiet, &ncomp);
    if (e != nscclSuccess && *err == nscclSuccess) *err = e;
    for (int q = 0; q < 2; q++) {
      if (!p->dq_head[q]) continue;
      e = flush_deferred(t, p, q, &ncomp);
      if (e != nscclSuccess && *err == nscclSuccess) *err = e;
    }
  }
  return ncomp;
}

int nsccl_transport_progress(nsccl_transport_t *t) {
  if (!t) return -(int)nscclInvalidArgument;
  if (t->watch) {
    nscclResult_t gone = t->watch(t->watch_ctx, 1);
    if (gone != nscclSuccess) return -(int)gone;
  }
  nscclResult_t err = t->deferred_error;
  t->deferred_error = nscclSuccess;
  int n = progress_all(t, 0, &err);
  /* A provider that fails transfers as soon as a connection resets (net does, rxm mostly does not)
   * can report a dead peer before the peer watch has: give the watch the same few milliseconds the
   * engine gives it after a failed transfer, so that the error names the rank and its host. */
  if (err == nscclRemoteError) {
    nscclResult_t gone = nsccl_transport_peer_gone(t, 50);
    if (gone != nscclSuccess) return -(int)gone;
  }
  return err != nscclSuccess ? -(int)err : n;
}

void nsccl_transport_set_watch(nsccl_transport_t *t, nscclResult_t (*check)(void *ctx, int record), void *ctx) {
  if (!t) return;
  t->watch = check;
  t->watch_ctx = ctx;
}

nscclResult_t nsccl_transport_peer_gone(nsccl_transport_t *t, int wait_ms) {
  if (!t || !t->watch) return nscclSuccess;
  for (int waited = 0;; waited++) {
    if (t->watch(t->watch_ctx, 0) != nscclSuccess) return t->watch(t->watch_ctx, 1);
    if (waited >= wait_ms) return nscclSuccess;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void nsccl_transport_cancel_all(nsccl_transport_t *t, nscclResult_t status) {
  if (!t) return;
  t->cancel_status = status;
  nsccl_fp_cancel_all(t->fp, status);
  /* Never handed to the provider: finish them here. */
  for (int i = 0; i < t->nprovs; i++) {
    nsccl_frag_t *f;
    for (int q = 0; q < 2; q++)
      while ((f = undefer(&t->provs[i], q))) {
        if (f->x && f->x->status == nscclSuccess) f->x->status = status;
        frag_complete(t, f, status, 0);
      }
  }
  /* Ask the provider to hand back everything it holds. Receives normally come back at once as
   * FI_ECANCELED; sends usually cannot be canceled and finish (or fail) on their own. */
  for (nsccl_frag_t *f = t->posted; f; f = f->next) {
    if (f->x && f->x->status == nscclSuccess) f->x->status = status;
    fi_cancel(&t->provs[f->prov].ep->fid, &f->ctx);
  }
  int drain = t->timeout_ms > 0 && t->timeout_ms < CANCEL_DRAIN_MS ? t->timeout_ms : CANCEL_DRAIN_MS;
  /* A peer known to be gone never completes what it was sent: the provider fails those sends when
   * it notices, which can take longer than the drain; waiting the whole drain would only delay the
   * error (docs/reliability.md, "Dead peers"). What it still holds is orphaned as below. */
  if (t->watch && t->watch(t->watch_ctx, 0) != nscclSuccess && drain > DEAD_PEER_DRAIN_MS) drain = DEAD_PEER_DRAIN_MS;
  double deadline = now_ms() + drain;
  while (t->posted && now_ms() < deadline) {
    nscclResult_t ignored = nscclSuccess;
    if (progress_all(t, 1, &ignored) == 0) sched_yield();
  }
  /* What the provider still holds is orphaned: its xfer is finished for the caller now, and the
   * fragment is only reclaimed if a completion shows up later (or at close). */
  nsccl_frag_t *f;
  while ((f = t->posted)) {
    list_unlink(&t->posted, f);
    nsccl_xfer_t *x = f->x;
    f->x = NULL;
    f->state = NSCCL_FRAG_ORPHAN;
    list_push(&t->orphans, f);
    t->stats.orphans++;
    if (x && --x->pending <= 0) x->done = 1;
  }
  t->deferred_error = nscclSuccess;
}

/* Called by close after every endpoint is gone: no completion can name a fragment any more. */
void nsccl_tp_xfer_release(nsccl_transport_t *t) {
  for (int i = 0; i < t->nchunks; i++) free(t->chunks[i]);
  free(t->chunks);
  t->chunks = NULL;
  t->nchunks = t->chunks_cap = 0;
  t->free_frags = t->posted = t->orphans = NULL;
}
