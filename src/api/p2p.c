/* nscclSend / nscclRecv: a batch of point-to-point operations, possibly on several communicators,
 * posted all at once and progressed together, so a rank may send to and receive from the same peer
 * (or ring neighbours may all send first) without waiting on each other.
 *
 * Matching: the k-th send from a to b meets b's k-th receive from a (per communicator), carried by
 * the tag NSCCL_FABRIC_P2P_TAG(k) which collectives never use; sequence numbers of collectives are
 * not touched, since only the two ranks of a pair take part. Messages to oneself are copied: the
 * k-th self-send of a batch goes to its k-th self-receive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/op.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "reduce/reduce.h"

static size_t op_bytes(const nsccl_op_t *o) { return o->count * nsccl_type_size(o->dtype); }

static nscclResult_t counters(struct nscclComm *c) {
  if (c->p2p_sent) return nscclSuccess;
  c->p2p_sent = calloc((size_t)c->nranks, sizeof(uint32_t));
  c->p2p_recvd = calloc((size_t)c->nranks, sizeof(uint32_t));
  if (!c->p2p_sent || !c->p2p_recvd) {
    free(c->p2p_sent);
    free(c->p2p_recvd);
    c->p2p_sent = c->p2p_recvd = NULL;
    NSCCL_FAIL(nscclSystemError, "point-to-point: out of memory for %d peer counters", c->nranks);
  }
  return nscclSuccess;
}

/* Self messages of communicator c inside the batch: pair them in order and copy. */
static nscclResult_t self_copies(const nsccl_op_t *ops, int n, const struct nscclComm *c) {
  int s = 0, r = 0;
  for (;;) {
    while (s < n && !(ops[s].comm == c && ops[s].kind == NSCCL_OP_SEND && ops[s].peer == c->rank)) s++;
    while (r < n && !(ops[r].comm == c && ops[r].kind == NSCCL_OP_RECV && ops[r].peer == c->rank)) r++;
    if (s == n && r == n) return nscclSuccess;
    if (s == n || r == n)
      NSCCL_FAIL(nscclInvalidUsage, "%s: rank %d %s itself without a matching %s in the same group",
                 ops[s < n ? s : r].call, c->rank, s < n ? "sends to" : "receives from",
                 s < n ? "nscclRecv" : "nscclSend");
    if (op_bytes(&ops[s]) != op_bytes(&ops[r]))
      NSCCL_FAIL(nscclInvalidUsage, "rank %d sends %zu bytes to itself but receives %zu", c->rank, op_bytes(&ops[s]),
                 op_bytes(&ops[r]));
    if (op_bytes(&ops[s])) memmove(ops[r].recvbuff, ops[s].sendbuff, op_bytes(&ops[s]));
    s++, r++;
  }
}

static void fail_all(const nsccl_op_t *ops, int n, nscclResult_t code) {
  for (int i = 0; i < n; i++) {
    if (ops[i].comm->tp) nsccl_transport_cancel_all(ops[i].comm->tp, code);
    ops[i].comm->async_error = code;
  }
}

nscclResult_t nsccl_p2p_run(const nsccl_op_t *ops, int n) {
  for (int i = 0; i < n; i++) {
    struct nscclComm *c = ops[i].comm;
    if (c->async_error != nscclSuccess)
      NSCCL_FAIL(nscclInvalidUsage, "%s: the communicator failed earlier (%s); call nscclCommAbort", ops[i].call,
                 nscclGetErrorString(c->async_error));
    NSCCL_CHECK(counters(c));
  }
  for (int i = 0; i < n; i++) {
    int first = 1;
    for (int j = 0; j < i && first; j++) first = ops[j].comm != ops[i].comm;
    if (first) NSCCL_CHECK(self_copies(ops, n, ops[i].comm));
  }
  if (n <= 0) return nscclSuccess;
  nsccl_xfer_t *x = calloc((size_t)n, sizeof(*x));
  if (!x) NSCCL_FAIL(nscclSystemError, "point-to-point: out of memory for %d transfers", n);
  int timeout_ms = 0, pending = 0;
  nscclResult_t rc = nscclSuccess;
  for (int i = 0; i < n && rc == nscclSuccess; i++) {
    const nsccl_op_t *o = &ops[i];
    struct nscclComm *c = o->comm;
    if (timeout_ms == 0 || c->cfg.timeout_ms < timeout_ms) timeout_ms = c->cfg.timeout_ms;
    x[i].done = 1;
    if (o->peer == c->rank) continue;
    int bits = nsccl_transport_tag_bits(c->tp);
    uint64_t tag = o->kind == NSCCL_OP_SEND ? NSCCL_FABRIC_P2P_TAG(bits, c->p2p_sent[o->peer]++)
                                            : NSCCL_FABRIC_P2P_TAG(bits, c->p2p_recvd[o->peer]++);
    size_t bytes = op_bytes(o);
    if (bytes == 0) continue; /* both sides count it, neither sends it */
    x[i].done = 0;
    rc = o->kind == NSCCL_OP_SEND ? nsccl_transport_isend(c->tp, o->peer, o->sendbuff, bytes, tag, &x[i])
                                  : nsccl_transport_irecv(c->tp, o->peer, o->recvbuff, bytes, tag, &x[i]);
    if (rc != nscclSuccess) x[i].done = 1;
    pending += rc == nscclSuccess;
  }
  char why[600] = "";
  if (rc != nscclSuccess) snprintf(why, sizeof(why), "could not post a transfer: %s", nsccl_error_detail());
  int64_t last = nsccl_now_ns();
  unsigned idle = 0;
  while (rc == nscclSuccess && pending > 0) {
    int moved = 0;
    for (int i = 0; i < n && rc == nscclSuccess; i++) {
      int first = 1;
      for (int j = 0; j < i && first; j++) first = ops[j].comm != ops[i].comm;
      if (!first || !ops[i].comm->tp) continue;
      int k = nsccl_transport_progress(ops[i].comm->tp);
      if (k < 0) {
        rc = -k == nscclTimeout ? nscclTimeout : nscclRemoteError;
        snprintf(why, sizeof(why), "the transport failed (%s: %s)", nscclGetErrorString((nscclResult_t)-k),
                 nsccl_error_detail());
      }
      moved |= k > 0;
    }
    int now_pending = 0;
    for (int i = 0; i < n && rc == nscclSuccess; i++) {
      if (!x[i].done) {
        now_pending++;
        continue;
      }
      if (x[i].status != nscclSuccess) {
        rc = x[i].status == nscclTimeout ? nscclTimeout : nscclRemoteError;
        snprintf(why, sizeof(why), "the %s rank %d failed (%s)",
                 ops[i].kind == NSCCL_OP_SEND ? "send to" : "receive from", ops[i].peer,
                 nscclGetErrorString(x[i].status));
      }
    }
    if (rc != nscclSuccess) break;
    if (now_pending < pending) moved = 1;
    pending = now_pending;
    if (moved) {
      idle = 0;
      last = nsccl_now_ns();
      continue;
    }
    if (nsccl_now_ns() - last > (int64_t)timeout_ms * 1000000) {
      rc = nscclTimeout;
      char peers[256] = "";
      size_t used = 0;
      for (int i = 0; i < n && used < sizeof(peers); i++)
        if (!x[i].done)
          used += (size_t)snprintf(peers + used, sizeof(peers) - used, "%s%s %d", used ? ", " : "",
                                   ops[i].kind == NSCCL_OP_SEND ? "send to" : "receive from", ops[i].peer);
      snprintf(why, sizeof(why), "made no progress for %d ms (NSCCL_TIMEOUT_MS); pending: %s", timeout_ms, peers);
      break;
    }
    nsccl_idle_pause(&idle);
  }
  if (rc != nscclSuccess) {
    fail_all(ops, n, rc == nscclSystemError ? nscclSystemError : rc);
    /* x may still be referenced by a provider that ignores cancellation: the first communicator
     * frees it after closing its transport (if even that fails, x is leaked, never freed early). */
    struct nscclComm *c = ops[0].comm;
    void **st = realloc(c->stale, (size_t)(c->nstale + 1) * sizeof(void *));
    if (st) c->stale = st, c->stale[c->nstale++] = x;
    NSCCL_FAIL(rc, "%s (rank %d of %d, batch of %d send/recv): %s", ops[0].call, ops[0].comm->rank, ops[0].comm->nranks,
               n, why);
  }
  free(x);
  return nscclSuccess;
}
