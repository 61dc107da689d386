/* Hierarchical schedules (hier.h): phases inside groups and across groups, every phase a "team" of
 * ranks in which position j owns a set of pieces (byte ranges of the collective's logical vector).
 *
 * Logical vector: all-reduce's vector; for all-gather and reduce-scatter the p blocks of count
 * elements in rank order (the all-gather output, the reduce-scatter input). A piece maps onto a
 * buffer at the same offset, except all-gather's send buffer (only this rank's block) and
 * reduce-scatter's output (only this rank's block, at 0).
 *
 * Where partial sums live: all-reduce accumulates in the receive buffer (every element ends there),
 * reduce-scatter in scratch at the send buffer's offsets (p * count elements: simple, and it never
 * overwrites the caller's input), except the very last reduction of this rank's own block, which
 * lands in the receive buffer. A reduce-scatter phase reads its input pieces from the send buffer if
 * no earlier phase reduced them (a group of one rank skips the intra phase), else from the
 * accumulator.
 *
 * Dependencies come from the tree family's hazard-tracking emitters (tree_internal.h): steps are
 * emitted in program order, chunked, and each waits exactly for the earlier steps whose bytes it
 * overlaps, so phases pipeline chunk by chunk and in-place aliasing is handled in one place. Both
 * sides of every message derive the same pieces, in the same order, from the shared layout, which
 * keeps per-pair FIFO matching. A rank serving several columns (groups smaller than the largest)
 * runs their inter-group phases one column after the other, in column order on every rank. */
#include <stdlib.h>
#include <string.h>

#include "algo/hier.h"
#include "algo/ring.h"
#include "algo/tree_internal.h"
#include "base/check.h"
#include "topologies/topo.h"

/* ---- layout ---- */

void nsccl_hier_layout_free(nsccl_hier_layout_t *l) {
  free(l->size);
  free(l->first);
  free(l->members);
  free(l->group);
  free(l->local);
  memset(l, 0, sizeof(*l));
}

nscclResult_t nsccl_hier_layout(const struct nsccl_topo *topo, nsccl_hier_layout_t *l) {
  const nsccl_topo_t *t = topo;
  memset(l, 0, sizeof(*l));
  if (!t || t->ngroups < 2 || !t->group_of_rank)
    NSCCL_FAIL(nscclInvalidArgument,
               "hier: topology %s has %d group(s) of ranks; hierarchical schedules need at least two (servers, "
               "hosts or leaf switches)",
               t ? t->name : "(flat)", t ? t->ngroups : 1);
  int n = t->nranks, S = t->ngroups;
  l->nranks = n;
  l->ngroups = S;
  l->size = calloc((size_t)S, sizeof(int));
  l->first = calloc((size_t)S + 1, sizeof(int));
  l->members = malloc(sizeof(int) * (size_t)n);
  l->group = malloc(sizeof(int) * (size_t)n);
  l->local = malloc(sizeof(int) * (size_t)n);
  int *order = malloc(sizeof(int) * (size_t)n), *fill = calloc((size_t)S, sizeof(int));
  nscclResult_t rc = nscclSuccess;
  if (!l->size || !l->first || !l->members || !l->group || !l->local || !order || !fill) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "hier: out of memory for the group layout of %d ranks", n);
    goto out;
  }
  for (int r = 0; r < n && rc == nscclSuccess; r++) {
    int g = t->group_of_rank[r];
    if (g < 0 || g >= S) {
      rc = nscclInvalidArgument;
      nsccl_set_error(__FILE__, __LINE__, rc, "hier: topology %s puts rank %d in group %d, outside [0, %d)", t->name, r,
                      g, S);
    } else {
      l->size[g]++;
    }
  }
  for (int g = 0; g < S && rc == nscclSuccess; g++) {
    if (!l->size[g]) {
      rc = nscclInvalidArgument;
      nsccl_set_error(__FILE__, __LINE__, rc, "hier: group %d of topology %s has no rank", g, t->name);
    }
    l->first[g + 1] = l->first[g] + l->size[g];
    if (l->size[g] > l->width) l->width = l->size[g];
  }
  if (rc != nscclSuccess) goto out;
  /* Members in ring-embedding order, so that a group's ring is the inner topology's ring. */
  nsccl_topo_ring(t, order);
  for (int i = 0; i < n; i++) {
    int r = order[i], g = t->group_of_rank[r];
    l->members[l->first[g] + fill[g]] = r;
    l->group[r] = g;
    l->local[r] = fill[g]++;
  }
out:
  free(order);
  free(fill);
  if (rc != nscclSuccess) nsccl_hier_layout_free(l);
  return rc;
}

int nsccl_hier_supported(const struct nsccl_topo *topo, nsccl_algo_t inter, nsccl_coll_t coll, int nranks) {
  const nsccl_topo_t *t = topo;
  if ((unsigned)coll >= NSCCL_NUM_COLLS) return 0; /* all-gather, reduce-scatter, all-reduce only */
  if (!t || t->nranks != nranks || t->ngroups < 2 || !t->group_of_rank) return 0;
  if (inter == NSCCL_ALGO_TREE) return (t->ngroups & (t->ngroups - 1)) == 0;
  return inter == NSCCL_ALGO_RING || inter == NSCCL_ALGO_DIRECT;
}

/* ---- teams of pieces ---- */

typedef struct {
  size_t off, len;
} piece_t;

typedef struct {
  int m, pos;
  int *rank;   /* [m]: rank at each position */
  int *first;  /* [m + 1]: position j's pieces are pc[first[j] .. first[j+1]) */
  piece_t *pc; /* sorted by offset, adjacent ones merged */
} team_t;

typedef struct {
  nsccl_tree_ctx_t c;
  const nsccl_hier_layout_t *L;
  nsccl_coll_t coll;
  nsccl_algo_t inter;
  nsccl_algo_t intra; /* the pattern inside groups: ring, or direct for composed schedules */
  int me;
  size_t elem, B;  /* element size; block bytes (count * elem) of all-gather / reduce-scatter */
  nsccl_buf_t acc; /* where partial sums accumulate */
  int reduced;     /* an earlier phase already reduced this rank's pieces into acc */
  team_t T;
  /* Composed schedules (nsccl_hier_build_with): the inter-group phase is the caller's, and a
   * reduce-scatter's intra-group stage lands its results where that phase reads them. */
  nsccl_hier_inter_fn inter_fn;
  void *inter_arg;
  nscclResult_t inter_rc;
} hier_t;

static int cmp_piece(const void *a, const void *b) {
  const piece_t *x = a, *y = b;
  return (x->off > y->off) - (x->off < y->off);
}

/* Close position j's set: sort, merge adjacent pieces, drop empty ones. */
static void close_set(team_t *T, int j) {
  piece_t *p = T->pc + T->first[j];
  int n = T->first[j + 1] - T->first[j], k = 0;
  qsort(p, (size_t)n, sizeof(*p), cmp_piece);
  for (int i = 0; i < n; i++) {
    if (!p[i].len) continue;
    if (k && p[k - 1].off + p[k - 1].len == p[i].off)
      p[k - 1].len += p[i].len;
    else
      p[k++] = p[i];
  }
  T->first[j + 1] = T->first[j] + k;
}

static void add_piece(team_t *T, int j, size_t off, size_t len) { T->pc[T->first[j + 1]++] = (piece_t){off, len}; }

/* Vector block c of width (all-reduce columns), in bytes. */
static piece_t column_block(const hier_t *h, int c) {
  size_t f, len;
  nsccl_algo_block(h->c.prog->args.count, h->L->width, c, &f, &len);
  return (piece_t){f * h->elem, len * h->elem};
}

/* The team of this rank's group: position j holds the columns c with c mod size == j. */
static void team_intra(hier_t *h) {
  const nsccl_hier_layout_t *L = h->L;
  team_t *T = &h->T;
  int g = L->group[h->me];
  T->m = L->size[g];
  T->pos = L->local[h->me];
  T->first[0] = 0;
  for (int j = 0; j < T->m; j++) {
    T->rank[j] = L->members[L->first[g] + j];
    T->first[j + 1] = T->first[j];
    for (int c = j; c < L->width; c += T->m) {
      if (h->coll == NSCCL_COLL_ALLREDUCE) {
        piece_t x = column_block(h, c);
        add_piece(T, j, x.off, x.len);
        continue;
      }
      for (int q = 0; q < L->ngroups; q++)
        if (c < L->size[q]) add_piece(T, j, (size_t)L->members[L->first[q] + c] * h->B, h->B);
    }
    close_set(T, j);
  }
}

/* The team of column c across groups: position q is group q's member serving column c. */
static void team_inter(hier_t *h, int c) {
  const nsccl_hier_layout_t *L = h->L;
  team_t *T = &h->T;
  piece_t blk = column_block(h, c);
  size_t cnt = blk.len / h->elem;
  T->m = L->ngroups;
  T->pos = L->group[h->me];
  T->first[0] = 0;
  for (int q = 0; q < T->m; q++) {
    T->rank[q] = nsccl_hier_member(L, q, c);
    T->first[q + 1] = T->first[q];
    if (h->coll == NSCCL_COLL_ALLREDUCE) {
      size_t f, len;
      nsccl_algo_block(cnt, T->m, q, &f, &len);
      add_piece(T, q, blk.off + f * h->elem, len * h->elem);
    } else if (c < L->size[q]) {
      add_piece(T, q, (size_t)L->members[L->first[q] + c] * h->B, h->B);
    }
    close_set(T, q);
  }
}

/* ---- regions ---- */

static nsccl_region_t at(const hier_t *h, nsccl_buf_t buf, piece_t x) {
  size_t off = x.off;
  if (buf == NSCCL_BUF_SEND && h->coll == NSCCL_COLL_ALLGATHER) off -= (size_t)h->me * h->B;
  return nsccl_region(buf, off, x.len);
}

/* Input of a reduce-scatter phase. */
static nsccl_region_t in_reg(const hier_t *h, piece_t x) { return at(h, h->reduced ? h->acc : NSCCL_BUF_SEND, x); }

enum { FINAL_NONE, FINAL_OUT, FINAL_LAND };

/* What the reduction that completes a set is, in the last phase (last) or before it. */
static int final_kind(int completes, int last) { return !completes ? FINAL_NONE : last ? FINAL_OUT : FINAL_LAND; }

/* Destination of a reduction. FINAL_OUT: the last reduction of the last phase (reduce-scatter's own
 * block goes to the output). FINAL_LAND: the last reduction of a composed reduce-scatter's intra
 * stage, whose blocks (one rank's each: a group's members are never adjacent ranks of two groups'
 * sets when groups are chips) land in the landing area, group q's block at q * B (hier.h). */
static nsccl_region_t acc_reg(const hier_t *h, piece_t x, int final) {
  if (final == FINAL_OUT && h->coll == NSCCL_COLL_REDUCESCATTER && x.off == (size_t)h->me * h->B && x.len == h->B)
    return nsccl_region(NSCCL_BUF_RECV, 0, x.len);
  if (final == FINAL_LAND && h->inter_fn && h->coll == NSCCL_COLL_REDUCESCATTER) {
    size_t r = x.off / h->B, q = (size_t)h->L->group[r];
    return nsccl_region(NSCCL_BUF_SCRATCH, nsccl_hier_landing(h->L, h->B) + q * h->B + (x.off - r * h->B), x.len);
  }
  return at(h, h->acc, x);
}

enum { SRC_IN, SRC_ACC, SRC_RECV };

static void send_set(hier_t *h, int j, int peer, int src) {
  const team_t *T = &h->T;
  for (int i = T->first[j]; i < T->first[j + 1]; i++) {
    piece_t x = T->pc[i];
    nsccl_region_t r = src == SRC_IN ? in_reg(h, x) : at(h, src == SRC_ACC ? h->acc : NSCCL_BUF_RECV, x);
    nsccl_tree_send(&h->c, peer, r);
  }
}

static void recv_set(hier_t *h, int j, int peer) {
  const team_t *T = &h->T;
  for (int i = T->first[j]; i < T->first[j + 1]; i++) nsccl_tree_recv(&h->c, peer, at(h, NSCCL_BUF_RECV, T->pc[i]));
}

static void recv_reduce_set(hier_t *h, int j, int peer, int src, int final) {
  const team_t *T = &h->T;
  for (int i = T->first[j]; i < T->first[j + 1]; i++) {
    piece_t x = T->pc[i];
    nsccl_tree_recv_reduce(&h->c, peer, src == SRC_IN ? in_reg(h, x) : at(h, h->acc, x), acc_reg(h, x, final));
  }
}

static int wrap(int a, int m) { return ((a % m) + m) % m; }

/* ---- team collectives (the team in h->T) ---- */

/* Reduce-scatter: position j ends with the team's reduction of set j in acc (or the output). */
static void team_rs(hier_t *h, int last) {
  const team_t *T = &h->T;
  int m = T->m, pos = T->pos;
  if (m < 2) return;
  if (h->inter == NSCCL_ALGO_RING) {
    int next = T->rank[wrap(pos + 1, m)], prev = T->rank[wrap(pos - 1, m)];
    for (int k = 0; k < m - 1; k++) {
      send_set(h, wrap(pos - k - 1, m), next, k == 0 ? SRC_IN : SRC_ACC);
      recv_reduce_set(h, wrap(pos - k - 2, m), prev, SRC_IN, final_kind(k == m - 2, last));
    }
  } else if (h->inter == NSCCL_ALGO_TREE) {
    /* Recursive halving (m a power of two): keep the half holding pos, send the other half. */
    int lo = 0, hi = m;
    for (int k = 0; hi - lo > 1; k++) {
      int half = (hi - lo) / 2, mid = lo + half, upper = pos >= mid;
      int peer = T->rank[upper ? pos - half : pos + half];
      int slo = upper ? lo : mid, klo = upper ? mid : lo;
      for (int j = slo; j < slo + half; j++) send_set(h, j, peer, k == 0 ? SRC_IN : SRC_ACC);
      for (int j = klo; j < klo + half; j++)
        recv_reduce_set(h, j, peer, k == 0 ? SRC_IN : SRC_ACC, final_kind(half == 1, last));
      lo = klo, hi = klo + half;
    }
  } else {
    /* Direct: every position sends each other position its set at once, then reduces what came. */
    for (int d = 1; d < m; d++) send_set(h, wrap(pos + d, m), T->rank[wrap(pos + d, m)], SRC_IN);
    for (int d = 1; d < m; d++)
      recv_reduce_set(h, pos, T->rank[wrap(pos - d, m)], d == 1 ? SRC_IN : SRC_ACC, final_kind(d == m - 1, last));
  }
}

/* All-gather of the sets, which live in the receive buffer. */
static void team_ag(hier_t *h) {
  const team_t *T = &h->T;
  int m = T->m, pos = T->pos;
  if (m < 2) return;
  if (h->inter == NSCCL_ALGO_RING) {
    int next = T->rank[wrap(pos + 1, m)], prev = T->rank[wrap(pos - 1, m)];
    for (int k = 0; k < m - 1; k++) {
      send_set(h, wrap(pos - k, m), next, SRC_RECV);
      recv_set(h, wrap(pos - k - 1, m), prev);
    }
  } else if (h->inter == NSCCL_ALGO_TREE) {
    /* Recursive doubling: exchange aligned windows of 1, 2, 4, ... positions. */
    for (int w = 1; w < m; w *= 2) {
      int mine = pos & ~(w - 1), theirs = mine ^ w, peer = T->rank[pos ^ w];
      for (int j = mine; j < mine + w; j++) send_set(h, j, peer, SRC_RECV);
      for (int j = theirs; j < theirs + w; j++) recv_set(h, j, peer);
    }
  } else {
    for (int d = 1; d < m; d++) send_set(h, pos, T->rank[wrap(pos + d, m)], SRC_RECV);
    for (int d = 1; d < m; d++) recv_set(h, wrap(pos - d, m), T->rank[wrap(pos - d, m)]);
  }
}

/* ---- the three collectives ---- */

/* Each phase runs with the inter-group algorithm only across groups; inside a group it is h->intra. */
static void intra_rs(hier_t *h, int last) {
  nsccl_algo_t inter = h->inter;
  team_intra(h);
  h->inter = h->intra;
  team_rs(h, last);
  h->inter = inter;
  if (h->T.m >= 2) h->reduced = 1;
}

static void intra_ag(hier_t *h) {
  nsccl_algo_t inter = h->inter;
  team_intra(h);
  h->inter = h->intra;
  team_ag(h);
  h->inter = inter;
}

/* Columns this rank serves, in column order (the same order on every rank). */
static int serves(const hier_t *h, int c) { return nsccl_hier_member(h->L, h->L->group[h->me], c) == h->me; }

/* The composed inter-group phase, in place of the columns' team collectives. */
static int composed(hier_t *h) {
  if (!h->inter_fn) return 0;
  h->inter_rc = h->inter_fn(h->inter_arg, &h->c, h->L, h->me);
  return 1;
}

static void build_allreduce(hier_t *h) {
  h->acc = NSCCL_BUF_RECV;
  intra_rs(h, 0);
  if (!composed(h))
    for (int c = 0; c < h->L->width; c++)
      if (serves(h, c)) {
        team_inter(h, c);
        team_rs(h, 0);
        team_ag(h);
      }
  h->reduced = 1;
  intra_ag(h);
}

static void build_allgather(hier_t *h) {
  /* The own block first goes to its place in the output (nothing to do in place); a composed
   * inter phase is an all-gather of its own, which puts it there. */
  if (!composed(h)) {
    nsccl_tree_copy(&h->c, nsccl_region(NSCCL_BUF_SEND, 0, h->B),
                    nsccl_region(NSCCL_BUF_RECV, (size_t)h->me * h->B, h->B));
    for (int c = 0; c < h->L->width; c++)
      if (serves(h, c)) {
        team_inter(h, c);
        team_ag(h);
      }
  }
  intra_ag(h);
}

static void build_reducescatter(hier_t *h) {
  h->acc = NSCCL_BUF_SCRATCH;
  intra_rs(h, 0);
  if (!composed(h))
    for (int c = 0; c < h->L->width; c++)
      if (serves(h, c)) {
        team_inter(h, c);
        team_rs(h, 1);
      }
}

static nscclResult_t build(const struct nsccl_topo *topo, nsccl_algo_t inter, nsccl_algo_t intra,
                           nsccl_hier_inter_fn fn, void *arg, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  const nsccl_topo_t *t = topo;
  if (!t) NSCCL_FAIL(nscclInvalidArgument, "hier: hierarchical schedules need a topology with groups");
  if (t->nranks != prog->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "hier: topology %s has %d ranks, the program %d", t->name, t->nranks,
               prog->nranks);
  if (inter == NSCCL_ALGO_TREE && (t->ngroups & (t->ngroups - 1)))
    NSCCL_FAIL(nscclInvalidArgument,
               "hier: tree/hier halves and doubles across groups and needs a power-of-two number of them; topology "
               "%s has %d (use ring/hier or direct/hier)",
               t->name, t->ngroups);
  if ((unsigned)inter >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "hier: unknown algorithm %d", (int)inter);
  nsccl_hier_layout_t L;
  NSCCL_CHECK(nsccl_hier_layout(t, &L));
  hier_t h;
  memset(&h, 0, sizeof(h));
  h.L = &L;
  h.coll = prog->args.coll;
  h.inter = inter;
  h.intra = intra;
  h.inter_fn = fn;
  h.inter_arg = arg;
  h.me = prog->rank;
  nscclResult_t rc = nsccl_tree_ctx_init(&h.c, prog, opts);
  if (rc != nscclSuccess) {
    nsccl_hier_layout_free(&L);
    return rc;
  }
  h.elem = h.c.elem;
  h.B = prog->args.count * h.elem;
  int span = L.width > L.ngroups ? L.width : L.ngroups;
  h.T.rank = malloc(sizeof(int) * (size_t)span);
  h.T.first = malloc(sizeof(int) * ((size_t)span + 1));
  h.T.pc = malloc(sizeof(piece_t) * ((size_t)L.nranks + (size_t)L.width + (size_t)L.ngroups));
  if (!h.T.rank || !h.T.first || !h.T.pc) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "hier: out of memory for the teams of rank %d", prog->rank);
  } else if (prog->args.count > 0) {
    switch (h.coll) {
    case NSCCL_COLL_ALLREDUCE: build_allreduce(&h); break;
    case NSCCL_COLL_ALLGATHER: build_allgather(&h); break;
    case NSCCL_COLL_REDUCESCATTER: build_reducescatter(&h); break;
    default:
      rc = nscclInvalidArgument;
      nsccl_set_error(__FILE__, __LINE__, rc, "hier: unknown collective %d", (int)h.coll);
      break;
    }
  }
  free(h.T.rank);
  free(h.T.first);
  free(h.T.pc);
  nsccl_hier_layout_free(&L);
  nscclResult_t frc = nsccl_tree_ctx_finish(&h.c);
  NSCCL_CHECK(rc);
  NSCCL_CHECK(h.inter_rc);
  return frc;
}

nscclResult_t nsccl_hier_build(const struct nsccl_topo *topo, nsccl_algo_t inter, const nsccl_algo_opts_t *opts,
                               nsccl_program_t *prog) {
  return build(topo, inter, NSCCL_ALGO_RING, NULL, NULL, opts, prog);
}

nscclResult_t nsccl_hier_build_with(const struct nsccl_topo *topo, nsccl_algo_t intra, nsccl_hier_inter_fn fn,
                                    void *arg, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  return build(topo, NSCCL_ALGO_RING, intra, fn, arg, opts, prog);
}
