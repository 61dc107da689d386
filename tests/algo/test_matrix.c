/* The algorithm matrix: every collective x every algorithm and variant x rank counts x counts x
 * datatypes x ops, in place and out of place. Each case builds all ranks' programs, validates them,
 * runs them on the local engine and compares every rank's output with a serial reference
 * (matrix_ref.h) computed here, independently of src/reduce.
 *
 * The case list is generated; one Criterion parameterized case per (collective, algorithm, rank count) runs
 * every count, datatype, op and in-place combination of that line. Datatypes and ops rotate
 * over the cases so that every algorithm meets many combinations without the full product; the
 * expensive corners (31/64 ranks x 65539 elements per rank) run only with 1-byte types and fewer
 * algorithms. NSCCL_MATRIX_ONLY=<substring> runs only the cases whose description contains it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo/algo.h"
#include "algo/bcast_reduce.h"
#include "algo/direct.h"
#include "algo/ring.h"
#include "algo/tree.h"
#include "engine/local.h"
#include "matrix_ref.h"
#include "sched/sched.h"

#define AG (1u << NSCCL_COLL_ALLGATHER)
#define RS (1u << NSCCL_COLL_REDUCESCATTER)
#define AR (1u << NSCCL_COLL_ALLREDUCE)
#define BC (1u << NSCCL_COLL_BROADCAST) /* rooted collectives: src/algo/bcast_reduce.h */
#define RD (1u << NSCCL_COLL_REDUCE)

typedef struct {
  const char *name;
  nsccl_algo_t algo;
  int variant;
  bool permuted; /* ring over a shuffled order (nsccl_ring_build_ordered) */
  unsigned colls;
  unsigned big31, big64; /* collectives (AG/RS) it runs at 31 / 64 ranks x 65539 elements per rank */
} algo_entry_t;

static const algo_entry_t entries[] = {
    {"ring", NSCCL_ALGO_RING, 0, false, AG | RS | AR | BC | RD, AG | RS, RS},
    {"ring-permuted", NSCCL_ALGO_RING, 0, true, AG | RS | AR, 0, 0},
    {"tree", NSCCL_ALGO_TREE, NSCCL_TREE_AUTO, false, AG | RS | AR | BC | RD, AG | RS, 0},
    {"tree-bruck", NSCCL_ALGO_TREE, NSCCL_TREE_BRUCK, false, AG, 0, 0},
    {"tree-rd", NSCCL_ALGO_TREE, NSCCL_TREE_RD, false, AR, 0, 0},
    {"tree-rabenseifner", NSCCL_ALGO_TREE, NSCCL_TREE_RABENSEIFNER, false, AR, 0, 0},
    {"tree-binary", NSCCL_ALGO_TREE, NSCCL_TREE_BINARY, false, AR, 0, 0},
    {"tree-double-binary", NSCCL_ALGO_TREE, NSCCL_TREE_DOUBLE_BINARY, false, AR, 0, 0},
    {"direct", NSCCL_ALGO_DIRECT, NSCCL_DIRECT_AUTO, false, AG | RS | AR | BC | RD, AG | RS, AG},
    {"direct-oneshot", NSCCL_ALGO_DIRECT, NSCCL_DIRECT_ONESHOT, false, AR, 0, 0},
    {"direct-rsag", NSCCL_ALGO_DIRECT, NSCCL_DIRECT_RSAG, false, AR, 0, 0},
};
#define NENTRIES (int)(sizeof(entries) / sizeof(entries[0]))

typedef struct {
  int coll, entry, nranks, dtype, op, root;
  size_t count, chunk;
  bool in_place;
  uint64_t seed;
} mcase_t;

static const int rank_counts[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64};
static const int all_types[] = {nscclInt8,       nscclUint8,      nscclInt32,   nscclUint32,
                                nscclInt64,      nscclUint64,     nscclFloat16, nscclBfloat16,
                                nscclFloat8e4m3, nscclFloat8e5m2, nscclFloat32, nscclFloat64};
#define NTYPES 12

static void describe(const mcase_t *c, char *out, size_t len) {
  snprintf(out, len, "%s %s n=%d count=%zu %s %s %s chunk=%zu", nsccl_coll_name((nsccl_coll_t)c->coll),
           entries[c->entry].name, c->nranks, c->count, tinfo[c->dtype].name,
           c->coll == NSCCL_COLL_ALLGATHER || c->coll == NSCCL_COLL_BROADCAST ? "-" : op_names[c->op],
           c->in_place ? "in-place" : "out-of-place", c->chunk);
  if (c->coll >= NSCCL_NUM_COLLS) snprintf(out + strlen(out), len - strlen(out), " root=%d", c->root);
}

/* Bytes of all ranks' send + recv buffers. */
static size_t case_bytes(int coll, int n, size_t count, size_t elem) {
  bool whole = coll == NSCCL_COLL_ALLREDUCE || coll >= NSCCL_NUM_COLLS; /* send and recv hold count */
  size_t per = whole ? 2 * count : count * (size_t)(n + 1);
  return per * elem * (size_t)n;
}

/* Pick the datatype and op of the k-th case of an (collective, algorithm) line, within limits. */
static void pick_type_op(mcase_t *c, unsigned k) {
  bool reducing = c->coll != NSCCL_COLL_ALLGATHER && c->coll != NSCCL_COLL_BROADCAST;
  unsigned combo = reducing ? (k * 7 + (unsigned)c->entry * 13) % (NTYPES * nscclNumOps) : k * 5 + (unsigned)c->entry;
  int dt = all_types[combo % NTYPES];
  c->op = reducing ? (int)((combo / NTYPES + combo) % nscclNumOps) : nscclSum;
  /* fp8 has 2-3 mantissa bits: exact small-integer sums only for a few ranks */
  if ((dt == nscclFloat8e4m3 || dt == nscclFloat8e5m2) && c->nranks > 8) dt = nscclBfloat16;
  /* large all-gathers / reduce-scatters: 1-byte types keep memory and time down */
  if (case_bytes(c->coll, c->nranks, c->count, tinfo[dt].size) > (24u << 20)) dt = k % 2 ? nscclUint8 : nscclInt8;
  c->dtype = dt;
}

static size_t gen_cases(mcase_t *out) {
  size_t n = 0;
  const char *only = getenv("NSCCL_MATRIX_ONLY");
  for (int coll = 0; coll < NSCCL_NUM_COLLS_ALL; coll++) {
    for (int e = 0; e < NENTRIES; e++) {
      if (!(entries[e].colls & (1u << coll))) continue;
      unsigned k = 0;
      for (size_t ri = 0; ri < sizeof(rank_counts) / sizeof(rank_counts[0]); ri++) {
        int nr = rank_counts[ri];
        size_t counts[6] = {0, 1, (size_t)nr - 1, (size_t)nr + 1, 1000, 65539};
        for (int ci = 0; ci < 6; ci++) {
          bool dup = false;
          for (int cj = 0; cj < ci; cj++) dup |= counts[cj] == counts[ci];
          if (dup) continue;
          size_t count = counts[ci];
          /* the expensive corner: n^2 * 65539 elements per case */
          if (coll != NSCCL_COLL_ALLREDUCE && count == 65539 &&
              ((nr == 31 && !(entries[e].big31 & (1u << coll))) || (nr == 64 && !(entries[e].big64 & (1u << coll)))))
            continue;
          if (entries[e].variant == NSCCL_DIRECT_ONESHOT && entries[e].algo == NSCCL_ALGO_DIRECT && nr == 64 &&
              count == 65539)
            continue; /* one-shot of 512 KiB vectors to 63 peers: never chosen, costly to run */
          /* small cases get a second combination, the other way in place */
          int reps = nr >= 2 && nr <= 8 && count >= (size_t)nr + 1 ? 2 : 1;
          bool prev_in_place = false;
          for (int rep = 0; rep < reps; rep++, k++) {
            mcase_t c = {0};
            c.coll = coll;
            c.entry = e;
            c.nranks = nr;
            c.count = count;
            /* in place and chunking from a hash, so they do not line up with counts or ranks */
            uint64_t h = ref_mix(((uint64_t)coll << 48) ^ ((uint64_t)e << 40) ^ ((uint64_t)nr << 16) ^
                                 ((uint64_t)ci << 4) ^ (uint64_t)rep);
            c.in_place = rep ? !prev_in_place : (h >> 7) & 1;
            prev_in_place = c.in_place;
            /* small chunks on some larger cases so that pipelined schedules appear */
            c.chunk = count >= 1000 && (h >> 17) % 3 == 0 ? (count == 1000 ? 96 : 4096) : 0;
            c.seed = 0x5eed0000ull + n * 7919u;
            c.root = (int)((h >> 23) % (uint64_t)nr);
            pick_type_op(&c, k);
            if (only) {
              char d[160];
              describe(&c, d, sizeof(d));
              if (!strstr(d, only)) continue;
            }
            if (out) out[n] = c;
            n++;
          }
        }
      }
    }
  }
  return n;
}

/* Message of the last failed case; helpers return false after filling it. */
static char fail_msg[1400];

static bool failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
  va_end(ap);
  return false;
}

/* A fixed shuffle of [0, n), the same on every rank. */
static void ring_order(int n, int *order) {
  for (int i = 0; i < n; i++) order[i] = i;
  uint64_t s = 0x1234567ull + (uint64_t)n;
  for (int i = n - 1; i > 0; i--) {
    s = ref_mix(s + 1);
    int j = (int)(s % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

typedef struct {
  nsccl_program_t *progs;
  unsigned char **bufs; /* allocations: [0, n) recv (or the in-place buffer), [n, 2n) send */
  const void **send;
  void **recv;
  unsigned char *expected;
  double *expected_avg; /* float avg only */
  ref_acc_t *acc;
} world_t;

static world_t W;

static void free_world(int n) {
  for (int r = 0; W.progs && r < n; r++) nsccl_prog_free(&W.progs[r]);
  for (int r = 0; W.bufs && r < 2 * n; r++) free(W.bufs[r]);
  free(W.progs);
  free(W.bufs);
  free(W.send);
  free(W.recv);
  free(W.expected);
  free(W.expected_avg);
  free(W.acc);
  memset(&W, 0, sizeof(W));
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  cr_assert(p != NULL, "out of memory (%zu bytes)", n);
  return p;
}

static bool build_all(const mcase_t *c, const char *desc) {
  int n = c->nranks;
  const algo_entry_t *e = &entries[c->entry];
  nsccl_coll_args_t args = {.coll = (nsccl_coll_t)c->coll,
                            .count = c->count,
                            .dtype = (nscclDataType_t)c->dtype,
                            .in_place = c->in_place,
                            .root = c->root};
  nsccl_algo_opts_t opts = {.chunk_bytes = c->chunk, .variant = e->variant};
  int *order = xmalloc(sizeof(int) * (size_t)n);
  ring_order(n, order);
  for (int r = 0; r < n; r++) {
    nscclResult_t rc = nsccl_prog_init(&W.progs[r], r, n, &args);
    if (rc == nscclSuccess && c->coll >= NSCCL_NUM_COLLS)
      rc = nsccl_bcast_reduce_build(e->algo, &opts, &W.progs[r]);
    else if (rc == nscclSuccess)
      rc = e->permuted ? nsccl_ring_build_ordered(order, &opts, &W.progs[r])
                       : nsccl_algo_build(e->algo, NULL, &opts, &W.progs[r]);
    if (rc != nscclSuccess) {
      free(order);
      return failf("%s: building rank %d failed (%d): %s", desc, r, (int)rc, nscclGetLastError(NULL));
    }
  }
  free(order);
  return true;
}

/* Allocate buffers, write inputs, and accumulate the reference. */
static void make_inputs(const mcase_t *c, const ref_gen_t *g) {
  int n = c->nranks;
  const tinfo_t *t = &tinfo[c->dtype];
  size_t sb = W.progs[0].buf_bytes[NSCCL_BUF_SEND], rb = W.progs[0].buf_bytes[NSCCL_BUF_RECV];
  size_t scount = sb / t->size;
  bool ag = c->coll == NSCCL_COLL_ALLGATHER, bc = c->coll == NSCCL_COLL_BROADCAST;
  size_t outlen = ag ? c->count * (size_t)n : scount; /* elements of the global expected vector */
  W.expected = xmalloc(outlen * t->size);
  if (!ag && !bc) W.acc = xmalloc(outlen * sizeof(ref_acc_t));
  for (int r = 0; r < n; r++) {
    size_t big = c->in_place && c->coll == NSCCL_COLL_ALLGATHER ? rb : sb;
    if (!c->in_place) {
      W.bufs[r] = xmalloc(rb);
      W.bufs[n + r] = xmalloc(sb);
      memset(W.bufs[r], 0xa5, rb); /* garbage: every output byte must be written */
      W.recv[r] = W.bufs[r];
      W.send[r] = W.bufs[n + r];
    } else {
      W.bufs[r] = xmalloc(big);
      memset(W.bufs[r], 0xa5, big);
      switch (c->coll) {
      case NSCCL_COLL_ALLGATHER:
        W.recv[r] = W.bufs[r];
        W.send[r] = W.bufs[r] + (size_t)r * sb;
        break;
      case NSCCL_COLL_REDUCESCATTER:
        W.send[r] = W.bufs[r];
        W.recv[r] = W.bufs[r] + (size_t)r * rb;
        break;
      default: W.send[r] = W.recv[r] = W.bufs[r]; break;
      }
    }
    unsigned char *in = (unsigned char *)W.send[r];
    for (size_t i = 0; i < scount; i++) {
      uint64_t ib;
      double d;
      ref_value(g, r, i, &ib, &d);
      if (!ref_store(in, i, (nscclDataType_t)c->dtype, ib, d))
        cr_assert_fail("reference bug: input %g not exact in %s", d, t->name);
      if (W.acc) ref_combine(g, &W.acc[i], ib, d, r == 0);
    }
    if (ag) memcpy(W.expected + (size_t)r * sb, in, sb);
    if (bc && r == c->root) memcpy(W.expected, in, sb);
  }
  if (ag || bc) return;
  bool favg = c->op == nscclAvg && t->kind == K_FLOAT;
  if (favg) W.expected_avg = xmalloc(outlen * sizeof(double));
  for (size_t i = 0; i < outlen; i++) {
    uint64_t ib;
    double d;
    ref_finish(g, &W.acc[i], &ib, &d);
    if (favg)
      W.expected_avg[i] = d;
    else if (!ref_store(W.expected, i, (nscclDataType_t)c->dtype, ib, d))
      cr_assert_fail("reference bug: result %g not exact in %s", d, t->name);
  }
}

/* Reduce: a rank other than the root must leave its recv alone (out of place: still the garbage
 * pattern; in place: still its input). */
static bool check_untouched(const mcase_t *c, const ref_gen_t *g, int r, const char *desc) {
  const tinfo_t *t = &tinfo[c->dtype];
  size_t rb = W.progs[0].buf_bytes[NSCCL_BUF_RECV];
  const unsigned char *got = W.recv[r];
  unsigned char want[8];
  for (size_t i = 0; i < rb / t->size; i++) {
    if (c->in_place) {
      uint64_t ib;
      double d;
      ref_value(g, r, i, &ib, &d);
      ref_store(want, 0, (nscclDataType_t)c->dtype, ib, d);
    } else {
      memset(want, 0xa5, sizeof(want));
    }
    if (memcmp(got + i * t->size, want, t->size))
      return failf("%s: rank %d is not the root but element %zu of its recv buffer changed", desc, r, i);
  }
  return true;
}

static bool check_outputs(const mcase_t *c, const ref_gen_t *g, const char *desc) {
  int n = c->nranks;
  const tinfo_t *t = &tinfo[c->dtype];
  size_t rb = W.progs[0].buf_bytes[NSCCL_BUF_RECV], relems = rb / t->size;
  for (int r = 0; r < n; r++) {
    if (c->coll == NSCCL_COLL_REDUCE && r != c->root) {
      if (!check_untouched(c, g, r, desc)) return false;
      continue;
    }
    size_t first = c->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * relems : 0; /* global index of recv[0] */
    const unsigned char *got = W.recv[r];
    if (W.expected_avg) {
      for (size_t i = 0; i < relems; i++) {
        double x = ref_load_float(got, i, (nscclDataType_t)c->dtype), want = W.expected_avg[first + i];
        double tol = ldexp(fabs(want), -t->mbits);
        if (!(fabs(x - want) <= tol))
          return failf("%s: rank %d element %zu is %.9g, expected %.9g (avg, tolerance %.3g)", desc, r, i, x, want,
                       tol);
      }
      continue;
    }
    const unsigned char *want = W.expected + first * t->size;
    if (!memcmp(got, want, rb)) continue;
    size_t i;
    for (i = 0; i < relems && !memcmp(got + i * t->size, want + i * t->size, t->size); i++) continue;
    uint64_t gb = 0, wb = 0;
    memcpy(&gb, got + i * t->size, t->size);
    memcpy(&wb, want + i * t->size, t->size);
    return failf("%s: rank %d element %zu has bits 0x%llx, expected 0x%llx%s", desc, r, i, (unsigned long long)gb,
                 (unsigned long long)wb, t->kind == K_FLOAT ? " (float)" : "");
  }
  return true;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One case: build, validate, run, compare. False (with fail_msg) on any failure. */
static bool run_case(const mcase_t *c) {
  char desc[160], err[1024];
  double t0 = now(), t1, t2, t3;
  describe(c, desc, sizeof(desc));
  int n = c->nranks;
  W.progs = calloc((size_t)n, sizeof(nsccl_program_t));
  W.bufs = calloc((size_t)n * 2, sizeof(unsigned char *));
  W.send = calloc((size_t)n, sizeof(void *));
  W.recv = calloc((size_t)n, sizeof(void *));
  cr_assert(W.progs && W.bufs && W.send && W.recv);
  bool ok = build_all(c, desc);
  t1 = now();
  nscclResult_t rc = ok ? nsccl_sched_validate(W.progs, n, err, sizeof(err)) : nscclSuccess;
  t2 = now();
  if (ok && rc != nscclSuccess) ok = failf("%s: validator: %s", desc, err);
  ref_gen_t g;
  ref_gen_init(&g, (nscclDataType_t)c->dtype, (nscclRedOp_t)c->op, n, c->seed);
  if (ok) {
    make_inputs(c, &g);
    rc = nsccl_local_run(W.progs, n, W.send, W.recv, (nscclRedOp_t)c->op, err, sizeof(err));
    if (rc != nscclSuccess) ok = failf("%s: local engine (%d): %s", desc, (int)rc, err);
  }
  if (ok) ok = check_outputs(c, &g, desc);
  t3 = now();
  /* shown with --verbose: which case, how long building, validating and the rest took */
  if (ok)
    cr_log_info("%s: %u steps/rank, build %.3f validate %.3f run+check %.3f s", desc, W.progs[0].nsteps, t1 - t0,
                t2 - t1, t3 - t2);
  free_world(n);
  return ok;
}

/* One Criterion case per (collective, algorithm, rank count): it runs every count, datatype, op
 * and in-place combination of that line, and reports each failing one (not only the first). */
typedef struct {
  int coll, entry, nranks;
} mgroup_t;

static size_t gen_groups(mgroup_t *out) {
  size_t n = gen_cases(NULL), ng = 0;
  mcase_t *cases = malloc(sizeof(mcase_t) * (n ? n : 1));
  if (!cases) return 0;
  gen_cases(cases);
  for (size_t i = 0; i < n; i++) {
    if (i && cases[i].coll == cases[i - 1].coll && cases[i].entry == cases[i - 1].entry &&
        cases[i].nranks == cases[i - 1].nranks)
      continue;
    if (out) out[ng] = (mgroup_t){cases[i].coll, cases[i].entry, cases[i].nranks};
    ng++;
  }
  free(cases);
  return ng;
}

static void free_groups(struct criterion_test_params *crp) { cr_free(crp->params); }

ParameterizedTestParameters(matrix, cases) {
  size_t n = gen_groups(NULL);
  mgroup_t *groups = cr_malloc(sizeof(mgroup_t) * (n ? n : 1));
  gen_groups(groups);
  return cr_make_param_array(mgroup_t, groups, n, free_groups);
}

ParameterizedTest(mgroup_t *gp, matrix, cases, .timeout = 300) {
  size_t n = gen_cases(NULL);
  mcase_t *cases = xmalloc(sizeof(mcase_t) * n);
  gen_cases(cases);
  int ran = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    const mcase_t *c = &cases[i];
    if (c->coll != gp->coll || c->entry != gp->entry || c->nranks != gp->nranks) continue;
    ran++;
    if (!run_case(c)) {
      failed++;
      cr_expect_fail("%s", fail_msg);
    }
  }
  cr_log_info("%s %s n=%d: %d cases, %d failed", nsccl_coll_name((nsccl_coll_t)gp->coll), entries[gp->entry].name,
              gp->nranks, ran, failed);
  cr_expect_gt(ran, 0);
  free(cases);
}

/* The list itself: enough cases, every collective x algorithm x rank count present. */
Test(matrix, case_list_covers_the_matrix) {
  if (getenv("NSCCL_MATRIX_ONLY")) cr_skip_test("filtered");
  size_t n = gen_cases(NULL);
  mcase_t *cases = xmalloc(sizeof(mcase_t) * n);
  gen_cases(cases);
  cr_expect_gt(n, 500);
  unsigned seen_types = 0, seen_ops = 0, seen_inplace = 0;
  for (int coll = 0; coll < NSCCL_NUM_COLLS_ALL; coll++)
    for (int e = 0; e < NENTRIES; e++) {
      if (!(entries[e].colls & (1u << coll))) continue;
      for (size_t ri = 0; ri < sizeof(rank_counts) / sizeof(rank_counts[0]); ri++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
          found |= cases[i].coll == coll && cases[i].entry == e && cases[i].nranks == rank_counts[ri];
        cr_expect(found, "%s %s n=%d missing", nsccl_coll_name((nsccl_coll_t)coll), entries[e].name, rank_counts[ri]);
      }
    }
  for (size_t i = 0; i < n; i++) {
    seen_types |= 1u << cases[i].dtype;
    if (cases[i].coll != NSCCL_COLL_ALLGATHER && cases[i].coll != NSCCL_COLL_BROADCAST) seen_ops |= 1u << cases[i].op;
    seen_inplace |= 1u << cases[i].in_place;
  }
  cr_expect_eq(seen_types, (1u << NTYPES) - 1);
  cr_expect_eq(seen_ops, (1u << nscclNumOps) - 1);
  cr_expect_eq(seen_inplace, 3u);
  free(cases);
}

/* The reference's own codecs against known encodings. */
Test(matrix, reference_codecs) {
  bool ex;
  cr_expect_eq(ref_encode_small(1.0, &tinfo[nscclFloat16], &ex), 0x3c00u);
  cr_expect_eq(ref_encode_small(-2.0, &tinfo[nscclBfloat16], &ex), 0xc000u);
  cr_expect_eq(ref_encode_small(1.0, &tinfo[nscclFloat8e4m3], &ex), 0x38u);
  cr_expect_eq(ref_encode_small(1.0, &tinfo[nscclFloat8e5m2], &ex), 0x3cu);
  cr_expect_eq(ref_encode_small(448.0, &tinfo[nscclFloat8e4m3], &ex), 0x7eu);
  cr_expect(ex);
  ref_encode_small(9.0, &tinfo[nscclFloat8e5m2], &ex);
  cr_expect(!ex, "9 is not exact in e5m2");
  for (int v = -16; v <= 16; v++) {
    uint64_t b = ref_encode_small(v, &tinfo[nscclFloat8e4m3], &ex);
    cr_expect(ex);
    cr_expect_eq(ref_decode_small(b, &tinfo[nscclFloat8e4m3]), (double)v);
  }
  cr_expect_eq(ref_decode_small(0x0001, &tinfo[nscclFloat16]), ldexp(1, -24));
  cr_expect(isnan(ref_decode_small(0x7f, &tinfo[nscclFloat8e4m3])));
  cr_expect(isinf(ref_decode_small(0x7c, &tinfo[nscclFloat8e5m2])));
}
