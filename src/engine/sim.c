/* The simulation engine: a deterministic discrete-event simulation of a set of programs on the
 * links of a topology. docs/simulator.md states the semantics; in short:
 *  - a step starts when its dependencies are done;
 *  - a SEND takes up to engines_per_message of the rank's free DMA engines (dma_engines of them;
 *    it waits in the rank's FIFO when none is free) and pays endpoint_overhead on them. Messages to
 *    one peer then stream through the pair's DMA queue one at a time, in the order they reached it
 *    (a message not yet issued never holds back one that is); at its turn a message takes engines
 *    again, which feed its bytes at their bandwidth (messages whose turn came go before new starts),
 *    and its packets enter the first link of the route one after another as the link drains them,
 *    no faster than the engines feed them (so concurrent messages of one rank interleave packet by
 *    packet). A message waiting for its turn holds no engine. With one engine and no bandwidth
 *    figure this is one message issued per alpha;
 *  - a link serves packets first come first served at its bandwidth and adds its latency; packets
 *    cut through switches and routed chips (the head moves on after the latency, the tail cannot
 *    leave before it arrived), while a store-and-forward chip waits for the whole message, pays its
 *    endpoint_overhead and re-sends it;
 *  - messages are eager: a receive completes when it is posted and the last packet has landed;
 *  - RECV_REDUCE / REDUCE take bytes / reduce_bandwidth on the rank's one reduction unit, COPY takes
 *    bytes / copy_bandwidth on its one copy unit (free without a figure).
 * Events are ordered by (time, insertion sequence), so equal inputs give identical results. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "engine/sim_internal.h"

/* ---- events ---- */

static nscclResult_t push(sim_t *s, double time, double tail, int kind, uint32_t hop, uint32_t a, uint32_t b) {
  sim_event_t e = {time, tail, a, b, (uint16_t)hop, (uint8_t)kind};
  int ok = simq_push(&s->q, &e);
  if (ok < 0) NSCCL_FAIL(nscclInternalError, "simulator: an event at %.17g s scheduled into the past", time);
  if (!ok) NSCCL_FAIL(nscclSystemError, "simulator: out of memory growing the event queue past %zu events", s->q.n);
  return nscclSuccess;
}

/* ---- steps ---- */

/* Mark g done now; its successors are released by drain(). */
static void finish(sim_t *s, uint32_t g) { s->stack[s->nstack++] = g; }

/* Occupy a per-rank unit (reduction, copy or overhead) for cost seconds from `now` on, in arrival
 * order; returns when the work ends. */
static inline double occupy(double *unit_free, double now, double cost) {
  double start = *unit_free > now ? *unit_free : now;
  *unit_free = start + cost;
  return start + cost;
}

static nscclResult_t complete_at(sim_t *s, uint32_t g, double now, double when) {
  if (when <= now) {
    finish(s, g);
    return nscclSuccess;
  }
  return push(s, when, when, EV_STEP_DONE, 0, g, 0);
}

static nscclResult_t recv_complete(sim_t *s, uint32_t g, double now) {
  const nsccl_step_t *st = step_of(s, g);
  if (st->kind == NSCCL_STEP_RECV || s->red_inv == 0.0) {
    finish(s, g);
    return nscclSuccess;
  }
  int r = s->step_rank[g];
  return complete_at(s, g, now, occupy(&s->red_free[r], now, (double)st->dst.bytes * s->red_inv));
}

/* Bytes of message m (all its packets). */
static inline double msg_bytes(const msg_t *m) { return (double)(m->npkts - 1) * m->pkt_bytes + m->last_bytes; }

/* Start message mi at `rank` now if an engine is free: take free engines, up to epm and one per
 * NSCCL_DMA_SPREAD_BYTES of the message (a small message is not spread). A message that enters its
 * pair's DMA queue (hop 0) takes engines twice: to start (they pay alpha and free again), and when
 * its turn in the queue comes, to feed its bytes (held for the bytes at their bandwidth), so a
 * message waiting behind its pair's earlier ones holds no engine (docs/simulator.md, "DMA engines
 * and issue"). A storing chip's re-send (hop > 0) takes them once, for alpha plus the bytes.
 * Returns 0 if none is free. */
static int try_start(sim_t *s, int rank, uint32_t mi, uint32_t hop, double now, nscclResult_t *rc) {
  msg_t *m = &s->msgs[mi];
  eng_pool_t *pool = &s->eng[rank];
  eng_group_t *groups = s->eng_group + (size_t)rank * (size_t)s->engines;
  uint32_t k = eng_free_now(pool, groups, now), want = (uint32_t)nsccl_dma_engines_for(msg_bytes(m), s->epm);
  if (k > want) k = want;
  if (k > 256) k = 256;
  if (k == 0) return 0;
  if (hop == 0 && m->turn) { /* its turn: the engines feed it from now on */
    m->fed = 1;
    m->t0 = now;
    m->rate_inv = s->eng_inv_bw / k;
    eng_take(pool, groups, (uint32_t)s->engines, k, now + msg_bytes(m) * m->rate_inv);
    *rc = push(s, now, now, EV_PKT, 0, mi, 0);
    return 1;
  }
  m->t0 = now + s->alpha;
  m->rate_inv = s->eng_inv_bw / k;
  eng_take(pool, groups, (uint32_t)s->engines, k, hop == 0 ? m->t0 : m->t0 + msg_bytes(m) * m->rate_inv);
  *rc = push(s, m->t0, m->t0, EV_PKT, hop, mi, 0);
  return 1;
}

/* When the first engine of `rank` frees (none is free now: the rank's FIFO head could not start). */
static double next_engine(const sim_t *s, int rank) {
  return eng_next_release(&s->eng[rank], s->eng_group + (size_t)rank * (size_t)s->engines);
}

static nscclResult_t wake_later(sim_t *s, int rank) {
  if (s->wake[rank] || (s->issue_head[rank] == NONE && s->feed_head[rank] == NONE)) return nscclSuccess;
  s->wake[rank] = 1;
  double t = next_engine(s, rank);
  return push(s, t, t, EV_ENGINE, 0, (uint32_t)rank, 0);
}

static nscclResult_t want_engines(sim_t *s, int rank, uint32_t mi, uint32_t hop, double now);

/* Message mi asks `rank` (a sender, or a storing chip that re-sends it) to issue it at `hop`. With
 * unlimited engines it injects alpha later at full speed; otherwise it takes free engines
 * (try_start) or joins the rank's FIFO, served by on_engine as engines free up. */
static nscclResult_t issue(sim_t *s, int rank, uint32_t mi, uint32_t hop, double now) {
  msg_t *m = &s->msgs[mi];
  if (s->unlimited) {
    m->t0 = now + s->alpha;
    m->rate_inv = 0;
    return push(s, m->t0, m->t0, EV_PKT, hop, mi, 0);
  }
  return want_engines(s, rank, mi, hop, now);
}

/* Message mi wants engines of `rank` now: to start (the issue FIFO) or, its pair's turn come, to
 * stream (the feed FIFO, served first: a started transfer's bytes go before new starts). Take them,
 * or wait behind the messages already waiting in that FIFO. */
static nscclResult_t want_engines(sim_t *s, int rank, uint32_t mi, uint32_t hop, double now) {
  msg_t *m = &s->msgs[mi];
  nscclResult_t rc = nscclSuccess;
  int feed = hop == 0 && m->turn;
  uint32_t *head = feed ? s->feed_head : s->issue_head, *tail = feed ? s->feed_tail : s->issue_tail;
  if (head[rank] == NONE && s->feed_head[rank] == NONE && try_start(s, rank, mi, hop, now, &rc)) return rc;
  m->queued_hop = hop;
  m->next_queued = NONE;
  if (head[rank] == NONE)
    head[rank] = mi;
  else
    s->msgs[tail[rank]].next_queued = mi;
  tail[rank] = mi;
  return wake_later(s, rank);
}

/* An engine of `rank` became free at `now`: feed the messages whose turn came, then start the
 * waiting ones, in order, while engines last. */
static nscclResult_t on_engine(sim_t *s, int rank, double now) {
  s->wake[rank] = 0;
  nscclResult_t rc = nscclSuccess;
  uint32_t *heads[2] = {s->feed_head, s->issue_head};
  for (int f = 0; f < 2; f++)
    for (uint32_t mi = heads[f][rank]; mi != NONE; mi = heads[f][rank]) {
      if (!try_start(s, rank, mi, s->msgs[mi].queued_hop, now, &rc)) return wake_later(s, rank);
      NSCCL_CHECK(rc);
      heads[f][rank] = s->msgs[mi].next_queued;
    }
  return wake_later(s, rank);
}

/* A step that nothing waits for finishes at `when` without an event of its own. */
static void finish_quietly(sim_t *s, uint32_t g, double when) {
  int r = s->step_rank[g];
  s->ndone++;
  s->done[g] = 1;
  if (when > s->rank_time[r]) s->rank_time[r] = when;
  SIM_OBSERVE(s, step_end, r, g - s->base[r], when);
}

static nscclResult_t start_step(sim_t *s, uint32_t g, double now) {
  const nsccl_step_t *st = step_of(s, g);
  int r = s->step_rank[g];
  SIM_OBSERVE(s, step_start, r, g - s->base[r], now);
  switch (st->kind) {
  case NSCCL_STEP_SEND: {
    msg_t *m = &s->msgs[s->step_msg[g]];
    if (m->nhops == 0) { /* a message to oneself: no link to cross, no issue unit to queue for */
      double inject = now + s->alpha;
      sim_observe_msg(s, m, inject, NSCCL_SIM_MSG_LEAVES);
      sim_observe_msg(s, m, inject, NSCCL_SIM_MSG_LANDED);
      NSCCL_CHECK(push(s, inject, inject, EV_MSG_ARRIVE, 0, s->step_msg[g], 0));
      return complete_at(s, g, now, inject);
    }
    return issue(s, r, s->step_msg[g], 0, now);
  }
  case NSCCL_STEP_RECV:
  case NSCCL_STEP_RECV_REDUCE: {
    msg_t *m = &s->msgs[s->step_msg[g]];
    m->posted = 1;
    return m->arrived ? recv_complete(s, g, now) : nscclSuccess;
  }
  case NSCCL_STEP_COPY:
    if (s->copy_inv == 0.0) {
      finish(s, g);
      return nscclSuccess;
    }
    return complete_at(s, g, now, occupy(&s->copy_free[r], now, (double)st->dst.bytes * s->copy_inv));
  default: /* NSCCL_STEP_REDUCE */
    if (s->red_inv == 0.0) {
      finish(s, g);
      return nscclSuccess;
    }
    return complete_at(s, g, now, occupy(&s->red_free[r], now, (double)st->dst.bytes * s->red_inv));
  }
}

/* Release the successors of every step finished at `now`, transitively. */
static nscclResult_t drain(sim_t *s, double now) {
  while (s->nstack > 0) {
    uint32_t g = s->stack[--s->nstack];
    int r = s->step_rank[g];
    s->ndone++;
    s->done[g] = 1;
    if (now > s->rank_time[r]) s->rank_time[r] = now;
    SIM_OBSERVE(s, step_end, r, g - s->base[r], now);
    for (uint32_t i = s->succ_off[g]; i < s->succ_off[g + 1]; i++) {
      uint32_t h = s->succ[i];
      if (--s->missing[h] == 0) NSCCL_CHECK(start_step(s, h, now));
    }
  }
  return nscclSuccess;
}

/* ---- packets ---- */

static nscclResult_t on_packet(sim_t *s, const sim_event_t *e) {
  uint32_t mi = e->a, k = e->b, hop = EV_HOP(e);
  msg_t *m = &s->msgs[mi];
  const int *route = s->route_pool + m->route;
  link_state_t *L = &s->links[route[hop]];
  int last = k + 1 == m->npkts;
  double bytes = last ? m->last_bytes : m->pkt_bytes;
  double start = e->time > L->free ? e->time : L->free;
  double end = start + bytes * L->inv_bw;
  if (end < e->tail) end = e->tail; /* cut-through: bytes cannot leave before they arrive */
  int seg_start = hop == 0 || (s->store && s->links[route[hop - 1]].to_rank);
  if (hop == 0 && k == 0 && !m->turn) {
    /* Messages from one rank to one peer go through one DMA queue, in the order they reach it:
     * this one streams when the pair's previous one has left (docs/simulator.md). */
    pair_queue_t *q = &s->pairs[m->pair];
    if (q->busy) {
      m->next_queued = NONE;
      if (q->head == NONE)
        q->head = mi;
      else
        s->msgs[q->tail].next_queued = mi;
      q->tail = mi;
      return nscclSuccess;
    }
    q->busy = 1;
    m->turn = 1;
    if (e->time < q->free) { /* the previous one is still leaving: start behind it */
      if (m->t0 < q->free) m->t0 = q->free;
      return push(s, q->free, q->free, EV_PKT, 0, mi, 0);
    }
  }
  /* Its turn has come: engines to feed it (with engines limited; unlimited ones feed at once). */
  if (hop == 0 && k == 0 && !m->fed && !s->unlimited) return want_engines(s, msg_src(s, m), mi, 0, e->time);
  L->free = end;
  L->busy += end - start;
  SIM_OBSERVE(s, link_busy, route[hop], start, end, bytes);
  if (hop == 0 && k == 0) sim_observe_msg(s, m, start, NSCCL_SIM_MSG_LEAVES);
  if (seg_start && m->rate_inv > 0) {
    /* The engines feed the packet no faster than their bandwidth. The link is not held while they
     * do: it carries other messages' bytes meanwhile (links interleave concurrent DMAs finely). */
    double ready = m->t0 + ((double)k * m->pkt_bytes + bytes) * m->rate_inv;
    if (end < ready) end = ready;
  }

  if (seg_start) {
    s->packets++;
    /* The endpoint feeds the next packet as this one drains, so that concurrent messages of one
     * rank share its link packet by packet instead of message by message. */
    if (!last) NSCCL_CHECK(push(s, end, end, EV_PKT, hop, mi, k + 1));
    if (hop == 0 && last) {
      pair_queue_t *q = &s->pairs[m->pair];
      if (q->head != NONE) { /* the next message waiting in the pair's queue streams now */
        uint32_t ni = q->head;
        msg_t *nx = &s->msgs[ni];
        q->head = nx->next_queued;
        nx->turn = 1;
        if (nx->t0 < end) nx->t0 = end; /* its engines feed from now on */
        NSCCL_CHECK(push(s, end, end, EV_PKT, 0, ni, 0));
      } else {
        q->busy = 0;
        q->free = end;
      }
      if (m->quiet_send)
        finish_quietly(s, m->send_g, end);
      else
        NSCCL_CHECK(push(s, end, end, EV_STEP_DONE, 0, m->send_g, 0));
    }
  }
  if (hop + 1 == m->nhops) {
    if (!last) return nscclSuccess;
    double arrive = end + L->latency;
    sim_observe_msg(s, m, arrive, NSCCL_SIM_MSG_LANDED);
    /* A posted plain receive that nothing waits for completes on arrival; no event needed. */
    if (m->posted && m->quiet_recv)
      finish_quietly(s, m->recv_g, arrive);
    else
      NSCCL_CHECK(push(s, arrive, arrive, EV_MSG_ARRIVE, 0, mi, 0));
  } else if (s->store && L->to_rank) {
    if (last) NSCCL_CHECK(push(s, end + L->latency, end + L->latency, EV_SEG_ARRIVE, hop + 1, mi, 0));
  } else {
    NSCCL_CHECK(push(s, start + L->latency, end + L->latency, EV_PKT, hop + 1, mi, k));
  }
  return nscclSuccess;
}

static nscclResult_t dispatch(sim_t *s, const sim_event_t *e) {
  switch (EV_KIND(e)) {
  case EV_PKT: return on_packet(s, e);
  case EV_STEP_DONE: finish(s, e->a); break;
  case EV_ENGINE: NSCCL_CHECK(on_engine(s, (int)e->a, e->time)); break;
  case EV_MSG_ARRIVE: {
    msg_t *m = &s->msgs[e->a];
    m->arrived = 1;
    if (m->posted) NSCCL_CHECK(recv_complete(s, m->recv_g, e->time));
    break;
  }
  default: { /* EV_SEG_ARRIVE: the whole message is at an intermediate chip, which re-sends it */
    msg_t *m = &s->msgs[e->a];
    int chip = s->t->links[s->route_pool[m->route + EV_HOP(e)]].src;
    NSCCL_CHECK(issue(s, chip, e->a, EV_HOP(e), e->time));
    break;
  }
  }
  return drain(s, e->time);
}

/* ---- the run ---- */

static nscclResult_t simulate(sim_t *s) {
  for (uint32_t g = 0; g < s->nsteps; g++)
    if (s->missing[g] == 0) NSCCL_CHECK(start_step(s, g, 0.0));
  NSCCL_CHECK(drain(s, 0.0));
  sim_event_t e;
  while (s->q.n > 0) {
    if (!simq_pop(&s->q, &e))
      NSCCL_FAIL(nscclSystemError, "simulator: out of memory sorting the event queue (%zu events)", s->q.n);
    s->events++;
    NSCCL_CHECK(dispatch(s, &e));
  }
  if (s->ndone != s->nsteps) {
    for (uint32_t g = 0; g < s->nsteps; g++)
      if (!s->done[g]) {
        int r = s->step_rank[g];
        const nsccl_step_t *st = step_of(s, g);
        NSCCL_FAIL(nscclInvalidUsage,
                   "simulator: %u of %u steps never completed; first: rank %d step %u (%s, peer %d), %u dependencies "
                   "pending (a cycle, or receives waiting on sends that wait on them)",
                   s->nsteps - s->ndone, s->nsteps, r, g - s->base[r], nsccl_step_kind_name(st->kind), st->peer,
                   s->missing[g]);
      }
  }
  return nscclSuccess;
}

nscclResult_t nsccl_sim_run(const struct nsccl_topo *topo, const nsccl_program_t *progs, int nranks,
                            const nsccl_sim_opts_t *opts, nsccl_sim_result_t *res) {
  return nsccl_sim_run_observed(topo, progs, nranks, opts, NULL, res);
}

nscclResult_t nsccl_sim_run_observed(const struct nsccl_topo *topo, const nsccl_program_t *progs, int nranks,
                                     const nsccl_sim_opts_t *opts, const nsccl_sim_observer_t *obs,
                                     nsccl_sim_result_t *res) {
  if (!topo || !res || (nranks > 0 && !progs))
    NSCCL_FAIL(nscclInvalidArgument, "simulator: topo, progs and res must not be NULL");
  if (!topo->module || !topo->module->route)
    NSCCL_FAIL(nscclInvalidArgument, "simulator: topology %s has no route function", topo->name);
  if (nranks < 1 || nranks > topo->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "simulator: %d ranks on topology %s of %d ranks", nranks, topo->name,
               topo->nranks);
  if (nranks > 65536) NSCCL_FAIL(nscclInvalidArgument, "simulator: %d ranks is more than 65536", nranks);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sim_t s;
  memset(&s, 0, sizeof(s));
  s.t = topo;
  s.progs = progs;
  s.n = nranks;
  s.obs = obs;
  nscclResult_t rc = nsccl_sim_check_steps(&s);
  if (rc == nscclSuccess) rc = nsccl_sim_setup(&s, opts);
  if (rc == nscclSuccess) rc = simulate(&s);
  if (rc == nscclSuccess) {
    double *per_rank = res->rank_time_s;
    memset(res, 0, sizeof(*res));
    res->rank_time_s = per_rank;
    for (int r = 0; r < nranks; r++) {
      if (s.rank_time[r] > res->time_s) res->time_s = s.rank_time[r];
      if (per_rank) per_rank[r] = s.rank_time[r];
    }
    res->events = s.events;
    res->messages = s.nmsgs;
    res->packets = s.packets;
    res->bottleneck_link = -1;
    for (int i = 0; i < topo->nlinks; i++)
      if (s.links[i].busy > res->bottleneck_busy_s) {
        res->bottleneck_busy_s = s.links[i].busy;
        res->bottleneck_link = i;
      }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->wall_s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  }
  nsccl_sim_free_state(&s);
  return rc;
}
