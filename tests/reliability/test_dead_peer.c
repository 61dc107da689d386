/* How fast survivors notice a dead peer (docs/reliability.md, "Dead peers").
 *
 *   test_dead_peer kill VICTIM LIMIT_MS [BYTES]   (through tests/mpi/launch.c --victim VICTIM, or
 *                                                  the namespace harness)
 *   test_dead_peer linkdown STAMP_FILE LIMIT_MS   (tests/net/hosts.sh cuts a link)
 *
 * Every rank runs all-reduces of BYTES (default 1 MiB) in a loop with NSCCL_TIMEOUT_MS far above
 * LIMIT_MS, so only the peer watcher can end the loop in time.
 * kill:     after 5 all-reduces the victim's helper thread waits 20 ms (so the kill lands inside a
 *           collective), writes the CLOCK_MONOTONIC time to a file and SIGKILLs its own process.
 *           A survivor passes if its call fails with nscclRemoteError naming "rank VICTIM" and a
 *           host, no more than LIMIT_MS after that time, and abort returns.
 * linkdown: the harness writes the CLOCK_BOOTTIME seconds (/proc/uptime) at which it set a link
 *           down into STAMP_FILE; every rank must fail with nscclRemoteError naming a host within
 *           LIMIT_MS of that time.
 * Both clocks are system-wide, so ranks in other network namespaces read the same ones. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nsccl.h"

static int rank, nranks, victim = -1;

static double clock_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void stamp_path(char *buf, size_t len) {
  const char *id = getenv("NSCCL_COMM_ID");
  const char *port = id ? strrchr(id, ':') : NULL;
  snprintf(buf, len, "%s/nsccl-dead-%s.stamp", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", port ? port + 1 : "x");
}

static void *suicide(void *arg) {
  (void)arg;
  usleep(20000);
  char path[512];
  stamp_path(path, sizeof(path));
  FILE *f = fopen(path, "w");
  if (f) fprintf(f, "%.9f\n", clock_s(CLOCK_MONOTONIC)), fclose(f);
  kill(getpid(), SIGKILL);
  return NULL;
}

static double read_stamp(const char *path, double wait_s) {
  double t = -1;
  for (double end = clock_s(CLOCK_MONOTONIC) + wait_s; t < 0 && clock_s(CLOCK_MONOTONIC) < end;) {
    FILE *f = fopen(path, "r");
    if (f) {
      if (fscanf(f, "%lf", &t) != 1) t = -1;
      fclose(f);
    }
    if (t < 0) usleep(10000);
  }
  return t;
}

int main(int argc, char **argv) {
  if (argc < 4 || !getenv("NSCCL_RANK") || !getenv("NSCCL_NRANKS") || !strcmp(argv[1], "--help")) {
    fprintf(stderr, "usage: test_dead_peer kill VICTIM LIMIT_MS [BYTES] | linkdown STAMP_FILE LIMIT_MS\n"
                    "(ranks from NSCCL_RANK / NSCCL_NRANKS / NSCCL_COMM_ID, e.g. through nsccl_launch)\n");
    return 2;
  }
  int linkdown = !strcmp(argv[1], "linkdown");
  double limit_ms = atof(argv[3]);
  size_t bytes = !linkdown && argc > 4 ? (size_t)atol(argv[4]) : (size_t)1 << 20;
  if (!linkdown) victim = atoi(argv[2]);
  rank = atoi(getenv("NSCCL_RANK"));
  nranks = atoi(getenv("NSCCL_NRANKS"));
  nscclUniqueId id;
  nscclComm_t comm = NULL;
  if (nscclGetUniqueId(&id) != nscclSuccess || nscclCommInitRank(&comm, nranks, id, rank) != nscclSuccess) {
    fprintf(stderr, "rank %d: init failed: %s\n", rank, nscclGetLastError(NULL));
    return 1;
  }
  size_t n = bytes / sizeof(float);
  float *buf = calloc(n ? n : 1, sizeof(float));
  nscclResult_t rc = nscclSuccess;
  double t_err = 0, t_err_boot = 0;
  double give_up = clock_s(CLOCK_MONOTONIC) + 60;
  for (long it = 0; rc == nscclSuccess && clock_s(CLOCK_MONOTONIC) < give_up; it++) {
    if (it == 5) {
      printf("ready\n");
      fflush(stdout);
      pthread_t th;
      if (rank == victim) pthread_create(&th, NULL, suicide, NULL);
    }
    rc = nscclAllReduce(buf, buf, n, nscclFloat, nscclSum, comm, NULL);
    t_err = clock_s(CLOCK_MONOTONIC);
    t_err_boot = clock_s(CLOCK_BOOTTIME);
  }
  const char *msg = nscclGetLastError(NULL);
  char path[512], want[32];
  double t0;
  if (linkdown) {
    t0 = read_stamp(argv[2], 10);
    t_err = t_err_boot;
  } else {
    stamp_path(path, sizeof(path));
    t0 = read_stamp(path, 10);
  }
  double dt_ms = (t_err - t0) * 1e3;
  snprintf(want, sizeof(want), "rank %d ", victim);
  int ok = rc == nscclRemoteError && t0 > 0 && dt_ms <= limit_ms && strstr(msg, "on host") &&
           (linkdown || strstr(msg, want));
  fprintf(stderr, "rank %d: %s %.1f ms after the %s: %s\n", rank, nscclGetErrorString(rc), dt_ms,
          linkdown ? "link went down" : "kill", msg);
  double ta = clock_s(CLOCK_MONOTONIC);
  nscclCommAbort(comm);
  if (clock_s(CLOCK_MONOTONIC) - ta > 2.0) fprintf(stderr, "rank %d: abort took over 2 s\n", rank), ok = 0;
  printf("rank %d: dead peer noticed in %.1f ms (limit %.0f): %s\n", rank, dt_ms, limit_ms, ok ? "passed" : "FAILED");
  free(buf);
  /* The first survivor removes the stamp once the others had time to read it. */
  if (!linkdown && rank == (victim == 0 ? 1 : 0)) {
    usleep(500000);
    unlink(path);
  }
  return ok ? 0 : 1;
}
