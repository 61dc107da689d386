/* The physical floor of a same-host collective: the smallest all-reduce shared memory allows, used
 * by nsccl-floor (standalone) and by nsccl-perf's floor column (docs/performance.md, "Floor").
 *
 * Every rank owns one cache line per parity: {epoch, value}. Iteration e writes the rank's value
 * into its line of parity e % 2 and then the epoch (release); it then waits (acquire) for every
 * other rank's line of that parity to show epoch e and sums the values. Payload and flag share the
 * line, so a peer pays one cache-line transfer per rank; two parities mean no trailing
 * synchronisation (a rank reaches iteration e + 2, which reuses the line, only after every peer
 * published e + 1, hence finished reading e). No locks, no system calls while the peer is running;
 * after FLOOR_SPINS polls a waiting rank yields, so more ranks than cores still progress. */
#ifndef NSCCL_PERF_FLOOR_KERNEL_H
#define NSCCL_PERF_FLOOR_KERNEL_H

#include <sched.h>
#include <stdint.h>

#define FLOOR_LINE  64
#define FLOOR_SPINS 4096

typedef struct {
  _Alignas(FLOOR_LINE) uint64_t epoch;
  double value;
} floor_line_t;

/* The shared region for nranks ranks: lines[parity * nranks + rank]. */
static inline size_t floor_region_bytes(int nranks) { return 2 * (size_t)nranks * sizeof(floor_line_t); }

/* One 8-byte all-reduce (sum of doubles) of iteration e >= 1. */
static inline double floor_allreduce(floor_line_t *lines, int rank, int nranks, uint64_t e, double mine) {
  floor_line_t *row = lines + (e % 2) * (size_t)nranks;
  row[rank].value = mine;
  __atomic_store_n(&row[rank].epoch, e, __ATOMIC_RELEASE);
  double sum = mine;
  for (int q = 0; q < nranks; q++) {
    if (q == rank) continue;
    for (unsigned spins = 0; __atomic_load_n(&row[q].epoch, __ATOMIC_ACQUIRE) < e;)
      if (++spins > FLOOR_SPINS) sched_yield();
    sum += row[q].value;
  }
  return sum;
}

#endif
