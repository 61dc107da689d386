/* An NCCL program: written against nccl.h and the CUDA runtime only (plus MPI to launch and to
 * compare), built unchanged against nsccl's compat headers. Every result is compared with what MPI
 * computes for the same input; inputs are small integers so every reduction order gives the same
 * bits. Exits non-zero on the first mismatch or error. */
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, nranks;

#define NCCLCHECK(cmd)                                                                                                 \
  do {                                                                                                                 \
    ncclResult_t r_ = (cmd);                                                                                           \
    if (r_ != ncclSuccess) {                                                                                           \
      fprintf(stderr, "rank %d: %s:%d '%s' failed: %s (%s)\n", rank, __FILE__, __LINE__, #cmd, ncclGetErrorString(r_), \
              ncclGetLastError(NULL));                                                                                 \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                                                    \
    }                                                                                                                  \
  } while (0)

#define CUDACHECK(cmd)                                                                                                 \
  do {                                                                                                                 \
    cudaError_t e_ = (cmd);                                                                                            \
    if (e_ != cudaSuccess) {                                                                                           \
      fprintf(stderr, "rank %d: %s:%d '%s' failed: %s\n", rank, __FILE__, __LINE__, #cmd, cudaGetErrorString(e_));     \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                                                    \
    }                                                                                                                  \
  } while (0)

static void expect_equal(const char *what, const void *got, const void *want, size_t bytes) {
  if (memcmp(got, want, bytes) != 0) {
    const unsigned char *g = got, *w = want;
    size_t i = 0;
    while (g[i] == w[i]) i++;
    fprintf(stderr, "rank %d: %s differs from MPI at byte %zu of %zu\n", rank, what, i, bytes);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

static void fill(float *x, size_t n, int seed) {
  for (size_t i = 0; i < n; i++) x[i] = (float)((int)((i * 7 + (size_t)seed * 13) % 61) - 30);
}

static void test_collectives(ncclComm_t comm, size_t n) {
  float *send, *recv, *ref;
  size_t big = n * (size_t)nranks;
  CUDACHECK(cudaMalloc((void **)&send, big * sizeof(float)));
  CUDACHECK(cudaMalloc((void **)&recv, big * sizeof(float)));
  ref = malloc(big * sizeof(float));
  char what[128];

  fill(send, big, rank);
  NCCLCHECK(ncclAllReduce(send, recv, n, ncclFloat, ncclSum, comm, NULL));
  MPI_Allreduce(send, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  snprintf(what, sizeof(what), "allreduce of %zu", n);
  expect_equal(what, recv, ref, n * sizeof(float));

  NCCLCHECK(ncclAllGather(send, recv, n, ncclFloat, comm, NULL));
  MPI_Allgather(send, (int)n, MPI_FLOAT, ref, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
  snprintf(what, sizeof(what), "allgather of %zu", n);
  expect_equal(what, recv, ref, big * sizeof(float));

  NCCLCHECK(ncclReduceScatter(send, recv, n, ncclFloat, ncclMax, comm, NULL));
  MPI_Reduce_scatter_block(send, ref, (int)n, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
  snprintf(what, sizeof(what), "reducescatter of %zu", n);
  expect_equal(what, recv, ref, n * sizeof(float));

  for (int root = 0; root < nranks; root++) {
    fill(send, n, rank + 100);
    memset(recv, 0, n * sizeof(float));
    NCCLCHECK(ncclBroadcast(send, recv, n, ncclFloat, root, comm, NULL));
    memcpy(ref, send, n * sizeof(float));
    MPI_Bcast(ref, (int)n, MPI_FLOAT, root, MPI_COMM_WORLD);
    snprintf(what, sizeof(what), "broadcast of %zu from %d", n, root);
    expect_equal(what, recv, ref, n * sizeof(float));

    NCCLCHECK(ncclBcast(send, n, ncclFloat, root, comm, NULL)); /* in place */
    snprintf(what, sizeof(what), "in-place bcast of %zu from %d", n, root);
    expect_equal(what, send, ref, n * sizeof(float));

    fill(send, n, rank + 200);
    memset(recv, 0, n * sizeof(float));
    NCCLCHECK(ncclReduce(send, rank == root ? recv : NULL, n, ncclFloat, ncclSum, root, comm, NULL));
    MPI_Reduce(send, ref, (int)n, MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD);
    snprintf(what, sizeof(what), "reduce of %zu to %d", n, root);
    if (rank == root) expect_equal(what, recv, ref, n * sizeof(float));
  }
  int32_t *isend = malloc(n * sizeof(int32_t) + 4), *iref = malloc(n * sizeof(int32_t) + 4);
  for (size_t i = 0; i < n; i++) isend[i] = (int32_t)(i * 31 + (size_t)rank * 17) % 1000;
  MPI_Reduce(isend, iref, (int)n, MPI_INT, MPI_MIN, nranks - 1, MPI_COMM_WORLD);
  NCCLCHECK(ncclReduce(isend, isend, n, ncclInt32, ncclMin, nranks - 1, comm, NULL)); /* in place */
  if (rank == nranks - 1) expect_equal("in-place int32 min reduce", isend, iref, n * sizeof(int32_t));
  free(isend);
  free(iref);
  CUDACHECK(cudaFree(send));
  CUDACHECK(cudaFree(recv));
  free(ref);
}

/* Ring shift with point-to-point: everyone sends to the next rank and receives from the previous
 * one, both inside one group (they would deadlock one after the other on a rendezvous transport). */
static void test_p2p(ncclComm_t comm, size_t n) {
  int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;
  float *a = malloc(n * sizeof(float) + 4), *b = malloc(n * sizeof(float) + 4), *c = malloc(n * sizeof(float) + 4);
  float *ref = malloc(n * sizeof(float) + 4);
  fill(a, n, rank + 300);
  NCCLCHECK(ncclGroupStart());
  NCCLCHECK(ncclSend(a, n, ncclFloat, next, comm, NULL));
  NCCLCHECK(ncclRecv(b, n, ncclFloat, prev, comm, NULL));
  NCCLCHECK(ncclGroupEnd());
  MPI_Sendrecv(a, (int)n, MPI_FLOAT, next, 0, ref, (int)n, MPI_FLOAT, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  expect_equal("ring send/recv", b, ref, n * sizeof(float));

  /* Pairwise exchange with the same peer, two messages each way (order must be kept). */
  int peer = rank ^ 1;
  if (peer < nranks) {
    NCCLCHECK(ncclGroupStart());
    NCCLCHECK(ncclRecv(b, n, ncclFloat, peer, comm, NULL));
    NCCLCHECK(ncclSend(a, n, ncclFloat, peer, comm, NULL));
    NCCLCHECK(ncclSend(a, n / 2, ncclFloat, peer, comm, NULL));
    NCCLCHECK(ncclRecv(c, n / 2, ncclFloat, peer, comm, NULL));
    NCCLCHECK(ncclGroupEnd());
    MPI_Sendrecv(a, (int)n, MPI_FLOAT, peer, 1, ref, (int)n, MPI_FLOAT, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    expect_equal("pairwise send/recv", b, ref, n * sizeof(float));
    expect_equal("pairwise second message", c, ref, (n / 2) * sizeof(float));
  }
  /* Ungrouped: rank 0 sends, the last rank receives. */
  if (nranks > 1 && rank == 0) NCCLCHECK(ncclSend(a, n, ncclFloat, nranks - 1, comm, NULL));
  if (nranks > 1 && rank == nranks - 1) {
    NCCLCHECK(ncclRecv(b, n, ncclFloat, 0, comm, NULL));
    fill(ref, n, 300);
    expect_equal("single send/recv", b, ref, n * sizeof(float));
  }
  free(a);
  free(b);
  free(c);
  free(ref);
}

/* The usual stream pattern: copy in, several collectives, copy out, synchronize once. */
static void test_stream(ncclComm_t comm, size_t n) {
  cudaStream_t s;
  CUDACHECK(cudaStreamCreate(&s));
  float *host = malloc(n * sizeof(float) + 4), *out = malloc(n * sizeof(float) + 4),
        *ref = malloc(n * sizeof(float) + 4);
  float *dev, *dev2;
  CUDACHECK(cudaMalloc((void **)&dev, n * sizeof(float)));
  CUDACHECK(cudaMalloc((void **)&dev2, n * sizeof(float)));
  fill(host, n, rank + 400);
  CUDACHECK(cudaMemcpyAsync(dev, host, n * sizeof(float), cudaMemcpyHostToDevice, s));
  NCCLCHECK(ncclAllReduce(dev, dev2, n, ncclFloat, ncclSum, comm, s));
  NCCLCHECK(ncclAllReduce(dev2, dev2, n, ncclFloat, ncclMax, comm, s));
  NCCLCHECK(ncclBroadcast(dev2, dev, n, ncclFloat, nranks - 1, comm, s));
  NCCLCHECK(ncclAllReduce(dev, dev, n, ncclFloat, ncclSum, comm, s));
  CUDACHECK(cudaMemcpyAsync(out, dev, n * sizeof(float), cudaMemcpyDeviceToHost, s));
  CUDACHECK(cudaStreamSynchronize(s));
  ncclResult_t async;
  NCCLCHECK(ncclCommGetAsyncError(comm, &async));
  if (async != ncclSuccess) {
    fprintf(stderr, "rank %d: async error %s after a clean stream\n", rank, ncclGetErrorString(async));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Allreduce(host, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* sum; max of equal values; bcast */
  for (size_t i = 0; i < n; i++) ref[i] *= (float)nranks;               /* then a sum of nranks copies */
  expect_equal("stream: memcpy, allreduce x2, broadcast, allreduce, memcpy", out, ref, n * sizeof(float));
  if (cudaStreamQuery(s) != cudaSuccess) {
    fprintf(stderr, "rank %d: stream not idle after synchronize\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  CUDACHECK(cudaStreamDestroy(s));
  CUDACHECK(cudaFree(dev));
  CUDACHECK(cudaFree(dev2));
  free(host);
  free(out);
  free(ref);
}

/* Two halves, ranked in reverse order inside each, each running an allreduce; then a group that
 * drives the parent and the half at once. */
static void test_split(ncclComm_t comm, size_t n) {
  int color = rank < nranks / 2 ? 0 : 1;
  ncclComm_t half;
  NCCLCHECK(ncclCommSplit(comm, color, nranks - rank, &half, NULL));
  MPI_Comm mhalf;
  MPI_Comm_split(MPI_COMM_WORLD, color, nranks - rank, &mhalf);
  int hr, hn, mr, mn;
  NCCLCHECK(ncclCommUserRank(half, &hr));
  NCCLCHECK(ncclCommCount(half, &hn));
  MPI_Comm_rank(mhalf, &mr);
  MPI_Comm_size(mhalf, &mn);
  if (hr != mr || hn != mn) {
    fprintf(stderr, "rank %d: split gave rank %d of %d, MPI %d of %d\n", rank, hr, hn, mr, mn);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  float *a = malloc(n * sizeof(float) + 4), *b = malloc(n * sizeof(float) + 4), *ref = malloc(n * sizeof(float) + 4);
  float *c = malloc(n * sizeof(float) + 4), *ref2 = malloc(n * sizeof(float) + 4);
  fill(a, n, rank + 500);
  NCCLCHECK(ncclAllReduce(a, b, n, ncclFloat, ncclSum, half, NULL));
  MPI_Allreduce(a, ref, (int)n, MPI_FLOAT, MPI_SUM, mhalf);
  expect_equal("allreduce on a split half", b, ref, n * sizeof(float));

  NCCLCHECK(ncclGroupStart());
  NCCLCHECK(ncclAllReduce(a, b, n, ncclFloat, ncclMax, half, NULL));
  NCCLCHECK(ncclAllReduce(a, c, n, ncclFloat, ncclMin, comm, NULL));
  NCCLCHECK(ncclGroupEnd());
  MPI_Allreduce(a, ref, (int)n, MPI_FLOAT, MPI_MAX, mhalf);
  MPI_Allreduce(a, ref2, (int)n, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
  expect_equal("grouped allreduce on the half", b, ref, n * sizeof(float));
  expect_equal("grouped allreduce on the parent", c, ref2, n * sizeof(float));

  ncclComm_t none;
  NCCLCHECK(ncclCommSplit(comm, rank == 0 ? 0 : NCCL_SPLIT_NOCOLOR, 0, &none, NULL));
  if ((rank == 0) != (none != NULL)) {
    fprintf(stderr, "rank %d: NCCL_SPLIT_NOCOLOR split returned %p\n", rank, (void *)none);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (none) NCCLCHECK(ncclCommDestroy(none));
  NCCLCHECK(ncclCommFinalize(half));
  NCCLCHECK(ncclCommDestroy(half));
  MPI_Comm_free(&mhalf);
  free(a);
  free(b);
  free(c);
  free(ref);
  free(ref2);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int ndev;
  CUDACHECK(cudaGetDeviceCount(&ndev));
  CUDACHECK(cudaSetDevice(rank % ndev));

  ncclUniqueId id;
  if (rank == 0) NCCLCHECK(ncclGetUniqueId(&id));
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  ncclComm_t comm;
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0; /* nsccl initialises blocking anyway; the comm is ready on return */
  NCCLCHECK(ncclCommInitRankConfig(&comm, nranks, id, rank, &config));
  int version;
  NCCLCHECK(ncclGetVersion(&version));
  if (version != NCCL_VERSION_CODE || NCCL_VERSION_CODE < NCCL_VERSION(2, 18, 0)) MPI_Abort(MPI_COMM_WORLD, 1);

  size_t sizes[] = {1, 7, 1000, 300000};
  for (int i = 0; i < 4; i++) {
    test_collectives(comm, sizes[i]);
    test_p2p(comm, sizes[i]);
    test_stream(comm, sizes[i]);
  }
  test_split(comm, 1000);
  test_collectives(comm, 5); /* the parent still works after splits */

  NCCLCHECK(ncclCommFinalize(comm));
  NCCLCHECK(ncclCommDestroy(comm));
  if (rank == 0) printf("nccl_program: %d ranks, every result equal to MPI's\n", nranks);
  MPI_Finalize();
  return 0;
}
