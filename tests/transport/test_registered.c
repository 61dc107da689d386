/* Registered buffers and receives that reduce, through the transport API (docs/transport.md,
 * "Registered buffers"): a send from inside a registered nscclMemAlloc buffer is loaded by the
 * receiver from its own mapping (counted as a direct read), never after deregistration; a new
 * allocation is mapped afresh; receives that reduce combine each piece where it lies (slot,
 * bounce buffer, mapping), in place or not. Two forked ranks; contents are checked against the
 * independent byte pattern of pair.h or a serial sum. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "reduce/reduce.h"
#include "transport/fastpath.h"
#include "transport/shmem.h"

#define EAGER NSCCL_TRANSPORT_FP_EAGER
#define ARENA ((size_t)8 << 20)

static int fail(pair_ctx_t *c, const char *what, long a, long b) {
  fprintf(stderr, "rank %d: %s (%ld vs %ld)\n", c->rank, what, a, b);
  return 1;
}

/* Both ranks send n bytes from src (a registered buffer or not) and receive them into a fresh
 * buffer; content checked against the pattern of (sender, tag). */
static int exchange_from(pair_ctx_t *c, unsigned char *src, size_t n, uint64_t tag) {
  unsigned char *dst = malloc(n + 1);
  pattern_fill(src, n, c->rank, tag);
  nsccl_xfer_t x[2];
  int peer = 1 - c->rank;
  if (nsccl_transport_irecv(c->t, peer, dst, n, tag, &x[0]) || nsccl_transport_isend(c->t, peer, src, n, tag, &x[1]))
    return fail(c, "post", (long)n, 0);
  int w = wait_xfers(c->t, x, 2, 20000);
  if (w || x[0].status || x[1].status) return fail(c, "exchange status", w, x[0].status ? x[0].status : x[1].status);
  size_t bad = pattern_check(dst, n, peer, tag);
  free(dst);
  if (bad != n) return fail(c, "content differs at byte", (long)bad, (long)n);
  return 0;
}

static nsccl_transport_stats_t stats(pair_ctx_t *c) {
  nsccl_transport_stats_t st;
  nsccl_transport_stats(c->t, &st);
  return st;
}

static int body_direct(pair_ctx_t *c) {
  static const size_t sizes[] = {NSCCL_FP_DIRECT_MIN, EAGER, 200000, (3 << 20) + 5};
  if (!nsccl_transport_enable_fastpath(c->t)) return fail(c, "fast path not on", 0, 1);
  unsigned char *arena = NULL;
  if (nsccl_shmem_alloc((void **)&arena, ARENA)) return fail(c, "alloc", 0, 0);
  uint64_t id = 0;
  if (nsccl_transport_register(c->t, arena, ARENA, &id) || !id) return fail(c, "register", (long)id, 1);
  /* Below the direct threshold: the eager rings, not a direct read. */
  if (exchange_from(c, arena + 100, 1000, 1)) return 1;
  if (stats(c).fp_direct_reads != 0) return fail(c, "a small message was read directly", 1, 0);
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    if (exchange_from(c, arena + 4096 * (i + 1) + i, sizes[i], 10 + i)) return 1;
  nsccl_transport_stats_t st = stats(c);
  if (st.fp_direct_reads != 4 || st.fp_cma_reads != 0 || st.fp_map_failures != 0)
    return fail(c, "direct reads (cma reads)", (long)st.fp_direct_reads, (long)st.fp_cma_reads);
  if (st.fragments != 0) return fail(c, "libfabric fragments", (long)st.fragments, 0);

  /* Deregistered: the same buffer is read by CMA now, never through the mapping. */
  nsccl_transport_deregister(c->t, id);
  if (exchange_from(c, arena + 4096, (3 << 20) + 5, 20)) return 1;
  st = stats(c);
  if (st.fp_direct_reads != 4 || st.fp_cma_reads != 1)
    return fail(c, "after deregister: direct reads (cma)", (long)st.fp_direct_reads, (long)st.fp_cma_reads);

  /* Freed and replaced: the peer maps the new allocation (same size, maybe the same address). */
  if (nsccl_shmem_free(arena)) return fail(c, "free", 0, 0);
  if (nsccl_shmem_alloc((void **)&arena, ARENA)) return fail(c, "alloc again", 0, 0);
  if (nsccl_transport_register(c->t, arena, ARENA, &id)) return fail(c, "register again", 0, 0);
  if (exchange_from(c, arena + 4096, (3 << 20) + 5, 21)) return 1;
  st = stats(c);
  if (st.fp_direct_reads != 5) return fail(c, "new allocation: direct reads", (long)st.fp_direct_reads, 5);
  /* A registered buffer that is not nscclMemAlloc memory is recorded but moves by CMA. */
  unsigned char *plain = malloc(1 << 20);
  uint64_t pid_ = 0;
  if (nsccl_transport_register(c->t, plain, 1 << 20, &pid_)) return fail(c, "register malloc memory", 0, 0);
  if (exchange_from(c, plain, 1 << 20, 22)) return 1;
  st = stats(c);
  if (st.fp_direct_reads != 5 || st.fp_cma_reads != 2)
    return fail(c, "malloc memory: direct reads (cma)", (long)st.fp_direct_reads, (long)st.fp_cma_reads);
  nsccl_transport_deregister(c->t, pid_);
  free(plain);
  nsccl_transport_deregister(c->t, id);
  if (pair_signal(c) || pair_wait(c)) return fail(c, "sync", 0, 0); /* the peer is done reading */
  return nsccl_shmem_free(arena) ? fail(c, "free", 0, 0) : 0;
}

static nscclResult_t sum_floats(void *ctx, void *dst, const void *a, const void *b, size_t bytes) {
  int *calls = ctx;
  (*calls)++;
  return nsccl_reduce(dst, a, b, bytes / sizeof(float), nscclFloat, nscclSum);
}

static float mine(size_t i) { return (float)(i % 7); }
static float theirs(size_t i, int k) { return (float)((i + (size_t)k) % 5 * 2 + 1); }

/* Rank 1 sends message k (n[k] floats of theirs(i, k)); rank 0 receives each with a reduction
 * into dst = mine (+) message, checked against the serial sum. Messages: eager of one and of
 * several slots, a larger one by CMA, the same from a registered buffer (direct), each in place
 * and out of place; the unexpected ones arrive before their receive is posted. */
static int body_reduce(pair_ctx_t *c) {
  enum { K = 10 };
  static const size_t n[K] = {1, 250, 16000, 300000, 300000, 1, 250, 16000, 300000, 300000};
  static const int registered[K] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  if (!nsccl_transport_enable_fastpath(c->t)) return fail(c, "fast path not on", 0, 1);
  float *arena = NULL;
  if (nsccl_shmem_alloc((void **)&arena, ARENA)) return fail(c, "alloc", 0, 0);
  uint64_t id;
  if (nsccl_transport_register(c->t, arena, ARENA, &id)) return fail(c, "register", 0, 0);
  int calls = 0;
  for (int unexpected = 0; unexpected < 2; unexpected++) {
    for (int k = 0; k < K; k++) {
      int in_place = k >= K / 2;
      size_t bytes = n[k] * sizeof(float);
      uint64_t tag = 100 + (uint64_t)k;
      nsccl_xfer_t x;
      if (c->rank == 1) {
        float *src = registered[k] ? arena : malloc(bytes);
        for (size_t i = 0; i < n[k]; i++) src[i] = theirs(i, k);
        if (unexpected && pair_wait(c)) return fail(c, "wait", k, 0);
        if (nsccl_transport_isend(c->t, 0, src, bytes, tag, &x)) return fail(c, "isend", k, 0);
        if (unexpected && pair_signal(c)) return fail(c, "signal", k, 0);
        int w = wait_xfers(c->t, &x, 1, 20000);
        if (w || x.status) return fail(c, "send", k, w ? w : (int)x.status);
        if (!registered[k]) free(src);
        continue;
      }
      float *a = malloc(bytes), *dst = in_place ? a : malloc(bytes);
      for (size_t i = 0; i < n[k]; i++) a[i] = mine(i);
      if (!in_place) memset(dst, 0xff, bytes);
      if (unexpected) { /* let the message (or its RTS) arrive first */
        if (pair_signal(c) || pair_wait(c)) return fail(c, "sync", k, 0);
        double until = now_seconds() + 0.02;
        while (now_seconds() < until) nsccl_transport_progress(c->t);
      }
      if (!nsccl_transport_reduces(c->t, 1, bytes)) return fail(c, "transport does not reduce", k, 0);
      nsccl_recv_reduce_t red = {sum_floats, &calls, a};
      if (nsccl_transport_irecv_reduce(c->t, 1, dst, bytes, tag, &red, &x)) return fail(c, "irecv_reduce", k, 0);
      int w = wait_xfers(c->t, &x, 1, 20000);
      if (w || x.status || x.bytes != bytes) return fail(c, "receive", k, w ? w : (int)x.status);
      for (size_t i = 0; i < n[k]; i++)
        if (dst[i] != mine(i) + theirs(i, k)) return fail(c, "sum wrong at element (message)", (long)i, k);
      free(a);
      if (!in_place) free(dst);
    }
  }
  if (c->rank == 0) {
    nsccl_transport_stats_t st = stats(c);
    if (st.fp_reduced != 2 * K) return fail(c, "receives reduced in the transport", (long)st.fp_reduced, 2 * K);
    if (st.fp_direct_reads != 4 || st.fp_cma_reads != 4)
      return fail(c, "direct reads (cma reads)", (long)st.fp_direct_reads, (long)st.fp_cma_reads);
    if (calls < 2 * K) return fail(c, "reduction calls", calls, 2 * K);
  }
  nsccl_transport_deregister(c->t, id);
  if (pair_signal(c) || pair_wait(c)) return fail(c, "final sync", 0, 0);
  return nsccl_shmem_free(arena) ? fail(c, "free", 0, 0) : 0;
}

static void run(pair_body_t body) {
  pair_opts_t o = {.provider = "shm", .host = {0, 0}, .timeout_s = 60};
  cr_assert_eq(pair_run(&o, body, NULL), 0, "ranks failed (see stderr)");
}

Test(registered, direct_reads_deregister_and_reallocate, .timeout = 90) { run(body_direct); }
Test(registered, receives_reduce_where_data_lies, .timeout = 90) { run(body_reduce); }

/* The allocator alone: page multiples, zeroed, a freed allocation is no longer found, and one
 * freed while held stays mapped until released. */
Test(registered, allocator_lifetime) {
  unsigned char *p = NULL;
  cr_assert_eq(nsccl_shmem_alloc((void **)&p, 5000), nscclSuccess);
  for (size_t i = 0; i < 8192; i++) cr_assert_eq(p[i], 0, "byte %zu not zero", i);
  nsccl_shmem_where_t w;
  cr_assert(nsccl_shmem_hold(p + 100, 8000, &w), "a range inside is found");
  cr_assert_eq(w.offset, 100);
  cr_assert_eq(w.alloc_size, 8192);
  cr_assert(!nsccl_shmem_hold(p + 100, 9000, &w), "a range running past the end is not");
  cr_assert_eq(nsccl_shmem_free(p), nscclSuccess);
  p[0] = 1; /* still mapped: held */
  cr_assert(!nsccl_shmem_hold(p, 1, &w), "a freed allocation is not found");
  cr_assert_eq(nsccl_shmem_free(p), nscclInvalidArgument, "double free is refused");
  nsccl_shmem_release(w.gen);
  cr_assert_eq(nsccl_shmem_free((void *)&w), nscclInvalidArgument, "foreign memory is refused");
  cr_assert_eq(nsccl_shmem_free(NULL), nscclSuccess);
  void *q = (void *)1;
  cr_assert_eq(nsccl_shmem_alloc(&q, 0), nscclInvalidArgument);
  cr_assert_null(q);
}
