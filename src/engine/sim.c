/* The simulation engine: a deterministic discrete-event simulation of a set of programs on the
 * links of a topology. docs/simulator.md states the semantics; in short:
 *  - a step starts when its dependencies are done;
 *  - a SEND pays the rank's endpoint_overhead, then its packets enter the first link of the route,
 *    one after another as the link drains them (so concurrent messages of one rank interleave);
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

#include "core/check.h"
#include "engine/sim.h"
#include "engine/sim_queue.h"
#include "topologies/topo.h"

#ifndef NSCCL_TOPO_MAX_ROUTE
#define NSCCL_TOPO_MAX_ROUTE 256
#endif

enum { EV_PKT = 0, EV_STEP_DONE = 1, EV_MSG_ARRIVE = 2, EV_SEG_ARRIVE = 3 };

#define EV_KIND(e) ((int)(e)->kind)
#define EV_HOP(e)  ((uint32_t)(e)->hop)
#define MAX_HOPS   0xffff

typedef struct {
  double free;   /* when the link finishes its last accepted packet */
  double busy;   /* total seconds it was transmitting */
  double inv_bw; /* seconds per byte */
  double latency;
  int to_rank; /* the link ends at a rank vertex */
} link_state_t;

typedef struct {
  int src, dst;
  uint32_t send_g, recv_g; /* global step ids */
  uint32_t route, nhops;   /* links: route_pool[route .. route + nhops) */
  uint32_t npkts;
  double pkt_bytes, last_bytes;
  uint32_t next_queued; /* the rank's issue queue: next message waiting for the issue unit */
  uint32_t queued_hop;  /* hop it will start at once issued */
  uint8_t arrived, posted;
  uint8_t quiet_send, quiet_recv; /* nothing waits for the send / the plain RECV: no completion event */
} msg_t;

#define NONE UINT32_MAX

typedef struct {
  const nsccl_topo_t *t;
  const nsccl_program_t *progs;
  int n;
  int store;
  double alpha, red_inv, copy_inv;
  int serial;

  link_state_t *links;
  msg_t *msgs;
  uint32_t nmsgs;
  int *route_pool;
  size_t nroute, cap_route;

  uint32_t *base;     /* [n + 1]: global id of rank r's step s is base[r] + s */
  int *step_rank;     /* [G] */
  uint32_t *missing;  /* [G]: dependencies not yet done */
  uint32_t *succ_off; /* [G + 1] CSR of successors */
  uint32_t *succ;
  uint32_t *step_msg; /* [G]: message of a SEND / RECV / RECV_REDUCE */
  uint8_t *done;      /* [G] */
  uint32_t ndone, nsteps;
  uint32_t *stack; /* steps completed at the current instant, successors not yet released */
  uint32_t nstack;

  double *ovh_free, *red_free, *copy_free, *rank_time;
  /* Serial issue: messages waiting for a rank's issue unit, FIFO (an intrusive list through msgs).
   * Keeping them out of the event queue until their turn keeps the heap small. */
  uint32_t *issue_head, *issue_tail;

  simq_t q;
  uint64_t events, packets;
} sim_t;

/* ---- events ---- */

static nscclResult_t push(sim_t *s, double time, double tail, int kind, uint32_t hop, uint32_t a, uint32_t b) {
  sim_event_t e = {time, tail, a, b, (uint16_t)hop, (uint8_t)kind};
  if (!simq_push(&s->q, &e))
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory growing the event queue past %zu events", s->q.n);
  return nscclSuccess;
}

/* ---- steps ---- */

static const nsccl_step_t *step_of(const sim_t *s, uint32_t g) {
  int r = s->step_rank[g];
  return &s->progs[r].steps[g - s->base[r]];
}

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

/* Message mi asks `rank` to issue it (pay endpoint_overhead, then inject at `hop`). With overlapping
 * overheads it injects alpha later. Serially, it injects alpha after the unit frees; a message that
 * must wait joins the rank's FIFO and is released by on_packet when the one before it injects. */
static nscclResult_t issue(sim_t *s, int rank, uint32_t mi, uint32_t hop, double now) {
  if (!s->serial || (s->ovh_free[rank] <= now && s->issue_head[rank] == NONE)) {
    double inject = now + s->alpha;
    if (s->serial) s->ovh_free[rank] = inject;
    return push(s, inject, inject, EV_PKT, hop, mi, 0);
  }
  msg_t *m = &s->msgs[mi];
  m->queued_hop = hop;
  m->next_queued = NONE;
  if (s->issue_head[rank] == NONE)
    s->issue_head[rank] = mi;
  else
    s->msgs[s->issue_tail[rank]].next_queued = mi;
  s->issue_tail[rank] = mi;
  return nscclSuccess;
}

/* The issue unit of `rank` became free at `now`: start the next waiting message. */
static nscclResult_t issue_next(sim_t *s, int rank, double now) {
  uint32_t mi = s->issue_head[rank];
  if (mi == NONE) return nscclSuccess;
  msg_t *m = &s->msgs[mi];
  s->issue_head[rank] = m->next_queued;
  double inject = now + s->alpha;
  s->ovh_free[rank] = inject;
  return push(s, inject, inject, EV_PKT, m->queued_hop, mi, 0);
}

/* A step that nothing waits for finishes at `when` without an event of its own. */
static inline int no_successors(const sim_t *s, uint32_t g) { return s->succ_off[g] == s->succ_off[g + 1]; }

static void finish_quietly(sim_t *s, uint32_t g, double when) {
  int r = s->step_rank[g];
  s->ndone++;
  s->done[g] = 1;
  if (when > s->rank_time[r]) s->rank_time[r] = when;
}

static nscclResult_t start_step(sim_t *s, uint32_t g, double now) {
  const nsccl_step_t *st = step_of(s, g);
  int r = s->step_rank[g];
  switch (st->kind) {
  case NSCCL_STEP_SEND: {
    msg_t *m = &s->msgs[s->step_msg[g]];
    if (m->nhops == 0) { /* a message to oneself: no link to cross, no issue unit to queue for */
      double inject = now + s->alpha;
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
  L->free = end;
  L->busy += end - start;

  int seg_start = hop == 0 || (s->store && s->links[route[hop - 1]].to_rank);
  if (seg_start) {
    s->packets++;
    /* The first packet leaving means the issue unit is done with this message. */
    if (k == 0 && s->serial) NSCCL_CHECK(issue_next(s, s->t->links[route[hop]].src, e->time));
    /* The endpoint feeds the next packet as this one drains, so that concurrent messages of one
     * rank share its link packet by packet instead of message by message. */
    if (!last) NSCCL_CHECK(push(s, end, end, EV_PKT, hop, mi, k + 1));
    if (hop == 0 && last) {
      if (m->quiet_send)
        finish_quietly(s, m->send_g, end);
      else
        NSCCL_CHECK(push(s, end, end, EV_STEP_DONE, 0, m->send_g, 0));
    }
  }
  if (hop + 1 == m->nhops) {
    if (!last) return nscclSuccess;
    double arrive = end + L->latency;
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

/* ---- setup ---- */

size_t nsccl_sim_packet_bytes(const nsccl_sim_opts_t *opts, size_t bytes, uint64_t total_bytes) {
  size_t pkt = opts && opts->packet_bytes ? opts->packet_bytes : NSCCL_SIM_DEFAULT_PACKET_BYTES;
  uint32_t maxp = opts && opts->max_packets ? opts->max_packets : NSCCL_SIM_DEFAULT_MAX_PACKETS;
  uint64_t budget = opts && opts->packet_budget ? opts->packet_budget : NSCCL_SIM_DEFAULT_BUDGET;
  if (maxp != NSCCL_SIM_UNLIMITED_PACKETS) {
    size_t least = bytes / maxp + (bytes % maxp != 0);
    if (pkt < least) pkt = least;
  }
  if (budget != NSCCL_SIM_UNLIMITED_BUDGET) {
    uint64_t least = total_bytes / budget + (total_bytes % budget != 0);
    if (pkt < least) pkt = (size_t)least;
  }
  return pkt < bytes ? pkt : bytes;
}

static void sim_free(sim_t *s) {
  free(s->links);
  free(s->msgs);
  free(s->route_pool);
  free(s->base);
  free(s->step_rank);
  free(s->missing);
  free(s->succ_off);
  free(s->succ);
  free(s->step_msg);
  free(s->stack);
  free(s->done);
  free(s->ovh_free);
  free(s->red_free);
  free(s->copy_free);
  free(s->rank_time);
  free(s->issue_head);
  free(s->issue_tail);
  simq_free(&s->q);
}

static nscclResult_t check_steps(sim_t *s) {
  for (int r = 0; r < s->n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    if (p->rank != r || p->nranks != s->n)
      NSCCL_FAIL(nscclInvalidArgument, "simulator: progs[%d] is rank %d of %d, expected rank %d of %d", r, p->rank,
                 p->nranks, r, s->n);
    if (p->nsteps > 0 && !p->steps) NSCCL_FAIL(nscclInvalidArgument, "simulator: rank %d has steps but no array", r);
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_step_t *st = &p->steps[i];
      if (st->kind >= NSCCL_NUM_STEP_KINDS)
        NSCCL_FAIL(nscclInvalidArgument, "simulator: rank %d step %u has unknown kind %d", r, i, (int)st->kind);
      int comm = st->kind == NSCCL_STEP_SEND || st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE;
      if (comm && (st->peer < 0 || st->peer >= s->n))
        NSCCL_FAIL(nscclInvalidArgument, "simulator: rank %d step %u (%s) has peer %d outside [0, %d)", r, i,
                   nsccl_step_kind_name(st->kind), st->peer, s->n);
      const uint32_t *d = nsccl_step_deps(p, st);
      for (uint32_t j = 0; j < st->ndeps; j++)
        if (d[j] >= i)
          NSCCL_FAIL(nscclInvalidArgument, "simulator: rank %d step %u depends on step %u, not an earlier one", r, i,
                     d[j]);
    }
  }
  return nscclSuccess;
}

/* Number the messages: the k-th SEND from a to b is message first[a*n+b] + k and meets the k-th
 * RECV / RECV_REDUCE at b from a. */
static nscclResult_t match_messages(sim_t *s) {
  size_t n = (size_t)s->n;
  nscclResult_t rc = nscclSuccess;
  uint32_t *first = calloc(n * n + 1, sizeof(uint32_t));
  uint32_t *snext = malloc(n * n * sizeof(uint32_t));
  uint32_t *rnext = malloc(n * n * sizeof(uint32_t));
  if (!first || !snext || !rnext) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "simulator: out of memory matching messages of %zu ranks", n);
    goto out;
  }
  for (size_t r = 0; r < n; r++)
    for (uint32_t i = 0; i < s->progs[r].nsteps; i++)
      if (s->progs[r].steps[i].kind == NSCCL_STEP_SEND) first[r * n + (size_t)s->progs[r].steps[i].peer + 1]++;
  for (size_t i = 0; i < n * n; i++) first[i + 1] += first[i];
  s->nmsgs = first[n * n];
  s->msgs = calloc(s->nmsgs ? s->nmsgs : 1, sizeof(msg_t));
  if (!s->msgs) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "simulator: out of memory for %u messages", s->nmsgs);
    goto out;
  }
  memcpy(snext, first, n * n * sizeof(uint32_t));
  memcpy(rnext, first, n * n * sizeof(uint32_t));
  for (size_t r = 0; r < n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_step_t *st = &p->steps[i];
      uint32_t g = s->base[r] + i;
      if (st->kind == NSCCL_STEP_SEND) {
        uint32_t mi = snext[r * n + (size_t)st->peer]++;
        msg_t *m = &s->msgs[mi];
        m->src = (int)r;
        m->dst = st->peer;
        m->send_g = g;
        m->recv_g = UINT32_MAX;
        m->last_bytes = (double)st->src.bytes; /* the message size until packets are cut */
        s->step_msg[g] = mi;
      }
    }
  }
  for (size_t r = 0; r < n && rc == nscclSuccess; r++) {
    const nsccl_program_t *p = &s->progs[r];
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_step_t *st = &p->steps[i];
      if (st->kind != NSCCL_STEP_RECV && st->kind != NSCCL_STEP_RECV_REDUCE) continue;
      size_t pair = (size_t)st->peer * n + r;
      uint32_t mi = rnext[pair]++;
      if (mi >= first[pair + 1]) {
        rc = nscclInvalidUsage;
        nsccl_set_error(__FILE__, __LINE__, rc,
                        "simulator: rank %zu step %u (%s) receives message %u from rank %d, which sends only %u", r, i,
                        nsccl_step_kind_name(st->kind), mi - first[pair] + 1, st->peer, first[pair + 1] - first[pair]);
        break;
      }
      msg_t *m = &s->msgs[mi];
      if ((double)st->dst.bytes != m->last_bytes) {
        rc = nscclInvalidUsage;
        nsccl_set_error(__FILE__, __LINE__, rc,
                        "simulator: rank %zu step %u receives %zu bytes from rank %d, which sends %.0f in that message",
                        r, i, st->dst.bytes, st->peer, m->last_bytes);
        break;
      }
      m->recv_g = s->base[r] + i;
      s->step_msg[m->recv_g] = mi;
    }
  }
  for (uint32_t mi = 0; mi < s->nmsgs && rc == nscclSuccess; mi++)
    if (s->msgs[mi].recv_g == UINT32_MAX) {
      const msg_t *m = &s->msgs[mi];
      rc = nscclInvalidUsage;
      nsccl_set_error(__FILE__, __LINE__, rc, "simulator: rank %d step %u sends to rank %d, which never receives it",
                      m->src, m->send_g - s->base[m->src], m->dst);
    }
out:
  free(first);
  free(snext);
  free(rnext);
  return rc;
}

/* Routes (cached per ordered pair) and packet sizes of every message. */
static nscclResult_t plan_messages(sim_t *s, const nsccl_sim_opts_t *opts) {
  size_t n = (size_t)s->n;
  int64_t *pair = malloc(n * n * sizeof(int64_t)); /* offset << 16 | hops, or -1 */
  if (!pair) NSCCL_FAIL(nscclSystemError, "simulator: out of memory for the route cache of %zu ranks", n);
  memset(pair, 0xff, n * n * sizeof(int64_t));
  int buf[NSCCL_TOPO_MAX_ROUTE];
  nscclResult_t rc = nscclSuccess;
  uint64_t total = 0;
  for (uint32_t mi = 0; mi < s->nmsgs; mi++) total += (uint64_t)s->msgs[mi].last_bytes;
  for (uint32_t mi = 0; mi < s->nmsgs; mi++) {
    msg_t *m = &s->msgs[mi];
    int64_t *pr = &pair[(size_t)m->src * n + (size_t)m->dst];
    if (*pr < 0) {
      int h = 0;
      if (m->src != m->dst) h = s->t->module->route(s->t, m->src, m->dst, buf, NSCCL_TOPO_MAX_ROUTE);
      if (h < 0 || h > MAX_HOPS || (h == 0 && m->src != m->dst)) {
        rc = nscclInvalidArgument;
        nsccl_set_error(__FILE__, __LINE__, rc, "simulator: topology %s gives no route from rank %d to rank %d",
                        s->t->name, m->src, m->dst);
        break;
      }
      for (int i = 0; i < h; i++)
        if (buf[i] < 0 || buf[i] >= s->t->nlinks) {
          rc = nscclInvalidArgument;
          nsccl_set_error(__FILE__, __LINE__, rc, "simulator: route %d->%d of %s names link %d of %d", m->src, m->dst,
                          s->t->name, buf[i], s->t->nlinks);
          goto out;
        }
      if (s->nroute + (size_t)h > s->cap_route) {
        size_t ncap = s->cap_route * 2 + (size_t)h + 64;
        int *np = realloc(s->route_pool, ncap * sizeof(int));
        if (!np) {
          rc = nscclSystemError;
          nsccl_set_error(__FILE__, __LINE__, rc, "simulator: out of memory for routes");
          break;
        }
        s->route_pool = np;
        s->cap_route = ncap;
      }
      memcpy(s->route_pool + s->nroute, buf, (size_t)h * sizeof(int));
      *pr = (int64_t)s->nroute << 16 | h;
      s->nroute += (size_t)h;
    }
    m->route = (uint32_t)(*pr >> 16);
    m->nhops = (uint32_t)(*pr & 0xffff);
    size_t bytes = (size_t)m->last_bytes;
    size_t pkt = nsccl_sim_packet_bytes(opts, bytes, total);
    m->npkts = bytes == 0 ? 1 : (uint32_t)((bytes + pkt - 1) / pkt);
    if (bytes > 0 && (bytes + pkt - 1) / pkt > UINT32_MAX - 1) {
      rc = nscclInvalidArgument;
      nsccl_set_error(__FILE__, __LINE__, rc, "simulator: packet size %zu cuts a %zu-byte message into too many", pkt,
                      bytes);
      break;
    }
    m->pkt_bytes = (double)pkt;
    m->last_bytes = (double)(bytes - (size_t)(m->npkts - 1) * pkt);
  }
out:
  free(pair);
  return rc;
}

static nscclResult_t setup(sim_t *s, const nsccl_sim_opts_t *opts) {
  const nsccl_topo_t *t = s->t;
  size_t n = (size_t)s->n;
  s->store = t->forward == NSCCL_FORWARD_STORE;
  s->alpha = t->endpoint_overhead > 0 ? t->endpoint_overhead : 0.0;
  s->red_inv = t->reduce_bandwidth > 0 ? 1.0 / t->reduce_bandwidth : 0.0;
  s->copy_inv = opts && opts->copy_bandwidth > 0 ? 1.0 / opts->copy_bandwidth : 0.0;
  s->serial = !(opts && opts->overlap_overhead);

  s->links = calloc(t->nlinks ? (size_t)t->nlinks : 1, sizeof(link_state_t));
  s->base = calloc(n + 1, sizeof(uint32_t));
  size_t nissuers = t->nranks > s->n ? (size_t)t->nranks : n; /* chips forward too */
  s->ovh_free = calloc(nissuers, sizeof(double));
  s->issue_head = malloc(nissuers * sizeof(uint32_t));
  s->issue_tail = malloc(nissuers * sizeof(uint32_t));
  s->red_free = calloc(n, sizeof(double));
  s->copy_free = calloc(n, sizeof(double));
  s->rank_time = calloc(n, sizeof(double));
  if (!s->links || !s->base || !s->ovh_free || !s->red_free || !s->copy_free || !s->rank_time || !s->issue_head ||
      !s->issue_tail)
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory for %zu ranks", n);
  memset(s->issue_head, 0xff, nissuers * sizeof(uint32_t));
  for (int i = 0; i < t->nlinks; i++) {
    const nsccl_link_t *l = &t->links[i];
    if (!(l->bandwidth > 0) || !(l->latency >= 0))
      NSCCL_FAIL(nscclInvalidArgument, "simulator: link %d (%d->%d) of %s has bandwidth %g and latency %g", i, l->src,
                 l->dst, t->name, l->bandwidth, l->latency);
    s->links[i].inv_bw = 1.0 / l->bandwidth;
    s->links[i].latency = l->latency;
    s->links[i].to_rank = l->dst >= 0 && l->dst < t->nranks;
  }

  uint64_t total = 0;
  for (size_t r = 0; r < n; r++) {
    s->base[r] = (uint32_t)total;
    total += s->progs[r].nsteps;
  }
  if (total >= UINT32_MAX)
    NSCCL_FAIL(nscclInvalidArgument, "simulator: %llu steps are too many", (unsigned long long)total);
  s->nsteps = (uint32_t)total;
  s->base[n] = s->nsteps;
  size_t G = s->nsteps ? s->nsteps : 1;
  s->step_rank = malloc(G * sizeof(int));
  s->missing = malloc(G * sizeof(uint32_t));
  s->succ_off = calloc(G + 1, sizeof(uint32_t));
  s->step_msg = calloc(G, sizeof(uint32_t));
  s->stack = malloc(G * sizeof(uint32_t));
  s->done = calloc(G, 1);
  if (!s->step_rank || !s->missing || !s->succ_off || !s->step_msg || !s->stack || !s->done)
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory for %u steps", s->nsteps);

  uint64_t nsucc = 0;
  for (size_t r = 0; r < n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_step_t *st = &p->steps[i];
      uint32_t g = s->base[r] + i;
      s->step_rank[g] = (int)r;
      s->missing[g] = st->ndeps;
      const uint32_t *d = nsccl_step_deps(p, st);
      for (uint32_t j = 0; j < st->ndeps; j++) s->succ_off[s->base[r] + d[j] + 1]++;
      nsucc += st->ndeps;
    }
  }
  for (size_t g = 0; g < s->nsteps; g++) s->succ_off[g + 1] += s->succ_off[g];
  s->succ = malloc((nsucc ? nsucc : 1) * sizeof(uint32_t));
  uint32_t *fill = malloc(G * sizeof(uint32_t));
  if (!s->succ || !fill) {
    free(fill);
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory for %llu dependencies", (unsigned long long)nsucc);
  }
  memcpy(fill, s->succ_off, G * sizeof(uint32_t));
  for (size_t r = 0; r < n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const uint32_t *d = nsccl_step_deps(p, &p->steps[i]);
      for (uint32_t j = 0; j < p->steps[i].ndeps; j++) s->succ[fill[s->base[r] + d[j]]++] = s->base[r] + i;
    }
  }
  free(fill);

  NSCCL_CHECK(match_messages(s));
  for (uint32_t mi = 0; mi < s->nmsgs; mi++) {
    msg_t *m = &s->msgs[mi];
    m->quiet_send = no_successors(s, m->send_g);
    m->quiet_recv = no_successors(s, m->recv_g) && step_of(s, m->recv_g)->kind == NSCCL_STEP_RECV;
  }
  NSCCL_CHECK(plan_messages(s, opts));
  /* Pending events stay near a few per message in flight; start there and grow if needed. */
  if (!simq_init(&s->q, (size_t)s->nmsgs + G + 64))
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory for the event queue");
  return nscclSuccess;
}

static nscclResult_t simulate(sim_t *s) {
  for (uint32_t g = 0; g < s->nsteps; g++)
    if (s->missing[g] == 0) NSCCL_CHECK(start_step(s, g, 0.0));
  NSCCL_CHECK(drain(s, 0.0));
  sim_event_t e;
  while (s->q.n > 0) {
    simq_pop(&s->q, &e);
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
  nscclResult_t rc = check_steps(&s);
  if (rc == nscclSuccess) rc = setup(&s, opts);
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
  sim_free(&s);
  return rc;
}
