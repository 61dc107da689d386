/* The simulator's preparation: check the programs, number and match the messages (sim_match.c),
 * route them (once per ordered pair) and cut them into packets, and allocate everything the event
 * loop needs up front. */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/sim_internal.h"

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

void nsccl_sim_free_state(sim_t *s) {
  free(s->links);
  free(s->msgs);
  free(s->pairs);
  free(s->route_pool);
  free(s->base);
  free(s->step_rank);
  free(s->missing);
  free(s->succ_off);
  free(s->succ);
  free(s->step_msg);
  free(s->stack);
  free(s->done);
  free(s->eng);
  free(s->eng_group);
  free(s->wake);
  free(s->red_free);
  free(s->copy_free);
  free(s->rank_time);
  free(s->issue_head);
  free(s->issue_tail);
  free(s->feed_head);
  free(s->feed_tail);
  simq_free(&s->q);
}

nscclResult_t nsccl_sim_check_steps(sim_t *s) {
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

/* Routes and packet sizes of every message. The messages of one ordered pair are consecutive
 * (sim_match.c), so each pair is routed once and its messages share the route. */
static nscclResult_t plan_messages(sim_t *s, const nsccl_sim_opts_t *opts) {
  int buf[NSCCL_TOPO_MAX_ROUTE];
  uint64_t total = 0;
  for (uint32_t mi = 0; mi < s->nmsgs; mi++) total += (uint64_t)s->msgs[mi].last_bytes;
  for (uint32_t mi = 0; mi < s->nmsgs; mi++) {
    msg_t *m = &s->msgs[mi];
    int src = msg_src(s, m), dst = msg_dst(s, m);
    if (mi > 0 && src == msg_src(s, m - 1) && dst == msg_dst(s, m - 1)) {
      m->route = m[-1].route;
      m->nhops = m[-1].nhops;
      m->pair = m[-1].pair;
    } else {
      m->pair = s->npairs++;
      int h = 0;
      if (src != dst) h = s->t->module->route(s->t, src, dst, buf, NSCCL_TOPO_MAX_ROUTE);
      if (h < 0 || h > MAX_HOPS || (h == 0 && src != dst))
        NSCCL_FAIL(nscclInvalidArgument, "simulator: topology %s gives no route from rank %d to rank %d", s->t->name,
                   src, dst);
      for (int i = 0; i < h; i++)
        if (buf[i] < 0 || buf[i] >= s->t->nlinks)
          NSCCL_FAIL(nscclInvalidArgument, "simulator: route %d->%d of %s names link %d of %d", src, dst, s->t->name,
                     buf[i], s->t->nlinks);
      if (s->nroute + (size_t)h > s->cap_route) {
        size_t ncap = s->cap_route * 2 + (size_t)h + 64;
        int *np = realloc(s->route_pool, ncap * sizeof(int));
        if (!np) NSCCL_FAIL(nscclSystemError, "simulator: out of memory for routes");
        s->route_pool = np;
        s->cap_route = ncap;
      }
      if (s->nroute > UINT32_MAX - (size_t)h)
        NSCCL_FAIL(nscclInvalidArgument, "simulator: more than 2^32 route entries");
      memcpy(s->route_pool + s->nroute, buf, (size_t)h * sizeof(int));
      m->route = (uint32_t)s->nroute;
      m->nhops = (uint16_t)h;
      s->nroute += (size_t)h;
    }
    size_t bytes = (size_t)m->last_bytes;
    size_t pkt = nsccl_sim_packet_bytes(opts, bytes, total);
    if (bytes > 0 && (bytes + pkt - 1) / pkt > UINT32_MAX - 1)
      NSCCL_FAIL(nscclInvalidArgument, "simulator: packet size %zu cuts a %zu-byte message into too many", pkt, bytes);
    m->npkts = bytes == 0 ? 1 : (uint32_t)((bytes + pkt - 1) / pkt);
    m->pkt_bytes = (double)pkt;
    m->last_bytes = (double)(bytes - (size_t)(m->npkts - 1) * pkt);
  }
  s->pairs = malloc((s->npairs ? s->npairs : 1) * sizeof(pair_queue_t));
  if (!s->pairs) NSCCL_FAIL(nscclSystemError, "simulator: out of memory for %u DMA queues", s->npairs);
  for (uint32_t i = 0; i < s->npairs; i++) s->pairs[i] = (pair_queue_t){0.0, NONE, NONE, 0};
  return nscclSuccess;
}

nscclResult_t nsccl_sim_setup(sim_t *s, const nsccl_sim_opts_t *opts) {
  const nsccl_topo_t *t = s->t;
  size_t n = (size_t)s->n;
  s->store = t->forward == NSCCL_FORWARD_STORE;
  s->alpha = t->endpoint_overhead > 0 ? t->endpoint_overhead : 0.0;
  s->red_inv = t->reduce_bandwidth > 0 ? 1.0 / t->reduce_bandwidth : 0.0;
  s->copy_inv = opts && opts->copy_bandwidth > 0 ? 1.0 / opts->copy_bandwidth : 0.0;
  s->unlimited = opts && opts->overlap_overhead;
  s->engines = t->dma_engines > 0 ? t->dma_engines : 1;
  s->epm = t->engines_per_message > 0 ? t->engines_per_message : 1;
  if (s->epm > s->engines) s->epm = s->engines;
  s->eng_inv_bw = t->dma_engine_bandwidth > 0 ? 1.0 / t->dma_engine_bandwidth : 0.0;

  s->links = calloc(t->nlinks ? (size_t)t->nlinks : 1, sizeof(link_state_t));
  s->base = calloc(n + 1, sizeof(uint32_t));
  size_t nissuers = t->nranks > s->n ? (size_t)t->nranks : n; /* chips forward too */
  s->eng = calloc(nissuers, sizeof(eng_pool_t));
  s->eng_group = malloc(nissuers * (size_t)s->engines * sizeof(eng_group_t));
  s->wake = calloc(nissuers, 1);
  s->issue_head = malloc(nissuers * sizeof(uint32_t));
  s->issue_tail = malloc(nissuers * sizeof(uint32_t));
  s->feed_head = malloc(nissuers * sizeof(uint32_t));
  s->feed_tail = malloc(nissuers * sizeof(uint32_t));
  s->red_free = calloc(n, sizeof(double));
  s->copy_free = calloc(n, sizeof(double));
  s->rank_time = calloc(n, sizeof(double));
  if (!s->links || !s->base || !s->eng || !s->eng_group || !s->wake || !s->red_free || !s->copy_free || !s->rank_time ||
      !s->issue_head || !s->issue_tail || !s->feed_head || !s->feed_tail)
    NSCCL_FAIL(nscclSystemError, "simulator: out of memory for %zu ranks", n);
  memset(s->issue_head, 0xff, nissuers * sizeof(uint32_t));
  memset(s->feed_head, 0xff, nissuers * sizeof(uint32_t));
  for (size_t i = 0; i < nissuers; i++) s->eng[i].nfree = (uint32_t)s->engines;
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

  /* Successor lists. A step that names the same dependency several times (builders that list the
   * last step touching each block of a run name it once per block) waits for it once: mark[d] ==
   * g says d is already among g's dependencies. Waiting once is the same wait, and g's copies of
   * one successor entry were adjacent in d's list, so drain() starts g at the same moment and in
   * the same order as before; the lists only get shorter (ring/dims at 4,096 ranks named 50 M
   * dependencies for 2 M steps). */
  uint32_t *mark = s->stack; /* free until the event loop */
  memset(mark, 0xff, G * sizeof(uint32_t));
  uint64_t nsucc = 0;
  for (size_t r = 0; r < n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_step_t *st = &p->steps[i];
      uint32_t g = s->base[r] + i, unique = 0;
      s->step_rank[g] = (int)r;
      const uint32_t *d = nsccl_step_deps(p, st);
      for (uint32_t j = 0; j < st->ndeps; j++) {
        uint32_t dg = s->base[r] + d[j];
        if (mark[dg] == g) continue;
        mark[dg] = g;
        s->succ_off[dg + 1]++;
        unique++;
      }
      s->missing[g] = unique;
      nsucc += unique;
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
      uint32_t g = s->base[r] + i;
      for (uint32_t j = 0; j < p->steps[i].ndeps; j++) {
        uint32_t dg = s->base[r] + d[j];
        if (fill[dg] > s->succ_off[dg] && s->succ[fill[dg] - 1] == g) continue; /* named already */
        s->succ[fill[dg]++] = g;
      }
    }
  }
  free(fill);

  NSCCL_CHECK(nsccl_sim_match_messages(s));
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
