/* The alpha-beta-gamma cost model: each algorithm is described as the steps its schedule takes
 * (which rank sends how many bytes to which, who reduces how much), and every step is priced from
 * the routes of its flows on the topology (cost.h states the step formula; docs/model.md derives
 * it and the closed forms it gives on a switch and a torus). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/price.h"
#include "topologies/host.h"

typedef nsccl_model_t model_t;

static int phys(const model_t *m, int v) { return m->map ? m->map[v] : v; }

/* A flow of `bytes` from src to dst sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(model_t *m, int src, int dst, double bytes, double nmsgs) {
  if (bytes <= 0 || m->rc != nscclSuccess) return;
  src = phys(m, src), dst = phys(m, dst);
  if (src == dst) return;
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  if (n <= 0) {
    m->rc = nscclInternalError;
    return;
  }
  double lat = 0, minbw = INFINITY;
  int forwards = 0;
  for (int i = 0; i < n; i++) {
    const nsccl_link_t *l = &m->t->links[route[i]];
    if (m->load[route[i]] == 0) m->touched[m->ntouched++] = route[i];
    m->load[route[i]] += bytes / l->bandwidth;
    lat += l->latency;
    if (l->bandwidth < minbw) minbw = l->bandwidth;
    if (i > 0 && l->src < m->t->nranks) forwards++;
  }
  double per_msg = nmsgs > 0 ? bytes / nmsgs : fmin(bytes, m->chunk);
  /* A storing chip receives a whole message, pays its overhead and sends it again. */
  if (m->t->forward == NSCCL_FORWARD_STORE) lat += forwards * (m->alpha + per_msg / minbw);
  if (lat > m->lat) m->lat = lat;
  m->lat_sum += lat;
  if (lat < m->lat_min) m->lat_min = lat;
  m->msgs[src] += nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk));
}

void nsccl_model_reduce(model_t *m, int rank, double bytes) {
  if (bytes > 0) m->red[phys(m, rank)] += bytes;
}

void nsccl_model_step_reset_latency(model_t *m) {
  m->lat = m->lat_sum = 0;
  m->lat_min = INFINITY;
}

/* Close a step that happens `repeat` times with the same flows. ring = 1: the flows form one ring
 * and the repeats pipeline around it, so a block's journey of repeat = p-1 hops pays each edge's
 * latency once (all edges but the cheapest), not the slowest edge's at every step. */
void nsccl_model_step_end(model_t *m, double repeat, int ring) {
  double k = 0, W = 0, R = 0;
  for (int r = 0; r < m->p; r++) {
    if (m->msgs[r] > k) k = m->msgs[r];
    if (m->red[r] > R) R = m->red[r];
    m->msgs[r] = m->red[r] = 0;
  }
  for (int i = 0; i < m->ntouched; i++) {
    if (m->load[m->touched[i]] > W) W = m->load[m->touched[i]];
    m->load[m->touched[i]] = 0;
  }
  m->ntouched = 0;
  double T;
  if (k == 0) {
    T = m->gamma * R;
  } else {
    double a = m->alpha, w = W / k, g = m->gamma * R / k;
    /* Chunks pipeline: after the first, the slowest of issuing, moving and reducing sets the pace.
     * Unless one core does all three (topology's cpu_copies): then they add up. */
    T = m->serial ? k * (a + w + g) : a + w + g + (k - 1) * fmax(a, fmax(w, g));
  }
  double lat = m->lat_override >= 0     ? m->lat_override
               : ring && m->lat_sum > 0 ? m->lat_sum - m->lat_min
                                        : repeat * m->lat;
  m->lat_override = -1;
  nsccl_model_step_reset_latency(m);
  m->total += repeat * T + lat;
}

/* ---- variants, names, entry points: all read from the registry (algo/variant.h) ---- */

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
  if (topo && topo->nranks != nranks)
    NSCCL_FAIL(nscclInvalidArgument, "model: topology %s has %d ranks, asked about %d", topo->name, topo->nranks,
               nranks);
  if (!seconds) NSCCL_FAIL(nscclInvalidArgument, "model: seconds is NULL");
  *seconds = 0;
  if (nranks == 1 || bytes == 0) return nscclSuccess;
  nsccl_topo_t *flat = NULL;
  if (!topo) {
    NSCCL_CHECK(nsccl_topo_host_flat(nranks, &flat));
    topo = flat;
  }
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
  nscclResult_t rc = nscclSuccess;
  if (!m.load || !m.touched || !m.msgs || !m.red) {
    rc = nscclSystemError;
    goto out;
  }
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
  if (rc != nscclSuccess)
    nsccl_set_error(__FILE__, __LINE__, rc, "model: cannot price %s (variant %d) for %s on %s",
                    nsccl_model_variant_name(algo, variant), variant, nsccl_coll_name(coll),
                    flat ? "a flat host" : topo->name);
  nsccl_topo_free(flat);
  return rc;
}

nscclResult_t nsccl_model_best_variant(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                       nsccl_algo_t algo, size_t bytes, int nranks, int *variant, double *seconds) {
  int v[8], nv = nsccl_model_variants(topo, coll, algo, nranks, v, 8);
  *variant = 0;
  *seconds = -1;
  for (int i = 0; i < nv; i++) {
    double s;
    NSCCL_CHECK(nsccl_model_predict(topo, opts, coll, algo, v[i], bytes, nranks, &s));
    if (*seconds < 0 || s < *seconds) *seconds = s, *variant = v[i];
  }
  return nscclSuccess;
}
