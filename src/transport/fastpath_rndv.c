/* Single-copy rendezvous for same-host messages above the eager limit (docs/transport.md, "Fast
 * path").
 *
 * Through libfabric's shm provider a large message costs locks in shared memory, completion-queue
 * entries and a round of progress on both sides per fragment; the sender's spinning on the
 * provider's locks alone took 14% of a 16 MiB all-reduce here. This path moves the bytes once, with
 * the kernel's cross-memory attach, and uses the fast-path rings only for two 48-byte notes:
 *
 *   sender s                                   receiver R
 *   isend: RTS {tag, total, address, id} ----> matched by tag against posted receives (or kept as
 *          into R's ring for s                 an unexpected RTS until irecv); process_vm_readv
 *                                              from s's address straight into the receive buffer
 *   send completes                    <---- FIN {id} into s's ring for R
 *
 * Whether R can read s's memory (same user and PID namespace, no Yama or seccomp restriction) is
 * probed once at connect: R reads the magic word of s's segment at the address s published in its
 * header. R publishes the answer in its own segment, in the control page of s's ring, where s
 * looks before its first large send; both ends therefore route a message above the eager limit
 * the same way, and when R cannot read s, such messages keep using libfabric. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/fastpath_internal.h"

#define PUBLISH_WAIT_S 30 /* how long a first large send waits for the receiver's probe result */

static int read_peer(int pid, void *dst, uint64_t addr, size_t len, int *err) {
  size_t done = 0;
  while (done < len) {
    struct iovec l = {(unsigned char *)dst + done, len - done};
    struct iovec r = {(void *)(uintptr_t)(addr + done), len - done};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n < 0 ? errno : EIO;
      return -1;
    }
    done += (size_t)n;
  }
  return 0;
}

void nsccl_fp_rndv_probe(nsccl_fp_t *fp, int peer, const char *peer_name, const unsigned char *peer_seg) {
  fp_peer_t *p = &fp->peers[peer];
  int pid = 0, n = 0, err = 0;
  uint64_t magic = 0;
  p->can_read = FP_READ_NO;
  if (fp->cma && sscanf(peer_name, "/nsccl-fp-%d-%d", &pid, &n) == 2 && pid > 0) {
    p->pid = pid;
    uint64_t addr = *(const uint64_t *)(peer_seg + HDR_SEG_ADDR);
    if (read_peer(pid, &magic, addr + HDR_MAGIC, sizeof(magic), &err) == 0 && magic == SEG_MAGIC)
      p->can_read = FP_READ_YES;
    else
      NSCCL_INFO(NSCCL_SUBSYS_NET,
                 "transport: cannot read rank %d's memory (%s); its messages above %d bytes use libfabric", peer,
                 err ? strerror(err) : "another process has that pid", NSCCL_FP_EAGER_BYTES);
  }
  /* The control page of the peer's ring in my segment: the peer reads it before sending large. */
  __atomic_store_n(read_ok_of(ring_of(fp->seg, peer)), (uint32_t)p->can_read, __ATOMIC_RELEASE);
}

int nsccl_fp_rndv_ok(const nsccl_fp_t *fp, int peer, int sending) {
  const fp_peer_t *p = &fp->peers[peer];
  if (!fp->cma) return 0;
  if (!sending) return p->can_read == FP_READ_YES;
  /* The receiver probes while it connects; a first large send right after this rank's own
   * connect may have to wait for it (a communicator's init ends with a barrier, so it never does). */
  uint32_t v = __atomic_load_n(read_ok_of(p->tx_ring), __ATOMIC_ACQUIRE);
  for (time_t t0 = time(NULL); v == FP_READ_UNKNOWN && time(NULL) - t0 < PUBLISH_WAIT_S;) {
    sched_yield();
    v = __atomic_load_n(read_ok_of(p->tx_ring), __ATOMIC_ACQUIRE);
  }
  if (v == FP_READ_UNKNOWN)
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: rank %d never published whether it can read this rank's memory", peer);
  return v == FP_READ_YES;
}

int nsccl_fp_rndv_post(fp_peer_t *p, fp_req_t *r) {
  uint64_t w[5] = {(uint64_t)(uintptr_t)r->sbuf, r->id, r->where.gen, (uint64_t)r->where.fd, r->where.offset};
  return r->where.gen ? nsccl_fp_write_ctrl(p, FP_CTRL_RTSM, r->tag, r->len, w, 5)
                      : nsccl_fp_write_ctrl(p, FP_CTRL_RTS, r->tag, r->len, w, 2);
}

nscclResult_t nsccl_fp_rndv_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag,
                                  nsccl_xfer_t *x) {
  fp_peer_t *p = &fp->peers[peer];
  fp_req_t *r = fp_req_get(fp);
  if (!r) NSCCL_FAIL(nscclSystemError, "transport: out of memory queueing a send to rank %d", peer);
  *r = (fp_req_t){NULL, NULL, buf, len, 0, tag, x, 1, p->next_id++, {0}, {0}};
  const fp_reg_t *g = fp->nregs && len >= fp->direct_min ? nsccl_fp_find_reg(fp, buf, len) : NULL;
  if (g) {
    r->where = g->where;
    r->where.offset += (size_t)((const unsigned char *)buf - g->base);
  }
  if (!p->sq_head && nsccl_fp_rndv_post(p, r)) {
    r->next = p->wq_head;
    p->wq_head = r;
    return nscclSuccess;
  }
  if (p->sq_tail) /* behind earlier sends: messages to one peer leave in order */
    p->sq_tail->next = r;
  else
    p->sq_head = r;
  p->sq_tail = r;
  return nscclSuccess;
}

/* FIN {id, status}: the sender's send completes with the receiver's status (a receive that could
 * not read the message fails the send too, so neither side waits for a timeout). An owed entry
 * without a receive (x NULL) is a PULL {id} instead. */
static int write_owed(fp_peer_t *p, const fp_fin_t *f) {
  if (!f->x) return nsccl_fp_write_ctrl(p, FP_CTRL_PULL, 0, 0, &f->id, 1);
  /* A truncated receive leaves the send successful, as FI_ETRUNC does. */
  uint64_t w[2] = {f->id, f->status == nscclInvalidUsage ? 0 : (uint64_t)f->status};
  return nsccl_fp_write_ctrl(p, FP_CTRL_FIN, 0, 0, w, 2);
}

int nsccl_fp_rndv_flush_fins(fp_peer_t *p) {
  int i = 0, done = 0;
  for (; i < p->fin_n && write_owed(p, &p->fin_q[i]); i++)
    if (p->fin_q[i].x) fp_finish(p->fin_q[i].x, p->fin_q[i].status, p->fin_q[i].bytes), done++;
  memmove(p->fin_q, p->fin_q + i, (size_t)(p->fin_n - i) * sizeof(fp_fin_t));
  p->fin_n -= i;
  return done;
}

/* Write f now if nothing owed is ahead of it and the ring has room (1), else queue it (0; -1 when
 * out of memory). */
static int write_or_owe(fp_peer_t *p, fp_fin_t f) {
  if (!p->fin_n && write_owed(p, &f)) return 1;
  if (p->fin_n == p->fin_cap) {
    int cap = p->fin_cap ? 2 * p->fin_cap : 16;
    fp_fin_t *q = realloc(p->fin_q, (size_t)cap * sizeof(fp_fin_t));
    if (!q) return -1;
    p->fin_q = q;
    p->fin_cap = cap;
  }
  p->fin_q[p->fin_n++] = f;
  return 0;
}

/* Tell the sender its message has been read, then complete the receive x. A full ring queues the
 * FIN with x, which completes when the FIN is written. Returns 1 if x completed now. */
static int fin_and_finish(fp_peer_t *p, uint64_t id, nsccl_xfer_t *x, nscclResult_t status, size_t bytes) {
  int w = write_or_owe(p, (fp_fin_t){id, x, status, bytes});
  if (w < 0) { /* the sender will wait for its FIN until the timeout: say so, and fail the receive */
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: out of memory acknowledging a message");
    fp_finish(x, nscclSystemError, 0);
    return 1;
  }
  if (w) fp_finish(x, status, bytes);
  return w;
}

/* The receiver picks the protocol of an RTS per receive: a receive that reduces takes an unmapped
 * message of at most pull_max bytes (measured at init, fastpath_pair.c) as pushed ring fragments
 * (PULL), reducing straight from the slots; a plain receive, a message in a registered buffer
 * mapped here, or a larger one is read where it lies (a reducing one through the bounce buffer). */
static int wants_push(const nsccl_fp_t *fp, const fp_msg_t *m, const fp_req_t *r) {
  return r->red.fn && !m->where.gen && m->len <= fp->pull_max && m->len <= NSCCL_FP_EAGER_BYTES && m->len <= r->len;
}

/* Ask the sender of RTS id to push its message; r (a heap record) waits among the posted receives
 * for the fragments, which carry its tag. */
static void ask_push(nsccl_fp_t *fp, fp_peer_t *p, uint64_t id, fp_req_t *r) {
  if (write_or_owe(p, (fp_fin_t){id, NULL, nscclSuccess, 0}) < 0) {
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: out of memory asking for a message");
    fp_finish(r->x, nscclSystemError, 0);
    fp_req_put(fp, r);
    return;
  }
  r->next = NULL;
  if (p->rq_tail)
    p->rq_tail->next = r;
  else
    p->rq_head = r;
  p->rq_tail = r;
  fp->stats.pulled++;
}

/* Read total bytes at the sender's addr into receive r with process_vm_readv: straight into r's
 * buffer, or, for a receive that reduces, through the bounce buffer a piece at a time (the piece
 * is still in cache when it is reduced). */
static int read_into(nsccl_fp_t *fp, fp_peer_t *p, uint64_t addr, size_t total, const fp_req_t *r, int *err,
                     nscclResult_t *st) {
  *st = nscclSuccess;
  if (!r->red.fn) return read_peer(p->pid, r->buf, addr, total, err);
  if (!fp->bounce && !(fp->bounce = malloc(FP_BOUNCE))) {
    *st = nscclSystemError;
    return 0;
  }
  for (size_t off = 0; off < total && *st == nscclSuccess; off += FP_BOUNCE) {
    size_t n = total - off < FP_BOUNCE ? total - off : FP_BOUNCE;
    if (read_peer(p->pid, fp->bounce, addr + off, n, err) != 0) return -1;
    *st = fp_put(r, off, fp->bounce, n);
  }
  return 0;
}

/* The peer's allocation gen mapped here (mapping it on first use), or NULL. */
static const unsigned char *peer_map(fp_peer_t *p, uint64_t gen, int fd, size_t need) {
  fp_map_t *lru = &p->maps[0];
  for (int i = 0; i < FP_MAPS; i++) {
    fp_map_t *m = &p->maps[i];
    if (m->base && m->gen == gen) {
      m->used = ++p->map_clock;
      return need <= m->len ? m->base : NULL;
    }
    if (!m->base || (lru->base && m->used < lru->used)) lru = m;
  }
  size_t len = 0;
  void *base = nsccl_shmem_map_peer(p->pid, fd, gen, &len);
  if (!base) return NULL;
  /* An evicted allocation is mapped again if it comes back; its owner may have freed it already. */
  if (lru->base) munmap((void *)lru->base, lru->len);
  *lru = (fp_map_t){gen, base, len, ++p->map_clock};
  return need <= len ? lru->base : NULL;
}

void nsccl_fp_unmap_peer(fp_peer_t *p) {
  for (int i = 0; i < FP_MAPS; i++)
    if (p->maps[i].base) munmap((void *)p->maps[i].base, p->maps[i].len);
  memset(p->maps, 0, sizeof(p->maps));
}

/* Move the sender's message described by m (an RTS, as arrived or kept unexpected) into receive r
 * and acknowledge it: from the sender's registered memory mapped here when the RTS names it (a
 * load, no system call), else with process_vm_readv. Returns 1 if r's xfer completed now. */
static int pull(nsccl_fp_t *fp, int peer, const fp_msg_t *m, const fp_req_t *r) {
  fp_peer_t *p = &fp->peers[peer];
  int err = 0;
  size_t total = m->len;
  if (total > r->len) /* truncation, as FI_ETRUNC; the sender still completes */
    return fin_and_finish(p, m->id, r->x, nscclInvalidUsage, 0);
  nscclResult_t st = nscclSuccess;
  const unsigned char *src = NULL;
  if (m->where.gen) {
    const unsigned char *base = peer_map(p, m->where.gen, m->where.fd, m->where.offset + total);
    if (base) {
      src = base + m->where.offset;
    } else {
      fp->stats.map_failures++;
      NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: cannot map rank %d's registered buffer (%s); reading it by CMA", peer,
                 strerror(errno));
    }
  }
  if (src) {
    st = fp_put(r, 0, src, total);
    fp->stats.direct_reads++;
  } else if (read_into(fp, p, m->addr, total, r, &err, &st) != 0) {
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: reading %zu bytes from rank %d failed: %s", total, peer, strerror(err));
    if (err != ESRCH) return fin_and_finish(p, m->id, r->x, nscclSystemError, 0);
    fp_finish(r->x, nscclRemoteError, 0); /* the sender is gone: nobody to acknowledge */
    return 1;
  } else {
    fp->stats.cma_reads++;
  }
  if (r->red.fn && st == nscclSuccess) fp->stats.reduced++;
  return fin_and_finish(p, m->id, r->x, st, st == nscclSuccess ? total : 0);
}

void nsccl_fp_rndv_pull_unexpected(nsccl_fp_t *fp, int peer, fp_msg_t *m, fp_req_t *r) {
  if (!wants_push(fp, m, r)) {
    pull(fp, peer, m, r);
    return;
  }
  fp_req_t *h = fp_req_get(fp);
  if (!h) {
    fin_and_finish(&fp->peers[peer], m->id, r->x, nscclSystemError, 0);
    return;
  }
  *h = *r;
  ask_push(fp, &fp->peers[peer], m->id, h);
}

/* The RTS in slot s as a message record (payload: address, id[, gen, fd, offset]). */
static void rts_of(const slot_hdr_t *s, fp_msg_t *m) {
  const uint64_t *w = (const uint64_t *)((const unsigned char *)s + SLOT_HDR);
  m->tag = s->tag;
  m->len = s->total; /* of the message at the sender; nothing is copied here */
  m->rndv = 1;
  m->addr = w[0];
  m->id = w[1];
  memset(&m->where, 0, sizeof(m->where));
  if ((s->len & FP_CTRL_RTSM) == FP_CTRL_RTSM) {
    m->where.gen = w[2];
    m->where.fd = (int)w[3];
    m->where.offset = w[4];
  }
}

int nsccl_fp_rndv_arrive(nsccl_fp_t *fp, int peer, const slot_hdr_t *s) {
  fp_peer_t *p = &fp->peers[peer];
  const uint64_t *payload = (const uint64_t *)((const unsigned char *)s + SLOT_HDR);
  if (s->len & FP_CTRL_PULL) { /* push send id through the ring: it joins the send queue as eager */
    for (fp_req_t **pr = &p->wq_head; *pr; pr = &(*pr)->next) {
      fp_req_t *r = *pr;
      if (r->id != payload[0]) continue;
      *pr = r->next;
      r->next = NULL;
      r->rndv = 0;
      r->done = 0;
      if (p->sq_tail)
        p->sq_tail->next = r;
      else
        p->sq_head = r;
      p->sq_tail = r;
      return 0; /* completes once written (nsccl_fp_progress drains the send queue) */
    }
    return 0; /* a send canceled meanwhile */
  }
  if (s->len & FP_CTRL_FIN) {
    for (fp_req_t **pr = &p->wq_head; *pr; pr = &(*pr)->next) {
      fp_req_t *r = *pr;
      if (r->id != payload[0]) continue;
      *pr = r->next;
      nscclResult_t st = (nscclResult_t)payload[1]; /* the receiver's status (0: read) */
      fp_finish(r->x, st, st == nscclSuccess ? r->len : 0);
      fp_req_put(fp, r);
      return 1;
    }
    return 0; /* a send canceled meanwhile */
  }
  fp_req_t *r = nsccl_fp_take_posted(p, s->tag);
  if (r) {
    fp_msg_t rts;
    rts_of(s, &rts);
    if (wants_push(fp, &rts, r)) {
      ask_push(fp, p, rts.id, r);
      return 0;
    }
    int done = pull(fp, peer, &rts, r);
    fp_req_put(fp, r);
    return done;
  }
  fp_msg_t *m = fp_msg_get(fp, 0);
  if (!m) return -1;
  rts_of(s, m);
  if (p->uq_tail)
    p->uq_tail->next = m;
  else
    p->uq_head = m;
  p->uq_tail = m;
  return 0;
}

void nsccl_fp_rndv_cancel(nsccl_fp_t *fp, fp_peer_t *p, nscclResult_t status) {
  while (p->wq_head) {
    fp_req_t *r = p->wq_head;
    p->wq_head = r->next;
    fp_finish(r->x, status, 0);
    fp_req_put(fp, r);
  }
  for (int i = 0; i < p->fin_n; i++) /* an owed PULL's receive is among the posted ones */
    if (p->fin_q[i].x) fp_finish(p->fin_q[i].x, status, 0);
  p->fin_n = 0;
}
