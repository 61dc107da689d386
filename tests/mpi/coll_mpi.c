/* MPI-launched integration test: every collective x every algorithm (forced through
 * nscclConfig_t.algo, one communicator each, plus the selector's own choice) x datatypes and ops x
 * sizes from 0 bytes to 16 MiB, in place and out of place, compared byte for byte with what MPI
 * computes (MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter_block) on the same inputs.
 *
 * Inputs are small integers, so every reduction order gives the same bits and results must be
 * identical, not merely close. MPI has no float16/bfloat16: for those, MPI reduces the same values
 * as floats and the test rounds the (exact, small integer) results to the narrow type.
 *
 *   mpirun -n N coll_mpi [--quick] [--small] [--no-auto]
 *     --quick: sizes up to 1 MiB; --small: up to 20000 elements (160 KiB x nranks at most);
 *     --no-auto: only the forced algorithms (the selector's choice is one of them anyway). */
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

/* Inputs of this rank (bufs.send_copy) and MPI's result (bufs.ref) for one shape. The reference
 * does not depend on the algorithm, so it is computed once and checked against every algorithm. */
static void make_ref(coll_t coll, const tcase_t *c, size_t count) {
  size_t n = (size_t)nranks;
  size_t send_n = coll == RS ? count * n : count, recv_n = coll == AG ? count * n : count;
  /* Rank r's input starts at global index r * 1000003 so that ranks' vectors differ. */
  fill(c, bufs.send_copy, c->narrow ? bufs.mpi_in : NULL, send_n, (size_t)rank * 1000003u, rank);
  const void *mpi_send = c->narrow ? (const void *)bufs.mpi_in : bufs.send_copy;
  void *mpi_recv = c->narrow ? (void *)bufs.mpi_out : (void *)bufs.ref;
  double tm = MPI_Wtime();
  if (coll == AR) MPI_Allreduce(mpi_send, mpi_recv, (int)count, c->mt, c->mop, MPI_COMM_WORLD);
  if (coll == AG) MPI_Allgather(mpi_send, (int)count, c->mt, mpi_recv, (int)count, c->mt, MPI_COMM_WORLD);
  if (coll == RS) MPI_Reduce_scatter_block(mpi_send, mpi_recv, (int)count, c->mt, c->mop, MPI_COMM_WORLD);
  t_mpi += MPI_Wtime() - tm;
  finish_ref(c, coll != AG, bufs.ref, mpi_recv, recv_n);
}

/* One nsccl call of `count` (the API's count) for case c, in or out of place, checked against
 * bufs.ref. */
static void run_one(nscclComm_t comm, const char *algo, coll_t coll, const tcase_t *c, size_t count, int in_place) {
  size_t n = (size_t)nranks;
  size_t send_n = coll == RS ? count * n : count, recv_n = coll == AG ? count * n : count;
  size_t elem = c->elem;
  char *send = bufs.send, *recv = bufs.recv, *ref = bufs.ref, *send_copy = bufs.send_copy;
  char what[160];
  snprintf(what, sizeof(what), "%s %s %s count=%zu %s", coll_names[coll], algo, c->name, count,
           in_place ? "in-place" : "out-of-place");
  memcpy(send, send_copy, send_n * elem);
  nscclResult_t rc;
  double t0 = MPI_Wtime();
  if (!in_place) {
    memset(recv, 0xa5, recv_n * elem);
    if (coll == AR)
      rc = nscclAllReduce(send, recv, count, c->dt, c->op, comm, NULL);
    else if (coll == AG)
      rc = nscclAllGather(send, recv, count, c->dt, comm, NULL);
    else
      rc = nscclReduceScatter(send, recv, count, c->dt, c->op, comm, NULL);
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

#define NALGOS 4

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  /* registered: 2 = every rank's send and receive buffers come from nscclMemAlloc and are
   * registered with every communicator (peers read them directly); 1 = only even ranks do. */
  int quick = 0, small = 0, nalgos = NALGOS, registered = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--small"))
      small = 1;
    else if (!strcmp(argv[i], "--no-auto"))
      nalgos = NALGOS - 1; /* the selector only picks one of the others */
    else if (!strcmp(argv[i], "--registered"))
      registered = 2;
    else if (!strcmp(argv[i], "--mixed"))
      registered = 1;
    else {
      if (rank == 0) fprintf(stderr, "usage: coll_mpi [--quick] [--small] [--no-auto] [--registered|--mixed]\n");
      MPI_Finalize();
      return 2;
    }
  }
  /* big: 1 = also 1 MiB, 2 = also 1 MiB and 16 MiB (whole-array bytes). */
  const tcase_t cases[] = {
      {"float/sum", nscclFloat, MPI_FLOAT, 4, nscclSum, MPI_SUM, NARROW_NONE, 2},
      {"int32/sum", nscclInt32, MPI_INT32_T, 4, nscclSum, MPI_SUM, NARROW_NONE, 1},
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
  const char *algos[NALGOS] = {"ring", "tree", "direct", NULL};
  const char *anames[NALGOS] = {"ring", "tree", "direct", "auto"};

  /* The largest buffer: a 16 MiB array, or the small counts times nranks times 8 bytes. */
  size_t cap = MAX_BYTES + (size_t)nranks * 20000 * 8 + 64;
  int reg_here = registered == 2 || (registered == 1 && rank % 2 == 0);
  if (reg_here) {
    if (nscclMemAlloc((void **)&bufs.send, cap) != nscclSuccess ||
        nscclMemAlloc((void **)&bufs.recv, cap) != nscclSuccess) {
      fprintf(stderr, "rank %d: nscclMemAlloc: %s\n", rank, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  } else {
    bufs.send = malloc(cap);
    bufs.recv = malloc(cap);
  }
  bufs.ref = malloc(cap);
  bufs.send_copy = malloc(cap);
  bufs.mpi_in = malloc(cap); /* floats for the narrow types, small counts only */
  bufs.mpi_out = malloc(cap);
  if (!bufs.send || !bufs.recv || !bufs.ref || !bufs.send_copy || !bufs.mpi_in || !bufs.mpi_out) {
    fprintf(stderr, "rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  /* One communicator per algorithm, forced through nscclConfig_t.algo (NULL: the selector). */
  nscclComm_t comms[NALGOS];
  double t_init = MPI_Wtime();
  for (int a = 0; a < nalgos; a++) {
    nscclUniqueId id;
    if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) {
      fprintf(stderr, "nscclGetUniqueId: %s\n", nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
    cfg.algo = algos[a];
    if (nscclCommInitRankConfig(&comms[a], nranks, id, rank, &cfg) != nscclSuccess) {
      fprintf(stderr, "rank %d: init (%s) failed: %s\n", rank, anames[a], nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  t_init = MPI_Wtime() - t_init;
  void *handles[NALGOS][2];
  for (int a = 0; a < nalgos && reg_here; a++)
    if (nscclCommRegister(comms[a], bufs.send, cap, &handles[a][0]) != nscclSuccess ||
        nscclCommRegister(comms[a], bufs.recv, cap, &handles[a][1]) != nscclSuccess) {
      fprintf(stderr, "rank %d: nscclCommRegister: %s\n", rank, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }

  double t0 = MPI_Wtime();
  for (int coll = AR; coll <= RS; coll++)
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
      const tcase_t *c = &cases[k];
      if (coll == AG && c->op == nscclAvg) continue; /* all-gather has no op: the sum cases cover these types */
      size_t counts[8], ncounts = 0;
      for (size_t s = 0; s < sizeof(small_counts) / sizeof(small_counts[0]); s++) counts[ncounts++] = small_counts[s];
      for (int s = 0; !small && s < c->big; s++) {
        if (quick && big_bytes[s] > ((size_t)1 << 20)) continue;
        /* The whole array is big_bytes: all-reduce's vector, all-gather's output, reduce-scatter's input. */
        counts[ncounts++] = big_bytes[s] / c->elem / (coll == AR ? 1 : (size_t)nranks);
      }
      for (size_t s = 0; s < ncounts; s++) {
        make_ref((coll_t)coll, c, counts[s]);
        for (int a = 0; a < nalgos; a++)
          for (int ip = 0; ip < 2; ip++) run_one(comms[a], anames[a], (coll_t)coll, c, counts[s], ip);
      }
    }
  double t1 = MPI_Wtime();
  for (int a = 0; a < nalgos && reg_here; a++)
    for (int b = 0; b < 2; b++)
      if (nscclCommDeregister(comms[a], handles[a][b]) != nscclSuccess && failures++ < 20)
        fprintf(stderr, "rank %d: nscclCommDeregister: %s\n", rank, nscclGetLastError(NULL));
  if (reg_here && (nscclMemFree(bufs.send) != nscclSuccess || nscclMemFree(bufs.recv) != nscclSuccess) &&
      failures++ < 20)
    fprintf(stderr, "rank %d: nscclMemFree: %s\n", rank, nscclGetLastError(NULL));
  for (int a = 0; a < nalgos; a++)
    if (nscclCommDestroy(comms[a]) != nscclSuccess && failures++ < 20)
      fprintf(stderr, "rank %d: destroy (%s) failed: %s\n", rank, anames[a], nscclGetLastError(NULL));
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%d ranks: %s (%d failures); init %.2f s, collectives %.2f s (nsccl %.2f s, MPI reference %.2f s)\n", nranks,
           total ? "FAILED" : "every result equals MPI's", total, t_init, t1 - t0, t_nsccl, t_mpi);
  MPI_Finalize();
  return total ? 1 : 0;
}
