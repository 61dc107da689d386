/* The all-to-all step of the cost model: every rank sends the same to every other, priced by the
 * topology's symmetry where it declares one (topo.h, link_orbit), else flow by flow. */
#include <math.h>
#include <stdlib.h>

#include "model/cost_internal.h"
#include "model/cost_queue.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

/* The all-to-all step by symmetry (topo.h, link_orbit): the flows out of rank 0 stand for every
 * rank's, a class's links share the load of the class's links on those routes, and every latency
 * and message time occurs p times. The same sums as p (p - 1) calls of nsccl_model_flow, in another
 * order (so equal up to rounding); 0 if the topology declares no symmetry. */
static int all_to_all_by_symmetry(model_t *m, double bytes, double nmsgs) {
  const nsccl_topo_t *t = m->t;
  if (!t->module || !t->module->link_orbit || !t->module->orbits) return 0;
  int K = t->module->orbits(t), p = m->p;
  if (K <= 0 || p != t->nranks) return 0;
  m->barrier = 1; /* rank 0's flows stand for all: no per-rank arrivals */
  double *cnt = calloc(2 * (size_t)K, sizeof(double)), *size = cnt + K;
  int *orbit = malloc(sizeof(int) * ((size_t)t->nlinks + 1));
  if (!cnt || !orbit) {
    free(cnt), free(orbit);
    return 0;
  }
  int ok = 1;
  for (int i = 0; i < t->nlinks && ok; i++) {
    orbit[i] = t->module->link_orbit(t, i);
    if (orbit[i] < 0 || orbit[i] >= K)
      ok = 0;
    else
      size[orbit[i]] += 1;
  }
  double per_msg = nmsgs > 0 ? bytes / nmsgs : fmin(bytes, m->chunk), forwards = 0;
  int route[NSCCL_TOPO_MAX_ROUTE];
  for (int dst = 1; dst < p && ok; dst++) {
    int n = nsccl_topo_route(t, 0, dst, route, NSCCL_TOPO_MAX_ROUTE);
    if (n <= 0) {
      m->rc = nscclInternalError;
      break;
    }
    for (int i = 0; i < n; i++) cnt[orbit[route[i]]] += 1;
    if (t->forward == NSCCL_FORWARD_STORE) /* by symmetry every chip re-sends what rank 0's routes pass */
      for (int i = 1; i < n; i++) forwards += t->links[route[i]].src < t->nranks;
    route_cost_t c = nsccl_model_route_cost(m, route, n, per_msg);
    nsccl_model_add_route_cost(m, c, p);
    double count = nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk));
    if (count * c.hop > m->queue) m->queue = count * c.hop;
    /* every pair's queue carries the same: rank 0's stand for all */
    if (m->in_phase && t->dma_engine_bandwidth > 0)
      nsccl_model_queue_note(m, 0, dst, nsccl_model_queue_seconds(m, bytes, per_msg));
  }
  /* Over the p translations a link's class-mates each stand in its place p / |class| times. */
  for (int i = 0; i < t->nlinks && ok && m->rc == nscclSuccess; i++)
    if (cnt[orbit[i]] > 0)
      nsccl_model_add_load(m, i, cnt[orbit[i]] * (p / size[orbit[i]]) * (bytes / t->links[i].bandwidth),
                           cnt[orbit[i]] * (p / size[orbit[i]]) *
                               (nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk))));
  if (ok)
    for (int r = 0; r < p; r++) {
      m->msgs[r] += (p - 1) * (nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk)));
      m->sent[r] += (p - 1) * bytes;
      m->fwd[r] += forwards * (nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk)));
      m->flows[r] += p - 1;
    }
  free(cnt);
  free(orbit);
  return ok;
}

void nsccl_model_all_to_all(model_t *m, double bytes, double nmsgs) {
  if (bytes <= 0 || m->rc != nscclSuccess) return;
  /* Every ordered pair once: a relabelling (m->map) gives the same set of flows. */
  if (all_to_all_by_symmetry(m, bytes, nmsgs)) return;
  for (int r = 0; r < m->p; r++)
    for (int j = 1; j < m->p; j++) nsccl_model_flow(m, r, (r + j) % m->p, bytes, nmsgs);
}
