/* Protocol thresholds of the same-host fast path measured between the ranks themselves when a
 * communicator starts (docs/transport.md, "Protocol thresholds").
 *
 * What a single-copy read saves or costs depends on two cores, not one: the receiver's copy out of
 * a ring fetches lines the sender's core just wrote, and a process_vm_readv pays a system call and
 * pins pages. A measurement in one process (fastpath_calib.c, the eager limit) sees neither. So
 * right after init, ranks of one host pair up (2i with 2i + 1 in rank order among the fast-path
 * ranks; an odd one out keeps the defaults) and time, for n = 2 KiB .. 64 KiB, the exchange of a
 * 2-rank all-gather (both send n bytes, both receive them) three ways: through the rings, by
 * rendezvous with process_vm_readv, and by rendezvous from a registered buffer the receiver maps
 * (nscclMemAlloc memory); and that of a 2-rank reduce-scatter (both receives reduce) three ways:
 * through the rings, by rendezvous read through the bounce buffer, and by rendezvous answered with
 * PULL. One untimed exchange each way first (the partner may still be leaving the init barrier,
 * and first reads map pages), then PAIR_TRIES rounds, each of every size and way in turn, each a
 * burst of PAIR_BURST exchanges, so that a moment in which this shared machine takes a core away
 * falls on all of them alike; the best of each counts. Before the rounds, both ranks time a probe
 * (PAIR_PROBE small exchanges) and swap the times: if the larger one is too slow, the partner is
 * not running alongside and neither rank measures (the defaults stay; both decide on the same
 * number, so they stop together). From that, with a 10% margin:
 *   pull_max   receives that reduce PULL rendezvous messages up to it: the largest size up to
 *              which PULL beat the bounce buffer at every measured size (0: never);
 *   rndv_min   unawaited sends (nsccl_transport_isend_unawaited) above it go by rendezvous: below
 *              the smallest size from which the rendezvous beat the rings at every larger size,
 *              a plain and a reducing receive taken together (the sender cannot know which kind
 *              will receive it);
 *   direct_min registered sends from it on go by direct reads, likewise for plain receives.
 * NSCCL_SHM_RNDV_MIN / NSCCL_SHM_DIRECT_MIN / NSCCL_SHM_PULL (0 or 1) set a value instead (that
 * one is not measured); NSCCL_SHM_PAIR_CALIB=0 skips the measurement (rndv_min = the eager limit,
 * direct_min 4 KiB, pull_max 0).
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
#define PAIR_TRIES 8
/* After the warm-up, 16 exchanges of 2 KiB through the rings must take at most this long on both
 * ranks, else the pair is not measured (defaults kept): a partner that is not running alongside
 * (ranks that share a core with other work, threads of one process on one core) would make every
 * exchange a scheduler round trip and the measurement both slow and meaningless. */
#define PAIR_PROBE       16
#define PAIR_PROBE_MAXNS 400000
/* Tags no collective or point-to-point message uses (their top two bits are never both set);
 * every calibration message completes before the call returns. */
#define PAIR_TAG(k) (((uint64_t)3 << 62) | (uint64_t)(k))

/* Plain receives of a message sent through the rings, by CMA, from a mapped buffer; then receives
 * that reduce, of a message sent through the rings, by rendezvous read through the bounce buffer,
 * and by rendezvous answered with PULL. */
enum { BY_RING, BY_CMA, BY_MAP, BY_RING_RED, BY_CMA_RED, BY_PULL_RED, NWAYS };
#define PAIR_BURST 4 /* exchanges back to back per timing: the ranks' skew at the start spreads over them */

/* The measurement's reduction: bytes added (the transport knows no datatypes; the cost of one pass
 * over both inputs is what matters). */
static nscclResult_t add_bytes(void *ctx, void *dst, const void *a, const void *b, size_t bytes) {
  (void)ctx;
  unsigned char *d = dst;
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < bytes; i++) d[i] = (unsigned char)(x[i] + y[i]);
  return nscclSuccess;
}

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

/* One exchange of n bytes with peer, sent the given way. */
static nscclResult_t exchange(nsccl_fp_t *fp, int peer, const void *sbuf, void *rbuf, size_t n, int way, uint64_t tag,
                              int64_t deadline) {
  nsccl_xfer_t xs, xr;
  memset(&xs, 0, sizeof(xs));
  memset(&xr, 0, sizeof(xr));
  xs.pending = xr.pending = 1;
  nsccl_recv_reduce_t red = {add_bytes, NULL, sbuf};
  int reduces = way >= BY_RING_RED;
  fp->pull_max = way == BY_PULL_RED ? NSCCL_FP_EAGER_BYTES : 0;
  NSCCL_CHECK(nsccl_fp_irecv(fp, peer, rbuf, n, tag, reduces ? &red : NULL, &xr));
  NSCCL_CHECK(way == BY_RING || way == BY_RING_RED ? nsccl_fp_eager_isend(fp, peer, sbuf, n, tag, &xs)
                                                   : nsccl_fp_rndv_isend(fp, peer, sbuf, n, tag, &xs));
  for (unsigned polls = 0; !xs.done || !xr.done; polls++) {
    nsccl_fp_progress(fp);
    if (polls > 4096) sched_yield(); /* the partner may be waiting for this core (a shared machine) */
    if (nsccl_now_ns() > deadline) {
      nsccl_fp_cancel_all(fp, nscclTimeout);
      NSCCL_FAIL(nscclTimeout, "transport: rank %d did not answer the protocol measurement at init", peer);
    }
  }
  if (xs.status != nscclSuccess || xr.status != nscclSuccess || xr.bytes != n)
    NSCCL_FAIL(nscclRemoteError, "transport: a %zu-byte measurement message with rank %d failed", n, peer);
  return nscclSuccess;
}

/* Exchange one word with peer through the rings (*theirs = the peer's *mine). */
static nscclResult_t exchange_word(nsccl_fp_t *fp, int peer, const int64_t *mine, int64_t *theirs, uint64_t tag,
                                   int64_t deadline) {
  return exchange(fp, peer, mine, theirs, sizeof(*mine), BY_RING, tag, deadline);
}

/* The smallest measured size from which ways a + b (b may be a again) took at least 10% less than
 * ways ra + rb at every larger size, or 0 (the margin keeps a near tie from moving the threshold
 * from one start to the next). */
static size_t wins_from(int64_t best[PAIR_SIZES][NWAYS], int a, int b, int ra, int rb) {
  size_t from = 0;
  for (int k = PAIR_SIZES - 1; k >= 0; k--) {
    int64_t *t = best[k];
    if (t[a] < 0 || t[b] < 0 || (t[a] + t[b]) * 10 >= (t[ra] + t[rb]) * 9) break;
    from = (size_t)PAIR_MIN << k;
  }
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
  size_t saved_direct = fp->direct_min, saved_pull = fp->pull_max;
  fp->direct_min = 0; /* every send from the registered buffer maps during the measurement */
  uint64_t k_tag = 0;
  int64_t probe = 0;
  for (int i = -1; i < PAIR_TRIES && rc == nscclSuccess; i++) {
    if (i == 0) { /* both ranks decide alike: on the larger of their two probe times */
      int64_t t0 = nsccl_now_ns();
      for (int b = 0; b < PAIR_PROBE && rc == nscclSuccess; b++)
        rc = exchange(fp, peer, sbuf, rbuf, PAIR_MIN, BY_RING, PAIR_TAG(k_tag++), deadline);
      probe = nsccl_now_ns() - t0;
      int64_t theirs = 0;
      if (rc == nscclSuccess) rc = exchange_word(fp, peer, &probe, &theirs, PAIR_TAG(k_tag++), deadline);
      if (theirs > probe) probe = theirs;
      if (probe > PAIR_PROBE_MAXNS) break;
    }
    for (int k = i < 0 ? PAIR_SIZES - 1 : 0; k < PAIR_SIZES && rc == nscclSuccess; k++)
      for (int w = 0; w < NWAYS && rc == nscclSuccess; w++) {
        const void *src = w == BY_MAP && reg ? mbuf : sbuf;
        int64_t t0 = nsccl_now_ns();
        for (int b = 0; b < PAIR_BURST && rc == nscclSuccess; b++)
          rc = exchange(fp, peer, src, rbuf, (size_t)PAIR_MIN << k, w, PAIR_TAG(k_tag++), deadline);
        int64_t ns = (nsccl_now_ns() - t0) / PAIR_BURST;
        if (rc == nscclSuccess && i >= 0 && (best[k][w] < 0 || ns < best[k][w])) best[k][w] = ns;
      }
  }
  fp->direct_min = saved_direct;
  fp->pull_max = saved_pull;
  if (reg) nsccl_fp_deregister(fp, reg);
  if (mbuf) nsccl_shmem_free(mbuf);
  free(sbuf);
  free(rbuf);
  if (rc != nscclSuccess) return rc;
  if (probe > PAIR_PROBE_MAXNS) {
    NSCCL_INFO(NSCCL_SUBSYS_NET,
               "transport: protocols not measured with rank %d (%d exchanges of 2 KiB took %.0f us: the pair is not "
               "running side by side); defaults kept",
               peer, PAIR_PROBE, probe / 1e3);
    return nscclSuccess;
  }
  if (!reg)
    for (int k = 0; k < PAIR_SIZES; k++) best[k][BY_MAP] = -1;
  /* The receiver's choice for receives that reduce: PULL up to the largest size below which it beat
   * the bounce buffer by 10% at every size. */
  if (!fp->pull_forced) {
    fp->pull_max = 0;
    for (int k = 0; k < PAIR_SIZES && best[k][BY_PULL_RED] * 10 < best[k][BY_CMA_RED] * 9; k++)
      fp->pull_max = (size_t)PAIR_MIN << k;
  }
  /* An unawaited send may meet either kind of receive: by rendezvous it must win over the two
   * together (a plain receive gains the single copy; one that reduces takes the better of the
   * receiver's two ways, as it will). */
  for (int k = 0; k < PAIR_SIZES; k++)
    if ((size_t)PAIR_MIN << k <= fp->pull_max) best[k][BY_CMA_RED] = best[k][BY_PULL_RED];
  size_t cma_from = wins_from(best, BY_CMA, BY_CMA_RED, BY_RING, BY_RING_RED);
  size_t map_from = wins_from(best, BY_MAP, BY_MAP, BY_RING, BY_RING);
  /* rndv_min is "above this": a win from size s means messages of s bytes and more. */
  if (want_rndv) fp->rndv_min = cma_from && cma_from - 1 < fp->eager_max ? cma_from - 1 : fp->eager_max;
  if (want_direct && reg) fp->direct_min = map_from ? map_from : (size_t)NSCCL_FP_EAGER_BYTES + 1;
  if (nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_NET)) {
    char row[768];
    size_t used = 0;
    for (int k = 0; k < PAIR_SIZES && used < sizeof(row); k++)
      used += (size_t)snprintf(row + used, sizeof(row) - used, " %zuK %.2f/%.2f/%.2f %.2f/%.2f/%.2f",
                               ((size_t)PAIR_MIN << k) >> 10, best[k][BY_RING] / 1e3, best[k][BY_CMA] / 1e3,
                               best[k][BY_MAP] / 1e3, best[k][BY_RING_RED] / 1e3, best[k][BY_CMA_RED] / 1e3,
                               best[k][BY_PULL_RED] / 1e3);
    NSCCL_INFO(NSCCL_SUBSYS_NET,
               "transport: measured with rank %d (exchange us, plain rings/CMA/mapped, reducing rings/CMA/PULL:%s): "
               "reducing receives PULL up to %zu bytes, unawaited sends above %zu "
               "bytes by CMA, registered ones from %zu bytes by direct reads",
               peer, row, fp->pull_max, fp->rndv_min, fp->direct_min);
  }
  return nscclSuccess;
}

void nsccl_fp_thresholds(const nsccl_fp_t *fp, size_t *eager_max, size_t *rndv_min, size_t *direct_min) {
  *eager_max = fp ? fp->eager_max : 0;
  *rndv_min = fp ? fp->rndv_min : 0;
  *direct_min = fp ? fp->direct_min : 0;
}
