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
#include "model/cost_internal.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

static int phys(const model_t *m, int v) { return m->map ? m->map[v] : v; }

/* A rank's DMA engines, and how many of them one message of per_msg bytes takes (one per
 * NSCCL_DMA_SPREAD_BYTES, at most engines_per_message, at most all of them). */
static int rank_engines(const nsccl_topo_t *t) { return t->dma_engines > 0 ? t->dma_engines : 1; }
static double message_engines(const nsccl_topo_t *t, double per_msg) {
  int E = rank_engines(t), epm = t->engines_per_message > 0 ? t->engines_per_message : 1;
  return nsccl_dma_engines_for(per_msg, epm < E ? epm : E);
}

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
    hop = nsccl_max(hop, per_msg / (message_engines(t, per_msg) * t->dma_engine_bandwidth));
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

/* ---- DMA queues of a pipelined phase ----
 * A pair's messages stream one after another through its one DMA queue (the simulator's rule), so
 * over a phase no pair finishes before its queue has streamed all it carries, whatever else
 * overlaps. Flows are noted per step (qstep) and added to the phase's table times the step's
 * repeat; the phase is bound by its busiest queue. */
typedef struct nsccl_model_queue queue_t;

static void queue_note(model_t *m, int src, int dst, double seconds) {
  if (m->qstep_n == m->qstep_cap) {
    int cap = m->qstep_cap ? 2 * m->qstep_cap : 256;
    queue_t *q = realloc(m->qstep, (size_t)cap * sizeof(*q));
    if (!q) {
      m->rc = nscclSystemError;
      return;
    }
    m->qstep = q, m->qstep_cap = cap;
  }
  m->qstep[m->qstep_n++] = (queue_t){(long long)src * m->p + dst, seconds};
}

/* The slot of `key` in an open-addressing table of pair queues (*tab, *cap entries, *n used),
 * created with seconds = 0 if absent; NULL when the table cannot grow. */
static queue_t *queue_slot(queue_t **tab, int *cap, int *n, long long key) {
  if (2 * (*n + 1) > *cap) {
    int ncap = *cap ? 2 * *cap : 1024;
    queue_t *q = malloc((size_t)ncap * sizeof(*q));
    if (!q) return NULL;
    for (int i = 0; i < ncap; i++) q[i].key = -1;
    for (int i = 0; i < *cap; i++) /* rehash */
      if ((*tab)[i].key >= 0) {
        unsigned long long h = (unsigned long long)(*tab)[i].key * 0x9e3779b97f4a7c15ull;
        int j = (int)(h >> 20) & (ncap - 1);
        while (q[j].key >= 0) j = (j + 1) & (ncap - 1);
        q[j] = (*tab)[i];
      }
    free(*tab);
    *tab = q, *cap = ncap;
  }
  unsigned long long h = (unsigned long long)key * 0x9e3779b97f4a7c15ull;
  int j = (int)(h >> 20) & (*cap - 1);
  while ((*tab)[j].key >= 0 && (*tab)[j].key != key) j = (j + 1) & (*cap - 1);
  if ((*tab)[j].key < 0) (*tab)[j] = (queue_t){key, 0}, (*n)++;
  return &(*tab)[j];
}

/* The step's notes, now that its repeat is known: each stands for repeat times its seconds. They
 * stay in qstep (the phase's log) until the phase ends; qn marks the end of the closed steps. */
static void queue_step_end(model_t *m, double repeat) {
  for (int i = m->qn; i < m->qstep_n; i++) m->qstep[i].seconds = repeat * m->qstep[i].seconds;
  m->qn = m->qstep_n;
}

/* The phase's busiest pair queue: the log sorted by pair, stably (a least-significant-digit radix
 * sort, 11 bits a pass, into qtab), then each pair's seconds added in the order its steps came, the
 * sums an open-addressing table of pairs would give, without a random access per note. */
static double queue_phase_end(model_t *m) {
  int n = m->qn;
  double busiest = 0;
  if (n > 0 && m->qcap < n) {
    queue_t *q = realloc(m->qtab, (size_t)n * sizeof(*q));
    if (!q) {
      m->rc = nscclSystemError;
      n = 0;
    } else
      m->qtab = q, m->qcap = n;
  }
  queue_t *from = m->qstep, *to = m->qtab;
  unsigned long long top = (unsigned long long)m->p * (unsigned long long)m->p;
  for (int shift = 0; n > 0 && shift < 64 && (top >> shift) > 0; shift += 11) {
    int count[2049] = {0};
    for (int i = 0; i < n; i++) count[((unsigned long long)from[i].key >> shift & 2047) + 1]++;
    for (int d = 0; d < 2048; d++) count[d + 1] += count[d];
    for (int i = 0; i < n; i++) to[count[(unsigned long long)from[i].key >> shift & 2047]++] = from[i];
    queue_t *t = from;
    from = to, to = t;
  }
  for (int i = 0; i < n;) {
    double sum = 0;
    int j = i;
    for (; j < n && from[j].key == from[i].key; j++) sum += from[j].seconds;
    busiest = nsccl_max(busiest, sum);
    i = j;
  }
  /* The sort wrote only [0, n) of either array: notes of a step not yet closed move to the front. */
  if (m->qstep_n > n) memmove(m->qstep, m->qstep + n, (size_t)(m->qstep_n - n) * sizeof(*m->qstep));
  m->qstep_n -= n;
  m->qn = 0;
  for (int i = 0; i < m->wcap; i++) m->wtab[i].key = -1; /* the walk's queues: free again */
  m->wn = 0;
  return busiest;
}

/* Seconds the engines of one DMA queue stream `bytes` sent as messages of per_msg bytes. */
static double queue_seconds(const model_t *m, double bytes, double per_msg) {
  return bytes / (message_engines(m->t, per_msg) * m->t->dma_engine_bandwidth);
}

/* A flow of `bytes` from src to dst sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(model_t *m, int src, int dst, double bytes, double nmsgs) {
  if (bytes <= 0 || m->rc != nscclSuccess) return;
  src = phys(m, src), dst = phys(m, dst);
  if (src == dst) return;
  /* A step's flows mostly carry the same bytes: their message size and count are the last flow's. */
  if (bytes != m->last_bytes || nmsgs != m->last_nmsgs || m->chunk != m->last_chunk) {
    m->last_bytes = bytes, m->last_nmsgs = nmsgs, m->last_chunk = m->chunk;
    m->last_per_msg = nmsgs > 0 ? bytes / nmsgs : fmin(bytes, m->chunk);
    m->last_msgs = nmsgs > 0 ? nmsgs : nsccl_max(1.0, ceil(bytes / m->chunk));
    m->last_queue = m->t->dma_engine_bandwidth > 0 ? queue_seconds(m, bytes, m->last_per_msg) : 0;
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
  if (m->in_phase && m->t->dma_engine_bandwidth > 0) queue_note(m, src, dst, m->last_queue);
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
    route_cost_t c = route_cost(m, route, n, per_msg);
    add_route_cost(m, c, p);
    double count = nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk));
    if (count * c.hop > m->queue) m->queue = count * c.hop;
    /* every pair's queue carries the same: rank 0's stand for all */
    if (m->in_phase && t->dma_engine_bandwidth > 0) queue_note(m, 0, dst, queue_seconds(m, bytes, per_msg));
  }
  /* Over the p translations a link's class-mates each stand in its place p / |class| times. */
  for (int i = 0; i < t->nlinks && ok && m->rc == nscclSuccess; i++)
    if (cnt[orbit[i]] > 0)
      add_load(m, i, cnt[orbit[i]] * (p / size[orbit[i]]) * (bytes / t->links[i].bandwidth),
               cnt[orbit[i]] * (p / size[orbit[i]]) * (nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk))));
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

double nsccl_model_msg_seconds(const model_t *m, int src, int dst, double bytes) {
  src = phys(m, src), dst = phys(m, dst);
  if (src == dst) return 0;
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  return n > 0 ? route_cost(m, route, n, bytes).hop : 0;
}

/* A message of the phase's walk (price.h): issued once its data is there (`ready`), it pays alpha
 * on its engines while its pair's queue may still stream an earlier message, then streams through
 * the queue at its own pace and arrives one route latency later (docs/model.md, "All-gather
 * phases"). Its pace is its engines' or its route's: on each link its share of the bandwidth is
 * its flow's part of the step's load there (flow_bytes: what the flow carries in the step, already
 * told with nsccl_model_flow), as when all of the step's flows on the link stream together.
 * Returns the arrival. */
double nsccl_model_walk_send(model_t *m, int src, int dst, double bytes, double flow_bytes, double ready) {
  src = phys(m, src), dst = phys(m, dst);
  if (bytes <= 0 || src == dst || m->rc != nscclSuccess) return ready;
  nsccl_model_xlat_flush(m); /* the walk reads the step's loads */
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  queue_t *q = n > 0 ? queue_slot(&m->wtab, &m->wcap, &m->wn, (long long)src * m->p + dst) : NULL;
  if (!q) {
    m->rc = n > 0 ? nscclSystemError : nscclInternalError;
    return ready;
  }
  route_cost_t c = route_cost(m, route, n, bytes);
  for (int i = 0; i < n && flow_bytes > 0; i++) {
    const nsccl_link_t *l = &m->t->links[route[i]];
    double share = fmax(1.0, m->load[route[i]] * l->bandwidth / flow_bytes);
    c.hop = fmax(c.hop, share * bytes / l->bandwidth);
  }
  double start = fmax(ready + m->alpha, q->seconds);
  q->seconds = start + c.hop;
  double arrive = q->seconds + c.lat;
  if (arrive > m->walk_end) m->walk_end = arrive;
  return arrive;
}

void nsccl_model_reduce(model_t *m, int rank, double bytes) {
  if (bytes > 0) m->red[phys(m, rank)] += bytes;
}

void nsccl_model_step_reset_latency(model_t *m) {
  m->lat = m->lat_sum = m->hop_sum = m->hop_max = m->queue = 0;
  m->lat_min = m->hop_min = INFINITY;
}

/* How much a step moves a clock on (docs/model.md, "Per-rank ready times"): every rank's step takes
 * U once its inputs are there, which is when it was ready itself or when the latest of its incoming
 * flows arrived (its sender's ready time plus the route latency, in arrive[]), whichever is later.
 * The clock moves to the latest rank and each rank's lag behind it is kept. Not plain: a barrier,
 * U + lat for everyone. arrive[] is reset for the next step. */
static double ready_step(model_t *m, double *lag, double *arrive, double U, double lat, int plain) {
  double top = 0;
  if (plain)
    for (int r = 0; r < m->p; r++) top = nsccl_max(top, nsccl_max(-lag[r], arrive[r]));
  else
    top = lat;
  for (int r = 0; r < m->p; r++) {
    lag[r] = plain ? top - nsccl_max(-lag[r], arrive[r]) : 0;
    arrive[r] = -INFINITY;
  }
  return U + top;
}

/* Close a step that happens `repeat` times with the same flows. ring = 1: the flows form one ring
 * and the repeats pipeline around it, so a block's journey of repeat = p-1 hops pays each edge's
 * latency once (all edges but the cheapest), not the slowest edge's at every step. */
void nsccl_model_step_end(model_t *m, double repeat, int ring) {
  nsccl_model_xlat_flush(m);
  double k = 0, W = 0, R = 0, S = 0, F = 1, Kt = 0;
  int whole = 0; /* some rank's flows are one message each: the next step waits for all of it */
  for (int r = 0; r < m->p; r++) {
    if (m->msgs[r] > k) k = m->msgs[r], S = m->sent[r], F = m->flows[r];
    if (m->msgs[r] > 0 && m->msgs[r] <= m->flows[r]) whole = 1;
    if (m->msgs[r] + m->fwd[r] > Kt) Kt = m->msgs[r] + m->fwd[r];
    m->fwd[r] = 0;
    if (m->red[r] > R) R = m->red[r];
    if (m->in_phase)
      m->phase_red[r] += repeat * m->red[r], m->phase_msgs[r] += repeat * m->msgs[r],
          m->phase_sent[r] += repeat * m->sent[r];
    m->msgs[r] = m->red[r] = m->sent[r] = m->flows[r] = 0;
  }
  double kW = 1; /* messages crossing the busiest link */
  for (int i = 0; i < m->ntouched; i++) {
    double l = m->load[m->touched[i]], km = nsccl_max(1.0, m->load_msgs[m->touched[i]]);
    if (l > W * (1 + 1e-12)) /* equal loads: the one cut into the most messages (the busiest rank's) */
      W = l, kW = km;
    else if (l >= W * (1 - 1e-12) && km > kW)
      W = fmax(W, l), kW = km;
    m->load_msgs[m->touched[i]] = 0;
    if (m->in_phase) {
      int l = m->touched[i];
      m->phase_load[l] += repeat * m->load[l];
      if (m->link_first[l] < 0) m->link_first[l] = m->nsteps;
      m->link_last[l] = m->nsteps;
      if (whole) m->link_whole[l] += repeat * m->load[l];
    }
    m->load[m->touched[i]] = 0;
  }
  m->ntouched = 0;
  double T, piped = -1; /* piped: a repeated ring step whose chunks run ahead into the next repeat */
  double lat = m->lat_override >= 0          ? m->lat_override
               : ring == 1 && m->lat_sum > 0 ? m->lat_sum - m->lat_min
                                             : repeat * m->lat;
  if (k == 0) {
    T = m->gamma * R;
  } else if (m->serial) {
    /* One core issues, moves and reduces (topology's cpu_copies): the stages add up. */
    T = k * (m->alpha + W / k + m->gamma * R / k);
  } else {
    /* A k-message pipeline through issue (alpha on DMA engines), the engines' streaming, the links
     * (W / k per message) and the reduction (gamma R / k); docs/model.md, "DMA engines". The
     * busiest rank's k messages of S / k bytes each take kk engines (one per
     * NSCCL_DMA_SPREAD_BYTES, at most engines_per_message) and stream for e1 = (S / k) / (kk bw_e).
     * Engines admit c = floor(E / kk) messages at once, each holding its engines for alpha + e1;
     * the messages of one flow (one peer: one DMA queue, in order) stream one after another. After
     * the first message the slowest of these sets the pace. With one engine and no engine
     * bandwidth this is alpha + w + g + (k - 1) max(alpha, w, g). */
    const nsccl_topo_t *t = m->t;
    int E = rank_engines(t);
    double per = S / k, kk = message_engines(t, per);
    double c = fmax(1.0, fmin(k, floor(E / kk))), flows = fmax(1.0, fmin(k, F));
    double e1 = t->dma_engine_bandwidth > 0 ? per / (kk * t->dma_engine_bandwidth) : 0;
    double w = W / k, g = m->gamma * R / k, item = fmax(fmax(w, e1), g);
    double rest = fmax((ceil(k / c) - 1) * (m->alpha + e1), (ceil(k / flows) - 1) * e1);
    /* The busiest pair queue streams all its messages, each at its own pace (its slowest link or
     * its engines), one after another: after the first, the rest of them. */
    /* The busiest link carries kW of the k messages: one of them on it is W / kW, and after the
     * first the link has W - W / kW left (all k on it: (k - 1) w). */
    double wl = W / fmin(k, kW);
    rest = fmax(rest, m->queue - fmax(wl, e1));
    T = m->alpha + fmax(wl, e1) + g + fmax(rest, fmax(W - wl, (k - 1) * g));
    /* Storing chips re-send what passes them on the same engines: the step lasts at least the
     * engine rounds of a chip's own and re-sent messages together. The re-sends' alpha is in the
     * route latency, so with engines to spare (rounds < the path) this changes nothing. */
    if (Kt > k) T = fmax(T, ceil(Kt / c) * (m->alpha + e1) + w - lat / repeat);
    if (ring && repeat > 1) {
      /* Ring repeats (docs/model.md, "Ring"): a chunk moves on to the next hop as soon as it
       * arrived, so repeats overlap. Either one chunk's journey (alpha, its wire, reduction and
       * hop latency per repeat) or the busiest resource's occupancy per repeat (its queue and
       * link: k items; its engines: ceil(k / c) rounds; its reduction) sets the pace: the first
       * chunk's journey plus the last repeat's other k - 1 chunks, or the resource busy for every
       * repeat after the first chunk's fill. */
      double hop = m->alpha + fmax(w, e1) + g;
      /* The journey crosses every edge of one ring but the cheapest (ring = 1) or repeat identical
       * edges (ring = 2), each at its own pace (hop_*: a message's own time on each flow). */
      double wire = ring == 1 && m->hop_sum > 0 ? m->hop_sum - m->hop_min : repeat * m->hop_max;
      double journey = repeat * (m->alpha + g) + fmin(wire, repeat * fmax(w, e1)) + lat + (k - 1) * item;
      /* Resources: the repeat x k messages pass the busiest link, queue, reduction, and the
       * engines (floor(E / kk) messages at once, each holding its engines alpha + e1). */
      double fit = fmax(1.0, floor(E / kk));
      double busiest = fmax(item, (m->alpha + e1) / fit);
      piped = fmax(journey, hop + (repeat * k - 1) * busiest);
    }
  }
  if (m->in_phase) queue_step_end(m, repeat);
  /* A plain step (one occurrence, its flows' own latencies, every flow told) is followed rank by
   * rank; the others are a barrier (their latency terms are already a journey or an override). */
  int plain = !m->barrier && !ring && repeat == 1 && m->lat_override < 0;
  m->lat_override = -1;
  m->barrier = 0;
  nsccl_model_step_reset_latency(m);
  if (piped >= 0 && !m->in_phase) {
    m->total += piped + ready_step(m, m->lag, m->arrive, 0, 0, 0);
    ready_step(m, m->lag_fill, m->arrive_fill, 0, 0, 0);
  } else if (m->in_phase) {
    if (m->phase_gather) {
      /* Several messages per flow: the step starts on held blocks, and the share f of its bytes
       * that the step before delivered (as much as that step sent: an all-gather receives what it
       * sends) follows that step's end. One message per flow carries them: it waits for all. */
      double f = S > 0 ? fmin(1.0, m->gather_sent / S) : 1;
      if (k > F)
        m->gather_end = fmax(repeat * T + lat, m->gather_end + m->alpha + f * (W + m->gamma * R) + lat);
      else
        m->gather_end += repeat * T + lat;
      m->gather_sent = S;
    }
    double ser = ready_step(m, m->lag, m->arrive, repeat * T, lat, plain);
    m->phase_serial += ser;
    /* What the next step waits for: its first message (alpha, a message's share of the busiest
     * link and of the reduction, the latency) when its flows send several messages each (chunks,
     * or runs of blocks), which move on one by one; else the whole step. */
    double first = k == 0 ? m->gamma * R : k > F ? m->alpha + W / k + m->gamma * R / k : repeat * T;
    double fill = ready_step(m, m->lag_fill, m->arrive_fill, first, k == 0 ? 0 : lat, plain);
    m->phase_fill += fill;
    if (m->nsteps == m->steps_cap) {
      int cap = m->steps_cap ? 2 * m->steps_cap : 64;
      double *a = realloc(m->step_fill, sizeof(double) * (size_t)cap),
             *b = a ? realloc(m->step_whole, sizeof(double) * (size_t)cap) : NULL;
      if (a) m->step_fill = a;
      if (b) m->step_whole = b;
      if (!a || !b) {
        m->rc = nscclSystemError;
        return;
      }
      m->steps_cap = cap;
    }
    m->step_fill[m->nsteps] = fill;
    m->step_whole[m->nsteps++] = whole ? ser : 0;
  } else {
    m->total += ready_step(m, m->lag, m->arrive, repeat * T, lat, plain);
    ready_step(m, m->lag_fill, m->arrive_fill, 0, 0, 0);
  }
}

void nsccl_model_phase_begin(model_t *m) {
  if (m->in_phase || m->rc != nscclSuccess) return;
  if (!m->phase_load) {
    m->phase_load = calloc((size_t)m->t->nlinks + 1, sizeof(double));
    m->phase_red = calloc((size_t)m->p, sizeof(double));
    m->phase_msgs = calloc((size_t)m->p, sizeof(double));
    m->phase_sent = calloc((size_t)m->p, sizeof(double));
    m->link_first = malloc(sizeof(int) * ((size_t)m->t->nlinks + 1));
    m->link_last = malloc(sizeof(int) * ((size_t)m->t->nlinks + 1));
    m->link_whole = calloc((size_t)m->t->nlinks + 1, sizeof(double));
    if (m->link_first)
      for (int i = 0; i <= m->t->nlinks; i++) m->link_first[i] = -1;
    if (!m->phase_load || !m->phase_red || !m->phase_msgs || !m->phase_sent || !m->link_first || !m->link_last ||
        !m->link_whole) {
      m->rc = nscclSystemError;
      return;
    }
  }
  m->in_phase = 1;
  m->phase_serial = m->phase_fill = m->gather_end = m->gather_sent = 0;
  for (int r = 0; r < m->p; r++) m->lag[r] = m->lag_fill[r] = 0; /* the phase's clocks start together */
  m->phase_gather = 0;
  m->walk_end = -1;
  m->nsteps = 0;
}

/* A rank's engines over a phase: its `msgs` messages of `sent` bytes in all each take kk engines
 * (one per NSCCL_DMA_SPREAD_BYTES of the mean message, at most engines_per_message) and hold them
 * for alpha and their streaming; floor(E / kk) messages fit at once (docs/model.md, "Pipelined
 * phases"). With no engine bandwidth this is the issue bound ceil(msgs / E) alpha. */
static double phase_engines(const model_t *m, double msgs, double sent) {
  const nsccl_topo_t *t = m->t;
  if (msgs <= 0) return 0;
  int E = rank_engines(t);
  if (!(t->dma_engine_bandwidth > 0)) return ceil(msgs / E) * m->alpha;
  double per = sent / msgs, kk = message_engines(t, per);
  double c = fmax(1.0, floor(E / kk)), e1 = per / (kk * t->dma_engine_bandwidth);
  return ceil(msgs / c) * (m->alpha + e1);
}

void nsccl_model_phase_gather(model_t *m) {
  if (m->in_phase) m->phase_gather = 1;
}

void nsccl_model_phase_end(model_t *m) {
  if (!m->in_phase) return;
  m->in_phase = 0;
  const nsccl_topo_t *t = m->t;
  double W = 0, R = 0, I = 0, Wwin = 0;
  /* Prefix sums of the steps' fill and of the whole steps' time. */
  double *pre = malloc(sizeof(double) * 2 * ((size_t)m->nsteps + 1)), *whole = pre ? pre + m->nsteps + 1 : NULL;
  if (pre) {
    pre[0] = whole[0] = 0;
    for (int s = 0; s < m->nsteps; s++)
      pre[s + 1] = pre[s] + m->step_fill[s], whole[s + 1] = whole[s] + m->step_whole[s];
  }
  for (int i = 0; i < t->nlinks; i++) {
    if (m->phase_load[i] > W) W = m->phase_load[i];
    /* A link's window: the fill of the steps before its first use and after its last, its load,
     * and inside the window the whole steps' time beyond their own load on it (the other steps'
     * first messages overlap its work). */
    if (pre && m->link_first[i] >= 0) {
      int a = m->link_first[i], b = m->link_last[i];
      double win =
          pre[a] + (pre[m->nsteps] - pre[b + 1]) + m->phase_load[i] + (whole[b + 1] - whole[a]) - m->link_whole[i];
      Wwin = fmax(Wwin, win);
    }
    m->phase_load[i] = 0;
    m->link_first[i] = -1;
    m->link_whole[i] = 0;
  }
  free(pre);
  for (int r = 0; r < m->p; r++) {
    R = fmax(R, m->gamma * m->phase_red[r]);
    I = fmax(I, phase_engines(m, m->phase_msgs[r], m->phase_sent[r]));
    m->phase_red[r] = m->phase_msgs[r] = m->phase_sent[r] = 0;
  }
  double Q = queue_phase_end(m);
  double busiest = fmax(fmax(W, Q), fmax(R, I));
  /* The busiest link's window, or the fill and then the busiest queue, reduction or engines. */
  double piped = fmax(Wwin, m->phase_fill + fmax(fmax(Q, R), I));
  /* An all-gather's steps run side by side from the start: the chain of last messages, but no
   * less than the busiest resource after one message's alpha. */
  if (m->phase_gather) piped = fmin(piped, fmax(m->walk_end >= 0 ? m->walk_end : m->gather_end, m->alpha + busiest));
  /* One core doing everything (cpu_copies) cannot overlap its steps. */
  m->total += m->serial ? m->phase_serial : fmin(m->phase_serial, piped);
  for (int r = 0; r < m->p; r++) m->lag[r] = m->lag_fill[r] = 0; /* and end together */
}
