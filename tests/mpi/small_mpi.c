/* MPI-launched test of the small-message path (docs/runtime.md, "Receives fused with their
 * reduction"; docs/transport.md, "Fast path"): calls run back to back, as a training loop issues
 * them, with inputs that change every iteration, so that a stale or reused slot, a message matched
 * to the wrong call, or a reduction applied twice shows up as a wrong result.
 *
 * Part 1: every datatype MPI has (and float16 / bfloat16 through floats) x every op x small counts
 * (one cache line to a few KiB) x all-reduce, all-gather, reduce-scatter x in place and out of
 * place x the selector's choice and the forced tree and direct families. For each shape, ITERS calls
 * run back to back (no MPI in between), each with its own inputs and output buffer; then MPI
 * computes every iteration's reference on the same inputs and the outputs must be identical.
 *
 * Part 2: LOOP 8-byte all-reduces back to back, each checked against a serial formula (rank r
 * contributes (r + 1) * (k % 7 + 1) at iteration k; the sum is (k % 7 + 1) * n (n + 1) / 2).
 *
 * --registered: part 1's input and output areas come from nscclMemAlloc and are registered with
 * every communicator, so same-host peers load (and reduce) messages straight from them (run with
 * NSCCL_SHM_DIRECT_MIN=0 to send every message that way); part 2's buffers stay unregistered, so
 * registered and unregistered calls mix on one communicator. Every communicator must then have
 * read at least one message from a peer's registered buffer (its transport's counter), or the
 * test fails: the path under test was not taken.
 *
 *   mpirun -n N small_mpi [--loop K] [--registered]     (exit status 1 on any difference) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/small_floats.h"
#include "api/comm.h"
#include "nsccl.h"

#define ITERS     16
#define MAX_COUNT 300
#define NCOMMS    3

typedef enum { AR, AG, RS } coll_t;
static const char *const coll_names[] = {"allreduce", "allgather", "reducescatter"};

typedef struct {
  const char *name;
  nscclDataType_t dt;
  MPI_Datatype mt; /* narrow types: MPI_FLOAT, results converted */
  size_t elem;
  int narrow; /* 1 half, 2 bfloat16 */
} type_t;

static int rank, nranks, failures;


/* Small non-negative integers: every partial sum, product, max and min is exact in every type and
 * independent of the order of reduction. prod: 1 or 2, so that products of 4 ranks stay below 16. */
static unsigned value(int r, int it, size_t i, nscclRedOp_t op) {
  if (op == nscclProd) return 1 + (unsigned)((i + (size_t)r + (size_t)it) % 3 == 0);
  return (unsigned)(((size_t)r * 3 + i * 7 + (size_t)it * 5) % 10);
}

static void store(const type_t *t, void *buf, size_t i, unsigned v) {
  switch (t->dt) {
  case nscclInt8: ((int8_t *)buf)[i] = (int8_t)v; break;
  case nscclUint8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
  case nscclInt32: ((int32_t *)buf)[i] = (int32_t)v; break;
  case nscclUint32: ((uint32_t *)buf)[i] = v; break;
  case nscclInt64: ((int64_t *)buf)[i] = (int64_t)v; break;
  case nscclUint64: ((uint64_t *)buf)[i] = v; break;
  case nscclFloat: ((float *)buf)[i] = (float)v; break;
  case nscclDouble: ((double *)buf)[i] = (double)v; break;
  case nscclHalf: ((uint16_t *)buf)[i] = small_int_to_half(v); break;
  case nscclBfloat16: ((uint16_t *)buf)[i] = small_int_to_bf16(v); break;
  default: break;
  }
}

/* MPI's result (float for the narrow types) -> the bytes nsccl must produce; avg divides. */
static void expected(const type_t *t, nscclRedOp_t op, int divide, const void *mpi, void *want, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (t->narrow) {
      unsigned v = (unsigned)((const float *)mpi)[i];
      ((uint16_t *)want)[i] = t->narrow == 1 ? small_int_to_half(v) : small_int_to_bf16(v);
    }
  }
  if (!t->narrow) memcpy(want, mpi, n * t->elem);
  if (op != nscclAvg || !divide) return;
  for (size_t i = 0; i < n; i++) switch (t->dt) {
    case nscclInt8: ((int8_t *)want)[i] = (int8_t)(((int8_t *)want)[i] / nranks); break;
    case nscclUint8: ((uint8_t *)want)[i] = (uint8_t)(((uint8_t *)want)[i] / (unsigned)nranks); break;
    case nscclInt32: ((int32_t *)want)[i] /= nranks; break;
    case nscclUint32: ((uint32_t *)want)[i] /= (uint32_t)nranks; break;
    case nscclInt64: ((int64_t *)want)[i] /= nranks; break;
    case nscclUint64: ((uint64_t *)want)[i] /= (uint64_t)nranks; break;
    case nscclFloat: ((float *)want)[i] /= (float)nranks; break;
    case nscclDouble: ((double *)want)[i] /= (double)nranks; break;
    default: break;
    }
}

static MPI_Op mpi_op(nscclRedOp_t op) {
  return op == nscclProd ? MPI_PROD : op == nscclMax ? MPI_MAX : op == nscclMin ? MPI_MIN : MPI_SUM;
}

static void fail(const char *what, int it, const char *why) {
  if (failures++ < 20) fprintf(stderr, "rank %d: %s, iteration %d: %s\n", rank, what, it, why);
}

/* Buffers: per iteration one input and one output area of MAX_COUNT * nranks * 8 bytes. */
static char *in_buf, *out_buf, *want, *mpi_in, *mpi_out;
static size_t area;

static void run_shape(nscclComm_t comm, const char *cname, coll_t coll, const type_t *t, nscclRedOp_t op, size_t count,
                      int in_place) {
  size_t n = (size_t)nranks, elem = t->elem;
  size_t send_n = coll == RS ? count * n : count, recv_n = coll == AG ? count * n : count;
  char what[200];
  snprintf(what, sizeof(what), "%s %s %s op %d count %zu %s", coll_names[coll], cname, t->name, (int)op, count,
           in_place ? "in place" : "out of place");
  /* Inputs of every iteration first (rank r's element i of iteration it is value(r, it, i)). */
  for (int it = 0; it < ITERS; it++) {
    char *in = in_buf + (size_t)it * area, *out = out_buf + (size_t)it * area;
    memset(out, 0xa5, (coll == RS ? send_n : recv_n) * elem); /* poisoned: every element must be written */
    for (size_t i = 0; i < send_n; i++) store(t, in, i, value(rank, it, i, op));
    if (in_place) /* the input where the in-place call expects it (in stays MPI's input) */
      memcpy(coll == AG ? out + (size_t)rank * count * elem : out, in, send_n * elem);
  }
  /* Back to back: nothing between the calls. */
  for (int it = 0; it < ITERS; it++) {
    char *in = in_buf + (size_t)it * area, *out = out_buf + (size_t)it * area;
    nscclResult_t rc;
    if (coll == AR)
      rc = nscclAllReduce(in_place ? out : in, out, count, t->dt, op, comm, NULL);
    else if (coll == AG)
      rc = nscclAllGather(in_place ? out + (size_t)rank * count * elem : in, out, count, t->dt, comm, NULL);
    else
      rc = nscclReduceScatter(in_place ? out : in, in_place ? out + (size_t)rank * count * elem : out, count, t->dt, op,
                              comm, NULL);
    if (rc != nscclSuccess) fail(what, it, nscclGetLastError(NULL));
  }
  for (int it = 0; it < ITERS; it++) {
    const char *in = in_buf + (size_t)it * area;
    const char *got = out_buf + (size_t)it * area + (in_place && coll == RS ? (size_t)rank * count * elem : 0);
    const void *src = in;
    if (t->narrow) {
      for (size_t i = 0; i < send_n; i++) ((float *)mpi_in)[i] = (float)value(rank, it, i, op);
      src = mpi_in;
    }
    int c = (int)count;
    if (coll == AR) MPI_Allreduce(src, mpi_out, c, t->mt, mpi_op(op), MPI_COMM_WORLD);
    if (coll == AG) MPI_Allgather(src, c, t->mt, mpi_out, c, t->mt, MPI_COMM_WORLD);
    if (coll == RS) MPI_Reduce_scatter_block(src, mpi_out, c, t->mt, mpi_op(op), MPI_COMM_WORLD);
    expected(t, op, coll != AG, mpi_out, want, recv_n);
    if (memcmp(got, want, recv_n * elem)) fail(what, it, "differs from MPI");
  }
}

/* Part 2: many 8-byte all-reduces back to back, each checked at once against the formula. */
static void run_loop(nscclComm_t comm, int loops) {
  int64_t x, y;
  int64_t tri = (int64_t)nranks * (nranks + 1) / 2;
  for (int k = 0; k < loops; k++) {
    x = (int64_t)(rank + 1) * (k % 7 + 1);
    nscclResult_t rc = nscclAllReduce(&x, &y, 1, nscclInt64, nscclSum, comm, NULL);
    if (rc != nscclSuccess) {
      fail("8-byte loop", k, nscclGetLastError(NULL));
      return;
    }
    if (y != (k % 7 + 1) * tri) {
      char why[80];
      snprintf(why, sizeof(why), "got %lld, want %lld", (long long)y, (long long)((k % 7 + 1) * tri));
      fail("8-byte loop", k, why);
    }
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int loops = 20000, registered = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--loop") && i + 1 < argc)
      loops = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--registered"))
      registered = 1;
    else {
      if (rank == 0) fprintf(stderr, "usage: small_mpi [--loop K] [--registered]\n");
      MPI_Finalize();
      return 2;
    }
  }
  const type_t types[] = {
      {"int8", nscclInt8, MPI_INT8_T, 1, 0},    {"uint8", nscclUint8, MPI_UINT8_T, 1, 0},
      {"int32", nscclInt32, MPI_INT32_T, 4, 0}, {"uint32", nscclUint32, MPI_UINT32_T, 4, 0},
      {"int64", nscclInt64, MPI_INT64_T, 8, 0}, {"uint64", nscclUint64, MPI_UINT64_T, 8, 0},
      {"float32", nscclFloat, MPI_FLOAT, 4, 0}, {"float64", nscclDouble, MPI_DOUBLE, 8, 0},
      {"float16", nscclHalf, MPI_FLOAT, 2, 1},  {"bfloat16", nscclBfloat16, MPI_FLOAT, 2, 2},
  };
  const nscclRedOp_t ops[] = {nscclSum, nscclProd, nscclMax, nscclMin, nscclAvg};
  /* One cache line of payload and less, several lines, several KiB (more than one ring slot). */
  const size_t counts[] = {1, 3, 8, 31, 64, MAX_COUNT};
  const char *algos[NCOMMS] = {NULL, "tree", "direct"};
  const char *cnames[NCOMMS] = {"auto", "tree", "direct"};

  area = (size_t)MAX_COUNT * (size_t)nranks * 8;
  if (registered) {
    if (nscclMemAlloc((void **)&in_buf, area * ITERS) != nscclSuccess ||
        nscclMemAlloc((void **)&out_buf, area * ITERS) != nscclSuccess) {
      fprintf(stderr, "rank %d: nscclMemAlloc: %s\n", rank, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  } else {
    in_buf = malloc(area * ITERS);
    out_buf = malloc(area * ITERS);
  }
  want = malloc(area);
  mpi_in = malloc(area * 2);
  mpi_out = malloc(area * 2);
  if (!in_buf || !out_buf || !want || !mpi_in || !mpi_out) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  nscclComm_t comms[NCOMMS];
  for (int a = 0; a < NCOMMS; a++) {
    nscclUniqueId id;
    if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
    cfg.algo = algos[a];
    if (nscclCommInitRankConfig(&comms[a], nranks, id, rank, &cfg) != nscclSuccess) {
      fprintf(stderr, "rank %d: init (%s): %s\n", rank, cnames[a], nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  void *handles[NCOMMS][2];
  /* Direct reads before the shapes (the transport's measurement at init makes some) do not count. */
  uint64_t direct0[NCOMMS];
  for (int a = 0; a < NCOMMS; a++) {
    nsccl_transport_stats_t st;
    nsccl_transport_stats(comms[a]->tp, &st);
    direct0[a] = st.fp_direct_reads;
  }
  for (int a = 0; a < NCOMMS && registered; a++)
    if (nscclCommRegister(comms[a], in_buf, area * ITERS, &handles[a][0]) != nscclSuccess ||
        nscclCommRegister(comms[a], out_buf, area * ITERS, &handles[a][1]) != nscclSuccess) {
      fprintf(stderr, "rank %d: nscclCommRegister: %s\n", rank, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  double t0 = MPI_Wtime();
  long shapes = 0;
  for (int a = 0; a < NCOMMS; a++)
    for (int coll = AR; coll <= RS; coll++)
      for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
          if (coll == AG && o > 0) continue; /* no op */
          /* Narrow types: sum, max, min (products of float16 rounding aside, the kernels are the same). */
          if (types[t].narrow && (ops[o] == nscclProd || ops[o] == nscclAvg)) continue;
          for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
            for (int ip = 0; ip < 2; ip++) {
              run_shape(comms[a], cnames[a], (coll_t)coll, &types[t], ops[o], counts[c], ip);
              shapes++;
            }
        }
  double t1 = MPI_Wtime();
  run_loop(comms[0], loops);
  double t2 = MPI_Wtime();
  for (int a = 0; a < NCOMMS && registered && nranks > 1; a++) {
    nsccl_transport_stats_t st;
    nsccl_transport_stats(comms[a]->tp, &st);
    if (st.fp_direct_reads == direct0[a]) fail(cnames[a], 0, "no message was read from a peer's registered buffer");
    if (nscclCommDeregister(comms[a], handles[a][0]) != nscclSuccess ||
        nscclCommDeregister(comms[a], handles[a][1]) != nscclSuccess)
      fail("deregister", 0, nscclGetLastError(NULL));
  }
  for (int a = 0; a < NCOMMS; a++)
    if (nscclCommDestroy(comms[a]) != nscclSuccess) fail("destroy", 0, nscclGetLastError(NULL));
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%d ranks: %ld shapes x %d back-to-back calls%s and %d 8-byte all-reduces: %s (%d failures); %.2f s + "
           "%.2f s\n",
           nranks, shapes, ITERS, registered ? " on registered buffers" : "", loops,
           total ? "FAILED" : "every result as expected", total, t1 - t0, t2 - t1);
  if (registered) {
    nscclMemFree(in_buf);
    nscclMemFree(out_buf);
  } else {
    free(in_buf);
    free(out_buf);
  }
  free(want);
  free(mpi_in);
  free(mpi_out);
  MPI_Finalize();
  return total ? 1 : 0;
}
