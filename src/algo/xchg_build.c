/* Builders of the pairwise-exchange schedules (algo/xchg_plan.h): all-gather by doubling,
 * reduce-scatter by halving, all-reduce as both, and whole-vector all-reduce.
 *
 * Every step of every part is emitted in one global order, step-major (step s of part 0, of part 1,
 * ...), sends before receives, each set's messages in rank order. Both partners of an exchange
 * enumerate the same set the same way, so the k-th message from a to b meets the k-th receive at b
 * from a; the parts of one step run concurrently (the tree emitters derive the dependencies from
 * the bytes touched, so nothing waits for an unrelated part or step). */
#include <stdlib.h>

#include "algo/xchg_plan.h"
#include "base/check.h"

static int mergeable(const nsccl_xchg_layout_t *l) { return l->bound || l->J == 1; }

/* Blocks [q0, q1) of part j in buf; contiguous whenever the caller asks (see messages()). */
static nsccl_region_t span(const nsccl_xchg_layout_t *l, nsccl_buf_t buf, int j, int q0, int q1) {
  if (l->bound) {
    const size_t *b = l->bound + (size_t)j * (size_t)(l->p + 1);
    return nsccl_region(buf, b[q0], b[q1] - b[q0]);
  }
  size_t piece = l->cut[j + 1] - l->cut[j];
  return nsccl_region(buf, (size_t)q0 * l->B + l->cut[j], (size_t)(q1 - q0 - 1) * l->B + piece);
}

/* The messages of a set: its runs (of positions for the bounds layout, of ranks otherwise), or
 * single blocks when the part's blocks are not contiguous. */
static int messages(const nsccl_xchg_layout_t *l, const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*out)[2]) {
  if (l->bound) return nsccl_xchg_runs_ordered(pl, set, out);
  int nr = nsccl_xchg_runs(pl, set, out);
  if (mergeable(l)) return nr;
  int n = 0;
  for (int q = 0; q < l->p; q++)
    if (nsccl_xchg_has(set, q)) out[n][0] = q, out[n][1] = q + 1, n++;
  return n;
}

/* One step's messages of every part, cut into chunks and emitted interleaved across the parts
 * (chunk 0 of every part, then chunk 1, ...), sends before receives. Emitting part by part would
 * put all of part 0's receives ahead of the others' in program order, and the receive window
 * (algo/membound.h) admits receives in program order: the parts' reductions, and the next step's
 * sends that wait for them, would then follow one another instead of running side by side. Both
 * sides of a pair build the same list (the same sets, the same cuts), so per-pair order matches. */
typedef struct {
  uint8_t kind; /* nsccl_step_kind_t: SEND, RECV or RECV_REDUCE */
  int peer;
  nsccl_region_t src, dst;
} op_t;

typedef struct {
  op_t *v;
  size_t n, cap;
} ops_t;

static void push_op(nsccl_tree_ctx_t *c, ops_t *o, uint8_t kind, int peer, nsccl_region_t src, nsccl_region_t dst) {
  nsccl_region_t whole = kind == NSCCL_STEP_RECV ? dst : src;
  for (size_t k = 0, n = nsccl_chunk_count(whole.bytes, c->chunk); k < n; k++) {
    if (o->n == o->cap) {
      size_t cap = o->cap ? 2 * o->cap : 64;
      op_t *v = realloc(o->v, cap * sizeof(*v));
      if (!v) {
        c->oom = true;
        return;
      }
      o->v = v, o->cap = cap;
    }
    op_t *x = &o->v[o->n++];
    x->kind = kind, x->peer = peer;
    x->src = kind == NSCCL_STEP_RECV ? src : nsccl_region_chunk(src, c->chunk, k);
    x->dst = kind == NSCCL_STEP_SEND ? dst : nsccl_region_chunk(dst, c->chunk, k);
  }
}

static void flush_ops(nsccl_tree_ctx_t *c, ops_t *parts, int J) {
  for (size_t i = 0, more = 1; more; i++) {
    more = 0;
    for (int j = 0; j < J; j++) {
      if (i >= parts[j].n) continue;
      more = 1;
      const op_t *x = &parts[j].v[i];
      if (x->kind == NSCCL_STEP_SEND)
        nsccl_tree_send(c, x->peer, x->src);
      else if (x->kind == NSCCL_STEP_RECV)
        nsccl_tree_recv(c, x->peer, x->dst);
      else
        nsccl_tree_recv_reduce(c, x->peer, x->src, x->dst);
    }
  }
  for (int j = 0; j < J; j++) parts[j].n = 0;
}

static void free_ops(ops_t *parts, int J) {
  for (int j = 0; j < J; j++) free(parts[j].v);
  free(parts);
}

enum { GATHER, SCATTER_SCRATCH, SCATTER_RECV };

/* Step s of every part. GATHER: send the own held set from recv (the own block alone from the
 * input: it need not wait for the local copy), receive the partner's into recv. SCATTER_*: send
 * the partials of the partner's held set, receive-and-reduce the partner's partials of the own;
 * partials are in send before the first step (s = L - 1) reduced into them, afterwards in scratch
 * (reduce-scatter, which ends by reducing the own block into recv) or in recv (all-reduce). */
static void exchange(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay, int s, int how, ops_t *snd, ops_t *rcv,
                     int (*msg)[2]) {
  int r = c->prog->rank, L = lay->plan[0].L;
  nsccl_buf_t acc = how == SCATTER_SCRATCH ? NSCCL_BUF_SCRATCH : NSCCL_BUF_RECV;
  nsccl_buf_t from = how == GATHER ? NSCCL_BUF_RECV : s == L - 1 ? NSCCL_BUF_SEND : acc;
  nsccl_region_t none = nsccl_region(NSCCL_BUF_SEND, 0, 0);
  for (int j = 0; j < lay->J; j++) {
    const nsccl_xchg_plan_t *pl = &lay->plan[j];
    int peer = nsccl_xchg_peer(pl, s, r);
    int n = messages(lay, pl, nsccl_xchg_held(pl, s, how == GATHER ? r : peer), msg);
    for (int i = 0; i < n; i++) {
      nsccl_region_t src = span(lay, from, j, msg[i][0], msg[i][1]);
      if (how == GATHER && !lay->bound && msg[i][0] == r && msg[i][1] == r + 1)
        src = nsccl_region(NSCCL_BUF_SEND, src.offset - (size_t)r * lay->B, src.bytes);
      push_op(c, &snd[j], NSCCL_STEP_SEND, peer, src, none);
    }
    n = messages(lay, pl, nsccl_xchg_held(pl, s, how == GATHER ? peer : r), msg);
    for (int i = 0; i < n; i++) {
      nsccl_region_t dst = span(lay, how == GATHER ? NSCCL_BUF_RECV : acc, j, msg[i][0], msg[i][1]);
      if (how == GATHER) {
        push_op(c, &rcv[j], NSCCL_STEP_RECV, peer, none, dst);
        continue;
      }
      if (how == SCATTER_SCRATCH && s == 0) /* held(0) is the own block alone */
        dst = nsccl_region(NSCCL_BUF_RECV, lay->cut[j], lay->cut[j + 1] - lay->cut[j]);
      push_op(c, &rcv[j], NSCCL_STEP_RECV_REDUCE, peer, span(lay, from, j, msg[i][0], msg[i][1]), dst);
    }
  }
  flush_ops(c, snd, lay->J);
  flush_ops(c, rcv, lay->J);
}

/* Phases over all steps: scatter (plan backwards) and/or gather (forwards). */
static void phases(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay, int scatter, int gather) {
  int L = lay->plan[0].L;
  int(*msg)[2] = malloc(sizeof(*msg) * (size_t)lay->p);
  ops_t *snd = calloc((size_t)lay->J, sizeof(ops_t)), *rcv = calloc((size_t)lay->J, sizeof(ops_t));
  if (!msg || !snd || !rcv) {
    c->oom = true;
  } else {
    for (int s = L - 1; scatter && s >= 0; s--) exchange(c, lay, s, scatter, snd, rcv, msg);
    for (int s = 0; gather && s < L; s++) exchange(c, lay, s, GATHER, snd, rcv, msg);
  }
  free(msg);
  if (snd) free_ops(snd, lay->J);
  if (rcv) free_ops(rcv, lay->J);
}

void nsccl_xchg_allgather(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay) {
  int r = c->prog->rank;
  /* The own block: later steps forward it from recv (in place it is already there). */
  nsccl_tree_copy(c, nsccl_region(NSCCL_BUF_SEND, 0, lay->B), nsccl_region(NSCCL_BUF_RECV, (size_t)r * lay->B, lay->B));
  phases(c, lay, 0, 1);
}

/* Reduce-scatter: partials of block q at q * B in send, then in scratch; everything sent in a step
 * was received in the step before, except in the first step, which reads the input. */
void nsccl_xchg_reducescatter(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay) {
  nsccl_prog_need_scratch(c->prog, (size_t)lay->p * lay->B);
  phases(c, lay, SCATTER_SCRATCH, 0);
}

/* All-reduce on the bounds layout: partials accumulate in recv, then the all-gather half forwards
 * the finished blocks from recv. The halves a step sends and reduces are disjoint, so no reduction
 * writes bytes a send of the same step reads. */
void nsccl_xchg_allreduce_halving(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay) {
  phases(c, lay, SCATTER_RECV, 1);
}

void nsccl_xchg_allreduce_whole(nsccl_tree_ctx_t *c, const nsccl_xchg_plan_t *pl) {
  int r = c->prog->rank;
  size_t n = c->prog->args.count * c->elem, i = 0;
  for (size_t lo = 0; lo < n; lo += c->chunk, i++) {
    size_t len = n - lo < c->chunk ? n - lo : c->chunk;
    nsccl_region_t cur = nsccl_region(NSCCL_BUF_SEND, lo, len);
    nsccl_region_t in = nsccl_region(NSCCL_BUF_SCRATCH, (i % NSCCL_ALGO_SLOTS) * c->chunk, len);
    nsccl_region_t out = nsccl_region(NSCCL_BUF_RECV, lo, len);
    for (int s = 0; s < pl->L; s++) {
      int peer = nsccl_xchg_peer(pl, s, r);
      nsccl_tree_send(c, peer, cur);
      nsccl_tree_recv(c, peer, in);
      if (r < peer)
        nsccl_tree_reduce(c, cur, in, out);
      else
        nsccl_tree_reduce(c, in, cur, out);
      cur = out;
    }
  }
}

nscclResult_t nsccl_xchg_build(const nsccl_algo_opts_t *opts, nsccl_program_t *prog, const nsccl_xchg_plan_t *plans,
                               const double *w, int J, int whole) {
  nsccl_tree_ctx_t c;
  NSCCL_CHECK(nsccl_tree_ctx_init(&c, prog, opts));
  int p = prog->nranks;
  size_t bytes = prog->args.count * c.elem;
  size_t *cut = malloc(sizeof(size_t) * ((size_t)J + 1));
  size_t *bound = malloc(sizeof(size_t) * (size_t)J * ((size_t)p + 1));
  nsccl_xchg_layout_t lay = {.J = J, .p = p, .plan = plans};
  if (!cut || !bound) {
    c.oom = true;
  } else if (bytes == 0) {
    /* count 0: nothing to move */
  } else if (p == 1) {
    nsccl_tree_copy(&c, nsccl_region(NSCCL_BUF_SEND, 0, bytes), nsccl_region(NSCCL_BUF_RECV, 0, bytes));
  } else if (prog->args.coll == NSCCL_COLL_ALLREDUCE && whole) {
    nsccl_xchg_allreduce_whole(&c, &plans[0]);
  } else if (prog->args.coll == NSCCL_COLL_ALLREDUCE) {
    nsccl_xchg_cut(bytes, c.elem, J, w, cut);
    for (int j = 0; j < J; j++) {
      size_t cnt = (cut[j + 1] - cut[j]) / c.elem, base = cnt / (size_t)p, rem = cnt % (size_t)p;
      for (int q = 0; q <= p; q++)
        bound[(size_t)j * (p + 1) + q] = cut[j] + ((size_t)q * base + ((size_t)q < rem ? (size_t)q : rem)) * c.elem;
    }
    lay.bound = bound;
    nsccl_xchg_allreduce_halving(&c, &lay);
  } else {
    nsccl_xchg_cut(bytes, c.elem, J, w, cut);
    lay.B = bytes, lay.cut = cut;
    if (prog->args.coll == NSCCL_COLL_ALLGATHER)
      nsccl_xchg_allgather(&c, &lay);
    else
      nsccl_xchg_reducescatter(&c, &lay);
  }
  free(cut);
  free(bound);
  return nsccl_tree_ctx_finish(&c);
}
