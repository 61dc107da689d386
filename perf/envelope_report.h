/* What nsccl-envelope prints and writes (docs/claims.md, "The envelope"): the ENVELOPE line, the
 * nearest sample, each fact's range inside the claim region against outside, the simulator's
 * confirmations, the likeliest reading, and the CSV of every sample. */
#ifndef NSCCL_PERF_ENVELOPE_REPORT_H
#define NSCCL_PERF_ENVELOPE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "envelope_facts.h"
#include "envelope_price.h"

/* The claim box: all-gather peak >= 4.5 ("6x"), all-reduce peak in 1.5..2.5 ("2x"). */
#define ENV_AG_MIN 4.5
#define ENV_AR_LO  1.5
#define ENV_AR_HI  2.5

typedef struct {
  int samples;
  uint64_t seed;
  const char *torus, *sw;
  size_t min, max;
  int nearest, random, sim_sizes, jobs;
  const char *csv;
  int quiet;
  env_sample_t pinned;
  int is_pinned[ENV_MAX_FACTS];
} env_opts_t;

typedef struct {
  env_sample_t s;
  env_peak_t model[ENV_NCOLLS];
  env_peak_t sim[ENV_NCOLLS];
  double ratio[ENV_NCOLLS][ENV_MAX_SIZES]; /* model ratio per size */
  int confirmed;                           /* 0 no, 1 nearest the claim, 2 random subset, 3 the likeliest reading */
  int simulations;                         /* simulator runs its confirmation took */
} env_row_t;

int env_in_ag6(const env_peak_t p[ENV_NCOLLS]);
int env_in_ar2(const env_peak_t p[ENV_NCOLLS]);

/* Sample indices ordered by distance to the claim (log ag/6)^2 + (log ar/2)^2, nearest first (ties
 * by index); malloc'd. */
int *env_nearest_order(const env_row_t *rows, int n);

void env_print_facts(FILE *f);
/* rows[0..o->samples) are the samples, rows[o->samples] the likeliest reading; order as above. */
void env_report(FILE *f, const env_opts_t *o, const env_sizes_t *sz, const env_row_t *rows, const int *order);
int env_write_csv(const char *path, const env_row_t *rows, int n);

#endif
