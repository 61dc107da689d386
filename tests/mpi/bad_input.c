/* Bad input never crashes: each case returns nscclInvalidArgument / nscclInvalidUsage (or
 * nscclTimeout for ranks that never arrive), and nscclGetLastError names the argument and why.
 * Single process: communicators of one rank need no MPI; the two-rank cases use threads. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nsccl.h"

static int failures, checks;

/* The call must return `want` and the last error must contain `words` (case-sensitive). */
static void expect(const char *what, nscclResult_t got, nscclResult_t want, const char *words) {
  checks++;
  const char *msg = nscclGetLastError(NULL);
  if (got != want) {
    failures++;
    printf("FAIL %s: returned %d (%s), expected %d (%s); last error: %s\n", what, (int)got, nscclGetErrorString(got),
           (int)want, nscclGetErrorString(want), msg);
    return;
  }
  if (want != nscclSuccess && words && !strstr(msg, words)) {
    failures++;
    printf("FAIL %s: the message does not mention '%s': %s\n", what, words, msg);
    return;
  }
  printf("ok   %s%s%s\n", what, want != nscclSuccess ? ": " : "", want != nscclSuccess ? msg : "");
}

static nscclComm_t one_rank_comm(void) {
  nscclUniqueId id;
  nscclComm_t comm = NULL;
  if (nscclGetUniqueId(&id) != nscclSuccess || nscclCommInitRank(&comm, 1, id, 0) != nscclSuccess) {
    printf("FAIL: cannot make a one-rank communicator: %s\n", nscclGetLastError(NULL));
    exit(1);
  }
  return comm;
}

typedef struct {
  nscclUniqueId id;
  int rank, nranks;
  nscclResult_t rc;
  char msg[1024];
} init_arg_t;

static void *init_thread(void *p) {
  init_arg_t *a = p;
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = 5000;
  nscclComm_t comm = NULL;
  a->rc = nscclCommInitRankConfig(&comm, a->nranks, a->id, a->rank, &cfg);
  snprintf(a->msg, sizeof(a->msg), "%s", nscclGetLastError(NULL));
  if (a->rc == nscclSuccess) nscclCommAbort(comm);
  return NULL;
}

int main(void) {
  int v = 0;
  expect("nscclGetVersion(NULL)", nscclGetVersion(NULL), nscclInvalidArgument, "version");
  expect("nscclGetVersion", nscclGetVersion(&v), nscclSuccess, NULL);
  checks++;
  if (v != NSCCL_VERSION_CODE) failures++, printf("FAIL version %d\n", v);
  for (int r = 0; r <= nscclNumResults; r++)
    if (!nscclGetErrorString((nscclResult_t)r)) failures++, printf("FAIL: no string for result %d\n", r);

  /* ---- unique id and init arguments ---- */
  expect("nscclGetUniqueId(NULL)", nscclGetUniqueId(NULL), nscclInvalidArgument, "uniqueId");
  nscclUniqueId id;
  nscclComm_t comm = NULL;
  nscclGetUniqueId(&id);
  expect("init with comm == NULL", nscclCommInitRank(NULL, 1, id, 0), nscclInvalidArgument, "comm");
  expect("init with nranks 0", nscclCommInitRank(&comm, 0, id, 0), nscclInvalidArgument, "nranks");
  expect("init with nranks -3", nscclCommInitRank(&comm, -3, id, 0), nscclInvalidArgument, "nranks");
  expect("init with rank -1", nscclCommInitRank(&comm, 2, id, -1), nscclInvalidArgument, "rank -1");
  expect("init with rank == nranks", nscclCommInitRank(&comm, 2, id, 2), nscclInvalidArgument, "rank 2");
  nscclUniqueId zero;
  memset(&zero, 0, sizeof(zero));
  expect("init with an all-zero id", nscclCommInitRank(&comm, 1, zero, 0), nscclInvalidArgument, "unique id");
  nscclUniqueId flipped = id;
  flipped.internal[20] ^= 0x40;
  expect("init with a corrupted id", nscclCommInitRank(&comm, 1, flipped, 0), nscclInvalidArgument, "checksum");
  nscclUniqueId noise;
  srand(7);
  for (size_t i = 0; i < sizeof(noise.internal); i++) noise.internal[i] = (char)rand();
  expect("init with a random id", nscclCommInitRank(&comm, 1, noise, 0), nscclInvalidArgument, "commId");

  /* ---- config ---- */
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.size = 12;
  expect("config with a wrong size", nscclCommInitRankConfig(&comm, 1, id, 0, &cfg), nscclInvalidArgument,
         "config->size");
  cfg = (nscclConfig_t)NSCCL_CONFIG_INITIALIZER;
  cfg.magic = 0xdeadbeef;
  expect("config with a wrong magic", nscclCommInitRankConfig(&comm, 1, id, 0, &cfg), nscclInvalidArgument,
         "config->magic");
  cfg = (nscclConfig_t)NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = -5;
  expect("config with a negative timeout", nscclCommInitRankConfig(&comm, 1, id, 0, &cfg), nscclInvalidArgument,
         "config->timeoutMs");
  cfg = (nscclConfig_t)NSCCL_CONFIG_INITIALIZER;
  cfg.algo = "bogus";
  expect("config with an unknown algorithm", nscclCommInitRankConfig(&comm, 1, id, 0, &cfg), nscclInvalidArgument,
         "config->algo");
  setenv("NSCCL_TIMEOUT_MS", "soon", 1);
  expect("NSCCL_TIMEOUT_MS=soon", nscclCommInitRank(&comm, 1, id, 0), nscclInvalidArgument, "NSCCL_TIMEOUT_MS");
  unsetenv("NSCCL_TIMEOUT_MS");
  setenv("NSCCL_ALGO", "allreduce:fastest", 1);
  expect("NSCCL_ALGO=allreduce:fastest", nscclCommInitRank(&comm, 1, id, 0), nscclInvalidArgument, "NSCCL_ALGO");
  unsetenv("NSCCL_ALGO");
  setenv("NSCCL_SOCKET_IFNAME", "nosuchif9", 1);
  nscclUniqueId id2;
  expect("NSCCL_SOCKET_IFNAME=nosuchif9", nscclGetUniqueId(&id2), nscclInvalidArgument, "available: ");
  unsetenv("NSCCL_SOCKET_IFNAME");
  setenv("NSCCL_COMM_ID", "localhost", 1);
  expect("NSCCL_COMM_ID without a port", nscclGetUniqueId(&id2), nscclInvalidArgument, "NSCCL_COMM_ID");
  setenv("NSCCL_COMM_ID", "localhost:99999", 1);
  expect("NSCCL_COMM_ID with port 99999", nscclGetUniqueId(&id2), nscclInvalidArgument, "port");
  unsetenv("NSCCL_COMM_ID");

  /* The id was never used (every init above failed before the rendezvous): it still works. */
  expect("init one rank", nscclCommInitRank(&comm, 1, id, 0), nscclSuccess, NULL);
  nscclComm_t second = NULL;
  expect("init again with the same id", nscclCommInitRank(&second, 1, id, 0), nscclInvalidUsage, "one communicator");

  /* ---- collective arguments ---- */
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8];
  expect("allreduce sendbuff NULL", nscclAllReduce(NULL, b, 8, nscclFloat, nscclSum, comm, NULL), nscclInvalidArgument,
         "sendbuff");
  expect("allreduce recvbuff NULL", nscclAllReduce(a, NULL, 8, nscclFloat, nscclSum, comm, NULL), nscclInvalidArgument,
         "recvbuff");
  expect("allreduce NULL buffers, count 0", nscclAllReduce(NULL, NULL, 0, nscclFloat, nscclSum, comm, NULL),
         nscclSuccess, NULL);
  expect("allreduce datatype 99", nscclAllReduce(a, b, 8, (nscclDataType_t)99, nscclSum, comm, NULL),
         nscclInvalidArgument, "datatype 99");
  expect("allreduce datatype -1", nscclAllReduce(a, b, 8, (nscclDataType_t)-1, nscclSum, comm, NULL),
         nscclInvalidArgument, "datatype");
  expect("allreduce op 42", nscclAllReduce(a, b, 8, nscclFloat, (nscclRedOp_t)42, comm, NULL), nscclInvalidArgument,
         "op 42");
  expect("reducescatter op nscclNumOps", nscclReduceScatter(a, b, 8, nscclFloat, nscclNumOps, comm, NULL),
         nscclInvalidArgument, "op");
  expect("allreduce count overflow", nscclAllReduce(a, b, SIZE_MAX / 2, nscclFloat, nscclSum, comm, NULL),
         nscclInvalidArgument, "overflows");
  expect("allgather count overflow", nscclAllGather(a, b, SIZE_MAX / 4 + 1, nscclInt32, comm, NULL),
         nscclInvalidArgument, "overflows");
  expect("allreduce partial overlap", nscclAllReduce(a, a + 1, 4, nscclFloat, nscclSum, comm, NULL),
         nscclInvalidArgument, "overlap");
  expect("allreduce comm NULL", nscclAllReduce(a, b, 8, nscclFloat, nscclSum, NULL, NULL), nscclInvalidArgument,
         "comm is NULL");
  expect("allgather comm NULL", nscclAllGather(a, b, 8, nscclFloat, NULL, NULL), nscclInvalidArgument, "comm");
  int n = 0;
  expect("nscclCommCount(comm, NULL)", nscclCommCount(comm, NULL), nscclInvalidArgument, "count");
  expect("nscclCommCount(NULL, &n)", nscclCommCount(NULL, &n), nscclInvalidArgument, "comm");
  expect("nscclCommUserRank(comm, NULL)", nscclCommUserRank(comm, NULL), nscclInvalidArgument, "rank");
  nscclResult_t async;
  expect("nscclCommGetAsyncError(comm, NULL)", nscclCommGetAsyncError(comm, NULL), nscclInvalidArgument, "asyncError");
  expect("nscclCommDestroy(NULL)", nscclCommDestroy(NULL), nscclInvalidArgument, "comm");
  expect("nscclCommAbort(NULL)", nscclCommAbort(NULL), nscclInvalidArgument, "comm");

  /* ---- a one-rank communicator computes (identity for every op; avg divides by 1) ---- */
  expect("allreduce 1 rank", nscclAllReduce(a, b, 8, nscclFloat, nscclAvg, comm, NULL), nscclSuccess, NULL);
  checks++;
  if (memcmp(a, b, sizeof(a)) != 0) failures++, printf("FAIL: one-rank allreduce changed the values\n");
  expect("allgather 1 rank in place", nscclAllGather(b, b, 8, nscclFloat, comm, NULL), nscclSuccess, NULL);
  expect("reducescatter 1 rank", nscclReduceScatter(a, b, 8, nscclFloat, nscclMax, comm, NULL), nscclSuccess, NULL);
  checks++;
  if (memcmp(a, b, sizeof(a)) != 0) failures++, printf("FAIL: one-rank reducescatter changed the values\n");
  expect("count", nscclCommCount(comm, &n), nscclSuccess, NULL);
  expect("async error", nscclCommGetAsyncError(comm, &async), nscclSuccess, NULL);
  checks++;
  if (n != 1 || async != nscclSuccess) failures++, printf("FAIL: count %d async %d\n", n, (int)async);

  /* ---- destroyed communicator ---- */
  expect("destroy", nscclCommDestroy(comm), nscclSuccess, NULL);
  expect("allreduce on a destroyed comm", nscclAllReduce(a, b, 8, nscclFloat, nscclSum, comm, NULL), nscclInvalidUsage,
         "not a live communicator");
  expect("destroy twice", nscclCommDestroy(comm), nscclInvalidUsage, "not a live communicator");
  expect("abort a destroyed comm", nscclCommAbort(comm), nscclInvalidUsage, "not a live communicator");
  expect("count on a destroyed comm", nscclCommCount(comm, &n), nscclInvalidUsage, "not a live communicator");
  nscclComm_t aborted = one_rank_comm();
  expect("abort", nscclCommAbort(aborted), nscclSuccess, NULL);
  expect("allgather on an aborted comm", nscclAllGather(a, b, 1, nscclFloat, aborted, NULL), nscclInvalidUsage,
         "not a live communicator");

  /* ---- ranks that never arrive: init fails within the timeout, naming them ---- */
  nscclGetUniqueId(&id);
  cfg = (nscclConfig_t)NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = 400;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  expect("rank 0 of 3 alone", nscclCommInitRankConfig(&comm, 3, id, 0, &cfg), nscclTimeout, "rank(s) 1, 2 of 3");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  checks++;
  if (waited > 2.0) failures++, printf("FAIL: init waited %.2f s with a 400 ms timeout\n", waited);
  /* A joining rank whose root never answers. */
  setenv("NSCCL_COMM_ID", "127.0.0.1:1", 1); /* nothing listens on port 1 */
  nscclGetUniqueId(&id2);
  unsetenv("NSCCL_COMM_ID");
  expect("rank 1 with no rank 0", nscclCommInitRankConfig(&comm, 2, id2, 1, &cfg), nscclTimeout, "could not reach");

  /* ---- ranks that disagree on nranks (two threads of one process) ---- */
  init_arg_t r0 = {.rank = 0, .nranks = 2}, r1 = {.rank = 1, .nranks = 3};
  nscclGetUniqueId(&r0.id);
  r1.id = r0.id;
  pthread_t th0, th1;
  pthread_create(&th0, NULL, init_thread, &r0);
  pthread_create(&th1, NULL, init_thread, &r1);
  pthread_join(th0, NULL);
  pthread_join(th1, NULL);
  checks++;
  if (r0.rc != nscclInvalidUsage || !strstr(r0.msg, "nranks") || r1.rc != nscclInvalidUsage) {
    failures++;
    printf("FAIL nranks mismatch: rank 0 got %d (%s), rank 1 got %d (%s)\n", (int)r0.rc, r0.msg, (int)r1.rc, r1.msg);
  } else {
    printf("ok   nranks mismatch: rank 0: %s\n     rank 1: %s\n", r0.msg, r1.msg);
  }

  printf("%d of %d checks passed\n", checks - failures, checks);
  return failures ? 1 : 0;
}
