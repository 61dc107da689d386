/* A program in the style of NCCL's "one device per process" MPI example, written only against
 * nccl.h, cuda_runtime.h and MPI. It builds unchanged against nsccl with
 *     mpicc nccl_style_mpi.c $(pkg-config --cflags --libs nsccl-nccl)
 * and runs with mpirun -n N. Each process picks a device by its rank among the processes of its
 * host, all-reduces a buffer on a stream, and checks the sum. */
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MPICHECK(cmd)                                                                                                  \
  do {                                                                                                                 \
    int e = (cmd);                                                                                                     \
    if (e != MPI_SUCCESS) {                                                                                            \
      printf("Failed: MPI error %s:%d '%d'\n", __FILE__, __LINE__, e);                                                 \
      exit(EXIT_FAILURE);                                                                                              \
    }                                                                                                                  \
  } while (0)

#define CUDACHECK(cmd)                                                                                                 \
  do {                                                                                                                 \
    cudaError_t e = (cmd);                                                                                             \
    if (e != cudaSuccess) {                                                                                            \
      printf("Failed: Cuda error %s:%d '%s'\n", __FILE__, __LINE__, cudaGetErrorString(e));                            \
      exit(EXIT_FAILURE);                                                                                              \
    }                                                                                                                  \
  } while (0)

#define NCCLCHECK(cmd)                                                                                                 \
  do {                                                                                                                 \
    ncclResult_t r = (cmd);                                                                                            \
    if (r != ncclSuccess) {                                                                                            \
      printf("Failed, NCCL error %s:%d '%s'\n", __FILE__, __LINE__, ncclGetErrorString(r));                            \
      exit(EXIT_FAILURE);                                                                                              \
    }                                                                                                                  \
  } while (0)

static uint64_t hash_string(const char *s) {
  uint64_t h = 5381;
  for (; *s; s++) h = h * 33 + (unsigned char)*s;
  return h;
}

static void host_name(char *name, int len) {
  gethostname(name, (size_t)len);
  name[len - 1] = '\0';
  for (int i = 0; i < len; i++)
    if (name[i] == '.') {
      name[i] = '\0';
      break;
    }
}

int main(int argc, char *argv[]) {
  int size = 32 * 1024 * 1024 / 4 / 8; /* 1 Mi floats */
  int myRank, nRanks, localRank = 0;

  MPICHECK(MPI_Init(&argc, &argv));
  MPICHECK(MPI_Comm_rank(MPI_COMM_WORLD, &myRank));
  MPICHECK(MPI_Comm_size(MPI_COMM_WORLD, &nRanks));

  /* localRank: how many lower ranks share this host, to pick a device */
  uint64_t *hashes = malloc(sizeof(uint64_t) * (size_t)nRanks);
  char hostname[1024];
  host_name(hostname, sizeof(hostname));
  hashes[myRank] = hash_string(hostname);
  MPICHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, hashes, sizeof(uint64_t), MPI_BYTE, MPI_COMM_WORLD));
  for (int p = 0; p < nRanks; p++) {
    if (p == myRank) break;
    if (hashes[p] == hashes[myRank]) localRank++;
  }
  free(hashes);

  ncclUniqueId id;
  ncclComm_t comm;
  float *sendbuff, *recvbuff, *host;
  cudaStream_t s;

  if (myRank == 0) NCCLCHECK(ncclGetUniqueId(&id));
  MPICHECK(MPI_Bcast((void *)&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD));

  CUDACHECK(cudaSetDevice(localRank));
  CUDACHECK(cudaMalloc((void **)&sendbuff, (size_t)size * sizeof(float)));
  CUDACHECK(cudaMalloc((void **)&recvbuff, (size_t)size * sizeof(float)));
  CUDACHECK(cudaStreamCreate(&s));
  host = malloc((size_t)size * sizeof(float));
  for (int i = 0; i < size; i++) host[i] = (float)(myRank + i % 7);
  CUDACHECK(cudaMemcpy(sendbuff, host, (size_t)size * sizeof(float), cudaMemcpyHostToDevice));
  CUDACHECK(cudaMemset(recvbuff, 0, (size_t)size * sizeof(float)));

  NCCLCHECK(ncclCommInitRank(&comm, nRanks, id, myRank));

  NCCLCHECK(ncclAllReduce((const void *)sendbuff, (void *)recvbuff, (size_t)size, ncclFloat, ncclSum, comm, s));
  CUDACHECK(cudaStreamSynchronize(s));

  CUDACHECK(cudaMemcpy(host, recvbuff, (size_t)size * sizeof(float), cudaMemcpyDeviceToHost));
  int bad = 0;
  float rank_sum = (float)nRanks * (float)(nRanks - 1) / 2;
  for (int i = 0; i < size && !bad; i++) bad = host[i] != rank_sum + (float)(nRanks * (i % 7));

  CUDACHECK(cudaFree(sendbuff));
  CUDACHECK(cudaFree(recvbuff));
  CUDACHECK(cudaStreamDestroy(s));
  free(host);
  ncclCommDestroy(comm);

  MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  MPICHECK(MPI_Finalize());
  if (myRank == 0) printf("[MPI Rank %d] %s\n", myRank, bad ? "Wrong result" : "Success");
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
