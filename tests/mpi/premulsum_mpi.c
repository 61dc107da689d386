/* MPI-launched test of nscclRedOpCreatePreMulSum: all-reduce, reduce-scatter and reduce with a
 * PreMulSum operator whose scalar differs per rank (rank r multiplies by r + 2), for the integer
 * and floating types, in place and out of place, at counts from 1 to past the small-message path.
 * The reference is MPI_Allreduce (MPI_SUM) of the inputs this test multiplies itself, serially.
 * Inputs are small integers, so every product and partial sum is exact in every type and the
 * comparison is bit for bit whatever order either library sums in.
 *
 * Also: a Device-residence scalar is read when the collective runs (changed between two calls); a
 * HostImmediate scalar is copied at creation (changing the variable afterwards changes nothing);
 * operators used inside a group; and the errors: another datatype's operator, a destroyed one, an
 * unknown one, destroying a built-in.
 *
 *   mpirun -n N premulsum_mpi    (exit status 1 on any difference) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/small_floats.h"
#include "nsccl.h"

static int rank, nranks, failures;

#define EXPECT(cond, ...)                                                                                              \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      failures++;                                                                                                      \
      fprintf(stderr, "rank %d: ", rank);                                                                              \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fprintf(stderr, "\n");                                                                                           \
    }                                                                                                                  \
  } while (0)

typedef struct {
  const char *name;
  nscclDataType_t dt;
  size_t elem;
} type_t;

static const type_t types[] = {
    {"int8", nscclInt8, 1},         {"uint8", nscclUint8, 1},     {"int32", nscclInt32, 4},
    {"uint32", nscclUint32, 4},     {"int64", nscclInt64, 8},     {"uint64", nscclUint64, 8},
    {"float16", nscclFloat16, 2},   {"float32", nscclFloat32, 4}, {"float64", nscclFloat64, 8},
    {"bfloat16", nscclBfloat16, 2},
};

/* Exact small integers in each type's format (the test keeps every value under 128). */
static void store(nscclDataType_t dt, void *buf, size_t i, unsigned v) {
  switch (dt) {
  case nscclInt8: ((int8_t *)buf)[i] = (int8_t)v; break;
  case nscclUint8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
  case nscclInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
  case nscclUint32: ((uint32_t *)buf)[i] = v; break;
  case nscclInt64: ((int64_t *)buf)[i] = v; break;
  case nscclUint64: ((uint64_t *)buf)[i] = v; break;
  case nscclFloat16: ((uint16_t *)buf)[i] = small_int_to_half(v); break;
  case nscclFloat32: ((float *)buf)[i] = (float)v; break;
  case nscclFloat64: ((double *)buf)[i] = v; break;
  case nscclBfloat16: ((uint16_t *)buf)[i] = small_int_to_bf16(v); break;
  default: break;
  }
}

/* Input element i of rank r: 0..3, so that sum over ranks of (r + 2) * x stays below 128 for up
 * to 8 ranks (at most 3 * (2 + ... + 9) = 132 at 8 ranks: the test runs at most 5). */
static unsigned input(int r, size_t i, int call) { return (unsigned)(((size_t)r * 5 + i * 3 + (size_t)call) % 4); }
static unsigned scalar_of(int r) { return (unsigned)r + 2; }

/* The expected sum of element i: computed with MPI from this test's own products. */
static unsigned long *reference(size_t n, int call, unsigned mult) {
  unsigned long *mine = malloc(n * sizeof(*mine)), *sum = malloc(n * sizeof(*sum));
  for (size_t i = 0; i < n; i++) mine[i] = (unsigned long)mult * input(rank, i, call);
  MPI_Allreduce(mine, sum, (int)n, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
  free(mine);
  return sum;
}

static void check(const type_t *t, const void *got, const unsigned long *want, size_t n, const char *what) {
  unsigned char *expect = malloc(n * t->elem + 1);
  for (size_t i = 0; i < n; i++) store(t->dt, expect, i, (unsigned)want[i]);
  for (size_t i = 0; i < n; i++)
    if (memcmp((const char *)got + i * t->elem, expect + i * t->elem, t->elem)) {
      EXPECT(0, "%s %s count %zu: element %zu differs from MPI's sum of pre-multiplied inputs (want %lu)", what,
             t->name, n, i, want[i]);
      break;
    }
  free(expect);
}

static void collectives(nscclComm_t comm, const type_t *t, size_t count, int call) {
  unsigned k = scalar_of(rank);
  unsigned char kbuf[8];
  store(t->dt, kbuf, 0, k);
  nscclRedOp_t op;
  EXPECT(nscclRedOpCreatePreMulSum(&op, kbuf, t->dt, nscclScalarHostImmediate, comm) == nscclSuccess, "create %s",
         t->name);
  EXPECT((int)op >= nscclNumOps, "a PreMulSum operator (%d) must not collide with a built-in one", (int)op);
  size_t p = (size_t)nranks, e = t->elem;
  unsigned char *send = calloc(count * p + 1, e), *recv = calloc(count * p + 1, e);
  for (int in_place = 0; in_place < 2; in_place++) {
    /* all-reduce */
    for (size_t i = 0; i < count; i++) store(t->dt, send, i, input(rank, i, call));
    void *out = in_place ? send : recv;
    EXPECT(nscclAllReduce(send, out, count, t->dt, op, comm, NULL) == nscclSuccess, "all-reduce");
    unsigned long *want = reference(count, call, k);
    check(t, out, want, count, in_place ? "all-reduce in place" : "all-reduce");
    free(want);
    /* reduce-scatter: block b of every rank's input reduced onto rank b */
    for (size_t i = 0; i < count * p; i++) store(t->dt, send, i, input(rank, i, call));
    out = in_place ? send + (size_t)rank * count * e : recv;
    EXPECT(nscclReduceScatter(send, out, count, t->dt, op, comm, NULL) == nscclSuccess, "reduce-scatter");
    want = reference(count * p, call, k);
    check(t, out, want + (size_t)rank * count, count, in_place ? "reduce-scatter in place" : "reduce-scatter");
    free(want);
    /* reduce onto the last rank */
    int root = nranks - 1;
    for (size_t i = 0; i < count; i++) store(t->dt, send, i, input(rank, i, call));
    out = in_place ? send : recv;
    EXPECT(nscclReduce(send, out, count, t->dt, op, root, comm, NULL) == nscclSuccess, "reduce");
    want = reference(count, call, k);
    if (rank == root) check(t, out, want, count, in_place ? "reduce in place" : "reduce");
    free(want);
  }
  EXPECT(nscclRedOpDestroy(op, comm) == nscclSuccess, "destroy");
  free(send);
  free(recv);
}

/* Device residence: the value is read when the collective runs. HostImmediate: copied at creation. */
static void residence(nscclComm_t comm) {
  float kdev = 3.0f, kimm = 5.0f, x = 1.0f + (float)rank, out = 0;
  nscclRedOp_t dev, imm;
  EXPECT(nscclRedOpCreatePreMulSum(&dev, &kdev, nscclFloat32, nscclScalarDevice, comm) == nscclSuccess, "create dev");
  EXPECT(nscclRedOpCreatePreMulSum(&imm, &kimm, nscclFloat32, nscclScalarHostImmediate, comm) == nscclSuccess,
         "create imm");
  float ranks_sum = (float)nranks * (float)(nranks + 1) / 2; /* sum of (1 + r) */
  kdev = 7.0f;
  kimm = 11.0f;
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, dev, comm, NULL) == nscclSuccess, "dev all-reduce");
  EXPECT(out == 7.0f * ranks_sum, "Device scalar: %g, want %g (the value at the call, 7)", out, 7.0f * ranks_sum);
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, imm, comm, NULL) == nscclSuccess, "imm all-reduce");
  EXPECT(out == 5.0f * ranks_sum, "HostImmediate scalar: %g, want %g (the value at creation, 5)", out,
         5.0f * ranks_sum);
  /* Both inside one group: run at the group's end, the Device scalar read then. */
  float out2 = 0;
  EXPECT(nscclGroupStart() == nscclSuccess, "group start");
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, dev, comm, NULL) == nscclSuccess, "grouped dev");
  EXPECT(nscclAllReduce(&x, &out2, 1, nscclFloat32, imm, comm, NULL) == nscclSuccess, "grouped imm");
  kdev = 2.0f;
  EXPECT(nscclGroupEnd() == nscclSuccess, "group end");
  EXPECT(out == 2.0f * ranks_sum && out2 == 5.0f * ranks_sum, "grouped: %g and %g, want %g and %g", out, out2,
         2.0f * ranks_sum, 5.0f * ranks_sum);
  /* Errors: each one is the calling rank's own, before anything is sent. */
  double xd = 1, outd = 0;
  EXPECT(nscclAllReduce(&xd, &outd, 1, nscclFloat64, dev, comm, NULL) == nscclInvalidArgument,
         "a float32 operator on a float64 all-reduce must be refused");
  EXPECT(nscclRedOpDestroy(dev, comm) == nscclSuccess, "destroy dev");
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, dev, comm, NULL) == nscclInvalidArgument,
         "a destroyed operator must be refused");
  EXPECT(nscclRedOpDestroy(dev, comm) == nscclInvalidArgument, "destroying twice must be refused");
  EXPECT(nscclRedOpDestroy(nscclSum, comm) == nscclInvalidArgument, "destroying a built-in must be refused");
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, (nscclRedOp_t)(nscclNumOps + 40), comm, NULL) ==
             nscclInvalidArgument,
         "an unknown operator must be refused");
  EXPECT(nscclRedOpCreatePreMulSum(&dev, NULL, nscclFloat32, nscclScalarDevice, comm) == nscclInvalidArgument,
         "a NULL scalar must be refused");
  /* The communicator is still usable after the refusals. */
  EXPECT(nscclAllReduce(&x, &out, 1, nscclFloat32, imm, comm, NULL) == nscclSuccess && out == 5.0f * ranks_sum,
         "after the refusals: %g, want %g", out, 5.0f * ranks_sum);
  EXPECT(nscclRedOpDestroy(imm, comm) == nscclSuccess, "destroy imm");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  nscclUniqueId id;
  if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  nscclComm_t comm;
  if (nscclCommInitRank(&comm, nranks, id, rank) != nscclSuccess) {
    fprintf(stderr, "rank %d: init failed\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  static const size_t counts[] = {1, 3, 64, 1000, 70000};
  int call = 0;
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) collectives(comm, &types[t], counts[c], call++);
  residence(comm);
  nscclCommDestroy(comm);
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("premulsum_mpi: %d ranks, %d failure(s)\n", nranks, total);
  MPI_Finalize();
  return total ? 1 : 0;
}
