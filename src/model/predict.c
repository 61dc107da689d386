/* The cost model's entry points (cost.h): which variants a family offers, their names, and
 * nsccl_model_predict, which sets up the step accumulator (model/price.h) for a topology, lets the
 * variant's price function describe its steps (model/cost.c prices them) and frees it again. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/cost_internal.h"
#include "model/price.h"
#include "topologies/host.h"

typedef nsccl_model_t model_t;

/* Shared by both entry points (this file's and cost_rooted.c's). */
nscclResult_t nsccl_model_begin(const nsccl_topo_t **topo, nsccl_topo_t **flat, size_t bytes, int nranks,
                                double *seconds, int *nothing) {
  const nsccl_topo_t *t = *topo;
  if (t && t->nranks != nranks)
    NSCCL_FAIL(nscclInvalidArgument, "model: topology %s has %d ranks, asked about %d", t->name, t->nranks, nranks);
  if (!seconds) NSCCL_FAIL(nscclInvalidArgument, "model: seconds is NULL");
  *seconds = 0;
  *nothing = nranks == 1 || bytes == 0;
  if (*nothing || t) return nscclSuccess;
  NSCCL_CHECK(nsccl_topo_host_flat(nranks, flat));
  *topo = *flat;
  return nscclSuccess;
}

/* Variants, names, entry points: all read from the registry (algo/variant.h). */

int nsccl_model_variants(const nsccl_topo_t *topo, nsccl_coll_t coll, nsccl_algo_t algo, int nranks, int *variants,
                         int max) {
  int out = 0;
  for (int i = 0; i < nsccl_variant_count() && out < max; i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (v->family == algo && nsccl_variant_offered(v, topo, coll, nranks)) variants[out++] = v->id;
  }
  return out;
}

const char *nsccl_model_variant_name(nsccl_algo_t algo, int variant) {
  const nsccl_variant_t *v = nsccl_variant_find(algo, variant);
  return v ? v->name : nsccl_algo_name(algo);
}

/* The variant that runs for (algo, variant) on coll: itself, or the family's default when it is
 * named for other collectives only (builders fall back the same way: one variant can be passed
 * for every collective). NULL if unknown. */
const nsccl_variant_t *nsccl_model_resolve(nsccl_algo_t algo, int variant, nsccl_coll_t coll) {
  const nsccl_variant_t *v = nsccl_variant_find(algo, variant);
  if (v && !(v->colls & NSCCL_COLL_BIT(coll))) v = nsccl_variant_find(algo, 0);
  return v;
}

nscclResult_t nsccl_model_predict(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                  nsccl_algo_t algo, int variant, size_t bytes, int nranks, double *seconds) {
  if ((unsigned)coll >= NSCCL_NUM_COLLS) NSCCL_FAIL(nscclInvalidArgument, "model: unknown collective %d", (int)coll);
  if ((unsigned)algo >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "model: unknown algorithm %d", (int)algo);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "model: nranks = %d, need >= 1", nranks);
  nsccl_topo_t *flat = NULL;
  int nothing = 0;
  NSCCL_CHECK(nsccl_model_begin(&topo, &flat, bytes, nranks, seconds, &nothing));
  if (nothing) return nscclSuccess;
  model_t m = {.t = topo,
               .p = nranks,
               .alpha = topo->endpoint_overhead,
               .gamma = 1.0 / topo->reduce_bandwidth,
               .serial = topo->cpu_copies,
               .lat_override = -1};
  size_t chunk = opts && opts->chunk_bytes ? opts->chunk_bytes : NSCCL_DEFAULT_CHUNK_BYTES;
  m.chunk = chunk == SIZE_MAX ? INFINITY : (double)chunk;
  nsccl_model_step_reset_latency(&m);
  m.load = calloc(topo->nlinks + 1, sizeof(double));
  m.touched = malloc(sizeof(int) * (topo->nlinks + 1));
  m.msgs = calloc(nranks, sizeof(double));
  m.red = calloc(nranks, sizeof(double));
  m.sent = calloc(nranks, sizeof(double));
  m.flows = calloc(nranks, sizeof(double));
  m.fwd = calloc(nranks, sizeof(double));
  m.lag = calloc(4 * (size_t)nranks, sizeof(double));
  nscclResult_t rc = nscclSuccess;
  if (!m.load || !m.touched || !m.msgs || !m.red || !m.sent || !m.flows || !m.fwd || !m.lag) {
    rc = nscclSystemError;
    goto out;
  }
  m.lag_fill = m.lag + nranks, m.arrive = m.lag + 2 * (size_t)nranks, m.arrive_fill = m.lag + 3 * (size_t)nranks;
  for (int r = 0; r < nranks; r++) m.arrive[r] = m.arrive_fill[r] = -INFINITY;
  double n = (double)bytes;
  const nsccl_variant_t *v = nsccl_model_resolve(algo, variant, coll);
  if (!v || !v->price) {
    rc = nscclInvalidArgument;
    goto out;
  }
  v->price(&m, coll, n);
  rc = m.rc;
  *seconds = m.total;
out:
  free(m.load);
  free(m.touched);
  free(m.msgs);
  free(m.red);
  free(m.sent);
  free(m.flows);
  free(m.fwd);
  free(m.lag);
  free(m.phase_load);
  free(m.phase_red);
  free(m.phase_msgs);
  free(m.phase_sent);
  free(m.link_first);
  free(m.link_last);
  free(m.link_whole);
  free(m.step_fill);
  free(m.step_whole);
  free(m.load_msgs);
  free(m.qtab);
  free(m.qstep);
  free(m.wtab);
  nsccl_model_xlat_free(&m);
  if (rc != nscclSuccess)
    nsccl_set_error(__FILE__, __LINE__, rc, "model: cannot price %s (variant %d) for %s on %s",
                    nsccl_model_variant_name(algo, variant), variant, nsccl_coll_name(coll),
                    flat ? "a flat host" : topo->name);
  nsccl_topo_free(flat);
  return rc;
}

nscclResult_t nsccl_model_best_variant(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                       nsccl_algo_t algo, size_t bytes, int nranks, int *variant, double *seconds) {
  int v[NSCCL_MAX_VARIANTS], nv = nsccl_model_variants(topo, coll, algo, nranks, v, NSCCL_MAX_VARIANTS);
  *variant = 0;
  *seconds = -1;
  for (int i = 0; i < nv; i++) {
    double s;
    NSCCL_CHECK(nsccl_model_predict(topo, opts, coll, algo, v[i], bytes, nranks, &s));
    if (*seconds < 0 || s < *seconds) *seconds = s, *variant = v[i];
  }
  return nscclSuccess;
}
