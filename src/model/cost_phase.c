/* Pipelined phases of the cost model (price.h, nsccl_model_phase_begin): steps whose chunks run
 * ahead into the next step, priced as the smaller of the steps one after another and the fill plus
 * the phase's busiest resource (docs/model.md, "Pipelined phases"). */
#include <math.h>
#include <stdlib.h>

#include "model/cost_internal.h"
#include "model/cost_queue.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

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
  int E = nsccl_model_rank_engines(t);
  if (!(t->dma_engine_bandwidth > 0)) return ceil(msgs / E) * m->alpha;
  double per = sent / msgs, kk = nsccl_model_message_engines(t, per);
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
  double Q = nsccl_model_queue_phase_end(m);
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
