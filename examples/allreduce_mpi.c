/* All-reduce with nsccl, launched by MPI: rank 0 makes the unique id, MPI_Bcast hands it to every
 * rank, and each rank sums a vector with the others. Only nsccl.h and MPI_Bcast are used.
 *
 *   cc allreduce_mpi.c $(pkg-config --cflags --libs nsccl) $(pkg-config --cflags --libs ompi-c)
 *   mpirun -n 4 ./allreduce_mpi [count] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "nsccl.h"

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    nscclResult_t rc_ = (call);                                                                                        \
    if (rc_ != nscclSuccess) {                                                                                         \
      fprintf(stderr, "%s failed: %s\n", #call, nscclGetLastError(NULL));                                              \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                                                    \
    }                                                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, nranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 1 << 20;

  nscclUniqueId id;
  if (rank == 0) CHECK(nscclGetUniqueId(&id));
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  nscclComm_t comm;
  CHECK(nscclCommInitRank(&comm, nranks, id, rank));

  float *buf = malloc(count * sizeof(float));
  for (size_t i = 0; i < count; i++) buf[i] = (float)(rank + 1);
  CHECK(nscclAllReduce(buf, buf, count, nscclFloat, nscclSum, comm, NULL)); /* in place */

  /* 1 + 2 + ... + nranks, exact in float for any sensible rank count. */
  float want = (float)nranks * (float)(nranks + 1) / 2.0f;
  size_t bad = 0;
  for (size_t i = 0; i < count; i++) bad += buf[i] != want;
  size_t total_bad = 0;
  MPI_Reduce(&bad, &total_bad, 1, MPI_UNSIGNED_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("allreduce of %zu floats on %d ranks: %s\n", count, nranks, total_bad ? "WRONG" : "correct");

  free(buf);
  CHECK(nscclCommDestroy(comm));
  MPI_Finalize();
  return total_bad ? 1 : 0;
}
