/* Closing a step of the cost model: the step's flows and reductions (told with nsccl_model_flow and
 * nsccl_model_reduce) priced as a pipeline of its busiest rank's messages through issue, engines,
 * links and reduction (cost.h states the formula, docs/model.md derives it), and the per-rank ready
 * times that carry one step's end into the next. */
#include <math.h>
#include <stdlib.h>

#include "model/cost_internal.h"
#include "model/cost_queue.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

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
    int E = nsccl_model_rank_engines(t);
    double per = S / k, kk = nsccl_model_message_engines(t, per);
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
  if (m->in_phase) nsccl_model_queue_step_end(m, repeat);
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
