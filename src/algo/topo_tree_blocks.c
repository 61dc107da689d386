/* The plan of the mapped tree all-gather and reduce-scatter: which blocks each step moves, between
 * which torus neighbours (topo_tree_blocks.h).
 *
 * All-gather runs the torus dimensions one after another. Before the phase of dimension d a rank
 * holds the blocks of every rank that agrees with it outside the dimensions already done; the
 * phase gathers along d, so afterwards d is done too. Inside a phase (k = dims[d], x = my
 * coordinate in d):
 *
 *   k = 2^j  Gray-coded recursive doubling, j steps. Step s exchanges with coordinate
 *            x ^ (2^(s+1) - 1): the hypercube labels are the reflected Gray code of the
 *            coordinates, and flipping label bit s flips coordinate bits 0..s. Gray(x) and x share
 *            the bits above s, so the blocks gathered so far are still an aligned run of 2^s
 *            coordinates and the partner's are the other half of the aligned 2^(s+1) run. For
 *            k = 2 and k = 4 every partner is one hop away (0-1, 2-3, then 0-3, 1-2 on a ring of 4).
 *   other k  Bruck along the dimension: step s sends the first m = min(2^s, k - 2^s) coordinates of
 *            my cyclic run [x, x + 2^s) to x - 2^s and receives as many from x + 2^s. ceil(lg k)
 *            steps; partners are min(2^s, k - 2^s) hops away.
 *
 * Every set is therefore a product of per-dimension cyclic runs, and the blocks sit at their final
 * offsets (rank r's at r * block) from the start. Reduce-scatter is the transpose: the same steps
 * in reverse order with the directions swapped, each keeping the partials of a shrinking set. */
#include "algo/topo_tree_blocks.h"

static int with_coord(const nsccl_topo_t *t, int r, int d, int x) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, r, c);
  c[d] = ((x % t->dims[d]) + t->dims[d]) % t->dims[d];
  return nsccl_topo_rank_at(t, c);
}

static nsccl_blockset_t with_run(nsccl_blockset_t s, const nsccl_topo_t *t, int d, int start, int len) {
  int k = t->dims[d];
  s.start[d] = len >= k ? 0 : ((start % k) + k) % k;
  s.len[d] = len >= k ? k : len;
  return s;
}

int nsccl_blockset_has(const nsccl_topo_t *t, const nsccl_blockset_t *s, int q) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, q, c);
  for (int d = 0; d < t->ndims; d++) {
    int k = t->dims[d];
    if ((c[d] - s->start[d] + k) % k >= s->len[d]) return 0;
  }
  return 1;
}

int nsccl_blockset_size(const nsccl_topo_t *t, const nsccl_blockset_t *s) {
  int n = 1;
  for (int d = 0; d < t->ndims; d++) n *= s->len[d];
  return n;
}

int nsccl_blockset_runs(const nsccl_topo_t *t, const nsccl_blockset_t *s, int (*runs)[2]) {
  int nr = 0, prev = -2;
  for (int q = 0; q < t->nranks; q++) {
    if (!nsccl_blockset_has(t, s, q)) continue;
    if (q == prev + 1)
      runs[nr - 1][1] = q + 1;
    else
      runs[nr][0] = q, runs[nr][1] = q + 1, nr++;
    prev = q;
  }
  return nr;
}

static int is_pow2(int k) { return (k & (k - 1)) == 0; }

/* The all-gather steps of dimension d given the set held before them; returns the set after. */
static nsccl_blockset_t ag_phase(const nsccl_topo_t *t, int rank, int d, nsccl_blockset_t h, nsccl_mapped_step_t *out,
                                 int *n) {
  int k = t->dims[d], c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, rank, c);
  int x = c[d];
  for (int w = 1; w < k; w *= 2) {
    nsccl_mapped_step_t *st = &out[(*n)++];
    st->dim = d;
    st->hypercube = is_pow2(k);
    if (st->hypercube) {
      int xp = x ^ (2 * w - 1);
      st->to = st->from = with_coord(t, rank, d, xp);
      st->send = with_run(h, t, d, x & ~(w - 1), w);
      st->recv = with_run(h, t, d, xp & ~(w - 1), w);
      h = with_run(h, t, d, x & ~(2 * w - 1), 2 * w);
    } else {
      int m = w < k - w ? w : k - w;
      st->to = with_coord(t, rank, d, x - w);
      st->from = with_coord(t, rank, d, x + w);
      st->send = with_run(h, t, d, x, m);
      st->recv = with_run(h, t, d, x + w, m);
      h = with_run(h, t, d, x, w + m);
    }
    st->keep = h;
  }
  return h;
}

/* The reduce-scatter steps of dimension d: the all-gather phase's steps transposed, last first.
 * h holds every coordinate of d on entry; returns the set after (only my coordinate in d). */
static nsccl_blockset_t rs_phase(const nsccl_topo_t *t, int rank, int d, nsccl_blockset_t h, nsccl_mapped_step_t *out,
                                 int *n) {
  int k = t->dims[d], c[NSCCL_TOPO_MAX_DIMS], top = 1;
  nsccl_topo_coord(t, rank, c);
  int x = c[d];
  while (top * 2 < k) top *= 2;
  for (int w = top; w >= 1; w /= 2) {
    nsccl_mapped_step_t *st = &out[(*n)++];
    st->dim = d;
    st->hypercube = is_pow2(k);
    if (st->hypercube) {
      int xp = x ^ (2 * w - 1);
      st->to = st->from = with_coord(t, rank, d, xp);
      st->send = with_run(h, t, d, xp & ~(w - 1), w);
      st->recv = with_run(h, t, d, x & ~(w - 1), w);
      h = st->recv;
    } else {
      int m = w < k - w ? w : k - w;
      st->to = with_coord(t, rank, d, x + w);
      st->from = with_coord(t, rank, d, x - w);
      st->send = with_run(h, t, d, x + w, m);
      st->recv = with_run(h, t, d, x, m);
      h = with_run(h, t, d, x, w);
    }
    st->keep = h;
  }
  return h;
}

int nsccl_mapped_plan(const nsccl_topo_t *t, nsccl_coll_t coll, int rank, nsccl_mapped_step_t *steps, int max) {
  if (!t || t->ndims <= 0 || t->ranks_per_chip > 1) return -1; /* coordinates of chips, not ranks */
  int dims[NSCCL_TOPO_MAX_DIMS], nd = nsccl_topo_dims_by_bandwidth(t, dims), c[NSCCL_TOPO_MAX_DIMS], n = 0;
  int need = 0;
  for (int i = 0; i < nd; i++)
    for (int w = 1; w < t->dims[dims[i]]; w *= 2) need++;
  if (need > max) return -1;
  nsccl_topo_coord(t, rank, c);
  nsccl_blockset_t h;
  for (int d = 0; d < t->ndims; d++) {
    int all = coll == NSCCL_COLL_REDUCESCATTER;
    h.start[d] = all ? 0 : c[d];
    h.len[d] = all ? t->dims[d] : 1;
  }
  if (coll == NSCCL_COLL_REDUCESCATTER)
    for (int i = nd - 1; i >= 0; i--) h = rs_phase(t, rank, dims[i], h, steps, &n);
  else
    for (int i = 0; i < nd; i++) h = ag_phase(t, rank, dims[i], h, steps, &n);
  return n;
}
