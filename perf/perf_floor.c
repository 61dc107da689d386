/* The floor column of nsccl-perf (see perf_floor.h and docs/performance.md, "Floor"). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "perf/floor_kernel.h"
#include "perf/perf_floor.h"

/* Short runs, the best one counts: h is a lower bound, and on a shared machine a short run is more
 * likely to find both ranks on a core at once (the slowest rank of each run is what counts). */
#define HANDOFF_RUNS  15
#define HANDOFF_ITERS 500
#define BW_MAX        ((size_t)64 << 20)
#define BW_MIN_NS     2000000 /* each copy measurement repeats for at least 2 ms */
#define BW_TRIES      5

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* h: the floor kernel between the ranks, through a segment rank 0 creates. */
static double measure_handoff(int rank, int nranks) {
  char name[64];
  int pid = (int)getpid();
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  snprintf(name, sizeof(name), "/nsccl-perf-floor-%d", pid);
  size_t bytes = floor_region_bytes(nranks);
  int fd = rank == 0 ? shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600) : -1;
  int ok = rank != 0 || (fd >= 0 && ftruncate(fd, (off_t)bytes) == 0);
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) return -1;
  if (rank != 0) fd = shm_open(name, O_RDWR, 0);
  void *m = fd >= 0 ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (fd >= 0) close(fd);
  int mine = m != MAP_FAILED, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (rank == 0) shm_unlink(name);
  if (!all) {
    if (mine) munmap(m, bytes);
    return -1;
  }
  floor_line_t *lines = m;
  double runs[HANDOFF_RUNS], worst[HANDOFF_RUNS];
  uint64_t e = 0;
  for (int i = 0; i < 200; i++) floor_allreduce(lines, rank, nranks, ++e, 1.0); /* warm the lines */
  for (int r = 0; r < HANDOFF_RUNS; r++) {
    floor_allreduce(lines, rank, nranks, ++e, 0.0);
    int64_t t0 = nsccl_now_ns();
    for (int i = 0; i < HANDOFF_ITERS; i++) floor_allreduce(lines, rank, nranks, ++e, 1.0);
    runs[r] = (double)(nsccl_now_ns() - t0) * 1e-3 / HANDOFF_ITERS;
  }
  MPI_Allreduce(runs, worst, HANDOFF_RUNS, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  munmap(m, bytes);
  qsort(worst, HANDOFF_RUNS, sizeof(double), cmp_double);
  return worst[0];
}

/* B(n): best of BW_TRIES timings of memcpy(n), every rank at once; the slowest rank's figure. */
static double measure_bw(unsigned char *src, unsigned char *dst, size_t n) {
  double best = 0;
  for (int k = 0; k < BW_TRIES; k++) {
    MPI_Barrier(MPI_COMM_WORLD);
    long reps = 0;
    int64_t t0 = nsccl_now_ns(), t;
    do {
      memcpy(dst, src, n);
      __asm__ volatile("" ::"r"(dst) : "memory"); /* keep the copy */
      reps++;
    } while ((t = nsccl_now_ns() - t0) < BW_MIN_NS);
    double bw = 2.0 * (double)n * (double)reps / ((double)t * 1e-9);
    if (bw > best) best = bw;
  }
  double slowest = 0;
  MPI_Allreduce(&best, &slowest, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  return slowest;
}

void perf_floor_measure(size_t max_bytes, int rank, int nranks, perf_floor_t *f) {
  memset(f, 0, sizeof(*f));
  f->handoff_us = nranks > 1 ? measure_handoff(rank, nranks) : 0;
  size_t cap = 4096;
  while (cap < max_bytes && cap < BW_MAX) cap *= 2;
  unsigned char *src = malloc(cap), *dst = malloc(cap);
  int ok = src && dst, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (all) {
    memset(src, 1, cap);
    memset(dst, 0, cap);
    for (size_t n = 4096; n <= cap && f->nsizes < PERF_FLOOR_SIZES; n *= 2) {
      f->bytes[f->nsizes] = n;
      f->bw[f->nsizes++] = measure_bw(src, dst, n);
    }
    /* A smaller working set never copies slower than a larger one: a dip is the shared machine
     * taking the core away during that measurement, and would make the floor no lower bound. */
    for (int i = f->nsizes - 2; i >= 0; i--)
      if (f->bw[i] < f->bw[i + 1]) f->bw[i] = f->bw[i + 1];
  }
  free(src);
  free(dst);
}

double perf_floor_traffic(nsccl_coll_t coll, size_t bytes, int nranks) {
  double n = (double)bytes, p = nranks;
  switch (coll) {
  case NSCCL_COLL_ALLREDUCE: return (3 * p - 1) / p * n; /* reduce-scatter + all-gather, direct loads */
  case NSCCL_COLL_ALLGATHER: return 2 * (p - 1) / p * n; /* load and store every other rank's part */
  default: return (p + 1) / p * n;                       /* reduce-scatter: load p parts, store one */
  }
}

double perf_floor_us(const perf_floor_t *f, nsccl_coll_t coll, size_t bytes, int nranks) {
  if (f->handoff_us < 0 || f->nsizes == 0) return 0; /* not measured */
  int i = 0;
  while (i + 1 < f->nsizes && f->bytes[i] < bytes) i++;
  double copy_us = f->bw[i] > 0 ? perf_floor_traffic(coll, bytes, nranks) / f->bw[i] * 1e6 : 0;
  return (nranks > 1 ? f->handoff_us : 0) + copy_us;
}

void perf_floor_print(const perf_floor_t *f, int nranks) {
  if (f->handoff_us < 0 || f->nsizes == 0) {
    printf("# floor: not measured (no shared memory between the ranks)\n");
    return;
  }
  printf("# floor = h + traffic / B(size); h = %.3f us (one-shot 8-byte all-reduce through shared cache lines, "
         "%d ranks); traffic per rank: allreduce (3p-1)/p n, allgather 2(p-1)/p n, reducescatter (p+1)/p n\n",
         f->handoff_us, nranks);
  printf("# B (memcpy bytes loaded + stored per s, slowest rank, all copying at once), GB/s:");
  for (int i = 0; i < f->nsizes; i++) {
    size_t b = f->bytes[i];
    printf(" %zu%s:%.1f", b >= 1048576 ? b >> 20 : b >> 10, b >= 1048576 ? "M" : "K", f->bw[i] * 1e-9);
  }
  printf("\n");
}
