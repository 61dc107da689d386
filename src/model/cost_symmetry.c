/* An all-to-all step whose blocks take two sizes (an all-reduce's partition of a vector that p does
 * not divide: the first `nhi` blocks are one element longer), priced by the topology's translations
 * instead of p (p - 1) routes (price.h, nsccl_model_all_to_all_split).
 *
 * Why it is exact: on a topology whose translations are coordinate additions (topo.h, link_orbit),
 * the flows out of rank j are T_j of the flows out of rank 0, so link l = (class c, leaving rank v)
 * carries one flow for every (j, route out of 0 crossing (c, v - j)). With f_c(u) the number of
 * routes out of 0 crossing the class-c link that leaves u, l carries sum_j f_c(v - j) flows, of which
 * sum_{j < nhi} f_c(v - j) from the ranks whose block is the longer one. That window sum over a
 * prefix of the rank order is a few cyclic prefix sums per dimension (conv_prefix), integers all
 * the way, so the counts are exact; the loads are count x (bytes / bandwidth) where the flow-by-flow
 * sum adds the same terms one by one (equal up to rounding, tests/model/test_model_symmetry.c).
 * When each flow carries its destination's block (a reduce-scatter), the routes into 0 play the
 * part of the routes out of 0. */
#include <math.h>
#include <stdlib.h>

#include "model/cost_internal.h"
#include "model/price.h"
#include "topologies/topo.h"

/* out[v] = sum over the first n group elements j (rank order: dims[0] fastest) of f[v - j], the
 * subtraction coordinate by coordinate modulo dims. nd dimensions; tmp holds as many doubles as f. */
static int conv_prefix(const double *f, int nd, const int *dims, long n, double *out, double *tmp) {
  long P = 1;
  for (int d = 0; d < nd - 1; d++) P *= dims[d];
  int k = dims[nd - 1];
  long q = n / P, r = n % P;
  /* The whole slices y < q: each contributes its total, shifted along the last dimension. */
  double *slice = malloc(sizeof(double) * (2 * (size_t)k + 1)), *pre = slice + k;
  if (!slice) return 0;
  for (int y = 0; y < k; y++) {
    slice[y] = 0;
    for (long x = 0; x < P; x++) slice[y] += f[y * P + x];
  }
  pre[0] = 0;
  for (int y = 0; y < k; y++) pre[y + 1] = pre[y] + slice[y];
  /* The partial slice y = q: the first r elements of the lower dimensions, one level down. */
  int ok = 1; /* (with one dimension P = 1, so r = 0) */
  if (r > 0)
    for (int y = 0; y < k && ok; y++) ok = conv_prefix(f + y * P, nd - 1, dims, r, tmp + y * P, out + y * P);
  for (int v = 0; v < k; v++) {
    /* sum of slice[(v - y) mod k] for y < q: indices v - q + 1 .. v, cyclically */
    long lo = v - q + 1;
    double whole = lo >= 0 ? pre[v + 1] - pre[lo] : pre[v + 1] + (pre[k] - pre[k + lo]);
    int ys = (int)(((v - q) % k + k) % k);
    for (long x = 0; x < P; x++) out[v * P + x] = whole + (r > 0 ? tmp[ys * P + x] : 0);
  }
  free(slice);
  return ok;
}

typedef struct {
  int K, *at; /* [K][p]: the class-c link leaving rank v */
  double *f;  /* [K][p]: routes out of (into) rank 0 crossing it */
} split_geo_t;

/* Is the topology's symmetry the kind this file needs: one rank per vertex, translations that are
 * coordinate additions, a class having one link out of each rank? */
static int geometry(const nsccl_topo_t *t, int p, split_geo_t *g) {
  if (!t->module || !t->module->link_orbit || !t->module->orbits || p != t->nranks || t->nvertices != p || t->ndims < 1)
    return 0;
  long prod = 1;
  for (int d = 0; d < t->ndims; d++) prod *= t->dims[d];
  if (prod != p) return 0;
  g->K = t->module->orbits(t);
  if (g->K <= 0) return 0;
  g->at = malloc(sizeof(int) * (size_t)g->K * p);
  g->f = calloc((size_t)g->K * p, sizeof(double));
  if (!g->at || !g->f) return 0;
  for (long i = 0; i < (long)g->K * p; i++) g->at[i] = -1;
  for (int l = 0; l < t->nlinks; l++) {
    int c = t->module->link_orbit(t, l), v = t->links[l].src;
    if (c < 0 || c >= g->K || v < 0 || v >= p || g->at[(long)c * p + v] >= 0) return 0;
    g->at[(long)c * p + v] = l;
  }
  return 1;
}

int nsccl_model_all_to_all_split(nsccl_model_t *m, double lo, double hi, int nhi, int by_dst) {
  const nsccl_topo_t *t = m->t;
  int p = m->p;
  if (m->rc != nscclSuccess || m->map || m->in_phase || t->forward == NSCCL_FORWARD_STORE || nhi < 0 || nhi > p)
    return 0;
  split_geo_t g = {0, NULL, NULL};
  double *win = NULL, *tmp = NULL;
  int ok = geometry(t, p, &g);
  if (ok) {
    win = malloc(sizeof(double) * (size_t)p), tmp = malloc(sizeof(double) * (size_t)p);
    ok = win && tmp;
  }
  double nmsg_hi = fmax(1.0, ceil(hi / m->chunk)), nmsg_lo = fmax(1.0, ceil(lo / m->chunk));
  double hi_on = hi > 0 ? nhi : 0, lo_on = lo > 0 ? p - nhi : 0; /* flows of each size per route */
  if (ok) m->barrier = 1; /* as nsccl_model_all_to_all: rank 0's routes stand for all, no per-rank arrivals */
  int route[NSCCL_TOPO_MAX_ROUTE];
  for (int u = 1; u < p && ok; u++) {
    int n = by_dst ? nsccl_topo_route(t, u, 0, route, NSCCL_TOPO_MAX_ROUTE)
                   : nsccl_topo_route(t, 0, u, route, NSCCL_TOPO_MAX_ROUTE);
    if (n <= 0) {
      m->rc = nscclInternalError;
      ok = 0;
      break;
    }
    for (int i = 0; i < n; i++) {
      int c = t->module->link_orbit(t, route[i]);
      g.f[(long)c * p + t->links[route[i]].src] += 1;
    }
    /* A route stands for hi_on flows of hi bytes and lo_on of lo bytes (its translates). */
    double sizes[2] = {hi, lo}, counts[2] = {hi_on, lo_on}, nm[2] = {nmsg_hi, nmsg_lo};
    for (int s = 0; s < 2; s++) {
      if (counts[s] <= 0) continue;
      route_cost_t c = nsccl_model_route_cost(m, route, n, sizes[s] / nm[s]);
      nsccl_model_add_route_cost(m, c, counts[s]);
      if (nm[s] * c.hop > m->queue) m->queue = nm[s] * c.hop;
    }
  }
  /* Every link's flows: all of its class's window (p translations) and the long blocks' window. */
  for (int c = 0; c < g.K && ok; c++) {
    const double *f = g.f + (long)c * p;
    double all = 0;
    for (int u = 0; u < p; u++) all += f[u];
    if (all == 0) continue;
    if (!conv_prefix(f, t->ndims, t->dims, nhi, win, tmp)) {
      m->rc = nscclSystemError;
      break;
    }
    for (int v = 0; v < p; v++) {
      int l = g.at[(long)c * p + v];
      if (l < 0) continue;
      double on_hi = hi > 0 ? win[v] : 0, on_lo = lo > 0 ? all - win[v] : 0;
      if (on_hi + on_lo <= 0) continue;
      double bw = t->links[l].bandwidth;
      nsccl_model_add_load(m, l, on_hi * (hi / bw) + on_lo * (lo / bw), on_hi * nmsg_hi + on_lo * nmsg_lo);
    }
  }
  /* Every rank's sends: its own block to each other rank, or each other rank's block. */
  for (int r = 0; r < p && ok; r++) {
    double mine_hi = r < nhi, nh = by_dst ? nhi - mine_hi : (mine_hi ? p - 1 : 0),
           nl = by_dst ? (p - nhi) - (1 - mine_hi) : (mine_hi ? 0 : p - 1);
    if (hi > 0) m->msgs[r] += nh * nmsg_hi, m->sent[r] += nh * hi, m->flows[r] += nh;
    if (lo > 0) m->msgs[r] += nl * nmsg_lo, m->sent[r] += nl * lo, m->flows[r] += nl;
  }
  free(g.at), free(g.f), free(win), free(tmp);
  return ok;
}
