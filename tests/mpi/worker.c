/* A rank started without MPI: NSCCL_COMM_ID names rank 0's address, NSCCL_RANK / NSCCL_NRANKS the
 * rank and size. Modes:
 *   check [expected_hosts]  every collective x every algorithm on a few sizes, compared with
 *                           closed-form results; prints the hosts the communicator sees and fails
 *                           if it is not expected_hosts.
 *   loop                    all-reduces until one fails; prints "ready" after a few (the fault
 *                           launcher kills a rank then). A survivor must see nscclRemoteError or
 *                           nscclTimeout within NSCCL_TIMEOUT_MS (+ margin), and nscclCommAbort
 *                           must return promptly. Exit 0 when that holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/rank_check.h"
#include "api/comm.h" /* only to read the host count the communicator found */
#include "nsccl.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int env_int(const char *name) {
  const char *v = getenv(name);
  if (!v) {
    fprintf(stderr, "worker: %s is not set\n", name);
    exit(2);
  }
  return atoi(v);
}

/* Input element i of rank r: small integers, so float sums are exact in any order. */
static int32_t input(int r, size_t i) { return (int32_t)((r * 7 + (int)(i % 13)) % 10); }

static int check_all(nscclComm_t comm, int rank, int nranks) {
  static const size_t counts[] = {0, 1, 5, 1000, 70000};
  int errors = 0;
  {
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
      size_t n = counts[k];
      float *send = malloc((n * (size_t)nranks + 1) * sizeof(float));
      float *recv = malloc((n * (size_t)nranks + 1) * sizeof(float));
      /* all-reduce */
      for (size_t i = 0; i < n; i++) send[i] = (float)input(rank, i);
      CHECK(nscclAllReduce(send, recv, n, nscclFloat, nscclSum, comm, NULL));
      for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < nranks; r++) want += (float)input(r, i);
        if (recv[i] != want && errors++ < 5)
          fprintf(stderr, "rank %d allreduce n=%zu: [%zu] = %g, want %g\n", rank, n, i, recv[i], want);
      }
      /* all-gather */
      CHECK(nscclAllGather(send, recv, n, nscclFloat, comm, NULL));
      for (int r = 0; r < nranks; r++)
        for (size_t i = 0; i < n; i++)
          if (recv[(size_t)r * n + i] != (float)input(r, i) && errors++ < 5)
            fprintf(stderr, "rank %d allgather n=%zu: block %d [%zu] wrong\n", rank, n, r, i);
      /* reduce-scatter: rank r's input vector has n * nranks elements */
      for (size_t i = 0; i < n * (size_t)nranks; i++) send[i] = (float)input(rank, i);
      CHECK(nscclReduceScatter(send, recv, n, nscclFloat, nscclSum, comm, NULL));
      for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < nranks; r++) want += (float)input(r, (size_t)rank * n + i);
        if (recv[i] != want && errors++ < 5) fprintf(stderr, "rank %d reducescatter n=%zu: [%zu] wrong\n", rank, n, i);
      }
      free(send);
      free(recv);
    }
  }
  return errors;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "check";
  int rank = env_int("NSCCL_RANK"), nranks = env_int("NSCCL_NRANKS");
  nscclUniqueId id;
  CHECK(nscclGetUniqueId(&id));
  nscclComm_t comm;
  double t0 = now_s();
  CHECK(nscclCommInitRank(&comm, nranks, id, rank));
  double t_init = now_s() - t0;

  if (!strcmp(mode, "check")) {
    int want_hosts = argc > 2 ? atoi(argv[2]) : 0;
    int errors = 0;
    const char *algos[] = {"ring", "tree", "direct"};
    for (int a = 0; a < 3; a++) {
      /* One communicator per algorithm, forced through the config. The first one is `comm`. */
      nscclComm_t c = comm;
      if (a > 0) {
        nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
        cfg.algo = algos[a];
        /* NSCCL_COMM_ID ids are equal on every rank, so each new comm rendezvouses there again. */
        CHECK(nscclCommInitRankConfig(&c, nranks, id, rank, &cfg));
      }
      errors += check_all(c, rank, nranks);
      if (a > 0) CHECK(nscclCommDestroy(c));
    }
    int hosts = comm->nhosts;
    printf("rank %d: %d host(s), init %.3f s, %s\n", rank, hosts, t_init, errors ? "WRONG" : "correct");
    CHECK(nscclCommDestroy(comm));
    if (want_hosts && hosts != want_hosts) {
      fprintf(stderr, "rank %d: the communicator sees %d hosts, expected %d\n", rank, hosts, want_hosts);
      return 1;
    }
    return errors ? 1 : 0;
  }

  if (!strcmp(mode, "loop")) {
    size_t n = 4096;
    float *buf = calloc(n, sizeof(float));
    int timeout_ms = getenv("NSCCL_TIMEOUT_MS") ? atoi(getenv("NSCCL_TIMEOUT_MS")) : 60000;
    for (long it = 0;; it++) {
      double start = now_s();
      nscclResult_t rc = nscclAllReduce(buf, buf, n, nscclFloat, nscclSum, comm, NULL);
      if (rc == nscclSuccess) {
        if (it == 20) {
          printf("ready\n");
          fflush(stdout);
        }
        continue;
      }
      double waited = now_s() - start;
      const char *msg = nscclGetLastError(comm);
      nscclResult_t async = nscclSuccess;
      nscclCommGetAsyncError(comm, &async);
      double a0 = now_s();
      nscclResult_t arc = nscclCommAbort(comm);
      double abort_s = now_s() - a0;
      fprintf(stderr, "rank %d: iteration %ld failed after %.2f s with %s (async %d); abort took %.3f s\n  %s\n", rank,
              it, waited, nscclGetErrorString(rc), (int)async, abort_s, msg);
      int ok = (rc == nscclRemoteError || rc == nscclTimeout) && async == rc && arc == nscclSuccess && abort_s < 2.0 &&
               waited < timeout_ms / 1000.0 + 5.0;
      free(buf);
      return ok ? 0 : 1;
    }
  }
  fprintf(stderr, "worker: unknown mode '%s'\n", mode);
  return 2;
}
