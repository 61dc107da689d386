/* nsccl-floor: the minimal same-host all-reduce (perf/floor_kernel.h), with nothing of nsccl in it:
 * N forked processes share one anonymous mapping and run ITERS 8-byte one-shot all-reduces, RUNS
 * times. Prints the time per all-reduce of each run (total / ITERS, the slowest rank) and their
 * median; every result is checked against the closed-form sum. The number nsccl's 8-byte
 * all-reduce is held against (docs/performance.md, "Floor").
 *
 * Rank r is pinned to CPU r mod (CPUs this process may use), as mpirun binds ranks to cores
 * (-u: unpinned; on a loaded machine two unpinned ranks share a core often enough to take microseconds).
 *
 *   nsccl-floor [-n RANKS] [-i ITERS] [-r RUNS] [-u] */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perf/floor_kernel.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-floor [-n RANKS] [-i ITERS] [-r RUNS] [-u]\n"
             "\n"
             "The floor of a same-host 8-byte all-reduce: RANKS forked processes sharing one mapping run\n"
             "ITERS one-shot all-reduces with nothing of nsccl in them, checked against the closed-form\n"
             "sum; the number nsccl's small all-reduce is held against (docs/performance.md, \"Floor\").\n"
             "\n"
             "  -n RANKS  processes (default 2)\n"
             "  -i ITERS  all-reduces per run (default 200000)\n"
             "  -r RUNS   runs (default 5); prints ns per all-reduce of each and the median\n"
             "  -u        do not pin rank r to CPU r mod the CPUs available\n"
             "  -h, --help  this text\n"
             "\n"
             "Example: nsccl-floor -n 4 -i 100000 -r 3\n");
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int nranks = 2, runs = 5, pin = 1;
  long iters = 200000;
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "n:i:r:uh", longopts, NULL)) != -1;) {
    switch (c) {
    case 'n': nranks = atoi(optarg); break;
    case 'i': iters = atol(optarg); break;
    case 'r': runs = atoi(optarg); break;
    case 'u': pin = 0; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (nranks < 2 || nranks > 256 || iters < 1 || runs < 1 || runs > 100) {
    fprintf(stderr, "nsccl-floor: need 2 <= RANKS <= 256, ITERS >= 1, 1 <= RUNS <= 100\n");
    return 2;
  }
  /* lines, then per rank and run the elapsed ns, then a start flag per run. */
  size_t lines_bytes = floor_region_bytes(nranks);
  size_t bytes = lines_bytes + (size_t)nranks * (size_t)runs * sizeof(double) + 64;
  unsigned char *shm = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    fprintf(stderr, "nsccl-floor: mmap: %s\n", strerror(errno));
    return 1;
  }
  floor_line_t *lines = (floor_line_t *)shm;
  double *elapsed = (double *)(shm + lines_bytes);
  cpu_set_t allowed;
  int cpus[CPU_SETSIZE], ncpus = 0;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &allowed)) cpus[ncpus++] = c;
  for (int r = 0; r < nranks; r++) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "nsccl-floor: fork: %s\n", strerror(errno));
      return 1;
    }
    if (pid > 0) continue;
    if (pin && ncpus > 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[r % ncpus], &one);
      sched_setaffinity(0, sizeof(one), &one);
    }
    uint64_t e = 0;
    int bad = 0;
    /* Expected sum of (rank + 1) * e over ranks, exact in a double for these magnitudes. */
    double ranks_sum = (double)nranks * (nranks + 1) / 2;
    for (int run = 0; run < runs; run++) {
      floor_allreduce(lines, r, nranks, ++e, 0); /* start together */
      double t0 = now_ns();
      for (long i = 0; i < iters; i++) {
        e++;
        double got = floor_allreduce(lines, r, nranks, e, (double)(r + 1) * (double)(e % 1024));
        bad += got != ranks_sum * (double)(e % 1024);
      }
      elapsed[(size_t)run * nranks + r] = (now_ns() - t0) / (double)iters;
    }
    _exit(bad ? 1 : 0);
  }
  int failed = 0;
  for (int r = 0; r < nranks; r++) {
    int st = 0;
    wait(&st);
    failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  if (failed) {
    fprintf(stderr, "nsccl-floor: a rank computed a wrong sum or died\n");
    return 1;
  }
  double *per_run = calloc((size_t)runs, sizeof(double));
  printf("# nsccl-floor: %d ranks%s, %ld one-shot 8-byte all-reduces per run (slowest rank)\n", nranks,
         pin ? " pinned to CPUs" : "", iters);
  for (int run = 0; run < runs; run++) {
    double worst = 0;
    for (int r = 0; r < nranks; r++)
      if (elapsed[(size_t)run * nranks + r] > worst) worst = elapsed[(size_t)run * nranks + r];
    per_run[run] = worst;
    printf("run %d: %.1f ns per all-reduce\n", run, worst);
  }
  qsort(per_run, (size_t)runs, sizeof(double), cmp);
  printf("median: %.1f ns per all-reduce (min %.1f, max %.1f)\n", per_run[runs / 2], per_run[0], per_run[runs - 1]);
  free(per_run);
  return 0;
}
