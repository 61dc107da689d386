/* Same-host fast path for small messages (fastpath.c): every rank owns a shared-memory segment
 * with one single-producer ring per sender; a small message is copied into a slot of the
 * receiver's ring for this sender and matched by tag on the receiving side, bypassing libfabric's
 * queues (docs/transport.md, "Fast path"). Internal to src/transport. */
#ifndef NSCCL_TRANSPORT_FASTPATH_H
#define NSCCL_TRANSPORT_FASTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/* Messages up to this many bytes take the fast path (both ends decide from the length alone, so a
 * receive must be posted with the message's exact length when it is at most this). */
#define NSCCL_FP_EAGER_BYTES 65536
/* Sends of at least this many bytes from a registered nscclMemAlloc buffer go by rendezvous, and
 * the receiver loads them from its mapping (NSCCL_SHM_DIRECT_MIN overrides; docs/transport.md). */
#define NSCCL_FP_DIRECT_MIN 4096
/* Bytes of the fast path's part of the address blob (name of the segment). */
#define NSCCL_FP_BLOB_BYTES 64

typedef struct nsccl_fp nsccl_fp_t;

/* Create this rank's segment (peers is nranks). Returns NULL without error when the fast path is
 * disabled (NSCCL_SHM_FASTPATH=0) or unavailable (logged). */
nsccl_fp_t *nsccl_fp_open(int rank, int nranks);
/* Write the segment name into blob[0 .. NSCCL_FP_BLOB_BYTES). */
void nsccl_fp_describe(const nsccl_fp_t *fp, unsigned char *blob);
/* Map peer's segment from its blob part; peers whose blob part is empty or whose segment cannot be
 * mapped are not fast-path peers. use[peer] must be nonzero for the peers to try (same host, shm). */
nscclResult_t nsccl_fp_connect(nsccl_fp_t *fp, int peer, const unsigned char *blob_part);
/* 1 if a message of len bytes to (sending) or from peer takes the fast path: when enabled, the
 * eager rings up to NSCCL_FP_EAGER_BYTES, above that the single-copy rendezvous when this host
 * allows one process to read another's memory (process_vm_readv; NSCCL_SHM_CMA=0 turns it off). */
int nsccl_fp_takes(const nsccl_fp_t *fp, int peer, size_t len, int sending);
void nsccl_fp_enable(nsccl_fp_t *fp);
int nsccl_fp_enabled(const nsccl_fp_t *fp);

/* unawaited: nsccl_transport_isend_unawaited (rendezvous from fp's rndv_min instead of eager_max). */
nscclResult_t nsccl_fp_isend(nsccl_fp_t *fp, int peer, const void *buf, size_t len, uint64_t tag, int unawaited,
                             nsccl_xfer_t *x);
/* red: NULL or red->fn NULL for a plain receive, else a receive that reduces (transport.h). */
nscclResult_t nsccl_fp_irecv(nsccl_fp_t *fp, int peer, void *buf, size_t len, uint64_t tag,
                             const nsccl_recv_reduce_t *red, nsccl_xfer_t *x);
/* Registered buffers (transport.h): *id > 0. */
nscclResult_t nsccl_fp_register(nsccl_fp_t *fp, const void *buf, size_t len, uint64_t *id);
void nsccl_fp_deregister(nsccl_fp_t *fp, uint64_t id);

typedef struct {
  uint64_t direct_reads, cma_reads, reduced, map_failures, pulled;
} nsccl_fp_stats_t;
void nsccl_fp_stats(const nsccl_fp_t *fp, nsccl_fp_stats_t *out);
/* fastpath_pair.c: measure rndv_min and direct_min with this rank's partner (every same-host rank
 * calls it at the same point, right after init); nscclTimeout if the partner never answers. */
nscclResult_t nsccl_fp_pair_calibrate(nsccl_fp_t *fp, int timeout_ms);
void nsccl_fp_thresholds(const nsccl_fp_t *fp, size_t *eager_max, size_t *rndv_min, size_t *direct_min);
/* Poll the rings and retry queued sends; returns completions (>= 0). */
int nsccl_fp_progress(nsccl_fp_t *fp);
/* Finish every pending fast-path operation with status. */
void nsccl_fp_cancel_all(nsccl_fp_t *fp, nscclResult_t status);
void nsccl_fp_close(nsccl_fp_t *fp);

#endif
