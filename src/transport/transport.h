/* The transport: libfabric RDM endpoints with tagged messages between the ranks of a communicator.
 *
 * A rank opens one endpoint per provider it needs: "shm" for peers on its own host, the network
 * provider (efa > verbs > tcp, or the one forced by NSCCL_PROVIDER / FI_PROVIDER) for the others.
 * Setup is two-phase so the caller can exchange addresses out of band (the bootstrap):
 *   open -> local_address -> (allgather addresses) -> connect -> isend/irecv/test ... -> close.
 * Messages larger than the provider's limit are split internally; memory is registered where the
 * provider asks for it, through a registration cache. Nothing here knows about collectives. */
#ifndef NSCCL_TRANSPORT_TRANSPORT_H
#define NSCCL_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "nsccl.h"

typedef struct nsccl_transport nsccl_transport_t;

typedef struct {
  int rank, nranks;
  const int *host_of_rank; /* host index of every rank (ranks with equal index share a host) */
  const char *provider;    /* force this provider for every peer (NULL: shm same-host, network otherwise) */
  int timeout_ms;          /* deadline for blocking operations (connect, close) */
} nsccl_transport_config_t;

/* Fixed size of one rank's address blob exchanged by the bootstrap (all providers' names). */
#define NSCCL_TRANSPORT_ADDR_BYTES 512

nscclResult_t nsccl_transport_open(const nsccl_transport_config_t *cfg, nsccl_transport_t **out);
/* Writes this rank's address blob (NSCCL_TRANSPORT_ADDR_BYTES bytes). */
nscclResult_t nsccl_transport_local_address(nsccl_transport_t *t, void *blob);
/* blobs: nranks * NSCCL_TRANSPORT_ADDR_BYTES, rank r's blob at r * NSCCL_TRANSPORT_ADDR_BYTES. */
nscclResult_t nsccl_transport_connect(nsccl_transport_t *t, const void *blobs);
/* The provider name used to reach `peer` (for logs), e.g. "shm" or "tcp". */
const char *nsccl_transport_provider_of(const nsccl_transport_t *t, int peer);
void nsccl_transport_close(nsccl_transport_t *t);

/* A posted operation. The caller owns the storage until nsccl_transport_test reports it done. */
typedef struct nsccl_xfer {
  int done;             /* set to 1 when complete */
  nscclResult_t status; /* result once done */
  size_t bytes;         /* bytes moved */
  /* transport private: fragments not yet completed; next is unused by the transport */
  int pending;
  struct nsccl_xfer *next;
} nsccl_xfer_t;

/* Post a tagged send/receive of len bytes to/from peer. Tags match exactly, per peer. Returns at
 * once; completion is observed with nsccl_transport_progress. */
nscclResult_t nsccl_transport_isend(nsccl_transport_t *t, int peer, const void *buf, size_t len, uint64_t tag,
                                    nsccl_xfer_t *x);
nscclResult_t nsccl_transport_irecv(nsccl_transport_t *t, int peer, void *buf, size_t len, uint64_t tag,
                                    nsccl_xfer_t *x);
/* A send whose completion nothing waits for but the end of the caller's operation (the fabric
 * engine knows it from the program: no step depends on it). On the same-host fast path such a
 * message goes by single-copy rendezvous from a lower size, measured at init between the ranks
 * (docs/transport.md, "Protocol thresholds"): a rendezvous send completes only once the receiver
 * has read it, which would hold back the steps waiting for an awaited one. Otherwise as isend. */
nscclResult_t nsccl_transport_isend_unawaited(nsccl_transport_t *t, int peer, const void *buf, size_t len, uint64_t tag,
                                              nsccl_xfer_t *x);

/* A receive that reduces: dst = src (+) message, with fn(ctx, dst, src, incoming, bytes) applied to
 * consecutive pieces of the message where they lie (a peer's shared-memory slot, its mapped
 * registered buffer, a bounce buffer), so the message is never copied into dst first. dst may be
 * src itself; otherwise they must not overlap. fn's pieces are whole multiples of 8 bytes except
 * the last. Only where nsccl_transport_reduces says so (the same-host fast path). */
typedef nscclResult_t (*nsccl_reduce_fn_t)(void *ctx, void *dst, const void *a, const void *b, size_t bytes);
typedef struct {
  nsccl_reduce_fn_t fn; /* NULL: a plain receive */
  void *ctx;
  const void *src;
} nsccl_recv_reduce_t;
int nsccl_transport_reduces(const nsccl_transport_t *t, int peer, size_t len);
nscclResult_t nsccl_transport_irecv_reduce(nsccl_transport_t *t, int peer, void *dst, size_t len, uint64_t tag,
                                           const nsccl_recv_reduce_t *red, nsccl_xfer_t *x);

/* Registered buffers (nscclCommRegister): a send from inside one that lies in nscclMemAlloc memory
 * is read by a same-host receiver straight from its own mapping of that memory (docs/transport.md,
 * "Registered buffers"). *id names the registration for deregister; 0 when nothing was recorded
 * (no same-host fast path). After deregister the buffer is never named to a peer again. */
nscclResult_t nsccl_transport_register(nsccl_transport_t *t, const void *buf, size_t len, uint64_t *id);
void nsccl_transport_deregister(nsccl_transport_t *t, uint64_t id);
/* Poll completion queues once, marking finished transfers done. Returns the number of completions
 * seen (>= 0) or a negative nscclResult_t on a transport error (e.g. a peer went away). Never
 * blocks; callers that find nothing to do should yield (sched_yield) before polling again. */
int nsccl_transport_progress(nsccl_transport_t *t);
/* 1 when a progress call now only reads shared memory (the same-host fast path, nothing posted to
 * libfabric): a poll then costs nanoseconds, not a system call, which the engine's idle policy
 * weighs against a sched_yield. */
int nsccl_transport_polls_memory_only(const nsccl_transport_t *t);
/* A liveness check progress calls first, every time: a non-success result fails the call, so that
 * transfers with a peer known to be gone stop at once instead of waiting for the provider or the
 * timeout. check(ctx, record) must be cheap and thread-safe (bootstrap/liveness.h) and records its
 * error message only when `record` is set. NULL removes it. */
void nsccl_transport_set_watch(nsccl_transport_t *t, nscclResult_t (*check)(void *ctx, int record), void *ctx);
/* After a transfer failed: is a peer known to be gone? Waits up to wait_ms for the watch to say so
 * (a dead process closes all its connections at once, but the provider may see one of them before
 * the watch does). Returns the watch's error, with its message naming the peer and its host,
 * recorded; nscclSuccess if no peer is known gone (or there is no watch). */
nscclResult_t nsccl_transport_peer_gone(nsccl_transport_t *t, int wait_ms);
/* Cancel every posted operation (used by abort and timeouts); they complete with `status`. */
void nsccl_transport_cancel_all(nsccl_transport_t *t, nscclResult_t status);

/* How many low bits of a caller's tag are usable: 64 when every provider in use has directed
 * receive (shm, tcp here); otherwise the top ceil(log2(nranks)) bits carry the sender's rank and
 * tags must fit below them (docs/transport.md, "Tags"). Larger tags are refused with
 * nscclInvalidArgument. */
int nsccl_transport_tag_bits(const nsccl_transport_t *t);

/* Cap the fragment size (bytes; 0 = the provider's max_msg_size). Every rank must use the same value,
 * since sender and receiver cut a message at the same points. NSCCL_TRANSPORT_MAX_MSG sets it at
 * open; this call exists for tests. */
nscclResult_t nsccl_transport_set_max_msg(nsccl_transport_t *t, size_t bytes);
/* The fragment size used with `peer` (0 when peer is out of range). */
size_t nsccl_transport_max_msg(const nsccl_transport_t *t, int peer);

/* Turn on the same-host fast path for small messages (docs/transport.md, "Fast path"): messages of
 * at most NSCCL_TRANSPORT_FP_EAGER bytes to peers reached through shm go through shared-memory rings
 * instead of libfabric. Every rank of the communicator must turn it on (the fabric engine does),
 * and such receives must be posted with the message's exact length. NSCCL_SHM_FASTPATH=0 keeps it
 * off. Returns 1 if it is on for at least one peer. */
int nsccl_transport_enable_fastpath(nsccl_transport_t *t);
#define NSCCL_TRANSPORT_FP_EAGER 65536
/* Measure the fast path's protocol thresholds between pairs of same-host ranks (docs/transport.md,
 * "Protocol thresholds"). Every rank calls it at the same point (the communicator, right after
 * init, unless the host is oversubscribed); it returns once this rank's exchanges are done. */
nscclResult_t nsccl_transport_calibrate_pairs(nsccl_transport_t *t);
/* The thresholds in force (0 without the fast path): eager limit of awaited sends, the size
 * above which unawaited ones go by rendezvous, and the size from which registered ones do. */
void nsccl_transport_fp_thresholds(const nsccl_transport_t *t, size_t *eager_max, size_t *rndv_min, size_t *direct_min);

/* Counters, for tests and logs. */
typedef struct {
  uint64_t fragments;        /* fragments posted */
  uint64_t deferred;         /* posts refused for lack of provider resources and queued for retry */
  uint64_t mr_registrations; /* fi_mr_reg calls */
  uint64_t mr_hits;          /* registration cache hits */
  uint64_t mr_evictions;
  uint64_t orphans; /* operations cancel_all could not reclaim from the provider before its deadline */
  /* Same-host fast path: */
  uint64_t fp_direct_reads; /* rendezvous messages loaded from a peer's mapped registered buffer */
  uint64_t fp_cma_reads;    /* rendezvous messages read with process_vm_readv */
  uint64_t fp_reduced;      /* receives reduced where the message lay (no copy into dst first) */
  uint64_t fp_map_failures; /* a peer's registered buffer could not be mapped (read by CMA instead) */
  uint64_t fp_pulled;       /* rendezvous messages this rank asked to be pushed through the ring (PULL) */
} nsccl_transport_stats_t;
void nsccl_transport_stats(const nsccl_transport_t *t, nsccl_transport_stats_t *out);

#endif
