/* Lanes of hierarchical rings (lanes.h): the builder and the checks of a lane's phases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/lanes.h"
#include "algo/ring.h"
#include "algo/tree_internal.h"
#include "base/check.h"

int nsccl_lane_back(const nsccl_lane_t *lane, int ph, int q, int steps) {
  for (int s = 0; s < steps; s++) q = lane->prev[ph][q];
  return q;
}

int nsccl_lane_ring_len(const nsccl_lane_t *lane, int ph, int q) {
  int len = 1;
  for (int r = lane->next[ph][q]; r != q; r = lane->next[ph][r]) len++;
  return len;
}

void nsccl_lane_lengths(const nsccl_lane_t *lane, int *len) {
  for (int ph = 0; ph < lane->nphases && ph < NSCCL_LANE_MAX_PHASES; ph++) len[ph] = nsccl_lane_ring_len(lane, ph, 0);
}

int nsccl_lane_step_len(const nsccl_lane_t *lane, const int *len, nsccl_coll_t coll, int t, int *ph, int *rs, int *k,
                        int *sblks) {
  for (int pass = 0; pass < 2; pass++) {
    *rs = pass == 0;
    if (pass == 0 && coll == NSCCL_COLL_ALLGATHER) continue;
    if (pass == 1 && coll == NSCCL_COLL_REDUCESCATTER) break;
    for (int i = 0; i < lane->nphases; i++) {
      *ph = pass == 0 ? lane->nphases - 1 - i : i;
      int steps = lane->virt >> *ph & 1 ? 0 : len[*ph] - 1;
      if (t < steps) {
        *k = t;
        *sblks = 1;
        for (int e = 0; e < *ph; e++) *sblks *= len[e];
        return 1;
      }
      t -= steps;
    }
  }
  return 0;
}

int nsccl_lane_step(const nsccl_lane_t *lane, nsccl_coll_t coll, int t, int *ph, int *rs, int *k, int *sblks) {
  int len[NSCCL_LANE_MAX_PHASES];
  nsccl_lane_lengths(lane, len);
  return nsccl_lane_step_len(lane, len, coll, t, ph, rs, k, sblks);
}

int nsccl_lane_superblock(const nsccl_lane_t *lane, int n, int ph, int q, int *out, unsigned char *mark) {
  memset(mark, 0, (size_t)n);
  mark[q] = 1;
  int cnt = 1;
  out[0] = q;
  /* Grow by whole rings of each earlier phase; with the hierarchy checked this is a product set. */
  for (int e = 0; e < ph; e++)
    for (int i = 0, have = cnt; i < have; i++)
      for (int r = lane->next[e][out[i]]; r != out[i]; r = lane->next[e][r])
        if (!mark[r]) mark[r] = 1, out[cnt++] = r;
  cnt = 0;
  for (int j = 0; j < n; j++)
    if (mark[j]) out[cnt++] = j;
  return cnt;
}

int nsccl_lane_check(const nsccl_lane_t *lane, int n) {
  if (lane->nphases < 1 || lane->nphases > NSCCL_LANE_MAX_PHASES) return 0;
  int *sb = malloc(sizeof(int) * (size_t)n), *cover = malloc(sizeof(int) * (size_t)n);
  unsigned char *mark = malloc((size_t)n);
  int ok = sb && cover && mark, gathered = 0;
  for (int ph = 0; ok && ph < lane->nphases; ph++) {
    for (int q = 0; ok && q < n; q++) {
      int nx = lane->next[ph][q];
      ok = nx >= 0 && nx < n && lane->prev[ph][nx] == q;
    }
    /* Every ring of the phase has the same length (all ranks take the same number of steps, so
     * messages of different lanes meet in the same order on both sides). */
    int len0 = ok ? nsccl_lane_ring_len(lane, ph, 0) : 0;
    for (int q = 0; ok && q < n; q++) ok = nsccl_lane_ring_len(lane, ph, q) == len0;
  }
  /* The super-blocks of a rank's ring mates are disjoint, and the last phase gathers everything. */
  for (int q = 0; ok && q < n; q++) {
    int total = 0;
    for (int ph = 0; ok && ph < lane->nphases; ph++) {
      memset(cover, 0, sizeof(int) * (size_t)n);
      total = 0;
      int r = q;
      do {
        int cnt = nsccl_lane_superblock(lane, n, ph, r, sb, mark);
        for (int i = 0; i < cnt; i++) ok = ok && !cover[sb[i]]++;
        total += cnt;
        r = lane->next[ph][r];
      } while (ok && r != q);
    }
    gathered = total;
  }
  free(sb);
  free(cover);
  free(mark);
  return ok ? gathered : 0;
}

/* ---- the builder ---- */

typedef struct {
  uint8_t kind; /* NSCCL_STEP_SEND, _RECV or _RECV_REDUCE */
  uint8_t rs;   /* reduce-scatter piece: src / dst are resolved when emitted (resolve()) */
  uint8_t final;
  int peer;
  nsccl_region_t src, dst; /* all-gather pieces */
  int j;                   /* reduce-scatter: the block, */
  size_t lo, bytes, o;     /* the lane's share of it (from the block's start) and this chunk's offset, */
  size_t group;            /* the share's pieces of this step (one decision: input or partial) */
} piece_t;

typedef struct {
  piece_t *v;
  size_t n, cap;
} pieces_t;

typedef struct {
  nsccl_tree_ctx_t c;
  nsccl_program_t *p;
  const nsccl_lane_t *lanes;
  int nl, n, me;
  size_t elem;
  size_t *off, *len; /* [n]: bytes of block j (vector or per-rank layout) */
  /* [n * maxred]: byte ranges of block j (from its start) that hold a partial sum, not the input;
   * nred[j] of them. Lanes cut blocks differently (a Z lane's half is two plane lanes' quarters),
   * so this is tracked by bytes, not by lane. */
  size_t (*red)[2];
  int *nred, maxred;
  size_t ngroups;     /* reduce-scatter share groups queued so far */
  unsigned char *was; /* [ngroups]: the group's share held a partial when its first chunk went out */
  int *sb;
  unsigned char *mark;
  /* [2 * nl]: one step's sends (todo[l]) and receives (todo[nl + l]) of each lane. Kept apart so
   * that chunk i of a lane's sends and chunk i of its receives have the same index on both sides of
   * a message, which keeps lanes sharing a link in the same order at sender and receiver. */
  pieces_t *todo;
  int (*ring_len)[NSCCL_LANE_MAX_PHASES]; /* [nl]: ring lengths of each lane's phases (nsccl_lane_lengths) */
  bool oom;
} lanes_t;

static void push(lanes_t *L, pieces_t *q, piece_t pc) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    piece_t *v = realloc(q->v, cap * sizeof(*v));
    if (!v) {
      L->oom = true;
      return;
    }
    q->v = v, q->cap = cap;
  }
  q->v[q->n++] = pc;
}

/* Bytes [*lo, *lo + *bytes) of block j that lane l carries, relative to the block's start. */
static void share(const lanes_t *L, int l, int j, size_t *lo, size_t *bytes) {
  size_t E = L->len[j] / L->elem;
  size_t a = (size_t)floor(L->lanes[l].lo * (double)E),
         b = L->lanes[l].hi >= 1 ? E : (size_t)floor(L->lanes[l].hi * (double)E);
  if (a > E) a = E;
  if (b > E) b = E;
  *lo = a * L->elem;
  *bytes = b > a ? (b - a) * L->elem : 0;
}

/* Queue lane l's pieces for the super-block of q in phase ph, cut into chunks the same way on both
 * sides of the message. */
static void queue(lanes_t *L, int l, int ph, int q, uint8_t kind, int peer, bool reduce_scatter) {
  int cnt = nsccl_lane_superblock(&L->lanes[l], L->n, ph, q, L->sb, L->mark);
  for (int i = 0; i < cnt; i++) {
    int j = L->sb[i];
    size_t lo, bytes;
    share(L, l, j, &lo, &bytes);
    if (!bytes) continue;
    nsccl_region_t at = nsccl_region(NSCCL_BUF_RECV, L->off[j] + lo, bytes);
    size_t group = L->ngroups++;
    for (size_t o = 0; o < bytes; o += L->c.chunk) {
      size_t len = bytes - o < L->c.chunk ? bytes - o : L->c.chunk;
      piece_t pc = {kind,
                    reduce_scatter,
                    ph == 0 && j == L->me,
                    peer,
                    nsccl_region(NSCCL_BUF_RECV, at.offset + o, len),
                    nsccl_region(NSCCL_BUF_RECV, at.offset + o, len),
                    j,
                    lo,
                    bytes,
                    o,
                    group};
      push(L, &L->todo[kind == NSCCL_STEP_SEND ? l : L->nl + l], pc);
    }
  }
}

/* A reduce-scatter piece's regions, in emission order: the share reads the input (SEND) until a
 * reduction put a partial sum of those bytes in place (SCRATCH for reduce-scatter, RECV for
 * all-reduce), then the partial; the final reduction of the own block writes the output. Lanes
 * cut blocks differently, so "reduced" is tracked by byte ranges of the block; a share's chunks
 * follow the decision its first chunk (emitted first) took. A share is always wholly reduced or
 * wholly not: a later stage's share is a union of an earlier stage's. */
static void resolve(lanes_t *L, piece_t *pc) {
  bool rs_out = L->p->args.coll == NSCCL_COLL_REDUCESCATTER;
  int j = pc->j;
  if (pc->o == 0) {
    size_t covered = 0, lo = pc->lo, hi = pc->lo + pc->bytes; /* by the (disjoint) reduced ranges */
    for (int r = 0; r < L->nred[j]; r++) {
      const size_t *iv = L->red[(size_t)j * L->maxred + r];
      size_t a = iv[0] > lo ? iv[0] : lo, b = iv[1] < hi ? iv[1] : hi;
      covered += b > a ? b - a : 0;
    }
    bool was = covered == pc->bytes;
    L->was[pc->group] = was;
    if (!was && pc->kind == NSCCL_STEP_RECV_REDUCE && L->nred[j] < L->maxred) {
      size_t *iv = L->red[(size_t)j * L->maxred + L->nred[j]++];
      iv[0] = pc->lo, iv[1] = pc->lo + pc->bytes;
    }
  }
  size_t len = pc->src.bytes, at = L->off[j] + pc->lo + pc->o;
  nsccl_region_t partial = nsccl_region(rs_out ? NSCCL_BUF_SCRATCH : NSCCL_BUF_RECV, at, len);
  pc->src = L->was[pc->group] ? partial : nsccl_region(NSCCL_BUF_SEND, at, len);
  pc->dst = pc->final && rs_out ? nsccl_region(NSCCL_BUF_RECV, pc->lo + pc->o, len) : partial;
}

/* Nominal cost of lane l's step t (from the count alone, the same on every rank): super-block
 * blocks x share x the phase's cost, and the cost of one of its nominal chunks; -1 when the lane
 * has no step t. */
static double nominal(const lanes_t *L, int l, int t, int *ph, int *rs, int *k, double *per_piece) {
  const nsccl_lane_t *ln = &L->lanes[l];
  const nsccl_coll_args_t *a = &L->p->args;
  int sblks;
  if (!nsccl_lane_step_len(ln, L->ring_len[l], a->coll, t, ph, rs, k, &sblks)) return -1;
  double E = a->coll == NSCCL_COLL_ALLREDUCE ? (double)a->count / L->n : (double)a->count;
  double share = (ln->hi - ln->lo) * E * (double)L->elem; /* bytes of one block's share */
  double cost = sblks * share * (ln->cost[*ph] > 0 ? ln->cost[*ph] : 1);
  *per_piece = cost / (sblks * fmax(1.0, ceil(share / (double)L->c.chunk)));
  return cost;
}

/* Queue lane l's step t (its pieces land in todo[l] and todo[nl + l]). */
static void queue_step(lanes_t *L, int l, int ph, int rs, int k) {
  const nsccl_lane_t *ln = &L->lanes[l];
  int nx = ln->next[ph][L->me], pv = ln->prev[ph][L->me];
  /* Reduce-scatter step k sends the partials of the member k+1 back and reduces those of k+2 back;
   * all-gather step k forwards the member k back's and receives k+1 back's. */
  queue(L, l, ph, nsccl_lane_back(ln, ph, L->me, k + rs), NSCCL_STEP_SEND, nx, rs);
  queue(L, l, ph, nsccl_lane_back(ln, ph, L->me, k + rs + 1), rs ? NSCCL_STEP_RECV_REDUCE : NSCCL_STEP_RECV, pv, rs);
}

static void emit(lanes_t *L, const piece_t *pc) {
  switch (pc->kind) {
  case NSCCL_STEP_SEND: nsccl_tree_send(&L->c, pc->peer, pc->src); break;
  case NSCCL_STEP_RECV: nsccl_tree_recv(&L->c, pc->peer, pc->dst); break;
  default: nsccl_tree_recv_reduce(&L->c, pc->peer, pc->src, pc->dst); break;
  }
}

typedef struct {
  double key, ws; /* ws: start of the piece's phase window (ties: earlier phases first) */
  int t, l, i;
  int ph, rs, gate; /* gate: index into the last-receive table, or -1 */
  piece_t pc;
} keyed_t;

static int by_key(const void *x, const void *y) {
  const keyed_t *a = x, *b = y;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  if (a->ws != b->ws) return a->ws < b->ws ? -1 : 1;
  if (a->t != b->t) return a->t < b->t ? -1 : 1;
  if (a->l != b->l) return a->l < b->l ? -1 : 1;
  if (a->pc.kind != b->pc.kind) return a->pc.kind < b->pc.kind ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

static int slot(int l, int rs, int ph) { return (l * 2 + rs) * NSCCL_LANE_MAX_PHASES + ph; }

/* Window [*ws, *we) of lane l's phase ph (reduce-scatter mode rs) in nominal time. Without a plan,
 * the lane's phases follow one another in proportion to their costs over [0, 1) per half. */
static void window(const lanes_t *L, int l, int ph, int rs, const double *phase_cost, double *ws, double *we) {
  const nsccl_lane_t *ln = &L->lanes[l];
  bool ar = L->p->args.coll == NSCCL_COLL_ALLREDUCE;
  double H = ln->horizon > 0 ? ln->horizon : 1, s = 0, e = 0;
  if (ln->horizon > 0) {
    s = ln->win[ph][0], e = ln->win[ph][1];
  } else {
    double tot = 0;
    for (int q = 0; q < ln->nphases; q++) tot += phase_cost[slot(0, rs, q)];
    for (int q = 0; q < ph; q++) s += phase_cost[slot(0, rs, q)];
    e = s + phase_cost[slot(0, rs, ph)];
    s /= tot > 0 ? tot : 1, e /= tot > 0 ? tot : 1;
  }
  if (rs) {
    double m = H - e;
    e = H - s, s = m;
  }
  double shift = ar && !rs ? H : 0;
  *ws = s + shift, *we = e + shift;
}

/* Emission order. Each piece gets a key, a nominal time: its phase's window (the lane's plan, or
 * the lane's phases in proportion to their costs) times how far through the phase it lies (the
 * costs of the phase's earlier steps, plus i chunks into its step). Keys come from the count alone,
 * so both sides of every message give it the same key. Pieces are emitted by key (ties: step,
 * lane, kind, index): on a 3D torus part 1's Z steps (16 blocks each) overlap part 2's plane steps
 * instead of waiting for the same step number, and with gates a phase's sends wait for the phase
 * planned before it on the same links. Within a lane no key is below the end of the lane's
 * previous step (ties: by step), so producers come first. */
static void run(lanes_t *L) {
  keyed_t *all = NULL;
  size_t nall = 0, cap = 0;
  int ph, rs, k;
  double per_piece, cost;
  nsccl_step_id_t *last = malloc(sizeof(*last) * (size_t)L->nl * 2 * NSCCL_LANE_MAX_PHASES);
  double phase_cost[2 * NSCCL_LANE_MAX_PHASES];
  if (!last) L->oom = true;
  for (int l = 0; l < L->nl && !L->oom; l++) {
    const nsccl_lane_t *ln = &L->lanes[l];
    for (int i = 0; i < 2 * NSCCL_LANE_MAX_PHASES; i++) phase_cost[i] = 0;
    for (int t = 0; (cost = nominal(L, l, t, &ph, &rs, &k, &per_piece)) >= 0; t++) phase_cost[slot(0, rs, ph)] += cost;
    double done = 0;   /* nominal cost of the current phase's earlier steps */
    double floor_ = 0; /* where the lane's previous step ended: no key below it (producers first) */
    int cur = -1;
    for (int t = 0; !L->oom && (cost = nominal(L, l, t, &ph, &rs, &k, &per_piece)) >= 0; t++) {
      if (slot(0, rs, ph) != cur) cur = slot(0, rs, ph), done = 0;
      double ws, we, tot = phase_cost[cur] > 0 ? phase_cost[cur] : 1;
      window(L, l, ph, rs, phase_cost, &ws, &we);
      const int *g = rs ? ln->gate_rs[ph] : ln->gate[ph];
      int gate = ln->gated && g[0] >= 0 ? slot(g[0], rs, g[1]) : -1;
      L->todo[l].n = L->todo[L->nl + l].n = 0;
      queue_step(L, l, ph, rs, k);
      for (int side = 0; side < 2 && !L->oom; side++) {
        const pieces_t *q = &L->todo[side * L->nl + l];
        for (size_t i = 0; i < q->n; i++) {
          if (nall == cap) {
            cap = cap ? cap * 2 : 256;
            keyed_t *v = realloc(all, cap * sizeof(*v));
            if (!v) {
              L->oom = true;
              break;
            }
            all = v;
          }
          double into = fmin((double)i * per_piece, cost);
          double key = fmax(floor_, ws + (we - ws) * (done + into) / tot);
          all[nall++] = (keyed_t){key, ws, t, l, (int)i, ph, rs, gate, q->v[i]};
        }
      }
      done += cost;
      floor_ = fmax(floor_, ws + (we - ws) * done / tot);
    }
  }
  L->was = L->oom ? NULL : malloc(L->ngroups ? L->ngroups : 1);
  if (!L->was) L->oom = true;
  if (!L->oom) {
    for (size_t i = 0; i < (size_t)L->nl * 2 * NSCCL_LANE_MAX_PHASES; i++) last[i] = NSCCL_NO_STEP;
    qsort(all, nall, sizeof(*all), by_key);
    for (size_t i = 0; i < nall; i++) {
      const keyed_t *e = &all[i];
      L->c.extra_dep = e->pc.kind == NSCCL_STEP_SEND && e->gate >= 0 ? last[e->gate] : NSCCL_NO_STEP;
      if (e->pc.rs) resolve(L, &all[i].pc);
      emit(L, &e->pc);
      if (e->pc.kind != NSCCL_STEP_SEND && L->p->nsteps) last[slot(e->l, e->rs, e->ph)] = L->p->nsteps - 1;
    }
    L->c.extra_dep = NSCCL_NO_STEP;
  }
  free(L->was);
  free(last);
  free(all);
}

nscclResult_t nsccl_lanes_build(const nsccl_lane_t *lanes, int nlanes, const nsccl_algo_opts_t *opts,
                                nsccl_program_t *prog) {
  const nsccl_coll_args_t *a = &prog->args;
  int n = prog->nranks;
  if (nlanes < 1 || nlanes > NSCCL_LANES_MAX)
    NSCCL_FAIL(nscclInvalidArgument, "lanes: %d lanes (1-%d)", nlanes, NSCCL_LANES_MAX);
  size_t recv_bytes = prog->buf_bytes[NSCCL_BUF_RECV];
  if (n == 1 || a->count == 0) {
    if (!a->in_place && recv_bytes > 0)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, recv_bytes), nsccl_region(NSCCL_BUF_RECV, 0, recv_bytes),
                      NSCCL_NODEPS);
    return nscclSuccess;
  }
  lanes_t L = {.p = prog, .lanes = lanes, .nl = nlanes, .n = n, .me = prog->rank};
  NSCCL_CHECK(nsccl_tree_ctx_init(&L.c, prog, opts));
  L.elem = L.c.elem;
  L.off = malloc(sizeof(size_t) * (size_t)n);
  L.len = malloc(sizeof(size_t) * (size_t)n);
  L.maxred = 2 * nlanes;
  L.red = malloc(sizeof(*L.red) * (size_t)n * (size_t)L.maxred);
  L.nred = calloc((size_t)n, sizeof(int));
  L.sb = malloc(sizeof(int) * (size_t)n);
  L.mark = malloc((size_t)n);
  L.todo = calloc(2 * (size_t)nlanes, sizeof(pieces_t));
  L.ring_len = calloc((size_t)nlanes + 1, sizeof(*L.ring_len));
  L.oom = !L.off || !L.len || !L.red || !L.nred || !L.sb || !L.mark || !L.todo || !L.ring_len;
  for (int l = 0; !L.oom && l < nlanes; l++) nsccl_lane_lengths(&lanes[l], L.ring_len[l]);
  for (int j = 0; !L.oom && j < n; j++) {
    if (a->coll == NSCCL_COLL_ALLREDUCE) {
      size_t first, len;
      nsccl_algo_block(a->count, n, j, &first, &len);
      L.off[j] = first * L.elem, L.len[j] = len * L.elem;
    } else {
      L.off[j] = (size_t)j * a->count * L.elem, L.len[j] = a->count * L.elem;
    }
  }
  if (!L.oom && a->coll == NSCCL_COLL_ALLGATHER)
    nsccl_tree_copy(&L.c, nsccl_region(NSCCL_BUF_SEND, 0, L.len[L.me]),
                    nsccl_region(NSCCL_BUF_RECV, L.off[L.me], L.len[L.me]));
  if (!L.oom) run(&L);
  for (int l = 0; L.todo && l < 2 * nlanes; l++) free(L.todo[l].v);
  free(L.todo);
  free(L.ring_len);
  free(L.off);
  free(L.len);
  free(L.red);
  free(L.nred);
  free(L.sb);
  free(L.mark);
  nscclResult_t rc = nsccl_tree_ctx_finish(&L.c);
  if (L.oom) NSCCL_FAIL(nscclSystemError, "lanes: out of memory building rank %d's schedule", prog->rank);
  NSCCL_CHECK(rc);
  return nscclSuccess;
}
