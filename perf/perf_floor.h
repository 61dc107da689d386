/* nsccl-perf's floor column (docs/performance.md, "Floor"): a lower bound for each row from this
 * host's own measurements, taken at start: the one-shot 8-byte all-reduce of perf/floor_kernel.h
 * between the ranks (h: the cost of learning every peer's data once, through cache-line
 * transfers) and each rank's memcpy bandwidth B(n) with every rank copying at once. */
#ifndef NSCCL_PERF_PERF_FLOOR_H
#define NSCCL_PERF_PERF_FLOOR_H

#include "perf/perf.h"

#define PERF_FLOOR_SIZES 32

typedef struct {
  double handoff_us; /* h: best over short runs of the slowest rank's one-shot 8-byte all-reduce */
  int nsizes;
  size_t bytes[PERF_FLOOR_SIZES]; /* copy sizes measured: 4 KiB, 8 KiB, ... */
  double bw[PERF_FLOOR_SIZES];    /* bytes loaded + stored per second by the slowest rank */
} perf_floor_t;

/* Collective over MPI_COMM_WORLD: measure h and B(n) for n up to max_bytes (at most 64 MiB). */
void perf_floor_measure(size_t max_bytes, int rank, int nranks, perf_floor_t *f);
/* floor = h + traffic(coll, bytes, nranks) / B(bytes), microseconds (0 for one rank: h = 0). */
double perf_floor_us(const perf_floor_t *f, nsccl_coll_t coll, size_t bytes, int nranks);
/* Bytes one rank must load and store at least (direct loads of buffers every rank can map). */
double perf_floor_traffic(nsccl_coll_t coll, size_t bytes, int nranks);
/* "# floor: ..." lines (rank 0). */
void perf_floor_print(const perf_floor_t *f, int nranks);

#endif
