/* The eager limit of the same-host fast path, measured when the segment is made (fastpath.h,
 * docs/transport.md "Protocol thresholds"): messages of up to that many bytes are copied through
 * the rings (sender into a slot, receiver out of it: two copies, but pipelined by 8160-byte
 * fragments, so the receiver's copy of one overlaps the sender's copy of the next and only the
 * last fragment's second copy adds); larger ones go by the single-copy rendezvous (one
 * process_vm_readv by the receiver). Which is cheaper depends on the host: the kernel's cost per
 * call and per page against memcpy's bandwidth. Both are measured here, in this process, on buffers
 * in cache (best of several tries, about a millisecond in all). The limit is the largest power of
 * two, at most NSCCL_FP_EAGER_BYTES, below the first size n at which
 *     t_cma(n) < t_copy(n) + t_copy(min(n, fragment))
 * NSCCL_SHM_EAGER_MAX=BYTES overrides it. Only the sender uses the limit (a receiver takes an RTS
 * or data alike), so ranks need not agree on it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "transport/fastpath_internal.h"

#define CALIB_TRIES 8
#define CALIB_MIN   4096

/* Best time (ns) of CALIB_TRIES memcpys of n bytes. */
static int64_t time_copy(unsigned char *dst, const unsigned char *src, size_t n) {
  int64_t best = INT64_MAX;
  for (int i = 0; i < CALIB_TRIES; i++) {
    int64_t t0 = nsccl_now_ns();
    memcpy(dst, src, n);
    __asm__ __volatile__("" : : "r"(dst) : "memory"); /* the copy is not optimised away */
    int64_t t = nsccl_now_ns() - t0;
    if (t < best) best = t;
  }
  return best;
}

/* Best time (ns) of reading n bytes of this process with process_vm_readv; -1 if it fails. */
static int64_t time_cma(unsigned char *dst, const unsigned char *src, size_t n) {
  int64_t best = INT64_MAX;
  for (int i = 0; i < CALIB_TRIES; i++) {
    struct iovec l = {dst, n}, r = {(void *)src, n};
    int64_t t0 = nsccl_now_ns();
    ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
    int64_t t = nsccl_now_ns() - t0;
    if (got != (ssize_t)n) return -1;
    if (t < best) best = t;
  }
  return best;
}

size_t nsccl_fp_measure_eager_max(nsccl_fp_calib_t *out) {
  memset(out, 0, sizeof(*out));
  const char *env = getenv("NSCCL_SHM_EAGER_MAX");
  if (env && *env) {
    char *end;
    unsigned long long v = strtoull(env, &end, 10);
    if (*end == '\0') {
      out->overridden = 1;
      return v < NSCCL_FP_EAGER_BYTES ? (size_t)v : NSCCL_FP_EAGER_BYTES;
    }
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: NSCCL_SHM_EAGER_MAX='%s' is not a byte count; measuring instead", env);
  }
  size_t cap = 2 * (size_t)NSCCL_FP_EAGER_BYTES;
  unsigned char *src = malloc(cap), *dst = malloc(cap);
  size_t limit = NSCCL_FP_EAGER_BYTES;
  if (!src || !dst) {
    free(src);
    free(dst);
    return limit;
  }
  memset(src, 1, cap);
  memset(dst, 2, cap); /* both in cache and mapped before anything is timed */
  int k = 0;
  for (size_t n = CALIB_MIN; n <= cap && k < NSCCL_FP_CALIB_SIZES; n *= 2, k++) {
    int64_t c = time_copy(dst, src, n), v = time_cma(dst, src, n);
    out->bytes[k] = n;
    out->copy_ns[k] = c;
    out->cma_ns[k] = v;
    int64_t eager = c + (n <= SLOT_PAYLOAD ? c : time_copy(dst, src, SLOT_PAYLOAD));
    if (v >= 0 && v < eager && n / 2 < limit) limit = n / 2 >= CALIB_MIN ? n / 2 : CALIB_MIN;
  }
  out->n = k;
  free(src);
  free(dst);
  return limit;
}
