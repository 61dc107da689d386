/* MSCCL steps become parts, per gpu (docs/msccl.md, "Mapping", step 1).
 *
 * MSCCL: a thread block runs its steps one after another; a step also waits for one step of another
 * thread block (depid/deps; nops carry further dependencies to the next step).
 * nsccl: a step waits for the steps its dependencies list.
 *
 * So each step becomes zero (nop), one or two parts (fused steps: the receive, then the send), and a
 * part's dependencies are what the previous step of its thread block and its depid/deps step
 * complete (resolve). The global order across gpus is msccl_order.c's. */
#include <stdlib.h>
#include <string.h>

#include "algo/msccl_order.h"
#include "base/check.h"

int msccl_ivec_push(msccl_ivec_t *a, int x) {
  for (int i = 0; i < a->n; i++)
    if (a->v[i] == x) return 1;
  if (a->n == a->cap) {
    int cap = a->cap ? 2 * a->cap : 4;
    int *v = realloc(a->v, sizeof(int) * (size_t)cap);
    if (!v) return 0;
    a->v = v, a->cap = cap;
  }
  a->v[a->n++] = x;
  return 1;
}

int msccl_ivec_push_all(msccl_ivec_t *a, const msccl_ivec_t *e) {
  for (int i = 0; i < e->n; i++)
    if (!msccl_ivec_push(a, e->v[i])) return 0;
  return 1;
}

nscclResult_t msccl_order_oom(const msccl_order_t *o) {
  NSCCL_FAIL(nscclSystemError, "%s: out of memory ordering the algorithm", o->plan->path);
}

static int parts_of(int kind) {
  switch (kind) {
  case MSCCL_OP_NOP: return 0;
  case MSCCL_OP_RCS:
  case MSCCL_OP_RRS:
  case MSCCL_OP_RRCS: return 2;
  default: return 1;
  }
}

static void set_part(msccl_part_t *p, int kind, int peer, const msccl_raw_step_t *st, int tb, int s) {
  memset(p, 0, sizeof(*p));
  p->kind = (unsigned char)kind;
  p->peer = peer;
  p->cnt = st->cnt;
  p->line = st->line;
  p->tb = tb;
  p->s = s;
  p->tb_index = tb;
  p->tmp = -1;
}

static void operand(msccl_part_t *p, int which, char buf, int off) {
  p->buf[which] = (unsigned char)buf;
  p->off[which] = off;
}

/* The parts of one MSCCL step (msccl.h lists the instructions). */
static void make_parts(msccl_gstate_t *G, int t, int s, int *ntmp) {
  const msccl_raw_tb_t *tb = &G->g->tbs[t];
  const msccl_raw_step_t *st = &tb->steps[s];
  msccl_part_t *p = &G->parts[G->first[t][s]];
  switch (st->kind) {
  case MSCCL_OP_SEND:
    set_part(p, NSCCL_STEP_SEND, tb->send, st, t, s);
    operand(p, 0, st->srcbuf, st->srcoff);
    break;
  case MSCCL_OP_RECV:
  case MSCCL_OP_RCS:
    set_part(p, NSCCL_STEP_RECV, tb->recv, st, t, s);
    operand(p, 2, st->dstbuf, st->dstoff);
    if (st->kind == MSCCL_OP_RCS) {
      set_part(p + 1, NSCCL_STEP_SEND, tb->send, st, t, s);
      operand(p + 1, 0, st->dstbuf, st->dstoff);
    }
    break;
  case MSCCL_OP_RRC:
  case MSCCL_OP_RRCS:
    set_part(p, NSCCL_STEP_RECV_REDUCE, tb->recv, st, t, s);
    operand(p, 0, st->srcbuf, st->srcoff);
    operand(p, 2, st->dstbuf, st->dstoff);
    if (st->kind == MSCCL_OP_RRCS) {
      set_part(p + 1, NSCCL_STEP_SEND, tb->send, st, t, s);
      operand(p + 1, 0, st->dstbuf, st->dstoff);
    }
    break;
  case MSCCL_OP_RRS: /* the sum goes to a temporary of its own, then on */
    set_part(p, NSCCL_STEP_RECV_REDUCE, tb->recv, st, t, s);
    operand(p, 0, st->srcbuf, st->srcoff);
    operand(p, 2, 't', 0);
    p->tmp = *ntmp;
    set_part(p + 1, NSCCL_STEP_SEND, tb->send, st, t, s);
    operand(p + 1, 0, 't', 0);
    p[1].tmp = (*ntmp)++;
    break;
  case MSCCL_OP_CPY:
    set_part(p, NSCCL_STEP_COPY, -1, st, t, s);
    operand(p, 0, st->srcbuf, st->srcoff);
    operand(p, 2, st->dstbuf, st->dstoff);
    break;
  case MSCCL_OP_RE: /* dst = src (+) dst */
    set_part(p, NSCCL_STEP_REDUCE, -1, st, t, s);
    operand(p, 0, st->srcbuf, st->srcoff);
    operand(p, 1, st->dstbuf, st->dstoff);
    operand(p, 2, st->dstbuf, st->dstoff);
    break;
  default: break;
  }
}

/* done(t, s): the parts the next step of thread block t (and a step naming it in depid/deps) waits
 * for. A send does not hold its thread block up: in MSCCL it completes into the connection's
 * buffer, while an nsccl SEND completes when the receiver has the data, so waiting for it would
 * turn a ring of "send, then receive" into a deadlock. A step's send part is therefore left out
 * (a pure send passes on what it waited for itself, as a nop does); what overwrites the data of a
 * send waits for that send (msccl_guard.c). */
nscclResult_t msccl_resolve(msccl_order_t *o, msccl_gstate_t *G, int full, int t, int s, const msccl_ivec_t **out) {
  const msccl_raw_step_t *st = &G->g->tbs[t].steps[s];
  msccl_ivec_t *d = &G->done[full][t][s];
  char *state = &G->state[full][t][s];
  *out = d;
  if (*state == 2) return nscclSuccess;
  if (*state == 1)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: gpu %d thread block %d step %d: nop steps wait for each other in a cycle",
               o->plan->path, st->line, G->g->id, t, s);
  *state = 1;
  if (full && G->nparts[t][s]) {
    if (!msccl_ivec_push(d, G->first[t][s] + G->nparts[t][s] - 1)) return msccl_order_oom(o);
  } else if (G->nparts[t][s] && G->parts[G->first[t][s]].kind != NSCCL_STEP_SEND) {
    if (!msccl_ivec_push(d, G->first[t][s])) return msccl_order_oom(o); /* fused steps: the receive part */
  } else {
    const msccl_ivec_t *e;
    if (s > 0) {
      NSCCL_CHECK(msccl_resolve(o, G, full, t, s - 1, &e));
      if (!msccl_ivec_push_all(d, e)) return msccl_order_oom(o);
    }
    if (st->depid >= 0) {
      NSCCL_CHECK(msccl_resolve(o, G, full, st->depid, st->deps, &e));
      if (!msccl_ivec_push_all(d, e)) return msccl_order_oom(o);
    }
  }
  *state = 2;
  return nscclSuccess;
}

static nscclResult_t check_dep(const msccl_order_t *o, const msccl_gstate_t *G, int t, int s) {
  const msccl_raw_step_t *st = &G->g->tbs[t].steps[s];
  if (st->depid < 0) return nscclSuccess;
  if (st->depid >= G->g->ntbs)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: depid=\"%d\": gpu %d has thread blocks 0..%d", o->plan->path, st->line,
               st->depid, G->g->id, G->g->ntbs - 1);
  if (st->deps >= G->g->tbs[st->depid].nsteps)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: deps=\"%d\": thread block %d of gpu %d has %d steps", o->plan->path,
               st->line, st->deps, st->depid, G->g->id, G->g->tbs[st->depid].nsteps);
  if (st->depid == t && st->deps >= s)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: step %d waits for step %d of its own thread block, which runs after it",
               o->plan->path, st->line, s, st->deps);
  return nscclSuccess;
}

nscclResult_t msccl_build_gpu(msccl_order_t *o, msccl_gstate_t *G, int *ntmp) {
  const msccl_raw_gpu_t *g = G->g;
  int n = 0;
  for (int t = 0; t < g->ntbs; t++)
    for (int s = 0; s < g->tbs[t].nsteps; s++) {
      G->first[t][s] = n;
      G->nparts[t][s] = parts_of(g->tbs[t].steps[s].kind);
      n += G->nparts[t][s];
    }
  G->nparts_total = n;
  G->parts = calloc(n ? (size_t)n : 1, sizeof(msccl_part_t));
  G->deps = calloc(n ? (size_t)n : 1, sizeof(msccl_ivec_t));
  if (!G->parts || !G->deps) return msccl_order_oom(o);
  for (int t = 0; t < g->ntbs; t++) {
    int first = 1;
    for (int s = 0; s < g->tbs[t].nsteps; s++) {
      NSCCL_CHECK(check_dep(o, G, t, s));
      if (!G->nparts[t][s]) continue;
      make_parts(G, t, s, ntmp);
      G->parts[G->first[t][s]].first_of_tb = first;
      first = 0;
    }
  }
  for (int t = 0; t < g->ntbs; t++)
    for (int s = 0; s < g->tbs[t].nsteps; s++) {
      if (!G->nparts[t][s]) continue;
      int p = G->first[t][s];
      const msccl_ivec_t *e;
      if (s > 0) {
        NSCCL_CHECK(msccl_resolve(o, G, 0, t, s - 1, &e));
        if (!msccl_ivec_push_all(&G->deps[p], e)) return msccl_order_oom(o);
      }
      const msccl_raw_step_t *st = &g->tbs[t].steps[s];
      if (st->depid >= 0) {
        NSCCL_CHECK(msccl_resolve(o, G, 0, st->depid, st->deps, &e));
        if (!msccl_ivec_push_all(&G->deps[p], e)) return msccl_order_oom(o);
      }
      if (G->nparts[t][s] == 2 && !msccl_ivec_push(&G->deps[p + 1], p)) return msccl_order_oom(o);
    }
  return msccl_guard_writes(o, G);
}

void msccl_gstate_free(msccl_gstate_t *G) {
  if (!G->g) return;
  for (int t = 0; t < G->g->ntbs; t++) {
    for (int f = 0; f < 2; f++) {
      if (G->done[f] && G->done[f][t])
        for (int s = 0; s < G->g->tbs[t].nsteps; s++) free(G->done[f][t][s].v);
      if (G->done[f]) free(G->done[f][t]);
      if (G->state[f]) free(G->state[f][t]);
    }
    if (G->first) free(G->first[t]);
    if (G->nparts) free(G->nparts[t]);
  }
  for (int i = 0; G->deps && i < G->nparts_total; i++) free(G->deps[i].v);
  free(G->first);
  free(G->nparts);
  for (int f = 0; f < 2; f++) free(G->done[f]), free(G->state[f]);
  free(G->parts);
  free(G->deps);
}

nscclResult_t msccl_gstate_alloc(msccl_order_t *o, msccl_gstate_t *G, const msccl_raw_gpu_t *g) {
  G->g = g;
  size_t nt = g->ntbs ? (size_t)g->ntbs : 1;
  G->first = calloc(nt, sizeof(int *));
  G->nparts = calloc(nt, sizeof(int *));
  for (int f = 0; f < 2; f++) {
    G->done[f] = calloc(nt, sizeof(msccl_ivec_t *));
    G->state[f] = calloc(nt, sizeof(char *));
    if (!G->done[f] || !G->state[f]) return msccl_order_oom(o);
  }
  if (!G->first || !G->nparts) return msccl_order_oom(o);
  for (int t = 0; t < g->ntbs; t++) {
    size_t ns = g->tbs[t].nsteps ? (size_t)g->tbs[t].nsteps : 1;
    G->first[t] = calloc(ns, sizeof(int));
    G->nparts[t] = calloc(ns, sizeof(int));
    for (int f = 0; f < 2; f++) {
      G->done[f][t] = calloc(ns, sizeof(msccl_ivec_t));
      G->state[f][t] = calloc(ns, 1);
      if (!G->done[f][t] || !G->state[f][t]) return msccl_order_oom(o);
    }
    if (!G->first[t] || !G->nparts[t]) return msccl_order_oom(o);
  }
  return nscclSuccess;
}
