/* Run nsccl-envelope's per-sample work in forked worker processes (the library keeps per-process
 * state, e.g. its last error, so processes rather than threads). Each record is computed by exactly
 * one worker from the same inputs, so the results do not depend on the number of workers. */
#ifndef NSCCL_PERF_ENVELOPE_JOBS_H
#define NSCCL_PERF_ENVELOPE_JOBS_H

#include <stddef.h>

/* Fill record `index` of `records` (each `size` bytes); 0 on failure (message on stderr). */
typedef int (*env_work_fn)(void *ctx, int index, void *record);

/* Apply fn to records[idx[0..n)] with `jobs` workers (1: in this process). `what` names the work in
 * the progress lines on stderr (every `every` records; 0: none). 0 if any record failed. */
int env_parallel(int jobs, const int *idx, int n, void *records, size_t size, env_work_fn fn, void *ctx,
                 const char *what, int every);

#endif
