/* MPI-launched: an MSCCL-IR algorithm (NSCCL_ALGO-style "msccl:FILE" through nscclConfig_t.algo)
 * run for real by the fabric engine, compared element by element with what MPI computes on the
 * same inputs (small integers in float32: every order of additions gives the same bits).
 *
 *   mpirun -n 4 msccl_mpi FILE allgather|allreduce|reducescatter [--bad]
 *     --bad: FILE must be refused at communicator creation (nothing runs); exit 0 if it is. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsccl.h"

static int rank, nranks;

enum { AG, AR, RS };

static int run(nscclComm_t comm, int coll, size_t count, int in_place) {
  size_t in_n = coll == RS ? count * (size_t)nranks : count, out_n = coll == AG ? count * (size_t)nranks : count;
  size_t big = in_n > out_n ? in_n : out_n;
  float *send = malloc(sizeof(float) * in_n), *buf = calloc(big, sizeof(float)), *ref = malloc(sizeof(float) * out_n);
  for (size_t i = 0; i < in_n; i++) send[i] = (float)((rank * 31 + (int)(i % 97)) % 23);
  if (coll == AR)
    MPI_Allreduce(send, ref, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  else if (coll == AG)
    MPI_Allgather(send, (int)count, MPI_FLOAT, ref, (int)count, MPI_FLOAT, MPI_COMM_WORLD);
  else
    MPI_Reduce_scatter_block(send, ref, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  nscclResult_t rc;
  float *recv = buf;
  if (in_place) {
    /* NCCL's in-place layouts: AG's input is block r of the output, RS's output block r of the input. */
    float *in = coll == AG ? buf + (size_t)rank * count : buf;
    memcpy(in, send, sizeof(float) * in_n);
    if (coll == RS) recv = buf + (size_t)rank * count;
    rc = coll == AR   ? nscclAllReduce(buf, buf, count, nscclFloat32, nscclSum, comm, NULL)
         : coll == AG ? nscclAllGather(in, buf, count, nscclFloat32, comm, NULL)
                      : nscclReduceScatter(buf, recv, count, nscclFloat32, nscclSum, comm, NULL);
  } else {
    rc = coll == AR   ? nscclAllReduce(send, buf, count, nscclFloat32, nscclSum, comm, NULL)
         : coll == AG ? nscclAllGather(send, buf, count, nscclFloat32, comm, NULL)
                      : nscclReduceScatter(send, buf, count, nscclFloat32, nscclSum, comm, NULL);
  }
  int bad = rc != nscclSuccess;
  if (bad) fprintf(stderr, "rank %d: count %zu: %s\n", rank, count, nscclGetLastError(comm));
  for (size_t i = 0; !bad && i < out_n; i++)
    if (recv[i] != ref[i]) {
      fprintf(stderr, "rank %d: count %zu%s: element %zu is %g, MPI says %g\n", rank, count,
              in_place ? " in place" : "", i, recv[i], ref[i]);
      bad = 1;
    }
  free(send);
  free(buf);
  free(ref);
  return bad;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: msccl_mpi FILE allgather|allreduce|reducescatter [--bad]\n");
    MPI_Finalize();
    return 2;
  }
  int coll = !strcmp(argv[2], "allreduce") ? AR : !strcmp(argv[2], "reducescatter") ? RS : AG;
  int expect_bad = argc > 3 && !strcmp(argv[3], "--bad");
  char spec[512];
  snprintf(spec, sizeof(spec), "msccl:%s", argv[1]);
  nscclUniqueId id;
  if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.algo = spec;
  nscclComm_t comm = NULL;
  nscclResult_t rc = nscclCommInitRankConfig(&comm, nranks, id, rank, &cfg);
  int failures = 0;
  if (expect_bad) {
    /* Every rank reads the file itself: all refuse it, with the file's line in the message. */
    failures = rc == nscclSuccess || !strstr(nscclGetLastError(NULL), argv[1]);
    if (rank == 0) fprintf(stderr, "refused as expected: %s\n", nscclGetLastError(NULL));
    if (rc == nscclSuccess) nscclCommDestroy(comm);
  } else if (rc != nscclSuccess) {
    fprintf(stderr, "rank %d: nscclCommInitRankConfig: %s\n", rank, nscclGetLastError(NULL));
    failures = 1;
  } else {
    /* Counts the file's chunks divide: one chunk per rank, a few elements, and sizes whose chunks
     * are sliced (longer than the 1 MiB pipelining chunk). */
    const size_t counts[] = {4, 64, 1000, 65536, 1 << 20};
    for (int k = 0; k < 5; k++)
      for (int ip = 0; ip < 2; ip++) failures += run(comm, coll, coll == AR ? counts[k] * 4 : counts[k], ip);
    nscclCommDestroy(comm);
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("msccl_mpi %s %s: %s\n", argv[1], argv[2], total ? "FAILED" : "ok");
  MPI_Finalize();
  return total ? 1 : 0;
}
