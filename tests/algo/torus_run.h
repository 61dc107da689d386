/* Shared by the topology-aware schedule tests (tests/algo's torus variants, tests/topo's every
 * preset): build one collective for every rank of a topology, validate it, run it with the local
 * engine and compare every output with a serial reference computed here (int32 sums of distinct
 * small values: exact in any order; or float max). */
#ifndef NSCCL_TESTS_TORUS_RUN_H
#define NSCCL_TESTS_TORUS_RUN_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "base/check.h"
#include "engine/local.h"
#include "model/cost.h"
#include "model/simulate.h"
#include "sched/sched.h"
#include "topologies/topo.h"

static inline int32_t torus_in_i32(int rank, size_t i) { return (int32_t)(rank * 7919 + (int)(i % 10007) + 1); }
/* Distinct per (rank, i), so the max names one rank's value; exact as a float. */
static inline float torus_in_f32(int rank, size_t i) {
  return (float)((int)((i * 37 + (size_t)rank * 101) % 4099) - 2000);
}

static inline void torus_run_case(const nsccl_topo_t *t, nsccl_coll_t coll, nsccl_algo_t algo, int variant,
                                  size_t count, bool in_place, bool fmax_case, size_t chunk) {
  int p = t->nranks;
  nsccl_coll_args_t args = {
      .coll = coll, .count = count, .dtype = fmax_case ? nscclFloat32 : nscclInt32, .in_place = in_place};
  nsccl_program_t *progs = calloc((size_t)p, sizeof(*progs));
  void **send = calloc((size_t)p, sizeof(void *)), **recv = calloc((size_t)p, sizeof(void *));
  size_t sb = nsccl_coll_send_bytes(&args, p), rb = nsccl_coll_recv_bytes(&args, p);
  char what[200];
  snprintf(what, sizeof(what), "%s %s %s count %zu %s %s", t->name, nsccl_coll_name(coll),
           nsccl_model_variant_name(algo, variant), count, in_place ? "in place" : "out of place",
           fmax_case ? "float max" : "int32 sum");
  nsccl_algo_opts_t opts = {chunk, variant};
  for (int r = 0; r < p; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, p, &args), nscclSuccess);
    nscclResult_t rc = nsccl_algo_build(algo, t, &opts, &progs[r]);
    cr_assert_eq(rc, nscclSuccess, "%s: build rank %d: %s", what, r, nsccl_last_error());
  }
  char err[512] = "";
  cr_assert_eq(nsccl_sched_validate(progs, p, err, sizeof(err)), nscclSuccess, "%s: validator: %s", what, err);
  size_t total = coll == NSCCL_COLL_ALLREDUCE ? count : count * (size_t)p;
  for (int r = 0; r < p; r++) {
    size_t big = sb > rb ? sb : rb;
    char *base = malloc(big + 8), *other = in_place ? NULL : malloc(big + 8);
    if (!in_place)
      send[r] = base, recv[r] = other;
    else if (coll == NSCCL_COLL_ALLGATHER)
      recv[r] = base, send[r] = base + (size_t)r * count * 4;
    else if (coll == NSCCL_COLL_REDUCESCATTER)
      send[r] = base, recv[r] = base + (size_t)r * count * 4;
    else
      send[r] = recv[r] = base;
    size_t nin = coll == NSCCL_COLL_ALLGATHER ? count : total;
    for (size_t i = 0; i < nin; i++) {
      if (fmax_case)
        ((float *)send[r])[i] = torus_in_f32(r, i);
      else
        ((int32_t *)send[r])[i] = torus_in_i32(r, i);
    }
  }
  cr_assert_eq(
      nsccl_local_run(progs, p, (const void *const *)send, recv, fmax_case ? nscclMax : nscclSum, err, sizeof(err)),
      nscclSuccess, "%s: local engine: %s", what, err);
  /* The serial reference, once for all ranks: the all-gather output, or the element-wise sum (max)
   * of every rank's input. */
  int32_t *ref_i = malloc(sizeof(int32_t) * (total ? total : 1));
  float *ref_f = malloc(sizeof(float) * (total ? total : 1));
  cr_assert(ref_i && ref_f);
  for (size_t g = 0; g < total; g++) {
    if (coll == NSCCL_COLL_ALLGATHER) {
      ref_i[g] = torus_in_i32((int)(g / count), g % count);
      ref_f[g] = torus_in_f32((int)(g / count), g % count);
      continue;
    }
    ref_i[g] = 0, ref_f[g] = -1e30f;
    for (int q = 0; q < p; q++) {
      ref_i[g] += torus_in_i32(q, g);
      if (torus_in_f32(q, g) > ref_f[g]) ref_f[g] = torus_in_f32(q, g);
    }
  }
  for (int r = 0; r < p; r++) {
    size_t nout = coll == NSCCL_COLL_REDUCESCATTER ? count : total;
    for (size_t i = 0; i < nout; i++) {
      size_t g = coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * count + i : i; /* index in the whole array */
      /* assert only on a mismatch: a Criterion assert per element is slow */
      if (fmax_case && ((float *)recv[r])[i] != ref_f[g])
        cr_assert_fail("%s: rank %d element %zu: got %g want %g", what, r, i, ((float *)recv[r])[i], ref_f[g]);
      if (!fmax_case && ((int32_t *)recv[r])[i] != ref_i[g])
        cr_assert_fail("%s: rank %d element %zu: got %d want %d", what, r, i, ((int32_t *)recv[r])[i], ref_i[g]);
    }
  }
  free(ref_i);
  free(ref_f);
  for (int r = 0; r < p; r++) {
    nsccl_prog_free(&progs[r]);
    if (!in_place) {
      free(send[r]);
      free(recv[r]);
    } else {
      free(coll == NSCCL_COLL_REDUCESCATTER || coll == NSCCL_COLL_ALLREDUCE ? send[r] : recv[r]);
    }
  }
  free(progs);
  free(send);
  free(recv);
}

/* Model against simulator for one variant on a preset, one collective, 8 B - 1 GiB by 32x: each
 * point within 30% (issue 12's maximum); the errors are appended to err for the median. */
static inline void torus_model_vs_sim(const char *preset, nsccl_algo_t algo, int variant, nsccl_coll_t coll,
                                      double *err, int *nerr) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  for (size_t bytes = 8; bytes <= ((size_t)1 << 30); bytes *= 32) {
    double model;
    cr_assert_eq(nsccl_model_predict(t, NULL, coll, algo, variant, bytes, t->nranks, &model), nscclSuccess, "%s",
                 nsccl_last_error());
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    cr_assert_eq(nsccl_sim_collective(t, coll, algo, variant, bytes, NULL, &res), nscclSuccess, "%s",
                 nsccl_last_error());
    double e = fabs(model - res.time_s) / res.time_s;
    cr_assert(e <= 0.30, "%s %s variant %d %zu bytes: model %.2f us, sim %.2f us", preset, nsccl_coll_name(coll),
              variant, bytes, model * 1e6, res.time_s * 1e6);
    err[(*nerr)++] = e;
  }
  nsccl_topo_free(t);
}

static inline int torus_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Issue 12's median target: at most 10%. */
static inline void torus_median_ok(double *err, int n) {
  qsort(err, (size_t)n, sizeof(double), torus_cmp_double);
  cr_assert(n > 0 && err[n / 2] <= 0.10, "median |model - sim| / sim = %.3f over %d points", n ? err[n / 2] : 0, n);
}

#endif
