/* From MSCCL's execution model to nsccl's (docs/msccl.md, "Mapping").
 *
 * MSCCL: a thread block runs its steps one after another; a step also waits for one step of another
 * thread block (depid/deps; nops carry further dependencies to the next step); the k-th send of the
 * connection (sender, receiver, channel) meets the k-th receive of it.
 * nsccl: a step waits for the steps its dependencies list; the k-th SEND from a to b meets the k-th
 * receive at b from a, whatever the channel.
 *
 * So each step becomes parts (nsccl steps) whose dependencies are the previous step of its thread
 * block and its depid/deps step; each send is matched to its receive per connection; and all parts
 * of all ranks are put in one topological order of dependencies plus send -> receive. With several
 * channels between two gpus that order may interleave a pair's messages differently at the two
 * ends, so the pair's sends are then chained in that order, their receives likewise, and the order
 * taken again (order_all). Every rank's program is the final order restricted to the rank: a pair's
 * messages appear in the same order at both ends, so nsccl's matching pairs the same sends and
 * receives MSCCL's does. A cycle in the first order means the algorithm deadlocks even with
 * unbounded buffering; in the second, that two gpus' messages cross between channels in a way one
 * ordered stream per pair cannot carry; both are refused with the step on the cycle. */
#include <stdlib.h>
#include <string.h>

#include "algo/msccl_internal.h"
#include "base/check.h"

typedef struct {
  int *v;
  int n, cap;
} ivec_t;

static int ivec_push(ivec_t *a, int x) {
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

/* Per gpu, while ordering. */
typedef struct {
  const msccl_raw_gpu_t *g;
  int **first; /* [tb][s]: first raw part of the step */
  int **nparts;
  /* [full][tb][s]: parts whose completion is the step's (nops: what they wait for); full = 1 in
   * MSCCL's own sense (sends included), full = 0 what nsccl waits for (resolve) */
  ivec_t **done[2];
  char **state[2]; /* 0 not yet, 1 resolving, 2 resolved */
  msccl_part_t *parts;
  ivec_t *deps; /* per raw part */
  int nparts_total;
  int base; /* global id of raw part 0 */
} gstate_t;

typedef struct {
  nsccl_msccl_plan_t *plan;
  gstate_t *gs;
  int total;
  int *gpu_of; /* global part -> gpu */
} order_t;

static int parts_of(int kind) {
  switch (kind) {
  case MSCCL_OP_NOP: return 0;
  case MSCCL_OP_RCS:
  case MSCCL_OP_RRS:
  case MSCCL_OP_RRCS: return 2;
  default: return 1;
  }
}

static nscclResult_t oom(const order_t *o) {
  NSCCL_FAIL(nscclSystemError, "%s: out of memory ordering the algorithm", o->plan->path);
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
static void make_parts(gstate_t *G, int t, int s, int *ntmp) {
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
 * send waits for that send (write_after_send). */
static nscclResult_t resolve_as(order_t *o, gstate_t *G, int full, int t, int s, const ivec_t **out) {
  const msccl_raw_step_t *st = &G->g->tbs[t].steps[s];
  ivec_t *d = &G->done[full][t][s];
  char *state = &G->state[full][t][s];
  *out = d;
  if (*state == 2) return nscclSuccess;
  if (*state == 1)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: gpu %d thread block %d step %d: nop steps wait for each other in a cycle",
               o->plan->path, st->line, G->g->id, t, s);
  *state = 1;
  if (full && G->nparts[t][s]) {
    if (!ivec_push(d, G->first[t][s] + G->nparts[t][s] - 1)) return oom(o);
  } else if (G->nparts[t][s] && G->parts[G->first[t][s]].kind != NSCCL_STEP_SEND) {
    if (!ivec_push(d, G->first[t][s])) return oom(o); /* fused steps: the receive part */
  } else {
    const ivec_t *e;
    if (s > 0) {
      NSCCL_CHECK(resolve_as(o, G, full, t, s - 1, &e));
      for (int i = 0; i < e->n; i++)
        if (!ivec_push(d, e->v[i])) return oom(o);
    }
    if (st->depid >= 0) {
      NSCCL_CHECK(resolve_as(o, G, full, st->depid, st->deps, &e));
      for (int i = 0; i < e->n; i++)
        if (!ivec_push(d, e->v[i])) return oom(o);
    }
  }
  *state = 2;
  return nscclSuccess;
}

static nscclResult_t resolve(order_t *o, gstate_t *G, int t, int s, const ivec_t **out) {
  return resolve_as(o, G, 0, t, s, out);
}

static nscclResult_t check_dep(const order_t *o, const gstate_t *G, int t, int s) {
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

/* A chunk range in the rank's aliased space: an in-place algorithm's input and output are one
 * buffer (MSCCLang's layout: all-gather's input is block r of the output, reduce-scatter's output
 * block r of the input). */
static void canon(const nsccl_msccl_plan_t *plan, int rank, unsigned char buf, int off, unsigned char *cb, int *coff) {
  *cb = buf, *coff = off;
  if (!plan->inplace) return;
  int blk = plan->nchunks / plan->ngpus;
  if (plan->coll == NSCCL_COLL_ALLGATHER && buf == 'i') *cb = 'o', *coff = off + rank * blk;
  if (plan->coll == NSCCL_COLL_ALLREDUCE && buf == 'o') *cb = 'i';
  if (plan->coll == NSCCL_COLL_REDUCESCATTER && buf == 'o') *cb = 'i', *coff = off + rank * blk;
}

/* Does part w write chunks that send part q reads? */
static int write_after_send(const order_t *o, int rank, const msccl_part_t *w, const msccl_part_t *q) {
  if (q->kind != NSCCL_STEP_SEND || w->kind == NSCCL_STEP_SEND || !w->buf[2] || q->buf[0] == 't') return 0;
  unsigned char wb, qb;
  int wo, qo;
  canon(o->plan, rank, w->buf[2], w->off[2], &wb, &wo);
  canon(o->plan, rank, q->buf[0], q->off[0], &qb, &qo);
  return wb == qb && wo < qo + q->cnt && qo < wo + w->cnt;
}

/* Write-after-send: part w waits for every send part that comes before it in MSCCL's sense (its
 * full predecessors, transitively: fdeps) and reads chunks w overwrites. */
static nscclResult_t guard_sends(order_t *o, gstate_t *G, const ivec_t *fdeps, int w, int *mark, int *stack) {
  int top = 0;
  for (int i = 0; i < fdeps[w].n; i++)
    if (mark[fdeps[w].v[i]] != w) mark[fdeps[w].v[i]] = w, stack[top++] = fdeps[w].v[i];
  while (top) {
    int q = stack[--top];
    if (write_after_send(o, G->g->id, &G->parts[w], &G->parts[q]) && !ivec_push(&G->deps[w], q)) return oom(o);
    for (int i = 0; i < fdeps[q].n; i++)
      if (mark[fdeps[q].v[i]] != w) mark[fdeps[q].v[i]] = w, stack[top++] = fdeps[q].v[i];
  }
  return nscclSuccess;
}

/* Raw parts and their dependencies for one gpu. */
static nscclResult_t build_gpu(order_t *o, gstate_t *G, int *ntmp) {
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
  G->deps = calloc(n ? (size_t)n : 1, sizeof(ivec_t));
  if (!G->parts || !G->deps) return oom(o);
  for (int t = 0; t < g->ntbs; t++) {
    int first = 1, last = -1;
    for (int s = 0; s < g->tbs[t].nsteps; s++) {
      NSCCL_CHECK(check_dep(o, G, t, s));
      if (!G->nparts[t][s]) continue;
      make_parts(G, t, s, ntmp);
      G->parts[G->first[t][s]].first_of_tb = first;
      first = 0;
      last = G->first[t][s] + G->nparts[t][s] - 1;
    }
    (void)last;
  }
  for (int t = 0; t < g->ntbs; t++)
    for (int s = 0; s < g->tbs[t].nsteps; s++) {
      if (!G->nparts[t][s]) continue;
      int p = G->first[t][s];
      const ivec_t *e;
      if (s > 0) {
        NSCCL_CHECK(resolve(o, G, t, s - 1, &e));
        for (int i = 0; i < e->n; i++)
          if (!ivec_push(&G->deps[p], e->v[i])) return oom(o);
      }
      const msccl_raw_step_t *st = &g->tbs[t].steps[s];
      if (st->depid >= 0) {
        NSCCL_CHECK(resolve(o, G, st->depid, st->deps, &e));
        for (int i = 0; i < e->n; i++)
          if (!ivec_push(&G->deps[p], e->v[i])) return oom(o);
      }
      if (G->nparts[t][s] == 2 && !ivec_push(&G->deps[p + 1], p)) return oom(o);
    }
  /* The same in MSCCL's sense (fdeps), to find what a write must wait for. */
  ivec_t *fdeps = calloc(n ? (size_t)n : 1, sizeof(ivec_t));
  int *mark = malloc(sizeof(int) * (size_t)(n ? n : 1)), *stack = malloc(sizeof(int) * (size_t)(n ? n : 1));
  nscclResult_t rc = fdeps && mark && stack ? nscclSuccess : oom(o);
  for (int t = 0; t < g->ntbs && rc == nscclSuccess; t++)
    for (int s = 0; s < g->tbs[t].nsteps && rc == nscclSuccess; s++) {
      if (!G->nparts[t][s]) continue;
      int p = G->first[t][s];
      const ivec_t *e;
      const msccl_raw_step_t *st = &g->tbs[t].steps[s];
      for (int k = 0; k < 2 && rc == nscclSuccess; k++) {
        if (k == 0 && s == 0) continue;
        if (k == 1 && st->depid < 0) continue;
        rc = k == 0 ? resolve_as(o, G, 1, t, s - 1, &e) : resolve_as(o, G, 1, st->depid, st->deps, &e);
        for (int i = 0; rc == nscclSuccess && i < e->n; i++)
          if (!ivec_push(&fdeps[p], e->v[i])) rc = oom(o);
      }
      if (rc == nscclSuccess && G->nparts[t][s] == 2 && !ivec_push(&fdeps[p + 1], p)) rc = oom(o);
    }
  for (int w = 0; mark && w < n; w++) mark[w] = -1;
  for (int w = 0; w < n && rc == nscclSuccess; w++) rc = guard_sends(o, G, fdeps, w, mark, stack);
  for (int i = 0; fdeps && i < n; i++) free(fdeps[i].v);
  free(fdeps);
  free(mark);
  free(stack);
  return rc;
}

static int is_send(const msccl_part_t *p) { return p->kind == NSCCL_STEP_SEND; }
static int is_recv(const msccl_part_t *p) { return p->kind == NSCCL_STEP_RECV || p->kind == NSCCL_STEP_RECV_REDUCE; }

/* The thread block of gpu g that receives from `from` on channel chan, or -1. */
static int recv_tb(const msccl_raw_gpu_t *g, int from, int chan) {
  for (int t = 0; t < g->ntbs; t++)
    if (g->tbs[t].recv == from && g->tbs[t].chan == chan) return t;
  return -1;
}

static nscclResult_t unique_connections(const order_t *o, const msccl_raw_gpu_t *g) {
  for (int t = 0; t < g->ntbs; t++)
    for (int u = 0; u < t; u++) {
      const msccl_raw_tb_t *a = &g->tbs[t], *b = &g->tbs[u];
      if (a->chan != b->chan) continue;
      if ((a->send >= 0 && a->send == b->send) || (a->recv >= 0 && a->recv == b->recv))
        NSCCL_FAIL(nscclInvalidArgument,
                   "%s:%d: thread blocks %d and %d of gpu %d both %s gpu %d on channel %d (one connection each)",
                   o->plan->path, a->line, u, t, g->id, a->send >= 0 && a->send == b->send ? "send to" : "receive from",
                   a->send >= 0 && a->send == b->send ? a->send : a->recv, a->chan);
    }
  return nscclSuccess;
}

/* match[global recv part] = global send part, per connection in order. */
static nscclResult_t match_messages(order_t *o, int *match) {
  nsccl_msccl_plan_t *plan = o->plan;
  for (int a = 0; a < plan->ngpus; a++) {
    gstate_t *A = &o->gs[a];
    for (int t = 0; t < A->g->ntbs; t++) {
      const msccl_raw_tb_t *T = &A->g->tbs[t];
      int b = T->send;
      if (b < 0) continue;
      gstate_t *B = &o->gs[b];
      int u = recv_tb(B->g, a, T->chan);
      /* Walk the sends of T and the receives of U side by side. */
      int i = 0, j = 0;
      int ni = A->nparts_total, nj = u >= 0 ? B->nparts_total : 0;
      for (;;) {
        while (i < ni && !(A->parts[i].tb == t && is_send(&A->parts[i]))) i++;
        while (j < nj && !(B->parts[j].tb == u && is_recv(&B->parts[j]))) j++;
        if (i >= ni && j >= nj) break;
        if (i >= ni)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d receives from gpu %d (thread block %d, step %d, channel %d) a message gpu %d never "
                     "sends",
                     plan->path, B->parts[j].line, b, a, u, B->parts[j].s, T->chan, a);
        if (j >= nj)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d sends to gpu %d (thread block %d, step %d, channel %d) but gpu %d has no matching "
                     "receive",
                     plan->path, A->parts[i].line, a, b, t, A->parts[i].s, T->chan, b);
        if (A->parts[i].cnt != B->parts[j].cnt)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d sends %d chunks to gpu %d, whose matching receive (line %d) takes %d", plan->path,
                     A->parts[i].line, a, A->parts[i].cnt, b, B->parts[j].line, B->parts[j].cnt);
        match[B->base + j] = A->base + i;
        i++, j++;
      }
    }
  }
  /* Receives from a peer that has no thread block sending on that channel. */
  for (int a = 0; a < plan->ngpus; a++) {
    gstate_t *A = &o->gs[a];
    for (int j = 0; j < A->nparts_total; j++) {
      const msccl_raw_tb_t *T = &A->g->tbs[A->parts[j].tb];
      if (is_recv(&A->parts[j]) && match[A->base + j] < 0)
        NSCCL_FAIL(nscclInvalidArgument,
                   "%s:%d: gpu %d receives from gpu %d on channel %d, which has no thread block sending to it there",
                   plan->path, A->parts[j].line, a, T->recv, T->chan);
    }
  }
  return nscclSuccess;
}

static int by_key(const void *a, const void *b, void *key) {
  const int *k = key;
  int x = k[*(const int *)a], y = k[*(const int *)b];
  return (x > y) - (x < y);
}

typedef struct {
  int *from, *to;
  int n, cap;
} edges_t;

static int add_edge(edges_t *e, int from, int to) {
  if (e->n == e->cap) {
    int cap = e->cap ? 2 * e->cap : 256;
    int *f = realloc(e->from, sizeof(int) * (size_t)cap);
    if (!f) return 0;
    e->from = f;
    int *t = realloc(e->to, sizeof(int) * (size_t)cap);
    if (!t) return 0;
    e->to = t, e->cap = cap;
  }
  e->from[e->n] = from, e->to[e->n++] = to;
  return 1;
}

/* Kahn's algorithm over every part of every rank (FIFO, so the order is deterministic); pos and
 * level per part. A part left over lies on a cycle: report it. */
static nscclResult_t topo_sort(order_t *o, const edges_t *E, int *pos, int *level, const char *why) {
  int N = o->total;
  int *indeg = calloc((size_t)N + 1, sizeof(int)), *off = calloc((size_t)N + 1, sizeof(int));
  int *queue = malloc(sizeof(int) * (size_t)(N + 1)), *adj = malloc(sizeof(int) * (size_t)(E->n + 1));
  nscclResult_t rc = nscclSuccess;
  if (!indeg || !off || !queue || !adj) {
    rc = oom(o);
    goto out;
  }
  for (int k = 0; k < E->n; k++) off[E->from[k] + 1]++, indeg[E->to[k]]++;
  for (int p = 0; p < N; p++) off[p + 1] += off[p];
  for (int k = 0; k < E->n; k++) adj[off[E->from[k]]++] = E->to[k];
  for (int p = N; p > 0; p--) off[p] = off[p - 1];
  off[0] = 0;
  int head = 0, tail = 0, placed = 0;
  for (int p = 0; p < N; p++) {
    pos[p] = -1;
    level[p] = 0;
    if (indeg[p] == 0) queue[tail++] = p;
  }
  while (head < tail) {
    int x = queue[head++];
    pos[x] = placed++;
    for (int e = off[x]; e < off[x + 1]; e++) {
      int y = adj[e];
      if (level[y] < level[x] + 1) level[y] = level[x] + 1;
      if (--indeg[y] == 0) queue[tail++] = y;
    }
  }
  if (placed < N) {
    int x = 0;
    while (x < N && pos[x] >= 0) x++;
    const msccl_part_t *pp = &o->gs[o->gpu_of[x]].parts[x - o->gs[o->gpu_of[x]].base];
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument,
                    "%s:%d: the steps cannot be ordered: gpu %d thread block %d step %d is on a cycle of %s",
                    o->plan->path, pp->line, o->gpu_of[x], pp->tb, pp->s, why);
    rc = nscclInvalidArgument;
  }
out:
  free(indeg);
  free(off);
  free(queue);
  free(adj);
  return rc;
}

/* Order everything: first by dependencies and send -> receive; then, for every ordered pair, the
 * sends in that order are chained and so are their receives, so the pair's messages keep one order
 * at both ends (several channels between two gpus may interleave either way in MSCCL; one stream
 * per pair needs one interleaving). */
static nscclResult_t order_all(order_t *o, const int *match, int *pos, int *level) {
  edges_t E = {NULL, NULL, 0, 0};
  nscclResult_t rc = nscclSuccess;
  int n = o->plan->ngpus;
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    gstate_t *G = &o->gs[g];
    for (int i = 0; i < G->nparts_total && rc == nscclSuccess; i++) {
      for (int k = 0; k < G->deps[i].n; k++)
        if (!add_edge(&E, G->base + G->deps[i].v[k], G->base + i)) rc = oom(o);
      if (match[G->base + i] >= 0 && !add_edge(&E, match[G->base + i], G->base + i)) rc = oom(o);
    }
  }
  /* Levels (the cost model's steps) come from what really waits for what: dependencies and
   * messages only, before the orderings below, which add no waiting. */
  int *waits = malloc(sizeof(int) * (size_t)(o->total + 1));
  if (!waits) rc = oom(o);
  if (rc == nscclSuccess) rc = topo_sort(o, &E, pos, waits, "dependencies and messages (the algorithm deadlocks)");
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    gstate_t *G = &o->gs[g];
    /* A thread block's sends leave in its order (they wait for nothing of each other). */
    for (int t = 0; t < G->g->ntbs && rc == nscclSuccess; t++) {
      int prev = -1;
      for (int i = 0; i < G->nparts_total && rc == nscclSuccess; i++) {
        if (G->parts[i].tb != t || G->parts[i].kind != NSCCL_STEP_SEND) continue;
        if (prev >= 0 && !add_edge(&E, G->base + prev, G->base + i)) rc = oom(o);
        prev = i;
      }
    }
  }
  if (rc == nscclSuccess) rc = topo_sort(o, &E, pos, level, "dependencies, messages and each thread block's sends");
  /* recv_of[send] and, per sender, its sends by position. */
  int *recv_of = NULL, *sends = NULL;
  if (rc == nscclSuccess) {
    recv_of = malloc(sizeof(int) * (size_t)(o->total + 1));
    sends = malloc(sizeof(int) * (size_t)(o->total + 1));
    if (!recv_of || !sends) rc = oom(o);
  }
  for (int p = 0; rc == nscclSuccess && p < o->total; p++) recv_of[p] = -1;
  for (int p = 0; rc == nscclSuccess && p < o->total; p++)
    if (match[p] >= 0) recv_of[match[p]] = p;
  for (int a = 0; a < n && rc == nscclSuccess; a++) {
    gstate_t *A = &o->gs[a];
    int ns = 0;
    for (int i = 0; i < A->nparts_total; i++)
      if (recv_of[A->base + i] >= 0) sends[ns++] = A->base + i;
    qsort_r(sends, (size_t)ns, sizeof(int), by_key, pos);
    for (int b = 0; b < n && rc == nscclSuccess; b++) {
      int prev = -1;
      for (int k = 0; k < ns && rc == nscclSuccess; k++) {
        int sp = sends[k];
        if (o->gpu_of[recv_of[sp]] != b) continue;
        if (prev >= 0 && (!add_edge(&E, prev, sp) || !add_edge(&E, recv_of[prev], recv_of[sp]))) rc = oom(o);
        prev = sp;
      }
    }
  }
  if (rc == nscclSuccess)
    rc = topo_sort(o, &E, pos, level,
                   "dependencies and messages once each pair of gpus keeps one order of messages (messages between "
                   "two gpus cross between channels, which one ordered stream per pair of ranks cannot carry)");
  if (rc == nscclSuccess) memcpy(level, waits, sizeof(int) * (size_t)o->total);
  free(waits);
  free(recv_of);
  free(sends);
  free(E.from);
  free(E.to);
  return rc;
}

/* The rank's parts in the global order, dependencies renumbered. */
static nscclResult_t emit_rank(order_t *o, int g, const int *pos, const int *level, const int *match, int ntmp) {
  gstate_t *G = &o->gs[g];
  msccl_rank_plan_t *R = &o->plan->ranks[g];
  int n = G->nparts_total;
  int *idx = malloc(sizeof(int) * (size_t)(n ? n : 1)), *local = malloc(sizeof(int) * (size_t)(n ? n : 1));
  R->parts = calloc(n ? (size_t)n : 1, sizeof(msccl_part_t));
  size_t nt = G->g->ntbs ? (size_t)G->g->ntbs : 1, nend = 0;
  const ivec_t **ends = calloc(nt, sizeof(*ends));
  for (int t = 0; ends && t < G->g->ntbs; t++)
    if (G->g->tbs[t].nsteps) {
      if (resolve(o, G, t, G->g->tbs[t].nsteps - 1, &ends[t]) != nscclSuccess) {
        free(ends);
        free(idx);
        free(local);
        return nscclInvalidArgument;
      }
      nend += (size_t)ends[t]->n;
    }
  R->tb_end_first = malloc(sizeof(int) * nt);
  R->tb_end_n = calloc(nt, sizeof(int));
  R->tb_end = malloc(sizeof(int) * (nend ? nend : 1));
  R->tmp_cnt = calloc(ntmp ? (size_t)ntmp : 1, sizeof(int));
  if (!idx || !local || !R->parts || !ends || !R->tb_end_first || !R->tb_end_n || !R->tb_end || !R->tmp_cnt) {
    free(ends);
    free(idx);
    free(local);
    return oom(o);
  }
  for (int i = 0; i < n; i++) idx[i] = i;
  qsort_r(idx, (size_t)n, sizeof(int), by_key, (void *)(pos + G->base));
  for (int k = 0; k < n; k++) local[idx[k]] = k;
  R->nparts = n;
  R->ntbs = G->g->ntbs;
  R->nscratch = G->g->s_chunks;
  R->ntmp = ntmp;
  nscclResult_t rc = nscclSuccess;
  for (int k = 0; k < n && rc == nscclSuccess; k++) {
    int i = idx[k];
    msccl_part_t *p = &R->parts[k];
    *p = G->parts[i];
    p->level = level[match[G->base + i] >= 0 ? match[G->base + i] : G->base + i];
    p->ndeps = G->deps[i].n;
    p->deps = malloc(sizeof(int) * (size_t)(p->ndeps ? p->ndeps : 1));
    if (!p->deps) {
      rc = oom(o);
      break;
    }
    for (int d = 0; d < p->ndeps; d++) p->deps[d] = local[G->deps[i].v[d]];
    if (p->tmp >= 0) R->tmp_cnt[p->tmp] = p->cnt;
  }
  for (int t = 0, at = 0; t < R->ntbs; t++) {
    R->tb_end_first[t] = at;
    for (int i = 0; ends[t] && i < ends[t]->n; i++) R->tb_end[at++] = local[ends[t]->v[i]];
    R->tb_end_n[t] = at - R->tb_end_first[t];
  }
  free(ends);
  free(idx);
  free(local);
  return rc;
}

static void free_gstate(gstate_t *G) {
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

static nscclResult_t alloc_gstate(order_t *o, gstate_t *G, const msccl_raw_gpu_t *g) {
  G->g = g;
  size_t nt = g->ntbs ? (size_t)g->ntbs : 1;
  G->first = calloc(nt, sizeof(int *));
  G->nparts = calloc(nt, sizeof(int *));
  for (int f = 0; f < 2; f++) {
    G->done[f] = calloc(nt, sizeof(ivec_t *));
    G->state[f] = calloc(nt, sizeof(char *));
    if (!G->done[f] || !G->state[f]) return oom(o);
  }
  if (!G->first || !G->nparts) return oom(o);
  for (int t = 0; t < g->ntbs; t++) {
    size_t ns = g->tbs[t].nsteps ? (size_t)g->tbs[t].nsteps : 1;
    G->first[t] = calloc(ns, sizeof(int));
    G->nparts[t] = calloc(ns, sizeof(int));
    for (int f = 0; f < 2; f++) {
      G->done[f][t] = calloc(ns, sizeof(ivec_t));
      G->state[f][t] = calloc(ns, 1);
      if (!G->done[f][t] || !G->state[f][t]) return oom(o);
    }
    if (!G->first[t] || !G->nparts[t]) return oom(o);
  }
  return nscclSuccess;
}

nscclResult_t nsccl_msccl_order(nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *gpus) {
  order_t o = {plan, NULL, 0, NULL};
  int n = plan->ngpus;
  o.gs = calloc((size_t)n, sizeof(gstate_t));
  plan->ranks = calloc((size_t)n, sizeof(msccl_rank_plan_t));
  int *ntmp = calloc((size_t)n, sizeof(int));
  int *match = NULL, *pos = NULL, *level = NULL;
  nscclResult_t rc = nscclSuccess;
  if (!o.gs || !plan->ranks || !ntmp) rc = oom(&o);
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    rc = alloc_gstate(&o, &o.gs[g], &gpus[g]);
    if (rc == nscclSuccess) rc = unique_connections(&o, &gpus[g]);
    if (rc == nscclSuccess) rc = build_gpu(&o, &o.gs[g], &ntmp[g]);
    if (rc == nscclSuccess) o.gs[g].base = o.total, o.total += o.gs[g].nparts_total;
  }
  if (rc == nscclSuccess) {
    size_t N = o.total ? (size_t)o.total : 1;
    match = malloc(sizeof(int) * N);
    pos = malloc(sizeof(int) * N);
    level = malloc(sizeof(int) * N);
    o.gpu_of = malloc(sizeof(int) * N);
    if (!match || !pos || !level || !o.gpu_of) rc = oom(&o);
  }
  if (rc == nscclSuccess) {
    for (int p = 0; p < o.total; p++) match[p] = -1;
    for (int g = 0; g < n; g++)
      for (int i = 0; i < o.gs[g].nparts_total; i++) o.gpu_of[o.gs[g].base + i] = g;
    rc = match_messages(&o, match);
  }
  if (rc == nscclSuccess) rc = order_all(&o, match, pos, level);
  for (int g = 0; g < n && rc == nscclSuccess; g++) rc = emit_rank(&o, g, pos, level, match, ntmp[g]);
  plan->nlevels = 0;
  for (int p = 0; rc == nscclSuccess && p < o.total; p++)
    if (level[p] + 1 > plan->nlevels) plan->nlevels = level[p] + 1;
  for (int g = 0; o.gs && g < n; g++) free_gstate(&o.gs[g]);
  free(o.gs);
  free(o.gpu_of);
  free(ntmp);
  free(match);
  free(pos);
  free(level);
  return rc;
}
