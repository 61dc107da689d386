/* The measured sweep of nsccl-perf, shared by the plain run and --calibrate. */
#ifndef NSCCL_PERF_PERF_SWEEP_H
#define NSCCL_PERF_PERF_SWEEP_H

#include "perf/perf.h"

typedef struct {
  perf_shape_t shape;
  const char *algo;  /* the algorithm the selector (or --algo) chose */
  int algo_id;       /* the same as an nsccl_algo_t, -1 if unknown */
  int variant_id;    /* the builder variant that ran (nsccl_choice_t.variant), priced as such */
  double time_us[2]; /* [0] out of place, [1] in place: mean over iterations of the slowest rank */
  double mpi_us[2];  /* the same for MPI (--vs-mpi), else 0 */
  size_t wrong[2];
  double floor_us; /* the row's floor (perf_floor.h), 0 when not measured */
} perf_row_t;

typedef struct {
  perf_row_t *v; /* rank 0 only */
  int n, cap;
  double busbw_sum; /* for "# Avg bus bandwidth" */
  int busbw_n;
  size_t wrong;
  size_t buffer_bytes; /* the tool's own buffers per rank */
} perf_rows_t;

/* Run the sweep of o on every rank; rank 0 prints the table (and CSV rows to csv when not NULL)
 * and collects rows. Failures of nsccl or MPI calls abort the job with a message. */
int perf_sweep(const perf_opts_t *o, nscclComm_t comm, int rank, int nranks, FILE *csv, perf_rows_t *rows);

#endif
