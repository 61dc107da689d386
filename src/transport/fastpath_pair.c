/* Protocol thresholds of the same-host fast path measured between the ranks themselves when a
 * communicator starts (docs/transport.md, "Protocol thresholds").
 *
 * What a single-copy read saves or costs depends on two cores, not one: the receiver's copy out of
 * a ring fetches lines the sender's core just wrote, and a process_vm_readv pays a system call and
 * pins pages. A measurement in one process (fastpath_calib.c, the eager limit) sees neither. So
 * right after init, ranks of one host pair up (2i with 2i + 1 in rank order among the fast-path
 * ranks; an odd one out keeps the defaults) and time, for each size, the same exchange as a
 * 2-rank all-gather (both send n bytes, both receive n bytes) three ways: through the rings, by
 * rendezvous with process_vm_readv, and by rendezvous from a registered buffer the receiver maps
 * (nscclMemAlloc memory). One untimed exchange each way first (the partner may still be leaving
 * the init barrier, and first reads map pages), then PAIR_TRIES rounds, each of every size and way
 * in turn, so that a moment in which this shared machine takes a core away falls on all of them
 * alike; the best of each counts. From that:
 *   rndv_min   unawaited sends (nsccl_transport_isend_unawaited) above it go by process_vm_readv:
 *              below the smallest size from which CMA beat the rings (by 10%) at every larger
 *              measured size;
 *   direct_min registered sends from it on go by direct reads, likewise.
 * NSCCL_SHM_RNDV_MIN / NSCCL_SHM_DIRECT_MIN set a value instead (that one is not measured);
 * NSCCL_SHM_PAIR_CALIB=0 skips the measurement (rndv_min = the eager limit, direct_min 4 KiB).
 * Each rank decides for its own sends alone: a receiver takes an RTS or eager data alike, so the
 * two ranks of a pair need not agree. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "transport/fastpath_internal.h"

#define PAIR_MIN   2048
#define PAIR_SIZES 6 /* 2 KiB .. 64 KiB */
#define PAIR_TRIES 12
/* Tags no collective or point-to-point message uses (their top two bits are never both set);
 * every calibration message completes before the call returns. */
#define PAIR_TAG(k) (((uint64_t)3 << 62) | (uint64_t)(k))

enum { BY_RING, BY_CMA, BY_MAP, NWAYS };

/* This rank's partner among the fast-path ranks, or -1. */
static int partner_of(const nsccl_fp_t *fp) {
  int idx = -1, n = 0;
  for (int r = 0; r < fp->nranks; r++)
    if (r == fp->rank || fp->peers[r].on) {
      if (r == fp->rank) idx = n;
      n++;
    }
  int want = idx ^ 1;
  for (int r = 0, m = 0; r < fp->nranks && want < n; r++)
    if (r == fp->rank || fp->peers[r].on) {
      if (m == want) return r;
      m++;
    }
  return -1;
}

/* One exchange of n bytes with peer, sent the given way; *ns its time on this rank. */
static nscclResult_t exchange(nsccl_fp_t *fp, int peer, const void *sbuf, void *rbuf, size_t n, int way, uint64_t tag,
                              int64_t deadline, int64_t *ns) {
  nsccl_xfer_t xs, xr;
  memset(&xs, 0, sizeof(xs));
  memset(&xr, 0, sizeof(xr));
  xs.pending = xr.pending = 1;
  int64_t t0 = nsccl_now_ns();
  NSCCL_CHECK(nsccl_fp_irecv(fp, peer, rbuf, n, tag, NULL, &xr));
  NSCCL_CHECK(way == BY_RING ? nsccl_fp_eager_isend(fp, peer, sbuf, n, tag, &xs)
                             : nsccl_fp_rndv_isend(fp, peer, sbuf, n, tag, &xs));
  for (unsigned polls = 0; !xs.done || !xr.done; polls++) {
    nsccl_fp_progress(fp);
    if (polls > 4096) sched_yield(); /* the partner may be waiting for this core (a shared machine) */
    if (nsccl_now_ns() > deadline) {
      nsccl_fp_cancel_all(fp, nscclTimeout);
      NSCCL_FAIL(nscclTimeout, "transport: rank %d did not answer the protocol measurement at init", peer);
    }
  }
  *ns = nsccl_now_ns() - t0;
  if (xs.status != nscclSuccess || xr.status != nscclSuccess || xr.bytes != n)
    NSCCL_FAIL(nscclRemoteError, "transport: a %zu-byte measurement message with rank %d failed", n, peer);
  return nscclSuccess;
}

/* The smallest measured size from which `way` beat the rings by at least 10% at every larger
 * size, or 0 (the margin keeps a near tie from moving the threshold from one start to the next). */
static size_t wins_from(int64_t best[PAIR_SIZES][NWAYS], int way) {
  size_t from = 0;
  for (int k = PAIR_SIZES - 1; k >= 0 && best[k][way] >= 0 && best[k][way] * 10 < best[k][BY_RING] * 9; k--)
    from = (size_t)PAIR_MIN << k;
  return from;
}

nscclResult_t nsccl_fp_pair_calibrate(nsccl_fp_t *fp, int timeout_ms) {
  if (!fp || !fp->enabled || !fp->cma) return nscclSuccess;
  const char *env = getenv("NSCCL_SHM_PAIR_CALIB");
  if (env && !strcmp(env, "0")) return nscclSuccess;
  int peer = partner_of(fp);
  if (peer < 0 || !nsccl_fp_rndv_ok(fp, peer, 1) || !nsccl_fp_rndv_ok(fp, peer, 0)) return nscclSuccess;
  int want_rndv = !(getenv("NSCCL_SHM_RNDV_MIN") && *getenv("NSCCL_SHM_RNDV_MIN"));
  int want_direct = !(getenv("NSCCL_SHM_DIRECT_MIN") && *getenv("NSCCL_SHM_DIRECT_MIN"));
  size_t cap = (size_t)PAIR_MIN << (PAIR_SIZES - 1);
  unsigned char *sbuf = malloc(cap), *rbuf = malloc(cap);
  void *mbuf = NULL;
  uint64_t reg = 0;
  /* Both ranks run the same sequence of exchanges (a missing map buffer on one side only turns
   * its map sends into CMA ones). */
  if (nsccl_shmem_alloc(&mbuf, cap) == nscclSuccess && nsccl_fp_register(fp, mbuf, cap, &reg) != nscclSuccess) reg = 0;
  nscclResult_t rc = sbuf && rbuf ? nscclSuccess : nscclSystemError;
  if (rc != nscclSuccess) nsccl_set_error(__FILE__, __LINE__, rc, "transport: no memory to measure protocols");
  if (sbuf) memset(sbuf, 0x5a, cap);
  if (rbuf) memset(rbuf, 0, cap);
  if (mbuf) memset(mbuf, 0xa5, cap);
  int64_t best[PAIR_SIZES][NWAYS];
  for (int k = 0; k < PAIR_SIZES; k++)
    for (int w = 0; w < NWAYS; w++) best[k][w] = -1;
  int64_t deadline = nsccl_now_ns() + (int64_t)timeout_ms * 1000000;
  size_t saved_direct = fp->direct_min;
  fp->direct_min = 0; /* every send from the registered buffer maps during the measurement */
  uint64_t k_tag = 0;
  for (int i = -1; i < PAIR_TRIES && rc == nscclSuccess; i++)
    for (int k = i < 0 ? PAIR_SIZES - 1 : 0; k < PAIR_SIZES && rc == nscclSuccess; k++)
      for (int w = 0; w < NWAYS && rc == nscclSuccess; w++) {
        int64_t ns = 0;
        const void *src = w == BY_MAP && reg ? mbuf : sbuf;
        rc = exchange(fp, peer, src, rbuf, (size_t)PAIR_MIN << k, w, PAIR_TAG(k_tag++), deadline, &ns);
        if (rc == nscclSuccess && i >= 0 && (best[k][w] < 0 || ns < best[k][w])) best[k][w] = ns;
      }
  fp->direct_min = saved_direct;
  if (reg) nsccl_fp_deregister(fp, reg);
  if (mbuf) nsccl_shmem_free(mbuf);
  free(sbuf);
  free(rbuf);
  if (rc != nscclSuccess) return rc;
  if (!reg)
    for (int k = 0; k < PAIR_SIZES; k++) best[k][BY_MAP] = -1;
  size_t cma_from = wins_from(best, BY_CMA), map_from = wins_from(best, BY_MAP);
  /* rndv_min is "above this": a win from size s means messages of s bytes and more. */
  if (want_rndv) fp->rndv_min = cma_from && cma_from - 1 < fp->eager_max ? cma_from - 1 : fp->eager_max;
  if (want_direct && reg) fp->direct_min = map_from ? map_from : (size_t)NSCCL_FP_EAGER_BYTES + 1;
  if (nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_NET)) {
    char row[512];
    size_t used = 0;
    for (int k = 0; k < PAIR_SIZES && used < sizeof(row); k++)
      used += (size_t)snprintf(row + used, sizeof(row) - used, " %zuK %.2f/%.2f/%.2f", ((size_t)PAIR_MIN << k) >> 10,
                               best[k][BY_RING] / 1e3, best[k][BY_CMA] / 1e3, best[k][BY_MAP] / 1e3);
    NSCCL_INFO(NSCCL_SUBSYS_NET,
               "transport: measured with rank %d (exchange us, rings/CMA/mapped:%s): unawaited sends above %zu "
               "bytes by CMA, registered ones from %zu bytes by direct reads",
               peer, row, fp->rndv_min, fp->direct_min);
  }
  return nscclSuccess;
}

void nsccl_fp_thresholds(const nsccl_fp_t *fp, size_t *eager_max, size_t *rndv_min, size_t *direct_min) {
  *eager_max = fp ? fp->eager_max : 0;
  *rndv_min = fp ? fp->rndv_min : 0;
  *direct_min = fp ? fp->direct_min : 0;
}
