/* Pricing one envelope sample (docs/claims.md, "The envelope"): both topologies built with the
 * sample's overrides; per collective and size the selector (the cost model) picks what the library
 * would run, and the peak of torus time / switch time over the sizes is kept. The same peaks can be
 * confirmed with the simulator running the selected family at its selected variant. */
#ifndef NSCCL_PERF_ENVELOPE_PRICE_H
#define NSCCL_PERF_ENVELOPE_PRICE_H

#include <stddef.h>

#include "envelope_facts.h"
#include "topologies/topo.h"

#define ENV_NCOLLS    2 /* 0 all-gather, 1 all-reduce */
#define ENV_MAX_SIZES 64

typedef struct {
  double peak;                /* largest torus / switch ratio over the sizes (smallest size on a tie) */
  size_t at;                  /* its size in bytes */
  char talgo[32], salgo[32];  /* family/variant each side runs at the peak */
  double torus_us, switch_us; /* times at the peak */
} env_peak_t;

typedef struct {
  size_t sizes[ENV_MAX_SIZES];
  int nsizes;
} env_sizes_t;

/* Sizes min, min*2, ... max (nccl-tests convention: the whole array). */
void env_sizes(size_t min, size_t max, env_sizes_t *s);

/* Load both sides of a sample; 0 with a message on stderr on failure (t[] freed). */
int env_build(const env_overrides_t *o, nsccl_topo_t *t[2]);
void env_free(nsccl_topo_t *t[2]);

/* Model peaks of all-gather (out[0]) and all-reduce (out[1]); ratio[c][i] gets every size's ratio
 * when ratio is non-NULL. 0 with a message on failure. */
int env_price_model(nsccl_topo_t *const t[2], const env_sizes_t *sz, env_peak_t out[ENV_NCOLLS],
                    double (*ratio)[ENV_MAX_SIZES]);

/* Simulated peaks at the sizes with use[c][i] != 0 (NULL: every size); simulations counts the runs. */
int env_price_sim(nsccl_topo_t *const t[2], const env_sizes_t *sz, const unsigned char (*use)[ENV_MAX_SIZES],
                  env_peak_t out[ENV_NCOLLS], int *simulations);

#endif
