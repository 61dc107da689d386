/* Self-check of the ring and direct builders: build every rank's program, validate the set, run it
 * on the local engine, and compare every rank's output with a serial reference computed here.
 *
 * Inputs are small integers, so sums are exact in int32 and float32 and the reference does not
 * depend on the order of the reduction. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/direct.h"
#include "algo/ring.h"
#include "engine/local.h"
#include "sched/sched.h"

static const int rank_counts[] = {1, 2, 3, 4, 5, 7, 8, 13, 16};
#define NRANKCOUNTS (int)(sizeof(rank_counts) / sizeof(rank_counts[0]))

typedef struct {
  nsccl_algo_t algo;
  int variant;
  nsccl_coll_t coll;
  nscclDataType_t dtype;
  nscclRedOp_t op;
  int n;
  size_t count;
  bool in_place;
  size_t chunk;
} case_t;

/* Input element i of rank r's send buffer: a small integer, distinct across ranks and positions. */
static int input_value(int r, size_t i) { return (int)((r * 37 + i * 11) % 61) - 30; }

static void store(nscclDataType_t dt, void *buf, size_t i, long v) {
  if (dt == nscclFloat32)
    ((float *)buf)[i] = (float)v;
  else
    ((int32_t *)buf)[i] = (int32_t)v;
}

static long load(nscclDataType_t dt, const void *buf, size_t i) {
  return dt == nscclFloat32 ? (long)((const float *)buf)[i] : (long)((const int32_t *)buf)[i];
}

static long combine(nscclRedOp_t op, long a, long b) {
  switch (op) {
  case nscclMax: return a > b ? a : b;
  case nscclMin: return a < b ? a : b;
  default: return a + b;
  }
}

/* Expected element i of rank r's output, straight from the definition of the collective. */
static long expected(const case_t *t, int r, size_t i) {
  switch (t->coll) {
  case NSCCL_COLL_ALLGATHER: return input_value((int)(i / t->count), i % t->count);
  case NSCCL_COLL_REDUCESCATTER: {
    long acc = input_value(0, (size_t)r * t->count + i);
    for (int j = 1; j < t->n; j++) acc = combine(t->op, acc, input_value(j, (size_t)r * t->count + i));
    return acc;
  }
  default: {
    long acc = input_value(0, i);
    for (int j = 1; j < t->n; j++) acc = combine(t->op, acc, input_value(j, i));
    return acc;
  }
  }
}

static void describe(const case_t *t, char *buf, size_t len) {
  snprintf(buf, len, "%s(variant %d) %s n=%d count=%zu %s %s chunk=%zu", nsccl_algo_name(t->algo), t->variant,
           nsccl_coll_name(t->coll), t->n, t->count, t->dtype == nscclFloat32 ? "float32" : "int32",
           t->in_place ? "in-place" : "out-of-place", t->chunk);
}

static void run_case(const case_t *t) {
  char what[160], err[1024];
  describe(t, what, sizeof(what));
  int n = t->n;
  nsccl_coll_args_t args = {t->coll, t->count, t->dtype, t->in_place};
  nsccl_algo_opts_t opts = {t->chunk, t->variant};
  nsccl_program_t *progs = calloc((size_t)n, sizeof(*progs));
  void **own = calloc((size_t)n, sizeof(void *));   /* allocations (freed at the end) */
  void **extra = calloc((size_t)n, sizeof(void *)); /* second buffer when out of place */
  const void **send = calloc((size_t)n, sizeof(void *));
  void **recv = calloc((size_t)n, sizeof(void *));
  cr_assert(progs && own && extra && send && recv);

  for (int r = 0; r < n; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess, "%s: init rank %d", what, r);
    cr_assert_eq(nsccl_algo_build(t->algo, NULL, &opts, &progs[r]), nscclSuccess, "%s: build rank %d", what, r);
  }
  size_t sbytes = progs[0].buf_bytes[NSCCL_BUF_SEND], rbytes = progs[0].buf_bytes[NSCCL_BUF_RECV];
  size_t scount = sbytes / 4, rcount = rbytes / 4;
  cr_assert_eq(nsccl_sched_validate(progs, n, err, sizeof(err)), nscclSuccess, "%s: validator: %s", what, err);

  for (int r = 0; r < n; r++) {
    /* Poison outputs so that a missing write shows; -999 is far from any possible result. */
    if (t->in_place) {
      size_t big = sbytes > rbytes ? sbytes : rbytes;
      unsigned char *b = malloc(big + 4);
      cr_assert(b);
      own[r] = b;
      for (size_t i = 0; i < big / 4; i++) store(t->dtype, b, i, -999);
      size_t soff = t->coll == NSCCL_COLL_ALLGATHER ? (size_t)r * sbytes : 0;
      size_t roff = t->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * rbytes : 0;
      for (size_t i = 0; i < scount; i++) store(t->dtype, b + soff, i, input_value(r, i));
      send[r] = b + soff;
      recv[r] = b + roff;
    } else {
      unsigned char *s = malloc(sbytes + 4), *d = malloc(rbytes + 4);
      cr_assert(s && d);
      own[r] = s;
      extra[r] = d;
      for (size_t i = 0; i < scount; i++) store(t->dtype, s, i, input_value(r, i));
      for (size_t i = 0; i < rcount; i++) store(t->dtype, d, i, -999);
      send[r] = s;
      recv[r] = d;
    }
  }

  nscclResult_t rc = nsccl_local_run(progs, n, send, recv, t->op, err, sizeof(err));
  cr_assert_eq(rc, nscclSuccess, "%s: local engine: %s", what, err);
  for (int r = 0; r < n; r++)
    for (size_t i = 0; i < rcount; i++) {
      long want = expected(t, r, i), got = load(t->dtype, recv[r], i);
      if (want != got) cr_assert_fail("%s: rank %d element %zu is %ld, expected %ld", what, r, i, got, want);
    }

  for (int r = 0; r < n; r++) {
    nsccl_prog_free(&progs[r]);
    free(own[r]);
    free(extra[r]);
  }
  free(progs);
  free(own);
  free(extra);
  free(send);
  free(recv);
}

/* Every rank count x count x placement x chunking for one algorithm and collective. Large counts
 * get a moderate small chunk so that the 16-rank cases stay quick. */
static void sweep(nsccl_algo_t algo, int variant, nsccl_coll_t coll) {
  for (int ni = 0; ni < NRANKCOUNTS; ni++) {
    int n = rank_counts[ni];
    size_t counts[] = {0, 1, (size_t)n - 1, (size_t)n + 1, 1000, 65539};
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++)
      for (int ip = 0; ip < 2; ip++)
        for (int small = 0; small < 2; small++) {
          /* The large count runs once per placement (pipelined out of place, default chunk in
           * place): it is the expensive case and the small counts cover every combination. */
          if (counts[ci] > 1000 && small == ip) continue;
          case_t t = {algo, variant, coll, nscclInt32, nscclSum, n, counts[ci], ip == 1, 0};
          if (small) t.chunk = counts[ci] > 1000 ? 8192 : 12; /* 12: chunks of 3 elements, ragged ends */
          /* Alternate datatype and op so both appear at every size without doubling the work. */
          if ((ci + (size_t)ip) % 2) t.dtype = nscclFloat32;
          if (coll != NSCCL_COLL_ALLGATHER && small && !ip) t.op = nscclMax;
          run_case(&t);
        }
  }
}

Test(ring_direct, ring_allgather, .timeout = 120) { sweep(NSCCL_ALGO_RING, 0, NSCCL_COLL_ALLGATHER); }
Test(ring_direct, ring_reducescatter, .timeout = 120) { sweep(NSCCL_ALGO_RING, 0, NSCCL_COLL_REDUCESCATTER); }
Test(ring_direct, ring_allreduce, .timeout = 120) { sweep(NSCCL_ALGO_RING, 0, NSCCL_COLL_ALLREDUCE); }
Test(ring_direct, direct_allgather, .timeout = 120) { sweep(NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_ALLGATHER); }
Test(ring_direct, direct_reducescatter, .timeout = 120) { sweep(NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_REDUCESCATTER); }
Test(ring_direct, direct_allreduce_auto, .timeout = 120) { sweep(NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_ALLREDUCE); }
Test(ring_direct, direct_allreduce_oneshot, .timeout = 120) {
  sweep(NSCCL_ALGO_DIRECT, NSCCL_DIRECT_ONESHOT, NSCCL_COLL_ALLREDUCE);
}
Test(ring_direct, direct_allreduce_rsag, .timeout = 120) {
  sweep(NSCCL_ALGO_DIRECT, NSCCL_DIRECT_RSAG, NSCCL_COLL_ALLREDUCE);
}

/* A ring in a scrambled order must still be correct (topology-aware rings pass such orders). */
Test(ring_direct, ring_custom_order) {
  static const int order[] = {3, 0, 6, 2, 5, 1, 4};
  const int n = 7;
  for (int coll = 0; coll < NSCCL_NUM_COLLS; coll++) {
    nsccl_coll_args_t args = {(nsccl_coll_t)coll, 50, nscclInt32, false};
    nsccl_algo_opts_t opts = {16, 0};
    nsccl_program_t progs[7];
    int32_t *sb[7], *rb[7];
    char err[512];
    for (int r = 0; r < n; r++) {
      cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess);
      cr_assert_eq(nsccl_ring_build_ordered(order, &opts, &progs[r]), nscclSuccess);
      sb[r] = malloc(progs[r].buf_bytes[NSCCL_BUF_SEND]);
      rb[r] = malloc(progs[r].buf_bytes[NSCCL_BUF_RECV]);
      for (size_t i = 0; i < progs[r].buf_bytes[NSCCL_BUF_SEND] / 4; i++) sb[r][i] = input_value(r, i);
    }
    cr_assert_eq(nsccl_sched_validate(progs, n, err, sizeof(err)), nscclSuccess, "%s: %s",
                 nsccl_coll_name((nsccl_coll_t)coll), err);
    cr_assert_eq(nsccl_local_run(progs, n, (const void *const *)sb, (void *const *)rb, nscclSum, err, sizeof(err)),
                 nscclSuccess, "%s: %s", nsccl_coll_name((nsccl_coll_t)coll), err);
    case_t t = {NSCCL_ALGO_RING, 0, (nsccl_coll_t)coll, nscclInt32, nscclSum, n, 50, false, 16};
    for (int r = 0; r < n; r++) {
      for (size_t i = 0; i < progs[r].buf_bytes[NSCCL_BUF_RECV] / 4; i++)
        cr_assert_eq(rb[r][i], expected(&t, r, i), "%s rank %d element %zu", nsccl_coll_name((nsccl_coll_t)coll), r, i);
      nsccl_prog_free(&progs[r]);
      free(sb[r]);
      free(rb[r]);
    }
  }
}

/* The ring order must be a permutation containing the rank; a bad order is an error, not a crash. */
Test(ring_direct, ring_rejects_bad_order) {
  static const int bad[] = {0, 1, 5};
  static const int missing[] = {0, 0, 1};
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, 4, nscclInt32, false};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 2, 3, &args), nscclSuccess);
  cr_assert_eq(nsccl_ring_build_ordered(bad, NULL, &p), nscclInvalidArgument);
  cr_assert_eq(nsccl_ring_build_ordered(missing, NULL, &p), nscclInvalidArgument);
  nsccl_prog_free(&p);
}

/* Unknown direct all-reduce variants are rejected. */
Test(ring_direct, direct_rejects_unknown_variant) {
  nsccl_coll_args_t args = {NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false};
  nsccl_algo_opts_t opts = {0, 42};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 0, 2, &args), nscclSuccess);
  cr_assert_eq(nsccl_direct_build(NULL, &opts, &p), nscclInvalidArgument);
  nsccl_prog_free(&p);
}

/* Schedule shape: ring all-gather is n-1 sends and n-1 receives per chunk; direct all-gather's
 * steps have no dependencies at all (one step). */
Test(ring_direct, schedule_shape) {
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, 100, nscclInt32, false};
  nsccl_algo_opts_t opts = {100, 0}; /* 400 bytes per block: 4 chunks */
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 1, 5, &args), nscclSuccess);
  cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_RING, NULL, &opts, &p), nscclSuccess);
  unsigned kinds[NSCCL_NUM_STEP_KINDS] = {0};
  for (uint32_t s = 0; s < p.nsteps; s++) kinds[p.steps[s].kind]++;
  cr_assert_eq(kinds[NSCCL_STEP_SEND], 4 * 4);
  cr_assert_eq(kinds[NSCCL_STEP_RECV], 4 * 4);
  cr_assert_eq(kinds[NSCCL_STEP_COPY], 1);
  nsccl_prog_free(&p);

  cr_assert_eq(nsccl_prog_init(&p, 1, 5, &args), nscclSuccess);
  cr_assert_eq(nsccl_algo_build(NSCCL_ALGO_DIRECT, NULL, &opts, &p), nscclSuccess);
  cr_assert_eq(p.ndeps, 0);
  cr_assert_eq(p.nsteps, 1 + 2 * 4 * 4);
  nsccl_prog_free(&p);
}

/* Reproducibility with inexact floating-point sums: every rank must end with bit-identical
 * all-reduce results, and direct schedules must reduce in ascending source rank, i.e. match
 * ((x0 + x1) + x2) + ... computed serially here. */
static void float_order_case(nsccl_algo_t algo, int variant, nsccl_coll_t coll, bool in_place) {
  const int n = 7;
  const size_t count = 301; /* not divisible by n; with chunk 40 bytes, ragged chunks too */
  nsccl_coll_args_t args = {coll, count, nscclFloat32, in_place};
  nsccl_algo_opts_t opts = {40, variant};
  nsccl_program_t progs[7];
  float *buf[7], *out[7];
  char err[512];
  unsigned seed = 12345;
  for (int r = 0; r < n; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess);
    cr_assert_eq(nsccl_algo_build(algo, NULL, &opts, &progs[r]), nscclSuccess);
    size_t sn = progs[r].buf_bytes[NSCCL_BUF_SEND] / 4, rn = progs[r].buf_bytes[NSCCL_BUF_RECV] / 4;
    buf[r] = malloc((sn + rn) * 4 + 4);
    for (size_t i = 0; i < sn; i++) {
      seed = seed * 1103515245u + 12345u;
      buf[r][i] = (float)((seed >> 8) & 0xffff) / 7.0f - 4000.0f; /* inexact, mixed signs */
    }
    out[r] = in_place ? (coll == NSCCL_COLL_REDUCESCATTER ? buf[r] + (size_t)r * count : buf[r]) : buf[r] + sn;
  }
  cr_assert_eq(nsccl_sched_validate(progs, n, err, sizeof(err)), nscclSuccess, "%s", err);
  /* Serial ascending-rank reference, taken before an in-place run overwrites the inputs. */
  size_t rn = progs[0].buf_bytes[NSCCL_BUF_RECV] / 4;
  float *ref = malloc((size_t)n * rn * 4);
  for (int r = 0; r < n; r++)
    for (size_t i = 0; i < rn; i++) {
      size_t at = coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * count + i : i;
      float acc = buf[0][at];
      for (int j = 1; j < n; j++) acc = acc + buf[j][at];
      ref[(size_t)r * rn + i] = acc;
    }
  cr_assert_eq(nsccl_local_run(progs, n, (const void *const *)buf, (void *const *)out, nscclSum, err, sizeof(err)),
               nscclSuccess, "%s", err);
  for (int r = 0; r < n; r++) {
    if (coll == NSCCL_COLL_ALLREDUCE)
      cr_assert(!memcmp(out[r], out[0], rn * 4), "%s rank %d differs from rank 0", nsccl_algo_name(algo), r);
    if (algo == NSCCL_ALGO_DIRECT)
      for (size_t i = 0; i < rn; i++)
        cr_assert(out[r][i] == ref[(size_t)r * rn + i],
                  "direct %s rank %d element %zu: %.9g, ascending order gives %.9g", nsccl_coll_name(coll), r, i,
                  out[r][i], ref[(size_t)r * rn + i]);
  }
  for (int r = 0; r < n; r++) {
    nsccl_prog_free(&progs[r]);
    free(buf[r]);
  }
  free(ref);
}

Test(ring_direct, float_reduction_order) {
  for (int ip = 0; ip < 2; ip++) {
    float_order_case(NSCCL_ALGO_RING, 0, NSCCL_COLL_ALLREDUCE, ip);
    float_order_case(NSCCL_ALGO_DIRECT, NSCCL_DIRECT_ONESHOT, NSCCL_COLL_ALLREDUCE, ip);
    float_order_case(NSCCL_ALGO_DIRECT, NSCCL_DIRECT_RSAG, NSCCL_COLL_ALLREDUCE, ip);
    float_order_case(NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_REDUCESCATTER, ip);
  }
}
