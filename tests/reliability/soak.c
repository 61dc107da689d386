/* Soak: many collectives back to back on one set of communicators, watching for slow leaks.
 *
 *   soak [--small N] [--large M] [--intervals K]      (started by tests/mpi's launcher: NSCCL_COMM_ID,
 *                                                      NSCCL_RANK, NSCCL_NRANKS)
 *
 * Four communicators (the selector's choice, and ring, tree, direct forced through the config) take
 * turns; each step runs one of all-reduce, all-gather, reduce-scatter, broadcast and reduce, with
 * small (N of them, 1..1024 elements) and large (M of them, 1 Mi floats) messages interleaved
 * evenly. Each interval also creates and destroys one extra communicator (init/destroy must not
 * leak either). Every result is checked against closed-form values.
 *
 * Per interval every rank records its resident memory (/proc/self/statm), the interval's wall time
 * (and the time per collective of its fastest block of 50, which the load of a shared machine
 * hardly moves) and its open descriptors (/proc/self/fd); rank 0 prints its own. After a warm-up
 * of the first interval, each rank fails if its RSS grows more than 5% (plus 512 KiB for allocator
 * noise) above the warm-up figure, if the last two intervals' fastest blocks are more than
 * --max-slowdown (1.5) times slower than the first two's, or if a descriptor is left open. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nsccl.h"

#define MAX_INTERVALS 64
#define LARGE_COUNT   (1u << 20)
#define BLOCK         50

static int rank, nranks;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *e; d && (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n - 1; /* the directory stream itself */
}

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    nscclResult_t rc_ = (call);                                                                                        \
    if (rc_ != nscclSuccess) {                                                                                         \
      fprintf(stderr, "rank %d: %s failed: %s\n", rank, #call, nscclGetLastError(NULL));                               \
      exit(1);                                                                                                         \
    }                                                                                                                  \
  } while (0)

/* Element i of rank r's input: small integers, so float sums are exact in any order. */
static float in(int r, size_t i) { return (float)((r * 3 + (int)(i % 11)) % 8); }

static float *sendb, *recvb;
static long wrong;

static void expect(const char *what, size_t count, size_t i, float got, float want) {
  if (got != want && wrong++ < 5)
    fprintf(stderr, "rank %d: %s of %zu elements: [%zu] = %g, want %g\n", rank, what, count, i, got, want);
}

/* One collective, chosen by step, of count elements, checked. Only a sample of a large result is
 * checked (a stride of indices), so checking costs less than the collective. */
static void one(nscclComm_t comm, long step, size_t count) {
  size_t stride = count > 4096 ? 997 : 1;
  int kind = (int)(step % 5), root = (int)(step % nranks);
  size_t total = kind == 2 ? count * (size_t)nranks : count;
  for (size_t i = 0; i < total; i++) sendb[i] = in(rank, i);
  switch (kind) {
  case 0:
    CHECK(nscclAllReduce(sendb, recvb, count, nscclFloat, nscclSum, comm, NULL));
    for (size_t i = 0; i < count; i += stride) {
      float want = 0;
      for (int r = 0; r < nranks; r++) want += in(r, i);
      expect("allreduce", count, i, recvb[i], want);
    }
    break;
  case 1:
    CHECK(nscclAllGather(sendb, recvb, count, nscclFloat, comm, NULL));
    for (int r = 0; r < nranks; r++)
      for (size_t i = 0; i < count; i += stride) expect("allgather", count, i, recvb[(size_t)r * count + i], in(r, i));
    break;
  case 2:
    CHECK(nscclReduceScatter(sendb, recvb, count, nscclFloat, nscclSum, comm, NULL));
    for (size_t i = 0; i < count; i += stride) {
      float want = 0;
      for (int r = 0; r < nranks; r++) want += in(r, (size_t)rank * count + i);
      expect("reducescatter", count, i, recvb[i], want);
    }
    break;
  case 3:
    CHECK(nscclBroadcast(sendb, recvb, count, nscclFloat, root, comm, NULL));
    for (size_t i = 0; i < count; i += stride) expect("broadcast", count, i, recvb[i], in(root, i));
    break;
  default:
    CHECK(nscclReduce(sendb, recvb, count, nscclFloat, nscclMax, root, comm, NULL));
    if (rank == root)
      for (size_t i = 0; i < count; i += stride) {
        float want = 0;
        for (int r = 0; r < nranks; r++)
          if (in(r, i) > want) want = in(r, i);
        expect("reduce", count, i, recvb[i], want);
      }
    break;
  }
}

int main(int argc, char **argv) {
  long small = 100000, large = 1000;
  int intervals = 10;
  double max_slowdown = 1.5; /* 0: report the timing only (CI on a shared machine) */
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--small"))
      small = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--large"))
      large = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-slowdown"))
      max_slowdown = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--intervals"))
      intervals = atoi(argv[i + 1]);
  }
  if (intervals < 3 || intervals > MAX_INTERVALS || small < 0 || large < 0) {
    fprintf(stderr, "usage: soak [--small N] [--large M] [--intervals 3..%d] [--max-slowdown F]\n", MAX_INTERVALS);
    return 2;
  }
  rank = atoi(getenv("NSCCL_RANK") ? getenv("NSCCL_RANK") : "0");
  nranks = atoi(getenv("NSCCL_NRANKS") ? getenv("NSCCL_NRANKS") : "1");
  sendb = malloc((size_t)LARGE_COUNT * (size_t)nranks * sizeof(float));
  recvb = malloc((size_t)LARGE_COUNT * (size_t)nranks * sizeof(float));
  if (!sendb || !recvb) return 1;
  /* Touch the buffers now so their pages count in the warm-up figure, not as growth. */
  memset(sendb, 0, (size_t)LARGE_COUNT * (size_t)nranks * sizeof(float));
  memset(recvb, 0, (size_t)LARGE_COUNT * (size_t)nranks * sizeof(float));

  nscclUniqueId id;
  CHECK(nscclGetUniqueId(&id));
  static const char *algos[] = {NULL, "ring", "tree", "direct"};
  nscclComm_t comms[4];
  for (int a = 0; a < 4; a++) {
    nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
    cfg.algo = algos[a];
    CHECK(nscclCommInitRankConfig(&comms[a], nranks, id, rank, &cfg));
  }

  long rss[MAX_INTERVALS];
  int fds[MAX_INTERVALS];
  double secs[MAX_INTERVALS], best_us[MAX_INTERVALS];
  long total = small + large, done = 0, large_done = 0;
  if (rank == 0)
    printf("soak: %d ranks, %ld small + %ld large collectives, %d intervals\n"
           "interval  collectives   seconds  best_us/coll   rss_KiB   fds\n",
           nranks, small, large, intervals);
  for (int k = 0; k < intervals; k++) {
    double t0 = now_s();
    long until = total * (k + 1) / intervals;
    /* The machine is shared: wall time per interval swings with the load. The fastest block of
     * BLOCK collectives in the interval is what a leak (a list that grows, a cache that misses)
     * would slow down, and what the load hardly touches. */
    double block_t0 = now_s(), best = 1e30;
    long block_start = done;
    for (; done < until; done++) {
      /* Large ones spread evenly among the small ones. */
      int is_large = total > 0 && (large_done + 1) * total <= (done + 1) * large;
      size_t count = is_large ? LARGE_COUNT : 1 + (size_t)(done * 37 % 1024);
      large_done += is_large;
      one(comms[done % 4], done, count);
      if (done + 1 - block_start == BLOCK) {
        double t = now_s();
        if (t - block_t0 < best) best = t - block_t0;
        block_t0 = t, block_start = done + 1;
      }
    }
    best_us[k] = best < 1e30 ? best * 1e6 / BLOCK : 0;
    /* An extra communicator born and destroyed every interval. */
    nscclComm_t extra;
    CHECK(nscclCommInitRank(&extra, nranks, id, rank));
    one(extra, k, 100);
    CHECK(nscclCommDestroy(extra));
    secs[k] = now_s() - t0;
    rss[k] = rss_kib();
    fds[k] = open_fds();
    if (rank == 0) {
      printf("%8d %12ld %9.2f %13.1f %9ld %5d\n", k, done, secs[k], best_us[k], rss[k], fds[k]);
      fflush(stdout);
    }
  }
  for (int a = 0; a < 4; a++) CHECK(nscclCommDestroy(comms[a]));

  /* Verdict over intervals 1.. (interval 0 is the warm-up). */
  int failed = wrong > 0;
  long base = rss[1], peak = 0;
  for (int k = 1; k < intervals; k++)
    if (rss[k] > peak) peak = rss[k];
  double growth = base > 0 ? 100.0 * (double)(peak - base) / (double)base : 0;
  if (peak > base + base / 20 + 512) {
    fprintf(stderr, "rank %d: resident memory grew from %ld to %ld KiB (%.1f%%) after the warm-up\n", rank, base, peak,
            growth);
    failed = 1;
  }
  double first = (best_us[1] + best_us[2]) / 2, last = (best_us[intervals - 1] + best_us[intervals - 2]) / 2;
  if (max_slowdown > 0 && first > 0 && last > max_slowdown * first) {
    fprintf(stderr,
            "rank %d: slowed down: the fastest %d collectives took %.1f us each at the start, %.1f at the end\n", rank,
            BLOCK, first, last);
    failed = 1;
  }
  if (fds[intervals - 1] != fds[0]) {
    fprintf(stderr, "rank %d: %d descriptors open after the warm-up, %d at the end\n", rank, fds[0],
            fds[intervals - 1]);
    failed = 1;
  }
  printf("rank %d: rss %ld -> %ld KiB (%+.1f%%), best %.1f -> %.1f us/coll, fds %d -> %d, %ld wrong results: %s\n",
         rank, base, rss[intervals - 1], growth, first, last, fds[0], fds[intervals - 1], wrong,
         failed ? "FAIL" : "ok");
  free(sendb);
  free(recvb);
  return failed;
}
