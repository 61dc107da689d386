/* The same-host fast path through the transport API (docs/transport.md, "Fast path"): eager
 * messages through the shared-memory rings and, above the eager limit, the single-copy rendezvous
 * (process_vm_readv), or libfabric when NSCCL_SHM_CMA=0. Two forked ranks; contents are checked
 * against the independent byte pattern of pair.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
Test(fastpath, eager_limit_override, .timeout = 60) {
  setenv("NSCCL_SHM_EAGER_MAX", "8192", 1);
  run(body_eager_max, 1);
  unsetenv("NSCCL_SHM_EAGER_MAX");
}
