/* Internals of the same-host fast path shared by fastpath.c (rings, eager messages) and
 * fastpath_rndv.c (single-copy rendezvous for larger messages). See docs/transport.md, "Fast path".
 * Internal to src/transport. */
#ifndef NSCCL_TRANSPORT_FASTPATH_INTERNAL_H
#define NSCCL_TRANSPORT_FASTPATH_INTERNAL_H

#include <stdlib.h>
#include <string.h>

#include "transport/fastpath.h"
#include "transport/shmem.h"

#define SLOTS        32
#define SLOT_BYTES   8192
#define SLOT_HDR     32 /* = sizeof(slot_hdr_t): up to 32 payload bytes share the header's cache line */
#define SLOT_PAYLOAD (SLOT_BYTES - SLOT_HDR)
#define CTRL_BYTES   4096
#define HDR_BYTES    4096
#define RING_BYTES   ((size_t)CTRL_BYTES + (size_t)SLOTS * SLOT_BYTES)
#define MAX_RANKS    512
#define SEG_MAGIC    0x6e7363636c667031ull /* "nscclfp1" */
#define POLL_BATCH   32

_Static_assert(NSCCL_FP_EAGER_BYTES <= (SLOTS / 2) * SLOT_PAYLOAD, "an eager message takes at most half a ring");
_Static_assert(NSCCL_FP_EAGER_BYTES == NSCCL_TRANSPORT_FP_EAGER, "one eager limit");

typedef struct {
  uint64_t seq; /* k + 1 once fragment k is in the slot; written last */
  uint64_t tag;
  uint64_t len;   /* bytes of this fragment */
  uint64_t total; /* bytes of the whole message (its fragments follow each other in the ring) */
} slot_hdr_t;
_Static_assert(sizeof(slot_hdr_t) <= SLOT_HDR, "the slot header fits its room");

/* A fragment whose len carries one of these bits is a control message of the single-copy
 * rendezvous (fastpath_rndv.c), not data: RTS {address, id} asks the receiver to read a message of
 * `total` bytes from the sender's memory; FIN {id} tells the sender it has been read. */
#define FP_CTRL_RTS ((uint64_t)1 << 63)
#define FP_CTRL_FIN ((uint64_t)1 << 62)
/* RTS of a message in a registered buffer the receiver can map (nscclMemAlloc memory): payload
 * {address, id, allocation gen, fd, offset}; the receiver loads it from its own mapping. */
#define FP_CTRL_RTSM (FP_CTRL_RTS | ((uint64_t)1 << 61))
/* PULL {id}: the receiver of RTS id asks the sender to push the message through the ring instead
 * (a receive that reduces: it reduces straight from the slots, where a read by process_vm_readv
 * would have to go through a bounce buffer); the sender then writes it as eager fragments. */
#define FP_CTRL_PULL ((uint64_t)1 << 60)
#define FP_CTRL_MASK (FP_CTRL_RTSM | FP_CTRL_FIN | FP_CTRL_PULL)
#define FP_CTRL_LEN  (~FP_CTRL_MASK)

/* Segment header words, and the words of a ring's control page (written by the segment's owner). */
#define HDR_MAGIC       0  /* u64 SEG_MAGIC */
#define HDR_NRANKS      8  /* i32 */
#define HDR_SEG_ADDR    16 /* u64: where the owner mapped its segment (the rendezvous' reachability probe) */
#define CTRL_READ_OK    64 /* u32: can the owner read the sender's memory (FP_READ_*) */
#define FP_READ_UNKNOWN 0
#define FP_READ_YES     1
#define FP_READ_NO      2

/* A FIN owed to a sender whose ring had no free slot, and the receive it completes once written:
 * the receive stays pending until then, so its rank keeps polling (a rank whose collective is done
 * polls no more, and the sender would wait for the FIN forever). */
typedef struct {
  uint64_t id;
  nsccl_xfer_t *x; /* NULL for an owed PULL (its receive completes when the data comes) */
  nscclResult_t status;
  size_t bytes;
} fp_fin_t;

typedef struct fp_req {
  struct fp_req *next;
  void *buf;
  const void *sbuf;
  size_t len;
  size_t done; /* sends: bytes already written to the ring */
  uint64_t tag;
  nsccl_xfer_t *x;
  int rndv;    /* sends: by rendezvous (an RTS, then wait for FIN) */
  uint64_t id; /* rendezvous sends: the id the FIN names */
  /* Receives that reduce (nsccl_transport_irecv_reduce): buf = rsrc (+) message, written once. */
  nsccl_recv_reduce_t red;
  /* Rendezvous sends from a mappable registered buffer: where it lies (gen 0: not mappable). */
  nsccl_shmem_where_t where;
} fp_req_t;

typedef struct fp_msg {
  struct fp_msg *next;
  uint64_t tag;
  size_t len;
  size_t cap;                /* bytes of data[] allocated (FP_MSG_SMALL for pooled copies) */
  int rndv;                  /* an unexpected RTS: nothing copied yet, the data is still at the sender */
  uint64_t addr, id;         /* rndv: where it is, and the id to send back */
  nsccl_shmem_where_t where; /* an RTS of mappable memory (gen != 0): where it lies at the sender */
  unsigned char data[];
} fp_msg_t;

/* A peer's nscclMemAlloc allocation mapped here (read-only), by its gen. */
#define FP_MAPS 16
typedef struct {
  uint64_t gen;
  const unsigned char *base;
  size_t len;
  uint64_t used; /* for least-recently-used eviction */
} fp_map_t;

/* A buffer registered with the communicator (nsccl_transport_register). */
typedef struct {
  uint64_t id;
  const unsigned char *base;
  size_t len;
  int mapped; /* inside an nscclMemAlloc allocation (where is valid, and holds a reference) */
  nsccl_shmem_where_t where;
} fp_reg_t;

typedef struct {
  int on;
  unsigned char *tx_ring; /* my ring in the peer's segment */
  void *tx_map;
  size_t tx_len;
  uint64_t head;               /* fragments I wrote to the peer */
  uint64_t consumed_seen;      /* the peer's consumed count as last read: re-read only when the ring looks full */
  uint64_t tail;               /* fragments I consumed from the peer */
  uint64_t published;          /* tail as last published to the peer (every SLOTS / 2) */
  fp_req_t *sq_head, *sq_tail; /* sends waiting for a free slot */
  fp_req_t *rq_head, *rq_tail; /* posted receives, in post order */
  fp_msg_t *uq_head, *uq_tail; /* unexpected messages, in arrival order */
  /* The message being received from this peer, between its first and last fragment: */
  int rx_busy;
  fp_req_t *rx_req;      /* the posted receive it matched, or NULL */
  fp_msg_t *rx_msg;      /* else the unexpected copy being filled */
  unsigned char *rx_dst; /* NULL: discarding (truncated or canceled) */
  size_t rx_off, rx_total;
  /* Single-copy rendezvous (fastpath_rndv.c): */
  int pid;           /* the peer's process, from its segment name */
  int can_read;      /* FP_READ_*: can I read the peer's memory (process_vm_readv)? */
  fp_req_t *wq_head; /* my rendezvous sends to the peer, waiting for their FIN */
  uint64_t next_id;  /* id of my next rendezvous send to the peer */
  fp_fin_t *fin_q;   /* FINs owed to the peer that found my ring to it full */
  int fin_n, fin_cap;
  fp_map_t maps[FP_MAPS]; /* the peer's registered allocations I mapped */
  uint64_t map_clock;
  nscclResult_t rx_status; /* of the message being received (a reduction may fail) */
} fp_peer_t;

/* What nsccl_fp_measure_eager_max timed (for the log and tests). */
#define NSCCL_FP_CALIB_SIZES 6
typedef struct {
  int n, overridden;
  size_t bytes[NSCCL_FP_CALIB_SIZES];
  int64_t copy_ns[NSCCL_FP_CALIB_SIZES], cma_ns[NSCCL_FP_CALIB_SIZES];
} nsccl_fp_calib_t;
/* fastpath_calib.c: the eager limit for this host (NSCCL_SHM_EAGER_MAX, else measured). */
size_t nsccl_fp_measure_eager_max(nsccl_fp_calib_t *out);

struct nsccl_fp {
  int rank, nranks, enabled;
  size_t eager_max; /* unregistered sends above this go by rendezvous when the receiver can read us */
  size_t rndv_min;  /* the same for unawaited sends (nsccl_transport_isend_unawaited) */
  int cma;          /* messages above the eager limit may use the single-copy rendezvous (NSCCL_SHM_CMA) */
  char name[NSCCL_FP_BLOB_BYTES];
  unsigned char *seg;
  size_t seg_len;
  fp_peer_t *peers;
  int *active, nactive;
  fp_req_t *free_reqs;
  fp_msg_t *free_msgs; /* unexpected-copy records of FP_MSG_SMALL bytes, for reuse */
  int nfree_msgs;
  fp_reg_t *regs; /* registered buffers (few: a linear scan finds them) */
  int nregs, cap_regs;
  uint64_t next_reg;
  size_t direct_min;     /* registered sends of at least this many bytes go by RTSM (NSCCL_SHM_DIRECT_MIN) */
  size_t pull_max;       /* a receive that reduces answers an RTS of at most this many bytes with PULL */
  int pull_forced;       /* NSCCL_SHM_PULL set: pull_max is not measured */
  unsigned char *bounce; /* FP_BOUNCE bytes: a reducing CMA receive reads through it */
  nsccl_fp_stats_t stats;
};

#define FP_BOUNCE ((size_t)256 << 10)

/* Write n bytes of a message at offset off into receive r: a copy, or r's reduction. */
static inline nscclResult_t fp_put(const fp_req_t *r, size_t off, const void *data, size_t n) {
  if (!n) return nscclSuccess;
  if (r->red.fn)
    return r->red.fn(r->red.ctx, (unsigned char *)r->buf + off, (const unsigned char *)r->red.src + off, data, n);
  memcpy((unsigned char *)r->buf + off, data, n);
  return nscclSuccess;
}

/* Small messages often arrive before their receive is posted (a peer a little ahead): their
 * unexpected copies come from a free list instead of malloc/free per message. */
#define FP_MSG_SMALL    1024
#define FP_MSG_POOL_MAX 64

static inline fp_msg_t *fp_msg_get(nsccl_fp_t *fp, size_t len) {
  fp_msg_t *m;
  if (len <= FP_MSG_SMALL && fp->free_msgs) {
    m = fp->free_msgs;
    fp->free_msgs = m->next;
    fp->nfree_msgs--;
  } else {
    size_t cap = len <= FP_MSG_SMALL ? FP_MSG_SMALL : len;
    m = malloc(sizeof(*m) + cap);
    if (!m) return NULL;
    m->cap = cap;
  }
  m->next = NULL;
  m->len = len;
  m->rndv = 0;
  return m;
}

static inline void fp_msg_put(nsccl_fp_t *fp, fp_msg_t *m) {
  if (m->cap != FP_MSG_SMALL || fp->nfree_msgs >= FP_MSG_POOL_MAX) {
    free(m);
    return;
  }
  m->next = fp->free_msgs;
  fp->free_msgs = m;
  fp->nfree_msgs++;
}

static inline size_t seg_bytes(int nranks) { return HDR_BYTES + (size_t)nranks * RING_BYTES; }
static inline unsigned char *ring_of(unsigned char *seg, int sender) {
  return seg + HDR_BYTES + (size_t)sender * RING_BYTES;
}
static inline uint64_t *consumed_of(unsigned char *ring) { return (uint64_t *)ring; }
static inline slot_hdr_t *slot_of(unsigned char *ring, uint64_t k) {
  return (slot_hdr_t *)(ring + CTRL_BYTES + (size_t)(k % SLOTS) * SLOT_BYTES);
}

static inline uint32_t *read_ok_of(unsigned char *ring) { return (uint32_t *)(ring + CTRL_READ_OK); }

static inline void fp_finish(nsccl_xfer_t *x, nscclResult_t st, size_t bytes) {
  x->status = st;
  x->bytes = bytes;
  x->pending = 0;
  x->done = 1;
}

static inline fp_req_t *fp_req_get(nsccl_fp_t *fp) {
  fp_req_t *r = fp->free_reqs;
  if (r)
    fp->free_reqs = r->next;
  else
    r = malloc(sizeof(*r));
  if (r) r->next = NULL;
  return r;
}

static inline void fp_req_put(nsccl_fp_t *fp, fp_req_t *r) {
  r->next = fp->free_reqs;
  fp->free_reqs = r;
}

/* fastpath.c: write one control fragment (len = kind | 8 n, payload w[0 .. n)) to the peer if its
 * ring has a free slot; 1 if written. */
int nsccl_fp_write_ctrl(fp_peer_t *p, uint64_t kind, uint64_t tag, uint64_t total, const uint64_t *w, int n);
/* fastpath.c: a message through the rings whatever its size (at most NSCCL_FP_EAGER_BYTES). */
nscclResult_t nsccl_fp_eager_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag,
                                   nsccl_xfer_t *x);
/* fastpath.c: the first posted receive from p with this tag, unlinked; NULL if none. */
fp_req_t *nsccl_fp_take_posted(fp_peer_t *p, uint64_t tag);

/* fastpath_rndv.c */
/* At connect: can this rank read peer's memory? Published in this rank's segment for the peer. */
void nsccl_fp_rndv_probe(nsccl_fp_t *fp, int peer, const char *peer_name, const unsigned char *peer_seg);
/* Does a message of more than the eager limit to (sending) or from peer take the rendezvous? */
int nsccl_fp_rndv_ok(const nsccl_fp_t *fp, int peer, int sending);
nscclResult_t nsccl_fp_rndv_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag, nsccl_xfer_t *x);
/* Send queue step for a rendezvous send: write its RTS; 1 if written (it then waits for FIN). */
int nsccl_fp_rndv_post(fp_peer_t *p, fp_req_t *r);
/* A control fragment arrived from peer; returns completions, -1 when out of memory (retry). */
int nsccl_fp_rndv_arrive(nsccl_fp_t *fp, int peer, const slot_hdr_t *s);
/* irecv found an unexpected RTS m: read the message into receive r now (r is the caller's). */
void nsccl_fp_rndv_pull_unexpected(nsccl_fp_t *fp, int peer, fp_msg_t *m, fp_req_t *r);
/* The registered, mappable buffer holding [buf, buf + len), or NULL. */
const fp_reg_t *nsccl_fp_find_reg(const nsccl_fp_t *fp, const void *buf, size_t len);
/* Drop every mapping of peer's allocations (at close). */
void nsccl_fp_unmap_peer(fp_peer_t *p);
/* Write FINs owed to peer while its ring has room; returns the receives that completed. */
int nsccl_fp_rndv_flush_fins(fp_peer_t *p);
/* Finish the rendezvous sends waiting for FINs with status; drop owed FINs. */
void nsccl_fp_rndv_cancel(nsccl_fp_t *fp, fp_peer_t *p, nscclResult_t status);

#endif
