/* Lost peers: one rank is SIGKILLed by tests/mpi/launch.c (--kill R) once every rank printed
 * "ready", in one of four phases:
 *   test_lost_peer init|small|large|destroy VICTIM
 * init     every rank prints ready before nscclCommInitRank; the victim never initialises.
 * small    all-reduces of 16 KiB in a loop; ready after 20.
 * large    all-reduces of 16 MiB in a loop; ready after 2 (the kill lands mid-collective).
 * destroy  a few all-reduces, ready, then nscclCommDestroy (its barrier waits for the victim).
 * registered  as large, on nscclMemAlloc buffers registered with the communicator (direct reads).
 * A survivor must get an error from the call in progress within NSCCL_TIMEOUT_MS + 2 s,
 * nscclCommAbort must return within 2 s, and afterwards nothing may be left: as many threads and
 * socket descriptors as before the communicator existed, and no /dev/shm segment named for this
 * process or for the victim (libfabric shm: <pid>:<n>:<m>; the fast path: nsccl-fp-<pid>-<n>). The
 * ranks learn each other's pid through files named after NSCCL_COMM_ID (unique per launch). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nsccl.h"

static int rank, nranks, victim, timeout_ms;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void ready(void) {
  printf("ready\n");
  fflush(stdout);
}

static void pid_path(int r, char *buf, size_t len) {
  const char *id = getenv("NSCCL_COMM_ID");
  const char *port = id ? strrchr(id, ':') : NULL;
  snprintf(buf, len, "%s/nsccl-lost-%s-%d.pid", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", port ? port + 1 : "x", r);
}

static int read_pid(int r) {
  char path[512];
  pid_path(r, path, sizeof(path));
  FILE *f = fopen(path, "r");
  int pid = 0;
  if (f) {
    if (fscanf(f, "%d", &pid) != 1) pid = 0;
    fclose(f);
  }
  return pid;
}

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0); /* the descriptor opendir itself holds */
}

/* Socket descriptors of this process; listed on stderr when `show`. */
static int count_sockets(int show) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) {
    char p[300], target[256];
    snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
    ssize_t k = readlink(p, target, sizeof(target) - 1);
    if (k <= 0) continue;
    target[k] = '\0';
    if (!strncmp(target, "socket:", 7)) {
      n++;
      if (show) fprintf(stderr, "rank %d:   fd %s -> %s\n", rank, e->d_name, target);
    }
  }
  closedir(d);
  return n;
}

/* /dev/shm entries named for pid. */
static int shm_of(int pid, int show) {
  if (pid <= 0) return 0;
  char a[32], b[32];
  int la = snprintf(a, sizeof(a), "%d:", pid), lb = snprintf(b, sizeof(b), "nsccl-fp-%d-", pid);
  DIR *d = opendir("/dev/shm");
  int n = 0;
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, a, (size_t)la) || !strncmp(e->d_name, b, (size_t)lb)) {
      n++;
      if (show) fprintf(stderr, "rank %d:   left in /dev/shm: %s\n", rank, e->d_name);
    }
  closedir(d);
  return n;
}

static int threads0, sockets0;

static int leftovers(void) {
  int bad = 0, threads = count_dir("/proc/self/task"), sockets = count_sockets(0);
  if (threads != threads0) fprintf(stderr, "rank %d: %d threads, %d before init\n", rank, threads, threads0), bad++;
  if (sockets != sockets0) {
    fprintf(stderr, "rank %d: %d sockets open, %d before init:\n", rank, sockets, sockets0);
    count_sockets(1);
    bad++;
  }
  if (shm_of(getpid(), 1)) fprintf(stderr, "rank %d: own shared memory left\n", rank), bad++;
  if (shm_of(read_pid(victim), 1)) fprintf(stderr, "rank %d: the killed rank's shared memory left\n", rank), bad++;
  return bad;
}

/* The survivor's verdict on the failed call. */
static int judge(const char *what, nscclResult_t rc, double took, nscclComm_t comm) {
  const char *msg = nscclGetLastError(NULL);
  int ok = rc != nscclSuccess && took < timeout_ms / 1000.0 + 2.0;
  fprintf(stderr, "rank %d: %s returned %s after %.2f s: %s\n", rank, what, nscclGetErrorString(rc), took, msg);
  if (comm) {
    double t = now_s();
    nscclResult_t arc = nscclCommAbort(comm);
    double at = now_s() - t;
    if (arc != nscclSuccess || at > 2.0)
      fprintf(stderr, "rank %d: abort returned %d after %.2f s\n", rank, arc, at), ok = 0;
  }
  /* The victim's segments are removed by whoever closes after it died; give the kill a moment to
   * land if this rank failed for another reason first. */
  usleep(200000);
  int bad = leftovers();
  printf("rank %d: lost peer during %s: %s\n", rank, what, ok && !bad ? "passed" : "FAILED");
  return ok && !bad ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 3 || !getenv("NSCCL_RANK") || !getenv("NSCCL_NRANKS")) {
    fprintf(stderr, "usage (through tests/mpi/launch.c --kill VICTIM): test_lost_peer PHASE VICTIM\n");
    return 2;
  }
  const char *phase = argv[1];
  victim = atoi(argv[2]);
  rank = atoi(getenv("NSCCL_RANK"));
  nranks = atoi(getenv("NSCCL_NRANKS"));
  timeout_ms = getenv("NSCCL_TIMEOUT_MS") ? atoi(getenv("NSCCL_TIMEOUT_MS")) : 60000;
  char path[512];
  pid_path(rank, path, sizeof(path));
  FILE *f = fopen(path, "w");
  if (f) fprintf(f, "%d\n", (int)getpid()), fclose(f);
  threads0 = count_dir("/proc/self/task");
  sockets0 = count_sockets(0);

  nscclUniqueId id;
  nscclComm_t comm = NULL;
  int rc_main = 0;
  if (nscclGetUniqueId(&id) != nscclSuccess) return 1;
  if (!strcmp(phase, "init")) {
    ready();
    if (rank == victim) pause();
    double t = now_s();
    nscclResult_t rc = nscclCommInitRank(&comm, nranks, id, rank);
    rc_main = judge("init", rc, now_s() - t, rc == nscclSuccess ? comm : NULL);
  } else {
    if (nscclCommInitRank(&comm, nranks, id, rank) != nscclSuccess) {
      fprintf(stderr, "rank %d: init failed: %s\n", rank, nscclGetLastError(NULL));
      return 1;
    }
    /* registered: the large all-reduce on nscclMemAlloc buffers registered with the communicator,
     * so survivors read the victim's memory directly when it dies. */
    int reg = !strcmp(phase, "registered");
    int large = reg || !strcmp(phase, "large");
    size_t n = large ? (size_t)4 << 20 : 4096;
    float *buf = NULL;
    void *handle = NULL;
    if (reg) {
      if (nscclMemAlloc((void **)&buf, n * sizeof(float)) != nscclSuccess ||
          nscclCommRegister(comm, buf, n * sizeof(float), &handle) != nscclSuccess) {
        fprintf(stderr, "rank %d: registration failed: %s\n", rank, nscclGetLastError(NULL));
        return 1;
      }
    } else {
      buf = calloc(n, sizeof(float));
    }
    if (!strcmp(phase, "destroy")) {
      for (int i = 0; i < 3; i++)
        if (nscclAllReduce(buf, buf, n, nscclFloat, nscclSum, comm, NULL) != nscclSuccess) return 1;
      ready();
      if (rank == victim) pause();
      usleep(100000); /* let the launcher see every "ready" and kill while we wait in the barrier */
      double t = now_s();
      nscclResult_t rc = nscclCommDestroy(comm);
      rc_main = judge("destroy", rc == nscclSuccess ? nscclInternalError : rc, now_s() - t, NULL);
    } else {
      for (long it = 0;; it++) {
        double t = now_s();
        nscclResult_t rc = nscclAllReduce(buf, buf, n, nscclFloat, nscclSum, comm, NULL);
        if (rc == nscclSuccess) {
          if (it == (large ? 2 : 20)) ready();
          continue;
        }
        rc_main = judge(reg     ? "a large all-reduce on registered buffers"
                        : large ? "a large all-reduce"
                                : "a small all-reduce",
                        rc, now_s() - t, comm);
        break;
      }
    }
    if (reg)
      nscclMemFree(buf); /* the aborted communicator released its registration */
    else
      free(buf);
  }
  unlink(path);
  /* The first survivor removes the victim's pid file once the other survivors are done with it
   * (each removes its own file after its checks). */
  if (rank == (victim == 0 ? 1 : 0)) {
    for (int r = 0, waited = 0; r < nranks && waited < 100; r++) {
      if (r == victim || r == rank) continue;
      pid_path(r, path, sizeof(path));
      while (access(path, F_OK) == 0 && waited++ < 100) usleep(50000);
    }
    pid_path(victim, path, sizeof(path));
    unlink(path);
  }
  return rc_main;
}
