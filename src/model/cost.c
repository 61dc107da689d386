/* The alpha-beta-gamma cost model's flows: each algorithm is described as the steps its schedule
 * takes (which rank sends how many bytes to which, who reduces how much), and every flow of a step
 * is priced here from its route on the topology: its links' loads, its latency and one message's
 * own time on it. Closing a step prices it (cost_step.c; cost.h states the step formula), pipelined
 * phases are priced over their steps (cost_phase.c) and the pairs' DMA queues are kept in
 * cost_queue.c; docs/model.md derives the terms and the closed forms they give on a switch and a
 * torus. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/check.h"
#include "model/cost_internal.h"
#include "model/cost_queue.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

/* What a route is made of, for route_cost: its links' latency, slowest bandwidth and the storing
 * chips it passes (route_walk_t, cost_internal.h). */
static route_walk_t route_walk(const nsccl_topo_t *t, const int *route, int n) {
  route_walk_t w = {0, INFINITY, 0};
  for (int i = 0; i < n; i++) {
    const nsccl_link_t *l = &t->links[route[i]];
    w.lat += l->latency;
    if (l->bandwidth < w.minbw) w.minbw = l->bandwidth;
    if (i > 0 && l->src < t->nranks) w.forwards++;
  }
  return w;
}

/* What a flow's route contributes besides its links' load (route_cost_t, cost_internal.h). */
static route_cost_t route_cost_of(const model_t *m, route_walk_t w, double per_msg) {
  const nsccl_topo_t *t = m->t;
  double lat = w.lat, minbw = w.minbw;
  /* A storing chip receives a whole message, pays its overhead and sends it again. */
  if (t->forward == NSCCL_FORWARD_STORE) lat += w.forwards * (m->alpha + per_msg / minbw);
  double hop = per_msg / minbw;
  if (t->dma_engine_bandwidth > 0)
    hop = nsccl_max(hop, per_msg / (nsccl_model_message_engines(t, per_msg) * t->dma_engine_bandwidth));
  return (route_cost_t){lat, hop};
}

static route_cost_t route_cost(const model_t *m, const int *route, int n, double per_msg) {
  return route_cost_of(m, route_walk(m->t, route, n), per_msg);
}

/* Fold `count` flows of cost c into the step's latency and per-message trackers. */
static void add_route_cost(model_t *m, route_cost_t c, double count) {
  if (c.lat > m->lat) m->lat = c.lat;
  m->lat_sum += count * c.lat;
  if (c.lat < m->lat_min) m->lat_min = c.lat;
  m->hop_sum += count * c.hop;
  if (c.hop < m->hop_min) m->hop_min = c.hop;
  if (c.hop > m->hop_max) m->hop_max = c.hop;
}

/* seconds of traffic and msgs messages on a link in this step */
static void add_load(model_t *m, int link, double seconds, double msgs) {
  nsccl_model_xlat_flush(m);
  if (!m->load_msgs && !(m->load_msgs = calloc((size_t)m->t->nlinks + 1, sizeof(double)))) {
    m->rc = nscclSystemError;
    return;
  }
  if (m->load[link] == 0) m->touched[m->ntouched++] = link;
  m->load[link] += seconds;
  m->load_msgs[link] += msgs;
}

/* add_load on every link of a route (bytes at each link's bandwidth, msgs messages), the hot loop
 * of pricing at scale: bytes / bandwidth is divided once per run of links of equal bandwidth (the
 * same quotient as per link). */
static void add_route_loads(model_t *m, const int *route, int n, double bytes, double msgs) {
  nsccl_model_xlat_flush(m);
  if (!m->load_msgs && !(m->load_msgs = calloc((size_t)m->t->nlinks + 1, sizeof(double)))) {
    m->rc = nscclSystemError;
    return;
  }
  const nsccl_link_t *links = m->t->links;
  double bw = -1, q = 0;
  for (int i = 0; i < n; i++) {
    int l = route[i];
    if (links[l].bandwidth != bw) bw = links[l].bandwidth, q = bytes / bw;
    if (m->load[l] == 0) m->touched[m->ntouched++] = l;
    m->load[l] += q;
    m->load_msgs[l] += msgs;
  }
}

/* The helpers above, for the model's other files (cost_internal.h). */
route_cost_t nsccl_model_route_cost(const model_t *m, const int *route, int n, double per_msg) {
  return route_cost(m, route, n, per_msg);
}
route_walk_t nsccl_model_route_walk(const nsccl_topo_t *t, const int *route, int n) { return route_walk(t, route, n); }
route_cost_t nsccl_model_route_cost_of(const model_t *m, route_walk_t w, double per_msg) {
  return route_cost_of(m, w, per_msg);
}
void nsccl_model_add_route_cost(model_t *m, route_cost_t c, double count) { add_route_cost(m, c, count); }
void nsccl_model_add_load(model_t *m, int link, double seconds, double msgs) { add_load(m, link, seconds, msgs); }

/* A flow of `bytes` from src to dst sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(model_t *m, int src, int dst, double bytes, double nmsgs) {
  if (bytes <= 0 || m->rc != nscclSuccess) return;
  src = nsccl_model_phys(m, src), dst = nsccl_model_phys(m, dst);
  if (src == dst) return;
  /* A step's flows mostly carry the same bytes: their message size and count are the last flow's. */
  if (bytes != m->last_bytes || nmsgs != m->last_nmsgs || m->chunk != m->last_chunk) {
    m->last_bytes = bytes, m->last_nmsgs = nmsgs, m->last_chunk = m->chunk;
    m->last_per_msg = nmsgs > 0 ? bytes / nmsgs : fmin(bytes, m->chunk);
    m->last_msgs = nmsgs > 0 ? nmsgs : nsccl_max(1.0, ceil(bytes / m->chunk));
    m->last_queue = m->t->dma_engine_bandwidth > 0 ? nsccl_model_queue_seconds(m, bytes, m->last_per_msg) : 0;
  }
  double per_msg = m->last_per_msg, msgs = m->last_msgs;
  int route[NSCCL_TOPO_MAX_ROUTE], n = 0;
  route_cost_t c;
  /* By translation where the topology allows (cost_translate.c): the route's cost is its
   * displacement's, and its links' loads are added when the step needs them. */
  if (!nsccl_model_xlat_flow(m, src, dst, bytes, msgs, per_msg, &c)) {
    n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
    if (n <= 0) {
      m->rc = nscclInternalError;
      return;
    }
    add_route_loads(m, route, n, bytes, msgs);
    c = route_cost(m, route, n, per_msg);
  }
  add_route_cost(m, c, 1);
  /* When the flow's bytes reach dst, relative to the clock: its sender's lag earlier, plus the route */
  m->arrive[dst] = nsccl_max(m->arrive[dst], c.lat - m->lag[src]);
  m->arrive_fill[dst] = nsccl_max(m->arrive_fill[dst], c.lat - m->lag_fill[src]);
  if (m->in_phase && m->t->dma_engine_bandwidth > 0) nsccl_model_queue_note(m, src, dst, m->last_queue);
  double count = msgs;
  /* The step's busiest pair queue: the flow's messages one after another, each for its own time
   * (its slowest link or its engines). */
  if (count * c.hop > m->queue) m->queue = count * c.hop;
  m->msgs[src] += count;
  m->sent[src] += bytes;
  m->flows[src] += 1;
  /* A storing chip on the way re-sends the whole message from its own engines (the simulator's
   * store-and-forward): the re-sends share its engines with its own sends (step_end). */
  if (m->t->forward == NSCCL_FORWARD_STORE)
    for (int i = 1; i < n; i++) {
      int v = m->t->links[route[i]].src;
      if (v < m->t->nranks) m->fwd[v] += msgs;
    }
}

double nsccl_model_msg_seconds(const model_t *m, int src, int dst, double bytes) {
  src = nsccl_model_phys(m, src), dst = nsccl_model_phys(m, dst);
  if (src == dst) return 0;
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  return n > 0 ? route_cost(m, route, n, bytes).hop : 0;
}

void nsccl_model_reduce(model_t *m, int rank, double bytes) {
  if (bytes > 0) m->red[nsccl_model_phys(m, rank)] += bytes;
}
