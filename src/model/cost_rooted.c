/* The cost model of broadcast and reduce (cost_rooted.h; docs/model.md, "Broadcast and reduce").
 *
 * The rooted schedules are trees (a chain, a binomial tree, a flat tree) whose chunks move
 * independently, so their time is not a sum of global steps as for the other collectives: a chunk
 * reaches a rank as soon as its parent forwarded it, and the chunks behind it follow in a pipeline.
 * The model therefore walks the builder's messages, chunk by chunk, and gives each the time the
 * step formula of cost.h gives one message, on the resources it occupies:
 *   - the sender's issue unit: alpha per message, one message after another in program order;
 *   - every link of the message's route (topology routes), one after another: a link takes the
 *     message once its head arrived and the link is free, is busy for bytes / bandwidth, and cannot
 *     finish before the message's tail arrived from the link before (cut-through; a message queues
 *     in front of a busy link without holding the links behind it, as the simulator's buffered
 *     switches do). Each link adds its latency; on a store-and-forward torus a chip passed waits
 *     for the whole message and pays alpha before re-sending it, as cost.c charges it;
 *   - reduce: the receiver's reduction unit, bytes * gamma once the data is there and the previous
 *     partial result is ready;
 *   - reduce: the memory bound of the schedule (docs/algorithms.md, "Memory bound"). A rank's
 *     receives of chunk c (one RECV_REDUCE per child, chained) are posted only once chunk c - S
 *     left for the parent, as the partial sums of an inner rank live in S = NSCCL_ALGO_SLOTS
 *     reused slots, and once its chunk c - W was reduced completely, the receive window of
 *     W = NSCCL_ALGO_WINDOW (each chunk's chain is one of the window's W lanes). Data flows
 *     eagerly whatever is posted: the bounds hold back the reductions, not the wires.
 * Resources serve messages first come first served in the order messages reach them (events in
 * time order, ties in program order): the simulator's order with whole-message packets, which the
 * walk reproduces. Where messages of several senders meet on a link (the flat tree's reduce into
 * the root, a binomial parent's children) the simulator's default packets share the link packet by
 * packet instead, which the model does not follow (docs/model.md says how far apart they are).
 *
 * The same walk prices the heap-ordered binary trees' all-reduce (tree/binary, tree/double-binary;
 * nsccl_model_walk_heap_trees): each tree's chunks are reduced up as above and, once the root has
 * reduced a chunk, broadcast back down the same edges, with several trees (the double tree's two
 * mirrored ones, each carrying its half) walked at once on the same engines, links and pair
 * queues. A walk's nodes are (tree, vertex) pairs, g = tree * n + vertex. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/bcast_reduce.h"
#include "base/check.h"
#include "engine/sim_queue.h"
#include "model/cost_internal.h"
#include "model/cost_rooted.h"
#include "model/price_memo.h"

/* Chunks walked one by one; beyond this the pipeline is in its steady state and the rest is
 * extrapolated from the mean increment of the last NSCCL_ALGO_WINDOW chunks (exact for a pipeline
 * periodic over that many chunks). */
#define ROOTED_MAX_WALKED_CHUNKS 2048
/* The same for each tree of the heap trees' all-reduce, whose pipeline is in its steady state after
 * its depth of chunks plus the window (a few dozen): longer vectors are extrapolated from two walks
 * (nsccl_model_walk_heap_trees). */
#define HEAP_MAX_WALKED_CHUNKS 64

typedef struct {
  int links[NSCCL_TOPO_MAX_ROUTE];
  int nlinks;
} route_t;

/* Events of the walk, served in time order (ties: the order they were created, which is program
 * order), so that every resource serves its users first come first served. A message is named by
 * (the child end of its tree edge, chunk, direction). */
enum { EV_READY, EV_HOP, EV_RED_READY, EV_RED_DONE };
/* A message's direction on its edge: the walk's own (reduce and all-reduce: to the parent;
 * broadcast: from it), or the all-reduce's way back down from the parent. */
enum { DIR_FIRST, DIR_BACK };
enum { MODE_BCAST, MODE_REDUCE, MODE_ALLREDUCE };

typedef struct {
  double t;
  uint64_t seq;
  int kind, v, chunk, dir;
  int hop;     /* EV_HOP: the link of the route the message's head reached */
  double tail; /* EV_HOP: when its tail reaches that link (0: not before it can be sent) */
} event_t;

typedef struct {
  const nsccl_topo_t *t;
  int n, root, K;                    /* K: chunks walked (per tree) */
  int mode, ntrees, N;               /* N = ntrees * n nodes; heap trees: ntrees > 0 and mode MODE_ALLREDUCE */
  int heap_order;                    /* nodes are heap-ordered (vertex v of tree 1 is rank n - 1 - v) */
  double alpha, gamma, chunk, bytes; /* bytes: each tree's */
  double *issue_free;                /* [n * E]: when each DMA engine of a virtual rank is free (topo.h) */
  int E, epm;                        /* dma_engines, engines_per_message */
  int *pick;                         /* [epm]: the engines a message takes */
  double eng_inv_bw;                 /* seconds per byte of one engine, 0: unlimited */
  double *red_free;                  /* [n] */
  double *link_free;                 /* [nlinks] */
  double *edge_free; /* [2N]: when the last message of a pair queue (one sender-receiver pair) left its sender */
  int *queue;        /* [2N]: the pair queue of node g's edge in direction d, queue[d * N + g] */
  route_t *up;       /* [N] route of the edge between node g and its parent, in the walk's own direction */
  route_t *down;     /* [N] all-reduce: the same edge from the parent down */
  int *parent, *child_first, *children;
  double *arrival;    /* reduce, [n * K]: when (v, chunk) reached v's parent, NAN until known */
  double *acc;        /* reduce, [n * K]: when v's partial result of the chunk was last updated */
  int *next_child;    /* reduce, [n * K]: children of v reduced into the chunk so far */
  char *pending;      /* reduce, [n * K]: a reduction of the chunk is queued at v */
  double *sent;       /* reduce, [n * K]: when v's send of the chunk to its parent left, NAN until known */
  int slots, window;  /* reduce: the bounds above (0: none), the same for every rank */
  double *chunk_done; /* [K] */
  int radix;          /* events in the radix queue q (else the binary heap below) */
  int past;           /* the radix queue refused an event earlier than the last one served */
  simq_t q;
  event_t *heap;
  size_t nheap, capheap;
  uint64_t seq;
  double done; /* latest completion so far */
} walk_t;

static int rank_of(const walk_t *w, int g) {
  int v = g % w->n;
  if (w->heap_order) return g / w->n ? w->n - 1 - v : v;
  return (v + w->root) % w->n;
}

static int ev_less(const event_t *a, const event_t *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static int push_hop(walk_t *w, int kind, int v, int chunk, int dir, double t, int hop, double tail) {
  if (w->radix) {    /* the same event in the simulator's layout: a = node, b = chunk, kind with the direction */
    if (!(t >= 0)) { /* the queue orders non-negative times only (by their bits) */
      w->past = 1;
      return 0;
    }
    sim_event_t ev = {.time = t,
                      .tail = tail,
                      .a = (uint32_t)v,
                      .b = (uint32_t)chunk,
                      .hop = (uint16_t)hop,
                      .kind = (uint8_t)(kind | dir << 2)};
    int rc = simq_push(&w->q, &ev);
    w->past |= rc < 0;
    return rc > 0;
  }
  if (w->nheap == w->capheap) {
    size_t cap = w->capheap ? 2 * w->capheap : 1024;
    event_t *h = realloc(w->heap, cap * sizeof(event_t));
    if (!h) return 0;
    w->heap = h, w->capheap = cap;
  }
  event_t e = {t, w->seq++, kind, v, chunk, dir, hop, tail};
  size_t i = w->nheap++;
  while (i > 0 && ev_less(&e, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = e;
  return 1;
}

static int push(walk_t *w, int kind, int v, int chunk, double t) {
  return push_hop(w, kind, v, chunk, DIR_FIRST, t, 0, 0);
}

static int pending_events(const walk_t *w) { return w->radix ? w->q.n > 0 : w->nheap > 0; }

/* The earliest event into *out; 0 when the radix queue ran out of memory. */
static int pop(walk_t *w, event_t *out) {
  if (w->radix) {
    sim_event_t ev;
    if (!simq_pop(&w->q, &ev)) return 0;
    *out = (event_t){ev.time, 0, ev.kind & 3, (int)ev.a, (int)ev.b, ev.kind >> 2, ev.hop, ev.tail};
    return 1;
  }
  event_t top = w->heap[0], last = w->heap[--w->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->nheap) break;
    if (c + 1 < w->nheap && ev_less(&w->heap[c + 1], &w->heap[c])) c++;
    if (!ev_less(&w->heap[c], &last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (w->nheap) w->heap[i] = last;
  *out = top;
  return 1;
}

static nscclResult_t route_of(walk_t *w, int vsrc, int vdst, route_t *r) {
  const nsccl_topo_t *t = w->t;
  r->nlinks = nsccl_topo_route(t, rank_of(w, vsrc), rank_of(w, vdst), r->links, NSCCL_TOPO_MAX_ROUTE);
  if (r->nlinks <= 0)
    NSCCL_FAIL(nscclInternalError, "model: topology %s has no route from rank %d to %d", t->name, rank_of(w, vsrc),
               rank_of(w, vdst));
  for (int i = 0; i < r->nlinks; i++)
    if (!(t->links[r->links[i]].bandwidth > 0))
      NSCCL_FAIL(nscclInternalError, "model: topology %s has a link of bandwidth %g", t->name,
                 t->links[r->links[i]].bandwidth);
  return nscclSuccess;
}

/* fmin as glibc computes it on x86-64 (minsd: x when x < y, else y; a NaN loses to a number),
 * inlined as nsccl_max is (cost_internal.h): the walk calls both for every event. */
static inline double walk_min(double x, double y) { return x < y || y != y ? x : y; }

static double chunk_len(const walk_t *w, int c) {
  if (w->K * w->chunk < w->bytes - 0.5) return w->chunk; /* extrapolated walks use equal chunks */
  return walk_min(w->chunk, w->bytes - c * w->chunk);
}

static void note(walk_t *w, int c, double t) {
  if (t > w->chunk_done[c]) w->chunk_done[c] = t;
  if (t > w->done) w->done = t;
}

static int nchildren(const walk_t *w, int v) { return w->child_first[v + 1] - w->child_first[v]; }

/* Reduce: when v's first receive of chunk c can be posted (the slot and window bounds), or NAN
 * while what it waits for is not known yet. */
static double posted(const walk_t *w, int v, int c) {
  double t = 0;
  if (w->slots && w->parent[v] >= 0 && c >= w->slots) { /* the slot's previous chunk went up to the parent */
    double s = w->sent[(size_t)v * w->K + c - w->slots];
    if (isnan(s)) return NAN;
    t = nsccl_max(t, s);
  }
  if (w->window && c >= w->window) { /* chunk c - W's chain of receives completed */
    size_t j = (size_t)v * w->K + c - w->window;
    if (w->next_child[j] < nchildren(w, v)) return NAN;
    t = nsccl_max(t, w->acc[j]);
  }
  return t;
}

/* Reduce: queue the next reduction of (v, c) if its input has arrived, its receive is posted and
 * none is queued. */
static int advance(walk_t *w, int v, int c) {
  if (c >= w->K) return 1;
  size_t i = (size_t)v * w->K + c;
  if (w->pending[i] || w->next_child[i] >= nchildren(w, v)) return 1;
  double a = w->arrival[(size_t)w->children[w->child_first[v] + w->next_child[i]] * w->K + c];
  if (isnan(a)) return 1;
  double ready = nsccl_max(a, w->acc[i]);
  if (w->next_child[i] == 0) { /* the chunk's later receives wait for its first anyway */
    double p = posted(w, v, c);
    if (isnan(p)) return 1;
    ready = nsccl_max(ready, p);
  }
  w->pending[i] = 1;
  return push(w, EV_RED_READY, v, c, ready);
}

/* Node v's children get chunk c from it, in program order (broadcast: the walk's direction; the
 * all-reduce: its way back down). */
static int forward(walk_t *w, int v, int c, int dir, double t) {
  for (int k = w->child_first[v]; k < w->child_first[v + 1]; k++)
    if (!push_hop(w, EV_READY, w->children[k], c, dir, t, 0, 0)) return 0;
  return 1;
}

static int handle(walk_t *w, event_t e) {
  int v = e.v, c = e.chunk, back = e.dir == DIR_BACK;
  double len = chunk_len(w, c);
  size_t i = (size_t)v * w->K + c;
  switch (e.kind) {
  case EV_READY: { /* the message of edge v is ready at its sender: it takes DMA engines as the simulator
                     does (the free ones when the first frees, up to one per spread unit), pays alpha on them,
                     holds them while it streams at their bandwidth */
    int src = rank_of(w, w->mode == MODE_BCAST || back ? w->parent[v] : v);
    double *eng = w->issue_free + (size_t)src * (size_t)w->E;
    int want = nsccl_dma_engines_for(len, w->epm), took = 0, *pick = w->pick;
    /* start = max(now, the earliest free engine); the message takes the first `want` engines (by
     * index) free by then. An engine free now makes start now: look for those first, and only
     * when none is, for the earliest. */
    double start = e.t;
    for (int k = 0; k < w->E && took < want; k++)
      if (eng[k] <= start) pick[took++] = k;
    if (!took) {
      start = eng[0];
      for (int k = 1; k < w->E; k++) start = walk_min(start, eng[k]);
      for (int k = 0; k < w->E && took < want; k++)
        if (eng[k] <= start) pick[took++] = k;
    }
    double issued = start + w->alpha, stream = len * w->eng_inv_bw / took;
    for (int k = 0; k < took; k++) eng[pick[k]] = issued + stream;
    return push_hop(w, EV_HOP, v, c, e.dir, issued, 0, stream); /* at hop 0, tail carries the engines' streaming time */
  }
  case EV_HOP: { /* the message's head reached link e.hop of its route, which serves it when free */
    const route_t *r = back ? &w->down[v] : &w->up[v];
    const nsccl_link_t *l = &w->t->links[r->links[e.hop]];
    double start = nsccl_max(e.t, w->link_free[r->links[e.hop]]);
    double end = nsccl_max(start + len / l->bandwidth, e.tail);
    w->link_free[r->links[e.hop]] = end;
    if (e.hop == 0) {
      /* The sender's engines stream it at their pace, after the pair's previous message (one DMA
       * queue per pair, in order, as simulated); the link itself is busy only for its own time. */
      double *q = &w->edge_free[w->queue[e.dir * w->N + v]];
      double streamed = nsccl_max(e.t, *q) + e.tail;
      if (streamed > end) end = streamed;
      *q = end;
    }
    if (e.hop == 0 && !back && w->mode != MODE_BCAST) { /* the send is done when its last byte left (as simulated) */
      w->sent[i] = end;
      if (w->slots && !advance(w, v, c + w->slots)) return 0;
    }
    if (e.hop + 1 < r->nlinks) {
      const nsccl_link_t *next = &w->t->links[r->links[e.hop + 1]];
      if (w->t->forward == NSCCL_FORWARD_STORE && next->src < w->t->nranks) /* stored, re-sent */
        return push_hop(w, EV_HOP, v, c, e.dir, end + l->latency + w->alpha, e.hop + 1, 0);
      return push_hop(w, EV_HOP, v, c, e.dir, start + l->latency, e.hop + 1, end + l->latency);
    }
    double arrive = end + l->latency;
    note(w, c, arrive);
    if (w->mode == MODE_BCAST || back) return forward(w, v, c, e.dir, arrive); /* v passes the chunk on */
    w->arrival[i] = arrive;
    return advance(w, w->parent[v], c);
  }
  case EV_RED_READY: {
    int r = rank_of(w, v);
    double end = nsccl_max(e.t, w->red_free[r]) + len * w->gamma;
    w->red_free[r] = end;
    return push(w, EV_RED_DONE, v, c, end);
  }
  default: /* EV_RED_DONE */
    w->acc[i] = e.t;
    w->pending[i] = 0;
    note(w, c, e.t);
    if (++w->next_child[i] < nchildren(w, v)) return advance(w, v, c);
    if (w->window && !advance(w, v, c + w->window)) return 0;
    if (w->parent[v] >= 0) return push(w, EV_READY, v, c, e.t);
    /* the all-reduce's root has the chunk's sum: it goes back down */
    return w->mode == MODE_ALLREDUCE ? forward(w, v, c, DIR_BACK, e.t) : 1;
  }
}

/* The pair queue of node g's edge in direction d: the edge's own, unless tree 0 has an edge between
 * the same two ranks (a heap tree's vertex v is rank v there, its parent (v - 1) / 2): then the
 * messages of both trees between them share that edge's queue in that direction. */
static int pair_queue(const walk_t *w, int g, int d) {
  if (w->heap_order && g >= w->n) {
    int src = rank_of(w, d == DIR_BACK ? w->parent[g] : g), dst = rank_of(w, d == DIR_BACK ? g : w->parent[g]);
    if (src > 0 && (src - 1) / 2 == dst) return src;        /* tree 0's edge of src, upwards */
    if (dst > 0 && (dst - 1) / 2 == src) return w->N + dst; /* tree 0's edge of dst, downwards */
  }
  return d * w->N + g;
}

/* The trees' links: heap order (parent (v - 1) / 2, children 2v + 1 and 2v + 2, the order in which
 * tree_allreduce.c reduces them) or the rooted builder's tree of `algo`; the routes both ways and
 * the pair queues. */
static nscclResult_t links_of(walk_t *w, nsccl_algo_t algo) {
  int n = w->n;
  for (int g = 0; g < w->N; g++) {
    int v = g % n, base = g - v, nc = 0;
    int *kids = w->children + w->child_first[g];
    if (w->heap_order) {
      w->parent[g] = v > 0 ? base + (v - 1) / 2 : -1;
      for (int k = 2 * v + 1; k <= 2 * v + 2 && k < n; k++) kids[nc++] = base + k;
    } else {
      w->parent[g] = nsccl_bcast_tree_links(algo, v, n, kids, &nc);
    }
    w->child_first[g + 1] = w->child_first[g] + nc;
    if (w->parent[g] < 0) continue;
    int me = rank_of(w, g), up = rank_of(w, w->parent[g]);
    NSCCL_CHECK(w->mode == MODE_BCAST ? route_of(w, up, me, &w->up[g]) : route_of(w, me, up, &w->up[g]));
    if (w->mode == MODE_ALLREDUCE) NSCCL_CHECK(route_of(w, up, me, &w->down[g]));
  }
  for (int g = 0; g < w->N; g++)
    for (int d = 0; d < 2; d++) w->queue[d * w->N + g] = w->parent[g] >= 0 ? pair_queue(w, g, d) : 0;
  return nscclSuccess;
}

/* The walk itself, once the trees' links are known. */
static nscclResult_t walk_events(walk_t *w, double *seconds) {
  double k = ceil(w->bytes / w->chunk);
  /* Walk every chunk if few; else enough for the steady state, and equal chunks to extrapolate. */
  int K = k <= ROOTED_MAX_WALKED_CHUNKS ? (int)k : ROOTED_MAX_WALKED_CHUNKS;
  if (k > K) w->chunk = w->bytes / k;
  w->K = K;
  size_t cells = (size_t)w->N * K;
  int reduces = w->mode != MODE_BCAST;
  w->chunk_done = calloc((size_t)K, sizeof(double));
  if (reduces) {
    w->arrival = malloc(cells * sizeof(double));
    w->acc = calloc(cells, sizeof(double));
    w->next_child = calloc(cells, sizeof(int));
    w->pending = calloc(cells, 1);
    w->sent = malloc(cells * sizeof(double));
    /* Both bounds as the builder applies them to every rank. The window leaves a program alone
     * when its windowed receives (nc per chunk) number at most W or total at most W chunks; either
     * way the program has at most W chunks, so "chunk c waits for chunk c - W" never applies to it:
     * one rule for every rank covers both cases. The binary trees reduce into the receive buffer
     * (no slots), and a rank is an inner vertex of one of the double tree's two trees only (of
     * both, the middle rank of an odd count: its window is followed per tree). */
    w->slots = w->mode == MODE_REDUCE ? NSCCL_ALGO_SLOTS : 0;
    w->window = NSCCL_ALGO_WINDOW;
  }
  int ok = w->chunk_done && (!reduces || (w->arrival && w->acc && w->next_child && w->pending && w->sent));
  if (ok && reduces)
    for (size_t i = 0; i < cells; i++) w->arrival[i] = w->sent[i] = NAN;
  /* The first messages, in program order: a broadcast's root sends, the leaves of the others (the
   * double tree's builder emits all of tree 0 before tree 1). */
  for (int tree = 0; tree < w->ntrees; tree++)
    for (int c = 0; ok && c < K; c++) {
      int root = tree * w->n;
      if (w->mode == MODE_BCAST) {
        ok = forward(w, root, c, DIR_FIRST, 0);
      } else {
        for (int g = root + 1; ok && g < root + w->n; g++)
          if (nchildren(w, g) == 0) ok = push(w, EV_READY, g, c, 0);
      }
    }
  event_t e;
  while (ok && pending_events(w)) ok = pop(w, &e) && handle(w, e);
  if (!ok && w->past) return nscclInternalError; /* walk_on walks again with the binary heap */
  if (!ok) NSCCL_FAIL(nscclSystemError, "model: out of memory walking %d chunks on %d ranks", K, w->n);
  double t = w->done;
  /* The bounds make the steady state periodic over W chunks (a multiple of S), not one. */
  int span = K - 1 < NSCCL_ALGO_WINDOW ? K - 1 : NSCCL_ALGO_WINDOW;
  if (k > K && span >= 1) t += (k - K) * (w->chunk_done[K - 1] - w->chunk_done[K - 1 - span]) / span;
  *seconds = t;
  return nscclSuccess;
}

/* Everything the walk reads, for the price memo (model/price_memo.h): its shape (mode, trees, ranks,
 * root, the tree family), the sizes, the endpoint's numbers and, for every edge of every tree in both
 * directions, the route's links with the numbers the walk takes from them (index, bandwidth, latency,
 * whether a storing chip re-sends after it). Two walks with equal keys are the same computation, so
 * a price found under the key is the one this walk would give. */
static void walk_key(const walk_t *w, nsccl_algo_t algo, nsccl_memo_key_t *k) {
  const int head[] = {w->mode, w->ntrees, w->n, w->root, w->heap_order, (int)algo, w->E, w->epm, (int)w->t->forward};
  const double nums[] = {w->bytes, w->chunk, w->alpha, w->gamma, w->eng_inv_bw};
  nsccl_memo_key_add(k, head, sizeof(head));
  nsccl_memo_key_add(k, nums, sizeof(nums));
  for (int g = 0; g < w->N && k->ok; g++) {
    if (w->parent[g] < 0) continue;
    for (int d = 0; d < (w->mode == MODE_ALLREDUCE ? 2 : 1); d++) {
      const route_t *r = d ? &w->down[g] : &w->up[g];
      nsccl_memo_key_add(k, &r->nlinks, sizeof(r->nlinks));
      for (int i = 0; i < r->nlinks; i++) {
        const nsccl_link_t *l = &w->t->links[r->links[i]];
        const int ints[] = {r->links[i], l->src < w->t->nranks};
        const double dbl[] = {l->bandwidth, l->latency};
        nsccl_memo_key_add(k, ints, sizeof(ints));
        nsccl_memo_key_add(k, dbl, sizeof(dbl));
      }
    }
  }
}

static nscclResult_t walk(walk_t *w, nsccl_algo_t algo, double *seconds) {
  NSCCL_CHECK(links_of(w, algo));
  nsccl_memo_key_t key = {.ok = 1};
  walk_key(w, algo, &key);
  if (key.ok && nsccl_price_memo_get(key.buf, key.len, seconds)) {
    nsccl_memo_key_free(&key);
    return nscclSuccess;
  }
  nscclResult_t rc = walk_events(w, seconds);
  if (rc == nscclSuccess && key.ok) nsccl_price_memo_put(key.buf, key.len, *seconds);
  nsccl_memo_key_free(&key);
  return rc;
}

/* Set up the walk's state for topo (engines, rates) and walk it once. */
static nscclResult_t walk_once(walk_t *w, const nsccl_topo_t *topo, nsccl_algo_t algo, double chunk, double *seconds) {
  int nranks = w->n, N = w->N = w->ntrees * w->n;
  w->t = topo;
  w->alpha = topo->endpoint_overhead;
  w->gamma = topo->reduce_bandwidth > 0 ? 1.0 / topo->reduce_bandwidth : 0;
  w->chunk = chunk >= w->bytes ? w->bytes : chunk;
  w->E = topo->dma_engines > 0 ? topo->dma_engines : 1;
  w->epm = topo->engines_per_message > 0 && topo->engines_per_message < w->E ? topo->engines_per_message : w->E;
  w->eng_inv_bw = topo->dma_engine_bandwidth > 0 ? 1.0 / topo->dma_engine_bandwidth : 0;
  w->issue_free = calloc((size_t)nranks * (size_t)w->E, sizeof(double));
  w->red_free = calloc((size_t)nranks, sizeof(double));
  w->link_free = calloc((size_t)topo->nlinks + 1, sizeof(double));
  w->edge_free = calloc(2 * (size_t)N, sizeof(double));
  w->queue = calloc(2 * (size_t)N, sizeof(int));
  w->up = calloc((size_t)N, sizeof(route_t));
  w->down = w->mode == MODE_ALLREDUCE ? calloc((size_t)N, sizeof(route_t)) : NULL;
  w->parent = calloc((size_t)N, sizeof(int));
  w->child_first = calloc((size_t)N + 1, sizeof(int));
  w->children = calloc((size_t)N, sizeof(int)); /* N - ntrees edges in all */
  w->pick = malloc((size_t)w->epm * sizeof(int));
  nscclResult_t rc = nscclSystemError;
  if (w->pick && w->issue_free && w->red_free && w->link_free && w->edge_free && w->queue && w->up &&
      (w->down || w->mode != MODE_ALLREDUCE) && w->parent && w->child_first && w->children &&
      (!w->radix || simq_init(&w->q, 1024)))
    rc = walk(w, algo, seconds);
  if (w->radix) simq_free(&w->q);
  free(w->pick);
  free(w->issue_free);
  free(w->red_free);
  free(w->link_free);
  free(w->edge_free);
  free(w->queue);
  free(w->up);
  free(w->down);
  free(w->parent);
  free(w->child_first);
  free(w->children);
  free(w->arrival);
  free(w->acc);
  free(w->next_child);
  free(w->pending);
  free(w->sent);
  free(w->chunk_done);
  free(w->heap);
  return rc;
}

int nsccl_model_walk_radix = 1;

/* The walk's events come in time order: each is scheduled at or after the one being handled (a
 * message moves on, a reduction starts, once what it waits for is there), so the simulator's radix
 * queue, which serves such events in exactly the binary heap's order at a fraction of its cost,
 * holds them. Should an event ever come earlier than the last one served, the queue refuses it and
 * the walk is done again with the binary heap, which orders anything. */
static nscclResult_t walk_on(walk_t *w, const nsccl_topo_t *topo, nsccl_algo_t algo, double chunk, double *seconds) {
  walk_t init = *w;
  w->radix = nsccl_model_walk_radix;
  nscclResult_t rc = walk_once(w, topo, algo, chunk, seconds);
  if (rc != nscclSuccess && w->past) {
    *w = init;
    rc = walk_once(w, topo, algo, chunk, seconds);
  }
  return rc;
}

nscclResult_t nsccl_model_predict_rooted(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                         nsccl_algo_t algo, size_t bytes, int nranks, int root, double *seconds) {
  if (coll != NSCCL_COLL_BROADCAST && coll != NSCCL_COLL_REDUCE)
    NSCCL_FAIL(nscclInvalidArgument, "model: %s is not a rooted collective (broadcast or reduce)",
               nsccl_coll_name(coll));
  if ((unsigned)algo >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "model: unknown algorithm %d", (int)algo);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "model: nranks = %d, need >= 1", nranks);
  if (root < 0 || root >= nranks)
    NSCCL_FAIL(nscclInvalidArgument, "model: %s root %d outside [0, %d)", nsccl_coll_name(coll), root, nranks);
  nsccl_topo_t *flat = NULL;
  int nothing = 0;
  NSCCL_CHECK(nsccl_model_begin(&topo, &flat, bytes, nranks, seconds, &nothing));
  if (nothing) return nscclSuccess;
  size_t cb = opts && opts->chunk_bytes ? opts->chunk_bytes : NSCCL_DEFAULT_CHUNK_BYTES;
  walk_t w = {.n = nranks, .root = root, .mode = coll == NSCCL_COLL_BROADCAST ? MODE_BCAST : MODE_REDUCE, .ntrees = 1};
  w.bytes = (double)bytes;
  nscclResult_t rc = walk_on(&w, topo, algo, cb == SIZE_MAX ? (double)bytes : (double)cb, seconds);
  nsccl_topo_free(flat);
  if (rc != nscclSuccess)
    NSCCL_FAIL(rc, "model: cannot price %s %s on %d ranks", nsccl_algo_name(algo), nsccl_coll_name(coll), nranks);
  return nscclSuccess;
}

/* One walk of the heap trees, each tree carrying `bytes` in chunks of `chunk`. */
static nscclResult_t walk_heap(const nsccl_topo_t *topo, int nranks, int trees, double bytes, double chunk,
                               double *seconds) {
  walk_t w = {.n = nranks, .mode = MODE_ALLREDUCE, .ntrees = trees, .heap_order = 1};
  w.bytes = bytes;
  return walk_on(&w, topo, NSCCL_ALGO_TREE, chunk, seconds);
}

nscclResult_t nsccl_model_walk_heap_trees(const nsccl_topo_t *topo, int nranks, int trees, double bytes, double chunk,
                                          double *seconds) {
  *seconds = 0;
  if (nranks < 2 || bytes <= 0) return nscclSuccess;
  double share = bytes / trees, k = ceil(share / fmin(chunk, share));
  nscclResult_t rc;
  if (k <= HEAP_MAX_WALKED_CHUNKS) {
    rc = walk_heap(topo, nranks, trees, share, chunk, seconds);
  } else {
    /* Beyond the steady state each chunk adds the pipeline's period: walks of K and K / 2 equal
     * chunks give it (their difference over K / 2 chunks; the last chunks of one walk drain the
     * pipeline and do not show it), and the rest of the k chunks follow at that pace. */
    const double K = HEAP_MAX_WALKED_CHUNKS, c = share / k;
    double full = 0, half = 0;
    rc = walk_heap(topo, nranks, trees, K * c, c, &full);
    if (rc == nscclSuccess) rc = walk_heap(topo, nranks, trees, K / 2 * c, c, &half);
    *seconds = full + (k - K) * (full - half) / (K / 2);
  }
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "model: cannot walk %d binary trees on %d ranks", trees, nranks);
  return nscclSuccess;
}
