/* Same-host fast path for small messages (see fastpath.h and docs/transport.md, "Fast path").
 *
 * libfabric's shm provider costs about a microsecond per small message here (a locked command
 * queue, a completion queue entry, and progress calls on both sides). For messages that fit a
 * slot, this path is one memcpy into the receiver's memory and one release store:
 *
 *   segment of rank R (/dev/shm/nsccl-fp-<pid>-<n>, created at open, mapped by same-host peers):
 *     page 0: header;  ring[s] for every sender s: a control page (consumed count, written by R)
 *     then SLOTS slots of SLOT_BYTES: {seq, tag, len} + payload.
 *
 * Sender s writes its k-th fragment (k = 0, 1, ...) into slot k % SLOTS once R has consumed fragment
 * k - SLOTS, then publishes it with seq = k + 1 (release); a message longer than a slot's payload
 * takes consecutive fragments (pipelined: the receiver copies one out while the next goes in). R polls slot tail %
 * SLOTS for seq == tail + 1 (acquire), matches the tag against its posted receives from s in post order (else keeps a
 * copy as unexpected), and publishes consumed = tail + 1. One producer and one consumer per ring: no locks, no atomics
 * beyond ordered loads and stores. Sends complete as soon as the copy is made (like fi_inject); a full ring queues the
 * send until the receiver frees slots. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/fastpath_internal.h"

/* Segments of processes that died without closing (SIGKILL) stay in /dev/shm: remove them. */
static void remove_stale(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    int pid = 0;
    if (sscanf(e->d_name, "nsccl-fp-%d-", &pid) != 1 || pid <= 0) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      char path[300];
      snprintf(path, sizeof(path), "/%s", e->d_name);
      shm_unlink(path);
    }
  }
  closedir(d);
}

nsccl_fp_t *nsccl_fp_open(int rank, int nranks) {
  const char *env = getenv("NSCCL_SHM_FASTPATH");
  if ((env && !strcmp(env, "0")) || nranks > MAX_RANKS) return NULL;
  static int counter;
  remove_stale();
  nsccl_fp_t *fp = calloc(1, sizeof(*fp));
  if (!fp) return NULL;
  fp->rank = rank;
  fp->nranks = nranks;
  fp->peers = calloc((size_t)nranks, sizeof(fp_peer_t));
  fp->active = calloc((size_t)nranks, sizeof(int));
  snprintf(fp->name, sizeof(fp->name), "/nsccl-fp-%d-%d", (int)getpid(), __atomic_fetch_add(&counter, 1, 0));
  fp->seg_len = seg_bytes(nranks);
  int fd = fp->peers && fp->active ? shm_open(fp->name, O_CREAT | O_EXCL | O_RDWR, 0600) : -1;
  if (fd < 0 || ftruncate(fd, (off_t)fp->seg_len) != 0) {
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: no shared-memory fast path (%s: %s); small messages use libfabric",
               fp->name, strerror(errno));
    if (fd >= 0) close(fd), shm_unlink(fp->name);
    free(fp->peers);
    free(fp->active);
    free(fp);
    return NULL;
  }
  fp->seg = mmap(NULL, fp->seg_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (fp->seg == MAP_FAILED) {
    shm_unlink(fp->name);
    free(fp->peers);
    free(fp->active);
    free(fp);
    return NULL;
  }
  *(uint64_t *)(fp->seg + HDR_MAGIC) = SEG_MAGIC;
  *(int32_t *)(fp->seg + HDR_NRANKS) = nranks;
  *(uint64_t *)(fp->seg + HDR_SEG_ADDR) = (uint64_t)(uintptr_t)fp->seg;
  const char *cma = getenv("NSCCL_SHM_CMA");
  fp->cma = !(cma && !strcmp(cma, "0"));
  const char *dmin = getenv("NSCCL_SHM_DIRECT_MIN");
  fp->direct_min = dmin && *dmin ? strtoull(dmin, NULL, 10) : NSCCL_FP_DIRECT_MIN;
  /* Receives that reduce PULL rendezvous messages of up to pull_max bytes: measured between the
   * ranks at init (fastpath_pair.c), 0 until then; NSCCL_SHM_PULL=1 / 0 forces all / none. */
  const char *pull = getenv("NSCCL_SHM_PULL");
  fp->pull_forced = pull && (!strcmp(pull, "0") || !strcmp(pull, "1"));
  fp->pull_max = pull && !strcmp(pull, "1") ? NSCCL_FP_EAGER_BYTES : 0;
  nsccl_fp_calib_t cal;
  fp->eager_max = fp->cma ? nsccl_fp_measure_eager_max(&cal) : NSCCL_FP_EAGER_BYTES;
  const char *rmin = getenv("NSCCL_SHM_RNDV_MIN");
  fp->rndv_min = rmin && *rmin ? strtoull(rmin, NULL, 10) : fp->eager_max;
  if (fp->cma && !cal.overridden && nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_NET)) {
    char row[512];
    size_t used = 0;
    for (int k = 0; k < cal.n && used < sizeof(row); k++)
      used += (size_t)snprintf(row + used, sizeof(row) - used, " %zuK %.2f/%.2f", cal.bytes[k] >> 10,
                               cal.copy_ns[k] / 1e3, cal.cma_ns[k] / 1e3);
    NSCCL_INFO(NSCCL_SUBSYS_NET,
               "transport: eager limit %zu bytes (measured, size copy/process_vm_readv us:%s); direct reads of "
               "registered buffers from %zu bytes",
               fp->eager_max, row, fp->direct_min);
  }
  if (getenv("NSCCL_SHM_FASTPATH") && !strcmp(getenv("NSCCL_SHM_FASTPATH"), "1")) fp->enabled = 1;
  return fp;
}

void nsccl_fp_describe(const nsccl_fp_t *fp, unsigned char *blob) {
  memset(blob, 0, NSCCL_FP_BLOB_BYTES);
  if (fp) memcpy(blob, fp->name, strlen(fp->name));
}

nscclResult_t nsccl_fp_connect(nsccl_fp_t *fp, int peer, const unsigned char *part) {
  if (!fp || peer < 0 || peer >= fp->nranks || part[0] != '/') return nscclSuccess;
  char name[NSCCL_FP_BLOB_BYTES + 1];
  memcpy(name, part, NSCCL_FP_BLOB_BYTES);
  name[NSCCL_FP_BLOB_BYTES] = '\0';
  fp_peer_t *p = &fp->peers[peer];
  size_t len = seg_bytes(fp->nranks);
  void *m = MAP_FAILED;
  if (peer == fp->rank) {
    m = fp->seg;
  } else {
    /* A peer whose segment we cannot map would wait forever for messages we send elsewhere: fail. */
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
      NSCCL_FAIL(nscclSystemError, "transport: cannot open rank %d's fast-path segment %s: %s", peer, name,
                 strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= len)
      m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
      NSCCL_FAIL(nscclSystemError, "transport: cannot map rank %d's fast-path segment %s (%zu bytes)", peer, name, len);
    if (*(uint64_t *)m != SEG_MAGIC || ((int32_t *)m)[2] != fp->nranks) {
      munmap(m, len);
      NSCCL_FAIL(nscclInvalidUsage, "transport: rank %d's fast-path segment %s belongs to another communicator", peer,
                 name);
    }
    p->tx_map = m;
    p->tx_len = len;
  }
  p->tx_ring = ring_of(m, fp->rank);
  if (peer != fp->rank) nsccl_fp_rndv_probe(fp, peer, name, m);
  p->on = 1;
  fp->active[fp->nactive++] = peer;
  return nscclSuccess;
}

int nsccl_fp_takes(const nsccl_fp_t *fp, int peer, size_t len, int sending) {
  if (!fp || !fp->enabled || !fp->peers[peer].on) return 0;
  return len <= NSCCL_FP_EAGER_BYTES || nsccl_fp_rndv_ok(fp, peer, sending);
}

void nsccl_fp_enable(nsccl_fp_t *fp) {
  if (fp) {
    const char *env = getenv("NSCCL_SHM_FASTPATH");
    fp->enabled = !(env && !strcmp(env, "0"));
  }
}

int nsccl_fp_enabled(const nsccl_fp_t *fp) { return fp && fp->enabled; }

/* A whole message (an unexpected copy) into receive r, which completes. */
static void deliver(nsccl_fp_t *fp, const fp_req_t *r, const void *data, size_t len) {
  if (len > r->len) {
    fp_finish(r->x, nscclInvalidUsage, 0); /* truncation, as FI_ETRUNC */
    return;
  }
  nscclResult_t st = fp_put(r, 0, data, len);
  if (r->red.fn) fp->stats.reduced++;
  fp_finish(r->x, st, st == nscclSuccess ? len : 0);
}

/* The slot for the next fragment to peer, or NULL while the ring is full. The consumed count lives
 * in a line the receiver writes: reading it costs a cache-line transfer, so it is read only when
 * the ring looks full. */
static slot_hdr_t *free_slot(fp_peer_t *p) {
  if (p->head - p->consumed_seen >= SLOTS) {
    p->consumed_seen = __atomic_load_n(consumed_of(p->tx_ring), __ATOMIC_ACQUIRE);
    if (p->head - p->consumed_seen >= SLOTS) return NULL;
  }
  return slot_of(p->tx_ring, p->head);
}

/* Fill in s's header (its payload is in) and hand it to the receiver: seq goes last. */
static void publish(fp_peer_t *p, slot_hdr_t *s, uint64_t tag, uint64_t len, uint64_t total) {
  s->tag = tag;
  s->len = len;
  s->total = total;
  __atomic_store_n(&s->seq, p->head + 1, __ATOMIC_RELEASE);
  p->head++;
}

/* Write as many fragments of r as the ring has room for. Returns 1 when the whole message is in. */
static int try_write(fp_peer_t *p, fp_req_t *r) {
  do {
    slot_hdr_t *s = free_slot(p);
    if (!s) return 0;
    size_t n = r->len - r->done < SLOT_PAYLOAD ? r->len - r->done : SLOT_PAYLOAD;
    if (n) memcpy((unsigned char *)s + SLOT_HDR, (const unsigned char *)r->sbuf + r->done, n);
    publish(p, s, r->tag, n, r->len);
    r->done += n;
  } while (r->done < r->len);
  return 1;
}

int nsccl_fp_write_ctrl(fp_peer_t *p, uint64_t kind, uint64_t tag, uint64_t total, const uint64_t *w, int n) {
  slot_hdr_t *s = free_slot(p);
  if (!s) return 0;
  memcpy((unsigned char *)s + SLOT_HDR, w, (size_t)n * sizeof(uint64_t));
  publish(p, s, tag, kind | ((uint64_t)n * sizeof(uint64_t)), total);
  return 1;
}

nscclResult_t nsccl_fp_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag, int unawaited,
                             nsccl_xfer_t *x) {
  /* Large messages, and registered ones the receiver may load from its own mapping, by rendezvous. */
  if (len > NSCCL_FP_EAGER_BYTES ||
      (len > (unawaited ? fp->rndv_min : fp->eager_max) && nsccl_fp_rndv_ok(fp, peer, 1)) ||
      (fp->nregs && len >= fp->direct_min && nsccl_fp_find_reg(fp, buf, len) && nsccl_fp_rndv_ok(fp, peer, 1)))
    return nsccl_fp_rndv_isend(fp, peer, buf, len, tag, x);
  return nsccl_fp_eager_isend(fp, peer, buf, len, tag, x);
}

nscclResult_t nsccl_fp_eager_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag,
                                   nsccl_xfer_t *x) {
  fp_peer_t *p = &fp->peers[peer];
  /* One fragment and a free slot (the common case): no request record to fill. */
  slot_hdr_t *s = !p->sq_head && len <= SLOT_PAYLOAD ? free_slot(p) : NULL;
  if (s) {
    if (len) memcpy((unsigned char *)s + SLOT_HDR, buf, len);
    publish(p, s, tag, len, len);
    fp_finish(x, nscclSuccess, len);
    return nscclSuccess;
  }
  fp_req_t local = {NULL, NULL, buf, len, 0, tag, x, 0, 0, {0}, {0}};
  if (!p->sq_head && try_write(p, &local)) {
    fp_finish(x, nscclSuccess, len);
    return nscclSuccess;
  }
  fp_req_t *r = fp_req_get(fp);
  if (!r) NSCCL_FAIL(nscclSystemError, "transport: out of memory queueing a send to rank %d", peer);
  *r = local; /* keeps the bytes already written */
  r->next = NULL;
  if (p->sq_tail)
    p->sq_tail->next = r;
  else
    p->sq_head = r;
  p->sq_tail = r;
  return nscclSuccess;
}

/* Fragment p->tail of the ring from peer is consumed: move on, and tell the sender every SLOTS / 2
 * fragments. Publishing costs the sender a cache-line transfer, so it happens that rarely. That cannot
 * stall a sender for good: a sender waits only with SLOTS fragments unpublished, and the receiver
 * consumes every published fragment (unmatched ones become unexpected copies), so it gets past the
 * next multiple of SLOTS / 2 and publishes. */
static inline void consumed_one(fp_peer_t *p, unsigned char *ring) {
  p->tail++;
  if (p->tail - p->published >= SLOTS / 2) {
    p->published = p->tail;
    __atomic_store_n(consumed_of(ring), p->tail, __ATOMIC_RELEASE);
  }
}

/* If the next fragment from peer is a whole data message with this tag, deliver it now into buf
 * (len bytes of room; reduced with red when red->fn is set) and complete x. The receive needs no
 * request record: this is the common case of a small message that arrived first. */
static int take_head(nsccl_fp_t *fp, int peer, fp_peer_t *p, void *buf, size_t len, uint64_t tag,
                     const nsccl_recv_reduce_t *red, nsccl_xfer_t *x) {
  unsigned char *ring = ring_of(fp->seg, peer);
  const slot_hdr_t *s = slot_of(ring, p->tail);
  if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != p->tail + 1) return 0;
  if (s->tag != tag || (s->len & FP_CTRL_MASK) || s->len != s->total) return 0;
  const unsigned char *data = (const unsigned char *)s + SLOT_HDR;
  size_t n = s->len;
  nscclResult_t st = nscclInvalidUsage; /* truncation, as FI_ETRUNC */
  if (n <= len) {
    st = nscclSuccess;
    if (red && red->fn) {
      fp->stats.reduced++;
      if (n) st = red->fn(red->ctx, buf, red->src, data, n);
    } else if (n) {
      memcpy(buf, data, n);
    }
  }
  fp_finish(x, st, st == nscclSuccess ? n : 0);
  consumed_one(p, ring);
  return 1;
}

nscclResult_t nsccl_fp_irecv(nsccl_fp_t *fp, int peer, void *buf, size_t len, uint64_t tag,
                             const nsccl_recv_reduce_t *red, nsccl_xfer_t *x) {
  fp_peer_t *p = &fp->peers[peer];
  /* Nothing unexpected is queued from peer and its next message may be this one. */
  if (!p->uq_head && !p->rx_busy && take_head(fp, peer, p, buf, len, tag, red, x)) return nscclSuccess;
  fp_req_t local = {NULL, buf, NULL, len, 0, tag, x, 0, 0, {0}, {0}};
  if (red && red->fn) local.red = *red;
  for (fp_msg_t **pm = &p->uq_head, *prev = NULL; *pm; prev = *pm, pm = &(*pm)->next) {
    fp_msg_t *m = *pm;
    if (m->tag != tag) continue;
    *pm = m->next;
    if (p->uq_tail == m) p->uq_tail = prev;
    if (m->rndv) {
      nsccl_fp_rndv_pull_unexpected(fp, peer, m, &local);
      fp_msg_put(fp, m);
      return nscclSuccess;
    }
    deliver(fp, &local, m->data, m->len);
    fp_msg_put(fp, m);
    return nscclSuccess;
  }
  /* The message may be next in the peer's ring already (the peer was a little ahead): take it
   * from its slot now, copied or reduced where it lies, with no receive record and no poll. */
  if (!p->rx_busy && take_head(fp, peer, p, buf, len, tag, red, x)) return nscclSuccess;
  fp_req_t *r = fp_req_get(fp);
  if (!r) NSCCL_FAIL(nscclSystemError, "transport: out of memory posting a receive from rank %d", peer);
  *r = local;
  if (p->rq_tail)
    p->rq_tail->next = r;
  else
    p->rq_head = r;
  p->rq_tail = r;
  return nscclSuccess;
}

fp_req_t *nsccl_fp_take_posted(fp_peer_t *p, uint64_t tag) {
  for (fp_req_t **pr = &p->rq_head, *prev = NULL; *pr; prev = *pr, pr = &(*pr)->next) {
    fp_req_t *r = *pr;
    if (r->tag != tag) continue;
    *pr = r->next;
    if (p->rq_tail == r) p->rq_tail = prev;
    r->next = NULL;
    return r;
  }
  return NULL;
}

/* One arrived fragment. The first fragment of a message picks its destination: the first posted
 * receive with its tag, else an unexpected copy. Returns completions, or -1 when out of memory (the
 * slot is left for a later try). */
static int arrive(nsccl_fp_t *fp, int peer, fp_peer_t *p, const slot_hdr_t *s) {
  /* Control fragments stand alone (a FIN may come between two fragments of a message). */
  if (s->len & FP_CTRL_MASK) return nsccl_fp_rndv_arrive(fp, peer, s);
  const unsigned char *data = (const unsigned char *)s + SLOT_HDR;
  if (!p->rx_busy) {
    p->rx_req = nsccl_fp_take_posted(p, s->tag);
    p->rx_msg = NULL;
    p->rx_dst = NULL;
    if (p->rx_req) {
      if (s->total <= p->rx_req->len) p->rx_dst = p->rx_req->buf; /* else truncated: discard */
    } else {
      fp_msg_t *m = fp_msg_get(fp, s->total);
      if (!m) return -1;
      m->tag = s->tag;
      p->rx_msg = m;
      p->rx_dst = m->data;
    }
    p->rx_off = 0;
    p->rx_total = s->total;
    p->rx_busy = 1;
    p->rx_status = nscclSuccess;
  }
  if (p->rx_dst && s->len) {
    if (p->rx_req) { /* straight from the slot: copied, or reduced with the receive's source */
      nscclResult_t st = fp_put(p->rx_req, p->rx_off, data, s->len);
      if (st != nscclSuccess && p->rx_status == nscclSuccess) p->rx_status = st;
    } else {
      memcpy(p->rx_dst + p->rx_off, data, s->len);
    }
  }
  p->rx_off += s->len;
  if (p->rx_off < p->rx_total) return 0;
  p->rx_busy = 0;
  if (p->rx_req) {
    nscclResult_t st = !p->rx_dst ? nscclInvalidUsage : p->rx_status;
    if (p->rx_dst && p->rx_req->red.fn) fp->stats.reduced++;
    fp_finish(p->rx_req->x, st, st == nscclSuccess ? p->rx_total : 0);
    fp_req_put(fp, p->rx_req);
    p->rx_req = NULL;
    return 1;
  }
  fp_msg_t *m = p->rx_msg;
  p->rx_msg = NULL;
  /* A receive may have been posted while the message was arriving. */
  fp_req_t *r = nsccl_fp_take_posted(p, m->tag);
  if (r) {
    deliver(fp, r, m->data, m->len);
    fp_req_put(fp, r);
    fp_msg_put(fp, m);
    return 1;
  }
  if (p->uq_tail)
    p->uq_tail->next = m;
  else
    p->uq_head = m;
  p->uq_tail = m;
  return 0;
}

int nsccl_fp_progress(nsccl_fp_t *fp) {
  if (!fp || !fp->enabled) return 0;
  int n = 0;
  for (int i = 0; i < fp->nactive; i++) {
    int peer = fp->active[i];
    fp_peer_t *p = &fp->peers[peer];
    unsigned char *ring = ring_of(fp->seg, peer);
    int got = 0;
    while (got < POLL_BATCH) {
      slot_hdr_t *s = slot_of(ring, p->tail);
      if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != p->tail + 1) break;
      int pulled = (s->len & FP_CTRL_RTS) != 0;
      int a = arrive(fp, peer, p, s);
      if (a < 0) break;
      n += a;
      got++;
      /* A rendezvous receive just completed: hand it to the caller while its bytes are in cache
       * (the engine reduces a staged chunk right away) rather than pulling more first. */
      if (pulled) got = POLL_BATCH;
      consumed_one(p, ring);
    }
    if (p->fin_n) n += nsccl_fp_rndv_flush_fins(p);
    while (p->sq_head && (p->sq_head->rndv ? nsccl_fp_rndv_post(p, p->sq_head) : try_write(p, p->sq_head))) {
      fp_req_t *r = p->sq_head;
      p->sq_head = r->next;
      if (!p->sq_head) p->sq_tail = NULL;
      if (r->rndv) { /* complete when the receiver's FIN comes back */
        r->next = p->wq_head;
        p->wq_head = r;
        continue;
      }
      fp_finish(r->x, nscclSuccess, r->len);
      fp_req_put(fp, r);
      n++;
    }
  }
  return n;
}

void nsccl_fp_cancel_all(nsccl_fp_t *fp, nscclResult_t status) {
  if (!fp) return;
  for (int i = 0; i < fp->nactive; i++) {
    fp_peer_t *p = &fp->peers[fp->active[i]];
    for (int q = 0; q < 2; q++) {
      fp_req_t *r = q ? p->rq_head : p->sq_head;
      while (r) {
        fp_req_t *next = r->next;
        fp_finish(r->x, status, 0);
        fp_req_put(fp, r);
        r = next;
      }
    }
    p->sq_head = p->sq_tail = p->rq_head = p->rq_tail = NULL;
    nsccl_fp_rndv_cancel(fp, p, status);
    if (p->rx_busy && p->rx_req) {
      fp_finish(p->rx_req->x, status, 0);
      fp_req_put(fp, p->rx_req);
      p->rx_req = NULL;
      p->rx_dst = NULL; /* later fragments of it are discarded */
    }
  }
}

void nsccl_fp_close(nsccl_fp_t *fp) {
  if (!fp) return;
  NSCCL_INFO(NSCCL_SUBSYS_NET,
             "transport: fast path closed; rendezvous messages read directly %llu, by CMA %llu, pulled through the "
             "ring %llu; receives reduced in the transport %llu",
             (unsigned long long)fp->stats.direct_reads, (unsigned long long)fp->stats.cma_reads,
             (unsigned long long)fp->stats.pulled, (unsigned long long)fp->stats.reduced);
  nsccl_fp_cancel_all(fp, nscclInvalidUsage);
  for (int i = 0; i < fp->nregs; i++)
    if (fp->regs[i].mapped) nsccl_shmem_release(fp->regs[i].where.gen);
  free(fp->regs);
  free(fp->bounce);
  for (int r = 0; r < fp->nranks; r++) {
    fp_peer_t *p = &fp->peers[r];
    nsccl_fp_unmap_peer(p);
    if (p->tx_map) munmap(p->tx_map, p->tx_len);
    free(p->rx_msg);
    free(p->fin_q);
    for (fp_msg_t *m = p->uq_head; m;) {
      fp_msg_t *next = m->next;
      free(m);
      m = next;
    }
  }
  while (fp->free_reqs) {
    fp_req_t *r = fp->free_reqs;
    fp->free_reqs = r->next;
    free(r);
  }
  while (fp->free_msgs) {
    fp_msg_t *m = fp->free_msgs;
    fp->free_msgs = m->next;
    free(m);
  }
  munmap(fp->seg, fp->seg_len);
  shm_unlink(fp->name);
  free(fp->peers);
  free(fp->active);
  free(fp);
}

nscclResult_t nsccl_fp_register(nsccl_fp_t *fp, const void *buf, size_t len, uint64_t *id) {
  if (fp->nregs == fp->cap_regs) {
    int cap = fp->cap_regs ? 2 * fp->cap_regs : 8;
    fp_reg_t *n = realloc(fp->regs, (size_t)cap * sizeof(*n));
    if (!n) NSCCL_FAIL(nscclSystemError, "nscclCommRegister: out of memory");
    fp->regs = n;
    fp->cap_regs = cap;
  }
  fp_reg_t *g = &fp->regs[fp->nregs++];
  memset(g, 0, sizeof(*g));
  g->id = ++fp->next_reg;
  g->base = buf;
  g->len = len;
  /* Only nscclMemAlloc memory can be mapped by peers; other registered buffers are recorded and
   * move as unregistered ones do. */
  g->mapped = nsccl_shmem_hold(buf, len, &g->where);
  *id = g->id;
  return nscclSuccess;
}

void nsccl_fp_deregister(nsccl_fp_t *fp, uint64_t id) {
  for (int i = 0; i < fp->nregs; i++) {
    if (fp->regs[i].id != id) continue;
    if (fp->regs[i].mapped) nsccl_shmem_release(fp->regs[i].where.gen);
    fp->regs[i] = fp->regs[--fp->nregs];
    return;
  }
}

const fp_reg_t *nsccl_fp_find_reg(const nsccl_fp_t *fp, const void *buf, size_t len) {
  const unsigned char *b = buf;
  for (int i = 0; i < fp->nregs; i++) {
    const fp_reg_t *g = &fp->regs[i];
    if (g->mapped && b >= g->base && b < g->base + g->len && len <= (size_t)(g->base + g->len - b)) return g;
  }
  return NULL;
}

void nsccl_fp_stats(const nsccl_fp_t *fp, nsccl_fp_stats_t *out) {
  if (fp)
    *out = fp->stats;
  else
    memset(out, 0, sizeof(*out));
}
