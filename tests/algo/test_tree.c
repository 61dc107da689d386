/* Self-check of the tree family (src/algo/tree*.c): every collective and variant is built for all
 * ranks, checked by the schedule validator, run by the local engine and compared element by
 * element with a serial reference computed here from the inputs. Inputs are small integers (or
 * +-1, 2, 0.5 for products) so every reduction order gives the exact same result. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/tree.h"
#include "engine/local.h"
#include "reduce/reduce.h"
#include "sched/sched.h"

#define MAXR 64

static const int nranks_list[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64};
#define NNRANKS (int)(sizeof(nranks_list) / sizeof(nranks_list[0]))

/* Total bytes of send + recv buffers over all ranks above which a case is skipped (memory, time). */
#define MAX_TOTAL_BYTES ((size_t)24 << 20)

typedef struct {
  nscclDataType_t dt;
  nscclRedOp_t op;
} dtop_t;

static const dtop_t reductions[] = {
    {nscclInt32, nscclSum},    {nscclFloat32, nscclSum}, {nscclFloat64, nscclMax}, {nscclInt32, nscclProd},
    {nscclFloat32, nscclProd}, {nscclInt64, nscclMin},   {nscclFloat32, nscclAvg}, {nscclInt32, nscclAvg},
};
static const nscclDataType_t gather_types[] = {nscclInt32, nscclInt8, nscclFloat16, nscclFloat64};

/* ---- values and the serial reference ---- */

static double input_value(int rank, size_t i, nscclRedOp_t op, bool is_float) {
  if (op == nscclProd) {
    static const double f[4] = {1, -1, 2, 0.5};
    return is_float ? f[((size_t)rank * 3 + i) % 4] : ((size_t)rank + i) % 3 == 0 ? -1 : 1;
  }
  return (double)((((size_t)rank + 1) * 31 + i * 17 + ((size_t)rank * i) % 7) % 199) - 99;
}

static bool is_float_type(nscclDataType_t dt) { return dt == nscclFloat32 || dt == nscclFloat64; }

static void store(nscclDataType_t dt, void *buf, size_t i, double v) {
  switch (dt) {
  case nscclInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
  case nscclInt64: ((int64_t *)buf)[i] = (int64_t)v; break;
  case nscclFloat32: ((float *)buf)[i] = (float)v; break;
  case nscclFloat64: ((double *)buf)[i] = v; break;
  default: cr_assert_fail("test: no store for datatype %d", (int)dt);
  }
}

/* The exact reduction of all ranks' element i, stored as dt into out[0]. */
static void reference(nscclDataType_t dt, nscclRedOp_t op, int nranks, size_t i, void *out) {
  bool fl = is_float_type(dt);
  double acc = input_value(0, i, op, fl);
  for (int r = 1; r < nranks; r++) {
    double v = input_value(r, i, op, fl);
    switch (op) {
    case nscclSum:
    case nscclAvg: acc += v; break;
    case nscclProd: acc *= v; break;
    case nscclMax: acc = v > acc ? v : acc; break;
    case nscclMin: acc = v < acc ? v : acc; break;
    default: break;
    }
  }
  if (op != nscclAvg) {
    store(dt, out, 0, acc);
  } else if (dt == nscclInt32) {
    ((int32_t *)out)[0] = (int32_t)acc / nranks; /* truncating, like the kernel */
  } else if (dt == nscclFloat32) {
    ((float *)out)[0] = (float)acc / (float)nranks; /* one correctly rounded division */
  } else {
    store(dt, out, 0, acc / nranks);
  }
}

static unsigned char gather_byte(int rank, size_t b) { return (unsigned char)(rank * 131 + b * 7 + 3); }

/* ---- one case ---- */

typedef struct {
  nsccl_coll_t coll;
  int variant;
  int nranks;
  size_t count;
  nscclDataType_t dt;
  nscclRedOp_t op;
  bool in_place;
  size_t chunk;
} tcase_t;

static nsccl_program_t progs[MAXR];
static unsigned char *bufs[MAXR], *sendp[MAXR], *recvp[MAXR];
static char err[2048];

static const char *describe(const tcase_t *t) {
  static char s[256];
  snprintf(s, sizeof(s), "tree %s variant %s, %d ranks, count %zu, %s %s, %s, chunk %zu", nsccl_coll_name(t->coll),
           nsccl_tree_variant_name(t->variant), t->nranks, t->count, nsccl_type_name(t->dt), nsccl_op_name(t->op),
           t->in_place ? "in place" : "out of place", t->chunk);
  return s;
}

static void build(const tcase_t *t) {
  nsccl_coll_args_t args = {t->coll, t->count, t->dt, t->in_place};
  nsccl_algo_opts_t opts = {t->chunk, t->variant};
  for (int r = 0; r < t->nranks; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, t->nranks, &args), nscclSuccess);
    nscclResult_t rc = nsccl_algo_build(NSCCL_ALGO_TREE, NULL, &opts, &progs[r]);
    cr_assert_eq(rc, nscclSuccess, "%s: building rank %d failed (%d)", describe(t), r, (int)rc);
  }
}

static void free_progs(int nranks) {
  for (int r = 0; r < nranks; r++) nsccl_prog_free(&progs[r]);
}

/* Buffers with NCCL's in-place aliasing, inputs written where the send buffer is. */
static void setup_buffers(const tcase_t *t) {
  size_t elem = nsccl_type_size(t->dt);
  size_t B = t->count * elem, n = (size_t)t->nranks;
  for (int r = 0; r < t->nranks; r++) {
    size_t sb = progs[r].buf_bytes[NSCCL_BUF_SEND], rb = progs[r].buf_bytes[NSCCL_BUF_RECV];
    size_t total = t->in_place ? (sb > rb ? sb : rb) : sb + rb;
    bufs[r] = malloc(total + 1);
    cr_assert_not_null(bufs[r]);
    memset(bufs[r], 0xA5, total + 1); /* garbage the schedule must overwrite */
    if (!t->in_place) {
      sendp[r] = bufs[r];
      recvp[r] = bufs[r] + sb;
    } else if (t->coll == NSCCL_COLL_ALLGATHER) {
      recvp[r] = bufs[r];
      sendp[r] = bufs[r] + (size_t)r * B;
    } else if (t->coll == NSCCL_COLL_REDUCESCATTER) {
      sendp[r] = bufs[r];
      recvp[r] = bufs[r] + (size_t)r * B;
    } else {
      sendp[r] = recvp[r] = bufs[r];
    }
    if (t->coll == NSCCL_COLL_ALLGATHER) {
      for (size_t b = 0; b < B; b++) sendp[r][b] = gather_byte(r, b);
    } else {
      size_t nin = t->coll == NSCCL_COLL_REDUCESCATTER ? t->count * n : t->count;
      for (size_t i = 0; i < nin; i++) store(t->dt, sendp[r], i, input_value(r, i, t->op, is_float_type(t->dt)));
    }
  }
}

static void check_results(const tcase_t *t) {
  size_t elem = nsccl_type_size(t->dt), B = t->count * elem;
  unsigned char want[8];
  for (int r = 0; r < t->nranks; r++) {
    if (t->coll == NSCCL_COLL_ALLGATHER) {
      for (int j = 0; j < t->nranks; j++)
        for (size_t b = 0; b < B; b++)
          if (recvp[r][(size_t)j * B + b] != gather_byte(j, b))
            cr_assert_fail("%s: rank %d byte %zu of block %d is %u, want %u", describe(t), r, b, j,
                           recvp[r][(size_t)j * B + b], gather_byte(j, b));
      continue;
    }
    size_t first = t->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * t->count : 0;
    for (size_t i = 0; i < t->count; i++) {
      reference(t->dt, t->op, t->nranks, first + i, want);
      if (memcmp(recvp[r] + i * elem, want, elem))
        cr_assert_fail("%s: rank %d element %zu differs from the serial reference", describe(t), r, i);
    }
  }
}

static void run_case(const tcase_t *t) {
  build(t);
  nscclResult_t rc = nsccl_sched_validate(progs, t->nranks, err, sizeof(err));
  cr_assert_eq(rc, nscclSuccess, "%s: validator: %s", describe(t), err);
  setup_buffers(t);
  rc = nsccl_local_run(progs, t->nranks, (const void *const *)sendp, (void *const *)recvp, t->op, err, sizeof(err));
  cr_assert_eq(rc, nscclSuccess, "%s: local engine: %s", describe(t), err);
  check_results(t);
  for (int r = 0; r < t->nranks; r++) free(bufs[r]);
  free_progs(t->nranks);
}

/* The whole matrix for one collective and variant: rank counts x counts x in-place x chunk size,
 * rotating through datatypes and ops. */
static void run_matrix(nsccl_coll_t coll, int variant) {
  int rot = 0, ran = 0;
  for (int ni = 0; ni < NNRANKS; ni++) {
    int n = nranks_list[ni];
    size_t counts[] = {0, 1, (size_t)n - 1, (size_t)n + 1, 1000, 65539};
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
      for (int ip = 0; ip < 2; ip++) {
        for (int small = 0; small < 2; small++, rot++) {
          tcase_t t = {coll, variant, n, counts[ci], nscclInt32, nscclSum, ip, 0};
          if (coll == NSCCL_COLL_ALLGATHER) {
            t.dt = gather_types[rot % 4];
          } else {
            t.dt = reductions[rot % 8].dt;
            t.op = reductions[rot % 8].op;
          }
          size_t elem = nsccl_type_size(t.dt), vec = t.count * elem;
          size_t per_rank = coll == NSCCL_COLL_ALLREDUCE ? 2 * vec : (size_t)(n + 1) * vec;
          if (per_rank * (size_t)n > MAX_TOTAL_BYTES) continue;
          /* Small chunks: many pieces per transfer, unaligned to blocks (not for the largest
           * vectors, which would only cost time). */
          if (small) t.chunk = t.count > 10000 ? 3 * 4096 : 12 * elem;
          run_case(&t);
          ran++;
        }
      }
    }
  }
  cr_log_info("tree %s %s: %d cases", nsccl_coll_name(coll), nsccl_tree_variant_name(variant), ran);
}

Test(tree, allgather) { run_matrix(NSCCL_COLL_ALLGATHER, NSCCL_TREE_AUTO); }
Test(tree, allgather_bruck) { run_matrix(NSCCL_COLL_ALLGATHER, NSCCL_TREE_BRUCK); }
Test(tree, reducescatter) { run_matrix(NSCCL_COLL_REDUCESCATTER, NSCCL_TREE_AUTO); }
Test(tree, allreduce_rd) { run_matrix(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD); }
Test(tree, allreduce_rabenseifner) { run_matrix(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RABENSEIFNER); }
Test(tree, allreduce_binary) { run_matrix(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_BINARY); }
Test(tree, allreduce_double_binary) { run_matrix(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_DOUBLE_BINARY); }

/* All-reduce of random floats, where the reduction order changes the bits: every rank must still
 * end with exactly the same bits (each element computed once, or with the same operand order on
 * both partners), close to the exact sum. */
Test(tree, allreduce_bitwise_identical) {
  static const int variants[] = {NSCCL_TREE_RD, NSCCL_TREE_RABENSEIFNER, NSCCL_TREE_BINARY, NSCCL_TREE_DOUBLE_BINARY};
  static const int ns[] = {2, 3, 5, 6, 8, 13, 16};
  const size_t count = 3001;
  float *in[MAXR];
  unsigned seed = 12345;
  for (int r = 0; r < 16; r++) {
    in[r] = malloc(count * sizeof(float));
    cr_assert_not_null(in[r]);
    for (size_t i = 0; i < count; i++) {
      seed = seed * 1103515245u + 12345u;
      in[r][i] = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 1e3f;
    }
  }
  for (size_t vi = 0; vi < sizeof(variants) / sizeof(variants[0]); vi++) {
    for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
      tcase_t t = {NSCCL_COLL_ALLREDUCE, variants[vi], ns[ni], count, nscclFloat32, nscclSum, false, 256};
      build(&t);
      for (int r = 0; r < t.nranks; r++) {
        sendp[r] = (unsigned char *)in[r];
        recvp[r] = bufs[r] = malloc(count * sizeof(float));
        cr_assert_not_null(bufs[r]);
      }
      nscclResult_t rc =
          nsccl_local_run(progs, t.nranks, (const void *const *)sendp, (void *const *)recvp, t.op, err, sizeof(err));
      cr_assert_eq(rc, nscclSuccess, "%s: local engine: %s", describe(&t), err);
      for (size_t i = 0; i < count; i++) {
        double exact = 0;
        for (int r = 0; r < t.nranks; r++) exact += in[r][i];
        float got = ((float *)recvp[0])[i];
        cr_assert(fabs(got - exact) <= 1e-3 * t.nranks, "%s: element %zu is %g, exact sum %g", describe(&t), i, got,
                  exact);
      }
      for (int r = 1; r < t.nranks; r++)
        cr_assert(!memcmp(recvp[r], recvp[0], count * sizeof(float)), "%s: rank %d's bits differ from rank 0's",
                  describe(&t), r);
      for (int r = 0; r < t.nranks; r++) free(bufs[r]);
      free_progs(t.nranks);
    }
  }
  for (int r = 0; r < 16; r++) free(in[r]);
}

/* Per-rank message counts show the schedules are logarithmic (with one chunk per transfer). */
static int count_kind(const nsccl_program_t *p, nsccl_step_kind_t kind) {
  int n = 0;
  for (uint32_t i = 0; i < p->nsteps; i++) n += p->steps[i].kind == kind;
  return n;
}

static int sends_of(nsccl_coll_t coll, int variant, int nranks, int rank, size_t count) {
  tcase_t t = {coll, variant, nranks, count, nscclInt32, nscclSum, false, 0};
  build(&t);
  int n = count_kind(&progs[rank], NSCCL_STEP_SEND);
  free_progs(nranks);
  return n;
}

Test(tree, logarithmic_message_counts) {
  /* Powers of two: lg p messages per phase. */
  cr_expect_eq(sends_of(NSCCL_COLL_ALLGATHER, NSCCL_TREE_AUTO, 16, 5, 100), 4);
  cr_expect_eq(sends_of(NSCCL_COLL_REDUCESCATTER, NSCCL_TREE_AUTO, 16, 5, 100), 4);
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD, 16, 5, 100), 4);
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RABENSEIFNER, 16, 5, 1600), 8);
  /* Bruck on 13 ranks: 4 steps, plus at most one extra piece per step where the run wraps. */
  for (int r = 0; r < 13; r++) {
    int s = sends_of(NSCCL_COLL_ALLGATHER, NSCCL_TREE_AUTO, 13, r, 100);
    cr_expect(s >= 4 && s <= 8, "bruck rank %d sends %d messages", r, s);
  }
  /* Fold-in on 13 = 8 + 5: extra rank 1 sends once; its partner 0 sends lg 8 + 1 (the result). */
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD, 13, 1, 100), 1);
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD, 13, 0, 100), 4);
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD, 13, 12, 100), 3);
  /* Binary tree on 7 ranks, one chunk: an inner rank sends up once and down twice. */
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_BINARY, 7, 1, 100), 3);
  cr_expect_eq(sends_of(NSCCL_COLL_ALLREDUCE, NSCCL_TREE_BINARY, 7, 6, 100), 1);
}

Test(tree, auto_picks_rd_then_rabenseifner) {
  nsccl_coll_args_t small = {NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD_MAX_BYTES / 4, nscclFloat32, false};
  nsccl_coll_args_t large = {NSCCL_COLL_ALLREDUCE, NSCCL_TREE_RD_MAX_BYTES / 4 + 1, nscclFloat32, false};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 0, 4, &small), nscclSuccess);
  cr_expect_eq(nsccl_tree_resolve_variant(&p, NSCCL_TREE_AUTO), NSCCL_TREE_RD);
  cr_expect_eq(nsccl_tree_resolve_variant(&p, NSCCL_TREE_BINARY), NSCCL_TREE_BINARY);
  cr_assert_eq(nsccl_prog_init(&p, 0, 4, &large), nscclSuccess);
  cr_expect_eq(nsccl_tree_resolve_variant(&p, NSCCL_TREE_AUTO), NSCCL_TREE_RABENSEIFNER);
  cr_expect_eq(nsccl_tree_resolve_variant(&p, NSCCL_TREE_BRUCK), NSCCL_TREE_RABENSEIFNER);
  cr_expect_eq(nsccl_tree_resolve_variant(&p, NSCCL_TREE_NUM_VARIANTS), -1);
}

Test(tree, rejects_unknown_variant) {
  nsccl_coll_args_t args = {NSCCL_COLL_ALLREDUCE, 10, nscclFloat32, false};
  nsccl_algo_opts_t opts = {0, 99};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 0, 4, &args), nscclSuccess);
  cr_expect_eq(nsccl_algo_build(NSCCL_ALGO_TREE, NULL, &opts, &p), nscclInvalidArgument);
  nsccl_prog_free(&p);
}
