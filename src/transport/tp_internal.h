/* Transport internals shared by the files of src/transport/ (not for other subsystems).
 *
 * provider.c  picks providers (fi_getinfo) and opens/closes one provider's fabric objects
 * mr_cache.c  memory registration cache for providers whose mr_mode asks for local registration
 * xfer.c      tagged send/recv, fragmentation, deferred posts, progress, cancel
 * transport.c open/connect/close of the whole transport, the address blob */
#ifndef NSCCL_TRANSPORT_TP_INTERNAL_H
#define NSCCL_TRANSPORT_TP_INTERNAL_H

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include "transport/fastpath.h"
#include "transport/transport.h"

/* The libfabric API version we are written against. */
#define NSCCL_FI_VERSION FI_VERSION(1, 9)

/* A rank opens at most two endpoints: shm (same host) and one network provider. */
#define NSCCL_TP_MAX_PROVS 2
#define NSCCL_TP_NAME_LEN  64
#define NSCCL_TP_ADDR_LEN  256

/* Tags (docs/transport.md): with FI_DIRECTED_RECV the caller's tag goes to the provider unchanged;
 * without it, the sender's rank is folded into the top rank_bits bits. Fragments of a message share
 * its tag and match in order thanks to FI_ORDER_SAS. */
#define NSCCL_TP_MAX_RANKS (1L << 24)

/* One cached registration: a page-aligned range registered with one domain. */
typedef struct nsccl_mr_entry {
  uintptr_t base;
  size_t len;
  struct fid_mr *mr;
  void *desc;
  int inflight;      /* fragments posted with this registration: not evictable while > 0 */
  uint64_t last_use; /* cache clock at last lookup, for LRU eviction */
} nsccl_mr_entry_t;

typedef struct {
  struct fid_domain *domain;
  struct fid_ep *ep; /* for FI_MR_ENDPOINT: registrations are bound to the endpoint */
  uint64_t mr_mode;
  nsccl_mr_entry_t **entries;
  int n, cap;
  uint64_t clock, next_key;
  uint64_t registrations, hits, evictions;
} nsccl_mr_cache_t;

typedef struct nsccl_frag nsccl_frag_t;

/* One provider's objects. */
typedef struct {
  char name[NSCCL_TP_NAME_LEN];      /* core provider name ("shm", "tcp"): what ranks agree on */
  char full_name[NSCCL_TP_NAME_LEN]; /* as libfabric reports it ("tcp;ofi_rxm") */
  struct fi_info *info;
  struct fid_fabric *fabric;
  struct fid_domain *domain;
  struct fid_ep *ep;
  struct fid_av *av;
  struct fid_cq *cq;
  size_t max_msg; /* fragment size: min(provider max_msg_size, override) */
  int directed;   /* FI_DIRECTED_RECV granted: receives name their source address */
  int ordered;    /* FI_ORDER_SAS granted: fragments of one message may share its tag */
  int need_mr;    /* local buffers must be registered (FI_MR_LOCAL) or forced by the test hook */
  unsigned char addr[NSCCL_TP_ADDR_LEN];
  size_t addrlen;
  nsccl_mr_cache_t mrc;
  /* Posts the provider refused for lack of resources, retried in order: one FIFO for sends, one for
   * receives, so that receives waiting for queue space never hold back the sends that would let
   * the peer make progress (and the reverse). */
  nsccl_frag_t *dq_head[2], *dq_tail[2];
} nsccl_tp_prov_t;

enum { NSCCL_FRAG_SEND = 0, NSCCL_FRAG_RECV = 1 };
enum { NSCCL_FRAG_FREE = 0, NSCCL_FRAG_DEFERRED, NSCCL_FRAG_POSTED, NSCCL_FRAG_ORPHAN };

/* One posted fragment. The context comes first: with FI_CONTEXT/FI_CONTEXT2 mode the provider uses
 * the memory op_context points to, and completions hand it back to us. */
struct nsccl_frag {
  struct fi_context2 ctx;
  nsccl_xfer_t *x; /* NULL once orphaned by cancel_all: the completion is then only reclaimed */
  nsccl_frag_t *prev, *next;
  nsccl_mr_entry_t *mr;
  void *buf;
  size_t len;
  uint64_t tag;
  int kind, peer, prov, state;
};

struct nsccl_transport {
  int rank, nranks, timeout_ms;
  int rank_bits; /* bits that hold a rank in [0, nranks): folded into tags without directed receive */
  int nprovs;
  nsccl_tp_prov_t provs[NSCCL_TP_MAX_PROVS];
  int *prov_of_peer;    /* index into provs for every rank */
  fi_addr_t *peer_addr; /* fi_addr of every rank in the AV of its provider */
  int connected;
  size_t max_msg_override; /* 0: provider limit */
  nsccl_frag_t *posted;    /* in flight at the provider (doubly linked) */
  nsccl_frag_t *orphans;   /* canceled but never completed: kept until close */
  nsccl_frag_t *free_frags;
  void **chunks; /* frag allocations, freed at close */
  int nchunks, chunks_cap;
  nscclResult_t cancel_status;
  nscclResult_t deferred_error; /* error seen while progressing inside isend/irecv: reported next */
  nsccl_transport_stats_t stats;
  nscclResult_t (*watch)(void *ctx, int record); /* liveness check run by every progress call, or NULL */
  void *watch_ctx;
  nsccl_fp_t *fp; /* same-host fast path for small messages, NULL when off (fastpath.c) */
};

/* provider.c */
nscclResult_t nsccl_tp_select(const char *want, const char *origin, const char *ifname, struct fi_info **out);
/* Takes ownership of info. npeers sizes the address vector. */
nscclResult_t nsccl_tp_prov_open(nsccl_tp_prov_t *p, struct fi_info *info, int npeers, int force_mr);
void nsccl_tp_prov_close(nsccl_tp_prov_t *p);
const char *nsccl_tp_core_name(const char *prov_name, char *buf, size_t len);

/* mr_cache.c */
nscclResult_t nsccl_mr_cache_get(nsccl_mr_cache_t *c, const void *buf, size_t len, nsccl_mr_entry_t **out);
void nsccl_mr_cache_put(nsccl_mr_entry_t *e);
void nsccl_mr_cache_destroy(nsccl_mr_cache_t *c);

/* xfer.c */
void nsccl_tp_xfer_release(nsccl_transport_t *t);

#endif
