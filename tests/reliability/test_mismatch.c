/* Mismatched calls and hang diagnosis, ranks started by tests/mpi/launch.c (NSCCL_COMM_ID,
 * NSCCL_RANK, NSCCL_NRANKS). Modes:
 *   mismatch  (NSCCL_CHECK=1, 4 ranks) ranks deliberately disagree on count, datatype, op,
 *             collective, root: every rank must get nscclInvalidUsage with a message naming the
 *             odd rank and the field, promptly (no hang); matched calls between the cases (and a
 *             call where only the in-place choice differs) must still give the right sums.
 *   hang      (3 ranks) rank 2 skips collective #1: ranks 0 and 1 must get nscclTimeout within
 *             NSCCL_TIMEOUT_MS + 3 s, and both the returned message and the NSCCL_DEBUG=WARN output
 *             must name the collective, "#1" and rank 2. With NSCCL_CHECK=1 the argument check is
 *             what times out; without it, the fabric engine.
 *   latency [iters]  mean latency of 8- and 256-byte all-reduces (the check's cost; algorithm as
 *             selected), printed by rank 0. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/rank_check.h"
#include "nsccl.h"

static int rank, nranks;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A matched all-reduce of small integers; the sum is known in closed form. in_place on this rank
 * only when asked (NCCL lets each rank choose). */
static int matched(nscclComm_t comm, int in_place) {
  enum { N = 1000 };
  static float send[N], recv[N];
  for (int i = 0; i < N; i++) send[i] = (float)(rank + i % 7);
  float *out = in_place ? send : recv;
  CHECK(nscclAllReduce(send, out, N, nscclFloat, nscclSum, comm, NULL));
  for (int i = 0; i < N; i++) {
    float want = (float)(nranks * (nranks - 1) / 2 + nranks * (i % 7));
    if (out[i] != want) {
      fprintf(stderr, "rank %d: matched all-reduce [%d] = %g, want %g\n", rank, i, out[i], want);
      return 1;
    }
  }
  return 0;
}

/* rc must be nscclInvalidUsage and the message must hold every string of want. */
static int expect_mismatch(const char *what, nscclResult_t rc, double took, const char *const *want) {
  const char *msg = nscclGetLastError(NULL);
  int ok = rc == nscclInvalidUsage && took < 5.0;
  for (int i = 0; want[i] && ok; i++) ok = strstr(msg, want[i]) != NULL;
  if (!ok) {
    fprintf(stderr, "rank %d: %s: got %s after %.2f s: %s\n", rank, what, nscclGetErrorString(rc), took, msg);
    for (int i = 0; want[i]; i++) fprintf(stderr, "  expected to contain: %s\n", want[i]);
  }
  return !ok;
}

static int mismatch_mode(nscclComm_t comm) {
  if (nranks != 4) {
    fprintf(stderr, "mismatch mode wants 4 ranks\n");
    return 2;
  }
  static float a[4 * 256], b[4 * 256];
  int fails = 0;
  double t;
  fails += matched(comm, 0);
  /* count: rank 2 passes 100, the others 128 (collective #1). */
  t = now_s();
  nscclResult_t rc = nscclAllReduce(a, b, rank == 2 ? 100 : 128, nscclFloat, nscclSum, comm, NULL);
  fails +=
      expect_mismatch("count", rc, now_s() - t,
                      (const char *[]){"nscclAllReduce #1", "rank 2 called count=100", "ranks 0,1,3 count=128", 0});
  fails += matched(comm, rank == 0); /* only the in-place choice differs: not a mismatch */
  /* datatype: rank 1 passes int32. */
  t = now_s();
  rc = nscclAllReduce(a, b, 64, rank == 1 ? nscclInt32 : nscclFloat, nscclSum, comm, NULL);
  fails += expect_mismatch("datatype", rc, now_s() - t,
                           (const char *[]){"#3", "rank 1 called datatype=int32", "ranks 0,2,3 datatype=float32", 0});
  /* op: rank 0 passes max. */
  t = now_s();
  rc = nscclAllReduce(a, b, 64, nscclFloat, rank == 0 ? nscclMax : nscclSum, comm, NULL);
  fails +=
      expect_mismatch("op", rc, now_s() - t, (const char *[]){"#4", "rank 0 called op=max", "ranks 1-3 op=sum", 0});
  fails += matched(comm, 0);
  /* collective: rank 3 calls all-gather where the others all-reduce. */
  t = now_s();
  rc = rank == 3 ? nscclAllGather(a, b, 64, nscclFloat, comm, NULL)
                 : nscclAllReduce(a, b, 64, nscclFloat, nscclSum, comm, NULL);
  fails += expect_mismatch(
      "collective", rc, now_s() - t,
      (const char *[]){"#6", "rank 3 called collective=allgather", "ranks 0-2 collective=allreduce", 0});
  /* root: rank 1 broadcasts from root 1, the others from 0. */
  t = now_s();
  rc = nscclBroadcast(a, b, 64, nscclFloat, rank == 1 ? 1 : 0, comm, NULL);
  fails += expect_mismatch("root", rc, now_s() - t,
                           (const char *[]){"nscclBroadcast #7", "rank 1 called root=1", "ranks 0,2,3 root=0", 0});
  /* two fields at once: count and datatype on two different ranks. */
  t = now_s();
  rc = nscclReduceScatter(a, b, rank == 0 ? 32 : 64, rank == 3 ? nscclFloat64 : nscclFloat, nscclSum, comm, NULL);
  fails += expect_mismatch("two fields", rc, now_s() - t,
                           (const char *[]){"#8", "rank 0 called count=32", "rank 3 called datatype=float64",
                                            "ranks 0-2 datatype=float32", 0});
  fails += matched(comm, 0);
  nscclResult_t async = nscclSuccess;
  CHECK(nscclCommGetAsyncError(comm, &async));
  if (async != nscclSuccess) fprintf(stderr, "rank %d: a mismatch failed the communicator\n", rank), fails++;
  CHECK(nscclCommDestroy(comm));
  printf("rank %d: mismatch checks %s\n", rank, fails ? "FAILED" : "passed");
  return fails ? 1 : 0;
}

/* Run one all-reduce with stderr captured into a file; return its text in buf. */
static nscclResult_t captured_allreduce(nscclComm_t comm, float *x, size_t n, char *buf, size_t len) {
  char path[] = "/tmp/nsccl-hang-XXXXXX";
  int fd = mkstemp(path), saved = dup(2);
  fflush(stderr);
  if (fd >= 0) dup2(fd, 2);
  nscclResult_t rc = nscclAllReduce(x, x, n, nscclFloat, nscclSum, comm, NULL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  buf[0] = '\0';
  if (fd >= 0) {
    ssize_t k = pread(fd, buf, len - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    close(fd);
    unlink(path);
  }
  return rc;
}

static int hang_mode(nscclComm_t comm) {
  int timeout_ms = getenv("NSCCL_TIMEOUT_MS") ? atoi(getenv("NSCCL_TIMEOUT_MS")) : 60000;
  static float x[2048];
  CHECK(nscclAllReduce(x, x, 2048, nscclFloat, nscclSum, comm, NULL)); /* #0 */
  if (rank == 2) {
    /* Skip #1: stay silent past the others' deadline, then leave. */
    usleep((useconds_t)(timeout_ms + 1500) * 1000);
    nscclCommAbort(comm);
    return 0;
  }
  static char log[16384];
  double t = now_s();
  nscclResult_t rc = captured_allreduce(comm, x, 2048, log, sizeof(log));
  double took = now_s() - t;
  char msg[2048];
  snprintf(msg, sizeof(msg), "%s", nscclGetLastError(NULL));
  /* The silent rank is named as the one that never answered (the argument check's words, or the
   * engine's); the peer that did answer is not. */
  const char *silent = getenv("NSCCL_CHECK") && atoi(getenv("NSCCL_CHECK")) ? "no call signature from rank 2 ("
                                                                            : "messages from rank 2 never arrived";
  const char *want[] = {"nscclAllReduce", "#1 ", "NSCCL_TIMEOUT_MS", silent, 0};
  int ok = rc == nscclTimeout && took < timeout_ms / 1000.0 + 3.0;
  for (int i = 0; want[i] && ok; i++) ok = strstr(msg, want[i]) && strstr(log, want[i]) && strstr(log, "WARN");
  fprintf(stderr, "rank %d: %s after %.2f s\n  message: %s\n  WARN output: %s\n", rank, nscclGetErrorString(rc), took,
          msg, log);
  nscclResult_t async = nscclSuccess;
  nscclCommGetAsyncError(comm, &async);
  t = now_s();
  nscclResult_t arc = nscclCommAbort(comm);
  ok = ok && async == nscclTimeout && arc == nscclSuccess && now_s() - t < 2.0;
  printf("rank %d: hang diagnosis %s\n", rank, ok ? "passed" : "FAILED");
  return ok ? 0 : 1;
}

/* The cost of the check: mean latency of small all-reduces (docs/reliability.md). */
static int latency_mode(nscclComm_t comm, int iters) {
  static float x[64];
  for (int i = 0; i < 200; i++) CHECK(nscclAllReduce(x, x, 2, nscclFloat, nscclSum, comm, NULL));
  for (size_t n = 2; n <= 64; n *= 32) {
    double t = now_s();
    for (int i = 0; i < iters; i++) CHECK(nscclAllReduce(x, x, n, nscclFloat, nscclSum, comm, NULL));
    double us = (now_s() - t) / iters * 1e6;
    if (rank == 0)
      printf("all-reduce of %zu bytes at %d ranks, NSCCL_CHECK=%s: %.1f us\n", n * sizeof(float), nranks,
             getenv("NSCCL_CHECK") ? getenv("NSCCL_CHECK") : "0", us);
  }
  CHECK(nscclCommDestroy(comm));
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "mismatch";
  if (!getenv("NSCCL_RANK") || !getenv("NSCCL_NRANKS")) {
    fprintf(stderr, "start through tests/mpi/launch.c\n");
    return 2;
  }
  rank = atoi(getenv("NSCCL_RANK"));
  nranks = atoi(getenv("NSCCL_NRANKS"));
  nscclUniqueId id;
  CHECK(nscclGetUniqueId(&id));
  nscclComm_t comm;
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  /* direct: every rank waits on every other, so only the silent rank can be named in hang mode. */
  cfg.algo = "direct";
  CHECK(nscclCommInitRankConfig(&comm, nranks, id, rank, strcmp(mode, "latency") ? &cfg : NULL));
  if (!strcmp(mode, "latency")) return latency_mode(comm, argc > 2 ? atoi(argv[2]) : 5000);
  if (!strcmp(mode, "mismatch")) return mismatch_mode(comm);
  if (!strcmp(mode, "hang")) return hang_mode(comm);
  fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
