/* The same-host fast path through the transport API (docs/transport.md, "Fast path"): eager
 * messages through the shared-memory rings and, above the eager limit, the single-copy rendezvous
 * (process_vm_readv), or libfabric when NSCCL_SHM_CMA=0. Two forked ranks; contents are checked
 * against the independent byte pattern of pair.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "pair.h"

#define EAGER NSCCL_TRANSPORT_FP_EAGER

static int fail(pair_ctx_t *c, const char *what, long a, long b) {
  fprintf(stderr, "rank %d: %s (%ld vs %ld)\n", c->rank, what, a, b);
  return 1;
}

static int enable(pair_ctx_t *c) {
  if (!nsccl_transport_enable_fastpath(c->t)) return fail(c, "fast path not on", 0, 1);
  return 0;
}

/* Both ranks exchange one message of each size at once: lengths around the slot (32 bytes in the
 * header's line, 8160 per fragment) and eager limits, and large ones. arg != NULL: rendezvous
 * expected (no libfabric fragment at all); NULL: large messages through libfabric. */
static int body_sizes(pair_ctx_t *c) {
  static const size_t sizes[] = {0, 1, 31, 32, 33, 8160, 8161, EAGER, EAGER + 1, (1 << 20) + 13, (9 << 20) + 5};
  if (enable(c)) return 1;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    if (pair_exchange(c, sizes[i], 500 + i)) return 1;
  nsccl_transport_stats_t st;
  nsccl_transport_stats(c->t, &st);
  int rndv = c->arg != NULL;
  if (rndv && st.fragments != 0) return fail(c, "libfabric fragments with the rendezvous on", (long)st.fragments, 0);
  if (!rndv && st.fragments == 0) return fail(c, "no libfabric fragment with NSCCL_SHM_CMA=0", 0, 1);
  return 0;
}

/* Every message is sent before any receive is posted (eager ones arrive as unexpected copies,
 * large ones as unexpected RTS notes), then received in reverse order. */
static int body_unexpected(pair_ctx_t *c) {
  enum { N = 8 };
  size_t len[N];
  unsigned char *buf[N];
  nsccl_xfer_t x[N];
  if (enable(c)) return 1;
  for (int k = 0; k < N; k++) {
    len[k] = (k % 2) ? 3 * EAGER + 7 * (size_t)k : 40 + 9000 * (size_t)k;
    buf[k] = malloc(len[k]);
  }
  if (c->rank == 1) {
    for (int k = 0; k < N; k++) {
      pattern_fill(buf[k], len[k], 1, (uint64_t)k + 1);
      if (nsccl_transport_isend(c->t, 0, buf[k], len[k], (uint64_t)k + 1, &x[k])) return fail(c, "isend", k, 0);
    }
    double until = now_seconds() + 0.05;
    while (now_seconds() < until) nsccl_transport_progress(c->t);
    if (pair_signal(c)) return fail(c, "signal", 0, 0);
  } else {
    if (pair_wait(c)) return fail(c, "wait for sender", 0, 0);
    double until = now_seconds() + 0.05; /* everything is in: the receives find unexpected notes */
    while (now_seconds() < until) nsccl_transport_progress(c->t);
    for (int k = N - 1; k >= 0; k--)
      if (nsccl_transport_irecv(c->t, 1, buf[k], len[k], (uint64_t)k + 1, &x[k])) return fail(c, "irecv", k, 0);
  }
  int w = wait_xfers(c->t, x, N, 10000);
  if (w) return fail(c, "wait", w, 0);
  for (int k = 0; k < N; k++) {
    if (x[k].status) return fail(c, "status", k, x[k].status);
    if (c->rank == 0 && pattern_check(buf[k], len[k], 1, (uint64_t)k + 1) != len[k])
      return fail(c, "content of tag", k + 1, 0);
    free(buf[k]);
  }
  return 0;
}

/* Many messages both ways at once, multi-fragment eager ones alternating with rendezvous ones:
 * the rings fill up, so acknowledgements (FIN) get written between the fragments of an eager
 * message and the receiver must tell them apart. */
static int body_interleaved(pair_ctx_t *c) {
  enum { N = 120 };
  int peer = 1 - c->rank;
  static unsigned char *sb[N], *rb[N];
  static size_t len[N];
  nsccl_xfer_t x[2 * N];
  if (enable(c)) return 1;
  for (int k = 0; k < N; k++) {
    len[k] = (k % 2) ? EAGER - 100 * (size_t)k : EAGER + 4096 * (size_t)k + 1;
    sb[k] = malloc(len[k]);
    rb[k] = malloc(len[k]);
    pattern_fill(sb[k], len[k], c->rank, (uint64_t)k);
  }
  for (int k = 0; k < N; k++) {
    if (nsccl_transport_isend(c->t, peer, sb[k], len[k], (uint64_t)k, &x[N + k])) return fail(c, "isend", k, 0);
    if (nsccl_transport_irecv(c->t, peer, rb[k], len[k], (uint64_t)k, &x[k])) return fail(c, "irecv", k, 0);
  }
  int w = wait_xfers(c->t, x, 2 * N, 20000);
  if (w) return fail(c, "wait", w, 0);
  for (int k = 0; k < N; k++) {
    if (x[k].status || x[N + k].status) return fail(c, "status", x[k].status, x[N + k].status);
    if (pattern_check(rb[k], len[k], peer, (uint64_t)k) != len[k]) return fail(c, "content of tag", k, 0);
    free(sb[k]), free(rb[k]);
  }
  return 0;
}

/* A rendezvous receive shorter than the message fails with nscclInvalidUsage; the sender still
 * completes, and the pair keeps working. */
static int body_trunc(pair_ctx_t *c) {
  enum { BIG = 3 * EAGER, SMALL = 2 * EAGER };
  unsigned char *buf = malloc(BIG);
  nsccl_xfer_t x;
  if (enable(c)) return 1;
  if (c->rank == 1) {
    pattern_fill(buf, BIG, 1, 77);
    if (nsccl_transport_isend(c->t, 0, buf, BIG, 77, &x)) return fail(c, "isend", 0, 0);
    int w = wait_xfers(c->t, &x, 1, 5000);
    if (w || x.status) return fail(c, "send after a truncated receive", w, x.status);
  } else {
    if (nsccl_transport_irecv(c->t, 1, buf, SMALL, 77, &x)) return fail(c, "irecv", 0, 0);
    wait_xfers(c->t, &x, 1, 5000);
    if (!x.done || x.status != nscclInvalidUsage) return fail(c, "status of truncated receive", x.status, 0);
  }
  /* Still usable: one more rendezvous message from rank 1. */
  if (c->rank == 1) {
    pattern_fill(buf, BIG, 1, 78);
    if (nsccl_transport_isend(c->t, 0, buf, BIG, 78, &x)) return fail(c, "isend", 0, 0);
  } else if (nsccl_transport_irecv(c->t, 1, buf, BIG, 78, &x)) {
    return fail(c, "irecv", 0, 0);
  }
  int w = wait_xfers(c->t, &x, 1, 5000);
  if (w || x.status) return fail(c, "exchange after truncation", w, x.status);
  if (c->rank == 0 && pattern_check(buf, BIG, 1, 78) != BIG) return fail(c, "content after truncation", 0, 0);
  free(buf);
  return 0;
}

/* More rendezvous messages than the acknowledging ring has slots, while their sender does not poll:
 * the receiver has to queue FINs. Its receives may complete only once the FINs are written,
 * because after that it polls no more here (it blocks on the pipe, as a rank whose collective is
 * done stops polling); if they completed earlier, the sender would wait for FINs forever. */
static int body_owed_fins(pair_ctx_t *c) {
  enum { N = 48, LEN = 2 * EAGER };
  static unsigned char buf[N][LEN];
  nsccl_xfer_t x[N];
  if (enable(c)) return 1;
  if (c->rank == 0) {
    for (int k = 0; k < N; k++) {
      pattern_fill(buf[k], LEN, 0, (uint64_t)k);
      if (nsccl_transport_isend(c->t, 1, buf[k], LEN, (uint64_t)k, &x[k])) return fail(c, "isend", k, 0);
    }
    double until = now_seconds() + 0.3; /* not polling: the receiver's ring to us fills up */
    while (now_seconds() < until) {
    }
    int w = wait_xfers(c->t, x, N, 10000);
    if (w) return fail(c, "sends never acknowledged", w, 0);
    if (pair_signal(c)) return fail(c, "signal", 0, 0);
    return 0;
  }
  for (int k = 0; k < N; k++)
    if (nsccl_transport_irecv(c->t, 0, buf[k], LEN, (uint64_t)k, &x[k])) return fail(c, "irecv", k, 0);
  int w = wait_xfers(c->t, x, N, 10000);
  if (w) return fail(c, "receives", w, 0);
  for (int k = 0; k < N; k++)
    if (x[k].status || pattern_check(buf[k], LEN, 0, (uint64_t)k) != LEN) return fail(c, "message", k, x[k].status);
  if (pair_wait(c)) return fail(c, "the sender never finished", 0, 0); /* no polling from here */
  return 0;
}

/* The eager limit set to 8 KiB (NSCCL_SHM_EAGER_MAX; otherwise measured at open): messages up to
 * it still go through the rings, larger ones below the ring's own 64 KiB go by rendezvous (counted
 * as CMA reads on the receiving side), contents intact both ways. */
static int body_eager_max(pair_ctx_t *c) {
  static const size_t sizes[] = {8192, 8193, 20000, EAGER};
  if (enable(c)) return 1;
  nsccl_transport_stats_t before, after;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    nsccl_transport_stats(c->t, &before);
    if (pair_exchange(c, sizes[i], 700 + i)) return 1;
    nsccl_transport_stats(c->t, &after);
    long reads = (long)(after.fp_cma_reads - before.fp_cma_reads);
    if (reads != (sizes[i] > 8192 ? 1 : 0))
      return fail(c, "CMA reads for a message of (size, reads)", (long)sizes[i], reads);
  }
  return 0;
}

/* dst = a + b bytewise (mod 256): the reduction of the receives below. */
static nscclResult_t add_u8(void *ctx, void *dst, const void *a, const void *b, size_t bytes) {
  (void)ctx;
  for (size_t i = 0; i < bytes; i++)
    ((unsigned char *)dst)[i] = (unsigned char)(((const unsigned char *)a)[i] + ((const unsigned char *)b)[i]);
  return nscclSuccess;
}

/* Receives that reduce, with the eager limit at 8 KiB (NSCCL_SHM_EAGER_MAX): messages above it
 * come as RTS notes, and the receiver picks the protocol per receive (docs/transport.md,
 * "Protocol thresholds"): with NSCCL_SHM_PULL on (arg 1) it asks for those of up to 64 KiB to be
 * pushed through the ring (counted as pulled), larger ones it reads by CMA; off (arg 2), all by
 * CMA. Both ranks exchange at once, each reducing the peer's pattern into its own; the result is
 * checked byte by byte against the sum of the two patterns, computed here. A plain receive of a
 * message of the same size right after is never pulled. */
static int body_pull(pair_ctx_t *c) {
  static const size_t sizes[] = {4096, 8192, 8193, 20000, EAGER, EAGER + 8, 3 * EAGER};
  int peer = 1 - c->rank, pull = c->arg == (void *)1;
  if (enable(c)) return 1;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    uint64_t tag = 900 + i;
    unsigned char *sb = malloc(n), *mine = malloc(n), *dst = malloc(n);
    pattern_fill(sb, n, c->rank, tag);
    pattern_fill(mine, n, c->rank, tag + 1000);
    nsccl_transport_stats_t before, after;
    nsccl_transport_stats(c->t, &before);
    nsccl_recv_reduce_t red = {add_u8, NULL, mine};
    nsccl_xfer_t x[2];
    if (!nsccl_transport_reduces(c->t, peer, n)) return fail(c, "the fast path does not reduce", (long)n, 0);
    if (nsccl_transport_irecv_reduce(c->t, peer, dst, n, tag, &red, &x[0]) ||
        nsccl_transport_isend(c->t, peer, sb, n, tag, &x[1]))
      return fail(c, "post", (long)n, 0);
    int w = wait_xfers(c->t, x, 2, 10000);
    if (w || x[0].status || x[1].status) return fail(c, "reducing exchange", (long)n, w ? (long)w : (long)x[0].status);
    for (size_t b = 0; b < n; b++)
      if (dst[b] != (unsigned char)(pattern_byte(c->rank, tag + 1000, b) + pattern_byte(peer, tag, b)))
        return fail(c, "wrong reduced byte (size, index)", (long)n, (long)b);
    nsccl_transport_stats(c->t, &after);
    long pulled = (long)(after.fp_pulled - before.fp_pulled);
    long want = pull && n > 8192 && n <= EAGER ? 1 : 0;
    if (pulled != want) return fail(c, "pulled receives for a message of (size, pulled)", (long)n, pulled);
    nsccl_transport_stats(c->t, &before);
    if (pair_exchange(c, n, tag + 2000)) return 1;
    nsccl_transport_stats(c->t, &after);
    if (after.fp_pulled != before.fp_pulled) return fail(c, "a plain receive was pulled", (long)n, 1);
    free(sb), free(mine), free(dst);
  }
  return 0;
}

/* Messages already at the head of the ring when their receive is posted are taken from the slot
 * by the post itself (no progress call in between): a plain one, one reduced into dst (checked
 * byte by byte against the sum of the two patterns), an empty one and one longer than its receive
 * (nscclInvalidUsage, and the pair stays usable). One slot holds 8160 bytes, so 8161 takes two
 * fragments: it is not taken at the post, and arrives through progress. */
enum { HEAD_N = 5 };
static const size_t head_len[HEAD_N] = {24, 8160, 0, 100, 8161};
static const size_t head_room[HEAD_N] = {24, 8160, 0, 50, 8161}; /* the receive's room */

static int body_ring_head(pair_ctx_t *c) {
  unsigned char *sb[HEAD_N], *mine[HEAD_N], *rb[HEAD_N];
  nsccl_xfer_t x[HEAD_N];
  if (enable(c)) return 1;
  for (int k = 0; k < HEAD_N; k++) {
    sb[k] = malloc(head_len[k] + 1), mine[k] = malloc(head_len[k] + 1), rb[k] = malloc(head_len[k] + 1);
    pattern_fill(sb[k], head_len[k], c->rank, 1400 + (uint64_t)k);
    pattern_fill(mine[k], head_len[k], c->rank, 1500 + (uint64_t)k);
  }
  if (c->rank == 1) {
    for (int k = 0; k < HEAD_N; k++)
      if (nsccl_transport_isend(c->t, 0, sb[k], head_len[k], 1400 + (uint64_t)k, &x[k])) return fail(c, "isend", k, 0);
    int w = wait_xfers(c->t, x, HEAD_N, 10000);
    if (w) return fail(c, "sends", w, 0);
    if (pair_signal(c)) return fail(c, "signal", 0, 0);
  } else {
    if (pair_wait(c)) return fail(c, "wait for the sender", 0, 0);
    nsccl_transport_stats_t before, after;
    nsccl_transport_stats(c->t, &before);
    for (int k = 0; k < HEAD_N; k++) {
      nsccl_recv_reduce_t red = {add_u8, NULL, mine[k]};
      int reduce = k == 1;
      nscclResult_t rc =
          reduce ? nsccl_transport_irecv_reduce(c->t, 1, rb[k], head_room[k], 1400 + (uint64_t)k, &red, &x[k])
                 : nsccl_transport_irecv(c->t, 1, rb[k], head_room[k], 1400 + (uint64_t)k, &x[k]);
      if (rc) return fail(c, "irecv", k, rc);
      if (k < HEAD_N - 1 && !x[k].done) return fail(c, "a message at the ring head not taken by its post", k, 0);
    }
    int w = wait_xfers(c->t, x, HEAD_N, 10000);
    if (w) return fail(c, "receives", w, 0);
    nsccl_transport_stats(c->t, &after);
    if (after.fp_reduced - before.fp_reduced != 1)
      return fail(c, "reduced receives", (long)(after.fp_reduced - before.fp_reduced), 1);
    if (x[3].status != nscclInvalidUsage)
      return fail(c, "status of the truncated receive", x[3].status, nscclInvalidUsage);
    for (int k = 0; k < HEAD_N; k++) {
      if (k == 3) continue;
      if (x[k].status || x[k].bytes != head_len[k]) return fail(c, "status / bytes of message", k, (long)x[k].bytes);
      for (size_t b = 0; b < head_len[k]; b++) {
        unsigned char want = pattern_byte(1, 1400 + (uint64_t)k, b);
        if (k == 1) want = (unsigned char)(want + pattern_byte(0, 1500 + (uint64_t)k, b));
        if (rb[k][b] != want) return fail(c, "wrong byte (message, index)", k, (long)b);
      }
    }
  }
  for (int k = 0; k < HEAD_N; k++) free(sb[k]), free(mine[k]), free(rb[k]);
  return pair_exchange(c, 40, 1600); /* still usable */
}

/* Unawaited sends (nsccl_transport_isend_unawaited) go by CMA above NSCCL_SHM_RNDV_MIN (4 KiB
 * here) and awaited ones of the same size through the rings; contents intact either way. */
static int body_unawaited(pair_ctx_t *c) {
  static const size_t sizes[] = {4096, 4097, 30000, EAGER};
  int peer = 1 - c->rank;
  if (enable(c)) return 1;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    for (int unawaited = 0; unawaited < 2; unawaited++) {
      size_t n = sizes[i];
      uint64_t tag = 1200 + 2 * i + (uint64_t)unawaited;
      unsigned char *sb = malloc(n), *rb = malloc(n);
      pattern_fill(sb, n, c->rank, tag);
      nsccl_transport_stats_t before, after;
      nsccl_transport_stats(c->t, &before);
      nsccl_xfer_t x[2];
      if (nsccl_transport_irecv(c->t, peer, rb, n, tag, &x[0]) ||
          (unawaited ? nsccl_transport_isend_unawaited(c->t, peer, sb, n, tag, &x[1])
                     : nsccl_transport_isend(c->t, peer, sb, n, tag, &x[1])))
        return fail(c, "post", (long)n, unawaited);
      int w = wait_xfers(c->t, x, 2, 10000);
      if (w || x[0].status || x[1].status) return fail(c, "exchange", (long)n, w ? (long)w : (long)x[0].status);
      if (pattern_check(rb, n, peer, tag) != n) return fail(c, "content (size, unawaited)", (long)n, unawaited);
      nsccl_transport_stats(c->t, &after);
      long reads = (long)(after.fp_cma_reads - before.fp_cma_reads);
      if (reads != (unawaited && n > 4096 ? 1 : 0))
        return fail(c, "CMA reads for (size, unawaited)", (long)n, unawaited * 10 + reads);
      free(sb), free(rb);
    }
  }
  return 0;
}

/* The protocol measurement between the two ranks (as a communicator runs it after init): it
 * completes on both, and the thresholds it sets decide the path of the very next messages: an
 * unawaited send just above rndv_min is read by CMA, one at it goes through the rings. */
static int body_pair_calibrate(pair_ctx_t *c) {
  if (enable(c)) return 1;
  if (nsccl_transport_calibrate_pairs(c->t) != nscclSuccess) {
    fprintf(stderr, "rank %d: %s\n", c->rank, nsccl_last_error());
    return fail(c, "calibration", 0, 0);
  }
  size_t eager = 0, rndv = 0, direct = 0;
  nsccl_transport_fp_thresholds(c->t, &eager, &rndv, &direct);
  if (eager == 0 || eager > EAGER || rndv == 0 || rndv > eager || direct == 0 || direct > EAGER + 1)
    return fail(c, "thresholds out of range (rndv, direct)", (long)rndv, (long)direct);
  /* Tell the peer this rank's rndv_min, so both post the same sizes. */
  size_t theirs = 0;
  if (write(c->to_peer, &rndv, sizeof(rndv)) != sizeof(rndv) ||
      read(c->from_peer, &theirs, sizeof(theirs)) != sizeof(theirs))
    return fail(c, "pipe", 0, 0);
  int peer = 1 - c->rank;
  for (int above = 0; above < 2; above++) {
    size_t n_mine = rndv + (size_t)above, n_theirs = theirs + (size_t)above;
    if (n_mine > EAGER || n_theirs > EAGER) continue; /* nothing is eager up there */
    unsigned char *sb = malloc(n_mine), *rb = malloc(n_theirs);
    pattern_fill(sb, n_mine, c->rank, 1300 + (uint64_t)above);
    nsccl_transport_stats_t before, after;
    nsccl_transport_stats(c->t, &before);
    nsccl_xfer_t x[2];
    if (nsccl_transport_irecv(c->t, peer, rb, n_theirs, 1300 + (uint64_t)above, &x[0]) ||
        nsccl_transport_isend_unawaited(c->t, peer, sb, n_mine, 1300 + (uint64_t)above, &x[1]))
      return fail(c, "post", (long)n_mine, 0);
    int w = wait_xfers(c->t, x, 2, 10000);
    if (w || x[0].status || x[1].status) return fail(c, "exchange", (long)n_mine, w);
    if (pattern_check(rb, n_theirs, peer, 1300 + (uint64_t)above) != n_theirs) return fail(c, "content", 0, 0);
    nsccl_transport_stats(c->t, &after);
    long reads = (long)(after.fp_cma_reads - before.fp_cma_reads);
    if (reads != above) return fail(c, "CMA reads of a message at / above the peer's rndv_min", above, reads);
    free(sb), free(rb);
  }
  return 0;
}

static void run(pair_body_t body, int cma) {
  setenv("NSCCL_SHM_FASTPATH", "1", 1);
  setenv("NSCCL_SHM_CMA", cma ? "1" : "0", 1);
  pair_opts_t o = {.provider = "shm", .host = {0, 0}, .timeout_s = 40};
  cr_assert_eq(pair_run(&o, body, cma ? (void *)1 : NULL), 0, "ranks failed (see stderr)");
}

Test(fastpath, sizes_rendezvous, .timeout = 60) { run(body_sizes, 1); }
Test(fastpath, sizes_large_through_libfabric, .timeout = 60) { run(body_sizes, 0); }
Test(fastpath, unexpected_rendezvous, .timeout = 60) { run(body_unexpected, 1); }
Test(fastpath, unexpected_without_cma, .timeout = 60) { run(body_unexpected, 0); }
Test(fastpath, fin_between_fragments, .timeout = 60) { run(body_interleaved, 1); }
Test(fastpath, truncated_rendezvous, .timeout = 60) { run(body_trunc, 1); }
Test(fastpath, receives_wait_for_owed_fins, .timeout = 60) { run(body_owed_fins, 1); }
Test(fastpath, receiver_pulls_reducing_receives, .timeout = 60) {
  setenv("NSCCL_SHM_EAGER_MAX", "8192", 1);
  setenv("NSCCL_SHM_PULL", "1", 1);
  setenv("NSCCL_SHM_FASTPATH", "1", 1);
  setenv("NSCCL_SHM_CMA", "1", 1);
  pair_opts_t o = {.provider = "shm", .host = {0, 0}, .timeout_s = 40};
  cr_assert_eq(pair_run(&o, body_pull, (void *)1), 0, "ranks failed (see stderr)");
  setenv("NSCCL_SHM_PULL", "0", 1);
  cr_assert_eq(pair_run(&o, body_pull, (void *)2), 0, "ranks failed with NSCCL_SHM_PULL=0 (see stderr)");
  unsetenv("NSCCL_SHM_PULL");
  unsetenv("NSCCL_SHM_EAGER_MAX");
}
Test(fastpath, unawaited_sends_by_rendezvous, .timeout = 60) {
  setenv("NSCCL_SHM_RNDV_MIN", "4096", 1);
  run(body_unawaited, 1);
  unsetenv("NSCCL_SHM_RNDV_MIN");
}
Test(fastpath, messages_taken_at_the_ring_head, .timeout = 60) { run(body_ring_head, 1); }
Test(fastpath, pair_calibration_sets_thresholds, .timeout = 60) { run(body_pair_calibrate, 1); }
Test(fastpath, eager_limit_override, .timeout = 60) {
  setenv("NSCCL_SHM_EAGER_MAX", "8192", 1);
  run(body_eager_max, 1);
  unsetenv("NSCCL_SHM_EAGER_MAX");
}
