/* nsccl-sim-bench's parts (nsccl-sim-bench.c: the simulator sweep; sim_bench_model.c: --model). */
#ifndef NSCCL_PERF_SIM_BENCH_H
#define NSCCL_PERF_SIM_BENCH_H

#include <stddef.h>

#include "algo/algo.h"
#include "topologies/topo.h"

/* Time the cost model and the selector for coll at each of sizes[0..nsizes) on topo; 0 on success. */
/* family >= 0: only that family's variants (only != NULL: only the variant of that name), no selector. */
int nsccl_sim_bench_model(const nsccl_topo_t *topo, nsccl_coll_t coll, const size_t *sizes, int nsizes, int family,
                          const char *only);

#endif
