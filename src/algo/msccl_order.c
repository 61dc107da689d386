/* From MSCCL's execution model to nsccl's (docs/msccl.md, "Mapping"): the global order.
 *
 * MSCCL: a thread block runs its steps one after another; a step also waits for one step of another
 * thread block (depid/deps; nops carry further dependencies to the next step); the k-th send of the
 * connection (sender, receiver, channel) meets the k-th receive of it.
 * nsccl: a step waits for the steps its dependencies list; the k-th SEND from a to b meets the k-th
 * receive at b from a, whatever the channel.
 *
 * So each step becomes parts (nsccl steps) whose dependencies are the previous step of its thread
 * block and its depid/deps step (msccl_parts.c, msccl_guard.c); each send is matched to its receive
 * per connection (msccl_match.c); and here all parts of all ranks are put in one topological order
 * of dependencies plus send -> receive. With several channels between two gpus that order may
 * interleave a pair's messages differently at the two ends, so the pair's sends are then chained in
 * that order, their receives likewise, and the order taken again (order_all). Every rank's program
 * is the final order restricted to the rank: a pair's messages appear in the same order at both
 * ends, so nsccl's matching pairs the same sends and receives MSCCL's does. A cycle in the first
 * order means the algorithm deadlocks even with unbounded buffering; in the second, that two gpus'
 * messages cross between channels in a way one ordered stream per pair cannot carry; both are
 * refused with the step on the cycle. */
#include <stdlib.h>
#include <string.h>

#include "algo/msccl_order.h"
#include "base/check.h"

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
static nscclResult_t topo_sort(msccl_order_t *o, const edges_t *E, int *pos, int *level, const char *why) {
  int N = o->total;
  int *indeg = calloc((size_t)N + 1, sizeof(int)), *off = calloc((size_t)N + 1, sizeof(int));
  int *queue = malloc(sizeof(int) * (size_t)(N + 1)), *adj = malloc(sizeof(int) * (size_t)(E->n + 1));
  nscclResult_t rc = nscclSuccess;
  if (!indeg || !off || !queue || !adj) {
    rc = msccl_order_oom(o);
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
static nscclResult_t order_all(msccl_order_t *o, const int *match, int *pos, int *level) {
  edges_t E = {NULL, NULL, 0, 0};
  nscclResult_t rc = nscclSuccess;
  int n = o->plan->ngpus;
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    msccl_gstate_t *G = &o->gs[g];
    for (int i = 0; i < G->nparts_total && rc == nscclSuccess; i++) {
      for (int k = 0; k < G->deps[i].n; k++)
        if (!add_edge(&E, G->base + G->deps[i].v[k], G->base + i)) rc = msccl_order_oom(o);
      if (match[G->base + i] >= 0 && !add_edge(&E, match[G->base + i], G->base + i)) rc = msccl_order_oom(o);
    }
  }
  /* Levels (the cost model's steps) come from what really waits for what: dependencies and
   * messages only, before the orderings below, which add no waiting. */
  int *waits = malloc(sizeof(int) * (size_t)(o->total + 1));
  if (!waits) rc = msccl_order_oom(o);
  if (rc == nscclSuccess) rc = topo_sort(o, &E, pos, waits, "dependencies and messages (the algorithm deadlocks)");
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    msccl_gstate_t *G = &o->gs[g];
    /* A thread block's sends leave in its order (they wait for nothing of each other). */
    for (int t = 0; t < G->g->ntbs && rc == nscclSuccess; t++) {
      int prev = -1;
      for (int i = 0; i < G->nparts_total && rc == nscclSuccess; i++) {
        if (G->parts[i].tb != t || G->parts[i].kind != NSCCL_STEP_SEND) continue;
        if (prev >= 0 && !add_edge(&E, G->base + prev, G->base + i)) rc = msccl_order_oom(o);
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
    if (!recv_of || !sends) rc = msccl_order_oom(o);
  }
  for (int p = 0; rc == nscclSuccess && p < o->total; p++) recv_of[p] = -1;
  for (int p = 0; rc == nscclSuccess && p < o->total; p++)
    if (match[p] >= 0) recv_of[match[p]] = p;
  for (int a = 0; a < n && rc == nscclSuccess; a++) {
    msccl_gstate_t *A = &o->gs[a];
    int ns = 0;
    for (int i = 0; i < A->nparts_total; i++)
      if (recv_of[A->base + i] >= 0) sends[ns++] = A->base + i;
    qsort_r(sends, (size_t)ns, sizeof(int), by_key, pos);
    for (int b = 0; b < n && rc == nscclSuccess; b++) {
      int prev = -1;
      for (int k = 0; k < ns && rc == nscclSuccess; k++) {
        int sp = sends[k];
        if (o->gpu_of[recv_of[sp]] != b) continue;
        if (prev >= 0 && (!add_edge(&E, prev, sp) || !add_edge(&E, recv_of[prev], recv_of[sp])))
          rc = msccl_order_oom(o);
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
static nscclResult_t emit_rank(msccl_order_t *o, int g, const int *pos, const int *level, const int *match, int ntmp) {
  msccl_gstate_t *G = &o->gs[g];
  msccl_rank_plan_t *R = &o->plan->ranks[g];
  int n = G->nparts_total;
  int *idx = malloc(sizeof(int) * (size_t)(n ? n : 1)), *local = malloc(sizeof(int) * (size_t)(n ? n : 1));
  R->parts = calloc(n ? (size_t)n : 1, sizeof(msccl_part_t));
  size_t nt = G->g->ntbs ? (size_t)G->g->ntbs : 1, nend = 0;
  const msccl_ivec_t **ends = calloc(nt, sizeof(*ends));
  for (int t = 0; ends && t < G->g->ntbs; t++)
    if (G->g->tbs[t].nsteps) {
      if (msccl_resolve(o, G, 0, t, G->g->tbs[t].nsteps - 1, &ends[t]) != nscclSuccess) {
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
    return msccl_order_oom(o);
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
      rc = msccl_order_oom(o);
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

nscclResult_t nsccl_msccl_order(nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *gpus) {
  msccl_order_t o = {plan, NULL, 0, NULL};
  int n = plan->ngpus;
  o.gs = calloc((size_t)n, sizeof(msccl_gstate_t));
  plan->ranks = calloc((size_t)n, sizeof(msccl_rank_plan_t));
  int *ntmp = calloc((size_t)n, sizeof(int));
  int *match = NULL, *pos = NULL, *level = NULL;
  nscclResult_t rc = nscclSuccess;
  if (!o.gs || !plan->ranks || !ntmp) rc = msccl_order_oom(&o);
  for (int g = 0; g < n && rc == nscclSuccess; g++) {
    rc = msccl_gstate_alloc(&o, &o.gs[g], &gpus[g]);
    if (rc == nscclSuccess) rc = msccl_unique_connections(&o, &gpus[g]);
    if (rc == nscclSuccess) rc = msccl_build_gpu(&o, &o.gs[g], &ntmp[g]);
    if (rc == nscclSuccess) o.gs[g].base = o.total, o.total += o.gs[g].nparts_total;
  }
  if (rc == nscclSuccess) {
    size_t N = o.total ? (size_t)o.total : 1;
    match = malloc(sizeof(int) * N);
    pos = malloc(sizeof(int) * N);
    level = malloc(sizeof(int) * N);
    o.gpu_of = malloc(sizeof(int) * N);
    if (!match || !pos || !level || !o.gpu_of) rc = msccl_order_oom(&o);
  }
  if (rc == nscclSuccess) {
    for (int p = 0; p < o.total; p++) match[p] = -1;
    for (int g = 0; g < n; g++)
      for (int i = 0; i < o.gs[g].nparts_total; i++) o.gpu_of[o.gs[g].base + i] = g;
    rc = msccl_match_messages(&o, match);
  }
  if (rc == nscclSuccess) rc = order_all(&o, match, pos, level);
  for (int g = 0; g < n && rc == nscclSuccess; g++) rc = emit_rank(&o, g, pos, level, match, ntmp[g]);
  plan->nlevels = 0;
  for (int p = 0; rc == nscclSuccess && p < o.total; p++)
    if (level[p] + 1 > plan->nlevels) plan->nlevels = level[p] + 1;
  for (int g = 0; o.gs && g < n; g++) msccl_gstate_free(&o.gs[g]);
  free(o.gs);
  free(o.gpu_of);
  free(ntmp);
  free(match);
  free(pos);
  free(level);
  return rc;
}
