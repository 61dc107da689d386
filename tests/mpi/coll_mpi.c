/* MPI-launched integration test: every collective x every algorithm (forced through
 * nscclConfig_t.algo, one communicator each, plus the selector's own choice) x datatypes and ops x
 * sizes from 0 bytes to 16 MiB, in place and out of place, compared byte for byte with what MPI
 * computes (MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter_block) on the same inputs.
 *
 * Inputs are small integers, so every reduction order gives the same bits and results must be
 * identical, not merely close. MPI has no float16/bfloat16: for those, MPI reduces the same values
 * as floats and the test rounds the (exact, small integer) results to the narrow type.
 *
 *   mpirun -n N coll_mpi [--quick]      (--quick: sizes up to 1 MiB) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsccl.h"

typedef enum { NARROW_NONE, NARROW_HALF, NARROW_BF16 } narrow_t;

typedef struct {
  const char *name;
  nscclDataType_t dt;
  MPI_Datatype mt; /* for narrow types: MPI_FLOAT, results converted */
  size_t elem;
  nscclRedOp_t op;
  MPI_Op mop; /* avg: MPI_SUM, then divided by nranks */
  narrow_t narrow;
  int big; /* also run the 1 MiB and 16 MiB sizes */
} tcase_t;

static int rank, nranks, failures;
static double t_mpi, t_nsccl; /* time spent in MPI's reference and in nsccl, for the summary */

/* Every buffer holds the largest array of the run. */
#define MAX_BYTES ((size_t)16 << 20)
static struct {
  char *send, *recv, *ref, *send_copy;
  float *mpi_in, *mpi_out;
} bufs;

typedef enum { AR, AG, RS } coll_t;
static const char *const coll_names[] = {"allreduce", "allgather", "reducescatter"};

/* Exact conversions of small non-negative integers to float16 / bfloat16 bits. */
static uint16_t small_int_to_half(float f) {
  unsigned v = (unsigned)f;
  if (v == 0) return 0;
  int e = 31 - __builtin_clz(v);
  return (uint16_t)(((unsigned)(e + 15) << 10) | ((v << (10 - e)) & 0x3ffu));
}
static uint16_t float_to_bf16_exact(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return (uint16_t)(u >> 16);
}

static int value(int r, size_t i, nscclRedOp_t op) {
  if (op == nscclProd) return 1 + (int)((i + (size_t)r) % 3 == 0); /* 1 or 2: products stay small */
  return (int)(((size_t)r * 3 + i * 7) % 10);
}

/* Fill n elements of type c starting at global index first, for rank r. MPI-side copy in mpi_buf
 * (floats for narrow types, else identical to buf). */
static void fill(const tcase_t *c, void *buf, float *mpi_buf, size_t n, size_t first, int r) {
  for (size_t i = 0; i < n; i++) {
    int v = value(r, first + i, c->op);
    switch (c->dt) {
    case nscclInt8: ((int8_t *)buf)[i] = (int8_t)v; break;
    case nscclUint8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
    case nscclInt32: ((int32_t *)buf)[i] = v; break;
    case nscclInt64: ((int64_t *)buf)[i] = v; break;
    case nscclFloat: ((float *)buf)[i] = (float)v; break;
    case nscclDouble: ((double *)buf)[i] = (double)v; break;
    case nscclHalf: ((uint16_t *)buf)[i] = small_int_to_half((float)v); break;
    case nscclBfloat16: ((uint16_t *)buf)[i] = float_to_bf16_exact((float)v); break;
    default: break;
    }
    if (mpi_buf) mpi_buf[i] = (float)v;
  }
}

/* MPI's result (in mpi type) -> the expected bytes in nsccl's type; avg divides by nranks. */
static void finish_ref(const tcase_t *c, int divide, void *ref, const void *mpi_out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (c->narrow) {
    case NARROW_HALF: ((uint16_t *)ref)[i] = small_int_to_half(((const float *)mpi_out)[i]); break;
    case NARROW_BF16: ((uint16_t *)ref)[i] = float_to_bf16_exact(((const float *)mpi_out)[i]); break;
    default: break;
    }
  }
  if (c->narrow == NARROW_NONE && mpi_out != ref) memcpy(ref, mpi_out, n * c->elem);
  if (c->op != nscclAvg || !divide) return;
  for (size_t i = 0; i < n; i++) {
    if (c->dt == nscclFloat) ((float *)ref)[i] /= (float)nranks;
    if (c->dt == nscclDouble) ((double *)ref)[i] /= (double)nranks;
    if (c->dt == nscclInt32) ((int32_t *)ref)[i] /= nranks;
  }
}

static void compare(const char *what, const void *got, const void *want, size_t n, size_t elem) {
  if (!n || !memcmp(got, want, n * elem)) return;
  size_t i = 0;
  while (i < n && !memcmp((const char *)got + i * elem, (const char *)want + i * elem, elem)) i++;
  if (failures++ < 20) fprintf(stderr, "rank %d: %s: first difference at element %zu of %zu\n", rank, what, i, n);
}

static void check_rc(nscclResult_t rc, const char *what) {
  if (rc == nscclSuccess) return;
  if (failures++ < 20) fprintf(stderr, "rank %d: %s returned %d: %s\n", rank, what, (int)rc, nscclGetLastError(NULL));
}


/* One collective call of `count` (the API's count) for case c, in or out of place. */
static void run_one(nscclComm_t comm, const char *algo, coll_t coll, const tcase_t *c, size_t count, int in_place) {
  size_t n = (size_t)nranks;
  size_t send_n = coll == RS ? count * n : count, recv_n = coll == AG ? count * n : count;
  size_t elem = c->elem;
  char what[160];
  snprintf(what, sizeof(what), "%s %s %s count=%zu %s", coll_names[coll], algo, c->name, count,
           in_place ? "in-place" : "out-of-place");
  /* Buffers are allocated once (for the largest size) and reused: first-touch page faults are
   * slow on virtual machines and would dominate the run time. */
  char *send = bufs.send, *recv = bufs.recv, *ref = bufs.ref, *send_copy = bufs.send_copy;
  float *mpi_in = bufs.mpi_in, *mpi_out = bufs.mpi_out;
  /* Rank r's input: global indices [r*send_n, ...) keep ranks' vectors different; for
   * reduce-scatter the whole vector of send_n elements. */
  fill(c, send, c->narrow ? mpi_in : NULL, send_n, (size_t)rank * 1000003u, rank);
  memcpy(send_copy, send, send_n * elem);
  const void *mpi_send = c->narrow ? (const void *)mpi_in : send;
  void *mpi_recv = c->narrow ? (void *)mpi_out : (void *)ref;
  MPI_Op mop = c->mop;
  double tm = MPI_Wtime();
  if (coll == AR) MPI_Allreduce(mpi_send, mpi_recv, (int)count, c->mt, mop, MPI_COMM_WORLD);
  if (coll == AG) MPI_Allgather(mpi_send, (int)count, c->mt, mpi_recv, (int)count, c->mt, MPI_COMM_WORLD);
  if (coll == RS) MPI_Reduce_scatter_block(mpi_send, mpi_recv, (int)count, c->mt, mop, MPI_COMM_WORLD);
  t_mpi += MPI_Wtime() - tm;
  finish_ref(c, coll != AG, ref, mpi_recv, recv_n);

  nscclResult_t rc;
  double t0 = MPI_Wtime();
  if (!in_place) {
    memset(recv, 0xa5, recv_n * elem);
    if (coll == AR) rc = nscclAllReduce(send, recv, count, c->dt, c->op, comm, NULL);
    else if (coll == AG) rc = nscclAllGather(send, recv, count, c->dt, comm, NULL);
    else rc = nscclReduceScatter(send, recv, count, c->dt, c->op, comm, NULL);
    check_rc(rc, what);
    compare(what, recv, ref, recv_n, elem);
    char w2[200];
    snprintf(w2, sizeof(w2), "%s (send buffer modified)", what);
    compare(w2, send, send_copy, send_n, elem);
  } else if (coll == AR) {
    rc = nscclAllReduce(send, send, count, c->dt, c->op, comm, NULL);
    check_rc(rc, what);
    compare(what, send, ref, recv_n, elem);
  } else if (coll == AG) {
    memset(recv, 0xa5, recv_n * elem);
    memcpy(recv + (size_t)rank * count * elem, send, count * elem);
    rc = nscclAllGather(recv + (size_t)rank * count * elem, recv, count, c->dt, comm, NULL);
    check_rc(rc, what);
    compare(what, recv, ref, recv_n, elem);
  } else {
    rc = nscclReduceScatter(send, send + (size_t)rank * count * elem, count, c->dt, c->op, comm, NULL);
    check_rc(rc, what);
    compare(what, send + (size_t)rank * count * elem, ref, recv_n, elem);
  }
  double dt = MPI_Wtime() - t0;
  t_nsccl += dt;
  if (getenv("COLL_MPI_VERBOSE") && rank == 0) printf("%s: %.3f s\n", what, dt);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int quick = argc > 1 && !strcmp(argv[1], "--quick");
  const tcase_t cases[] = {
      {"int32/sum", nscclInt32, MPI_INT32_T, 4, nscclSum, MPI_SUM, NARROW_NONE, 1},
      {"float/sum", nscclFloat, MPI_FLOAT, 4, nscclSum, MPI_SUM, NARROW_NONE, 1},
      {"double/max", nscclDouble, MPI_DOUBLE, 8, nscclMax, MPI_MAX, NARROW_NONE, 0},
      {"int64/prod", nscclInt64, MPI_INT64_T, 8, nscclProd, MPI_PROD, NARROW_NONE, 0},
      {"uint8/min", nscclUint8, MPI_UINT8_T, 1, nscclMin, MPI_MIN, NARROW_NONE, 0},
      {"int8/sum", nscclInt8, MPI_INT8_T, 1, nscclSum, MPI_SUM, NARROW_NONE, 0},
      {"float/avg", nscclFloat, MPI_FLOAT, 4, nscclAvg, MPI_SUM, NARROW_NONE, 0},
      {"int32/avg", nscclInt32, MPI_INT32_T, 4, nscclAvg, MPI_SUM, NARROW_NONE, 0},
      {"half/sum", nscclHalf, MPI_FLOAT, 2, nscclSum, MPI_SUM, NARROW_HALF, 0},
      {"bf16/max", nscclBfloat16, MPI_FLOAT, 2, nscclMax, MPI_MAX, NARROW_BF16, 0},
  };
  const size_t small_counts[] = {0, 1, 7, 1031, 20000};
  const size_t big_bytes[] = {(size_t)1 << 20, (size_t)16 << 20};
  const char *algos[] = {"ring", "tree", "direct", NULL};

  /* The largest buffer: a 16 MiB array, or the small counts times nranks times 8 bytes. */
  size_t cap = MAX_BYTES + (size_t)nranks * 20000 * 8 + 64;
  bufs.send = malloc(cap);
  bufs.recv = malloc(cap);
  bufs.ref = malloc(cap);
  bufs.send_copy = malloc(cap);
  bufs.mpi_in = malloc(cap); /* floats for the narrow types, small counts only */
  bufs.mpi_out = malloc(cap);
  if (!bufs.send || !bufs.recv || !bufs.ref || !bufs.send_copy || !bufs.mpi_in || !bufs.mpi_out) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  nscclUniqueId id;
  for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
    const char *aname = algos[a] ? algos[a] : "auto";
    if (rank == 0) {
      if (nscclGetUniqueId(&id) != nscclSuccess) {
        fprintf(stderr, "nscclGetUniqueId: %s\n", nscclGetLastError(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
    cfg.algo = algos[a];
    nscclComm_t comm;
    if (nscclCommInitRankConfig(&comm, nranks, id, rank, &cfg) != nscclSuccess) {
      fprintf(stderr, "rank %d: init (%s) failed: %s\n", rank, aname, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double t0 = MPI_Wtime();
    for (int coll = AR; coll <= RS; coll++)
      for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const tcase_t *c = &cases[k];
        if (coll == AG && c->op == nscclAvg) continue; /* all-gather has no op: the sum cases cover these types */
        for (int ip = 0; ip < 2; ip++) {
          for (size_t s = 0; s < sizeof(small_counts) / sizeof(small_counts[0]); s++)
            run_one(comm, aname, (coll_t)coll, c, small_counts[s], ip);
          for (size_t s = 0; c->big && s < sizeof(big_bytes) / sizeof(big_bytes[0]); s++) {
            if (quick && big_bytes[s] > ((size_t)1 << 20)) continue;
            /* The whole array is big_bytes: all-reduce's vector, all-gather's output, reduce-scatter's input. */
            size_t count = big_bytes[s] / c->elem / (coll == AR ? 1 : (size_t)nranks);
            run_one(comm, aname, (coll_t)coll, c, count, ip);
          }
        }
      }
    double t1 = MPI_Wtime();
    if (nscclCommDestroy(comm) != nscclSuccess && failures++ < 20)
      fprintf(stderr, "rank %d: destroy (%s) failed: %s\n", rank, aname, nscclGetLastError(NULL));
    if (rank == 0)
      printf("algorithm %-6s: %.2f s (nsccl calls and checks %.2f s, MPI reference %.2f s)\n", aname, t1 - t0, t_nsccl,
             t_mpi);
    t_nsccl = t_mpi = 0;
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("%d ranks: %s (%d failures)\n", nranks, total ? "FAILED" : "all results equal MPI's", total);
  MPI_Finalize();
  return total ? 1 : 0;
}
