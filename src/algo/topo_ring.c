/* Per-dimension ("bucket") ring on a torus: all-gather runs a ring along each dimension in turn,
 * every line of the dimension at once, each phase forwarding all blocks gathered so far;
 * reduce-scatter runs the phases the other way round, each leaving a rank the partials of a
 * 1/k share of what it held; all-reduce = reduce-scatter + all-gather. Steps: sum_d (k_d - 1)
 * instead of p - 1, bytes on the wire the same as one ring.
 *
 * Phase order: all-gather goes thinnest dimension first (its messages are smallest then),
 * reduce-scatter thinnest last, so thin links (Trn2's Z) carry the least. The blocks a rank holds
 * in a phase are the ranks that differ from a line-mate only in dimensions already done; each
 * maximal run of consecutive blocks is one message (no chunking). Every step that touches a block
 * depends on the previous step of this rank that touched it, which orders all aliasing accesses,
 * including in place. */
#include <stdlib.h>

#include "algo/ring.h"
#include "algo/topo_algo.h"
#include "base/check.h"
#include "topologies/topo.h"

nscclResult_t nsccl_ring_dims_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

typedef struct {
  nsccl_program_t *p;
  const nsccl_topo_t *t;
  int n, me;
  size_t *off;           /* [n + 1]: bytes where block j starts (vector or block layout) */
  nsccl_step_id_t *last; /* [n]: last step of this rank touching block j */
  nsccl_step_id_t *deps; /* [n] */
  unsigned char *in_scratch;
  int (*runs)[2]; /* [n] */
} dims_t;

/* The rank with coordinate d set to x (mod k) and the others equal to rank r's. */
static int with_coord(const nsccl_topo_t *t, int r, int d, int x) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, r, c);
  c[d] = ((x % t->dims[d]) + t->dims[d]) % t->dims[d];
  return nsccl_topo_rank_at(t, c);
}

/* Runs [j0, j1) of the ranks that equal q outside the dimensions in S. The members are enumerated
 * in increasing rank order (an odometer over the free digits of rank = sum c[d] stride[d] + top *
 * prod(dims), lowest digit first), so a call costs the set's size, not a scan of all n ranks: the
 * scan made building at 4,096 ranks O(p^2 k). Ranks past prod(dims) (the top digit, which
 * nsccl_topo_coord does not read) are members whenever their grid digits are. */
static int set_runs(dims_t *D, int q, unsigned S) {
  const nsccl_topo_t *t = D->t;
  int nd = t->ndims, cq[NSCCL_TOPO_MAX_DIMS + 1], c[NSCCL_TOPO_MAX_DIMS + 1], k[NSCCL_TOPO_MAX_DIMS + 1];
  int stride[NSCCL_TOPO_MAX_DIMS + 1], nr = 0, prev = -2, grid = 1;
  nsccl_topo_coord(t, q, cq);
  for (int d = 0; d < nd; d++) stride[d] = grid, k[d] = t->dims[d], grid *= t->dims[d];
  stride[nd] = grid, k[nd] = (D->n + grid - 1) / grid, cq[nd] = 0; /* the top digit: always free */
  int j = 0;
  for (int d = 0; d <= nd; d++) {
    c[d] = d < nd && !(S >> d & 1) ? cq[d] : 0;
    j += c[d] * stride[d];
  }
  for (;;) {
    if (j < D->n) {
      if (j == prev + 1)
        D->runs[nr - 1][1] = j + 1;
      else
        D->runs[nr][0] = j, D->runs[nr][1] = j + 1, nr++;
      prev = j;
    }
    int d = 0; /* next member: increment the lowest free digit, carrying */
    for (; d <= nd; d++) {
      if (d < nd && !(S >> d & 1)) continue;
      if (c[d] + 1 < k[d]) {
        c[d]++, j += stride[d];
        break;
      }
      j -= c[d] * stride[d], c[d] = 0;
    }
    if (d > nd) break;
  }
  return nr;
}

static int run_deps(dims_t *D, int j0, int j1) {
  int nd = 0;
  for (int j = j0; j < j1; j++)
    if (D->last[j] != NSCCL_NO_STEP) D->deps[nd++] = D->last[j];
  return nd;
}

static void run_touched(dims_t *D, int j0, int j1, nsccl_step_id_t id) {
  for (int j = j0; j < j1; j++) D->last[j] = id;
}

static void reduce_scatter(dims_t *D, const int *dims, int nd, unsigned *left) {
  const nsccl_topo_t *t = D->t;
  nsccl_coll_t coll = D->p->args.coll;
  unsigned U = 0;
  for (int i = 0; i < nd; i++) U |= 1u << dims[i];
  for (int ph = nd - 1; ph >= 0; ph--) {
    int d = dims[ph], k = t->dims[d], c[NSCCL_TOPO_MAX_DIMS];
    nsccl_topo_coord(t, D->me, c);
    int i = c[d], nxt = with_coord(t, D->me, d, i + 1), prv = with_coord(t, D->me, d, i - 1);
    unsigned part = U & ~(1u << d);
    for (int s = 0; s < k - 1; s++) {
      int nr = set_runs(D, with_coord(t, D->me, d, i - s - 1), part);
      for (int r = 0; r < nr; r++) {
        int j0 = D->runs[r][0], j1 = D->runs[r][1];
        size_t lo = D->off[j0], len = D->off[j1] - lo;
        if (!len) continue;
        nsccl_buf_t b = D->in_scratch[j0] ? NSCCL_BUF_SCRATCH : NSCCL_BUF_SEND;
        nsccl_step_id_t id = nsccl_prog_send(D->p, nxt, nsccl_region(b, lo, len), D->deps, run_deps(D, j0, j1));
        run_touched(D, j0, j1, id);
      }
      int final = ph == 0 && s == k - 2;
      nr = set_runs(D, with_coord(t, D->me, d, i - s - 2), part);
      for (int r = 0; r < nr; r++) {
        int j0 = D->runs[r][0], j1 = D->runs[r][1];
        size_t lo = D->off[j0], len = D->off[j1] - lo;
        if (!len) continue;
        nsccl_buf_t b = D->in_scratch[j0] ? NSCCL_BUF_SCRATCH : NSCCL_BUF_SEND;
        /* The last reduction lands in the output: recv holds only the own block for reduce-scatter,
         * the whole vector for all-reduce. */
        nsccl_region_t dst = nsccl_region(NSCCL_BUF_SCRATCH, lo, len);
        if (final) dst = nsccl_region(NSCCL_BUF_RECV, coll == NSCCL_COLL_REDUCESCATTER ? 0 : lo, len);
        nsccl_step_id_t id =
            nsccl_prog_recv_reduce(D->p, prv, nsccl_region(b, lo, len), dst, D->deps, run_deps(D, j0, j1));
        run_touched(D, j0, j1, id);
        for (int j = j0; j < j1; j++) D->in_scratch[j] = 1;
      }
    }
    U = part;
  }
  *left = U;
}

static void all_gather(dims_t *D, const int *dims, int nd) {
  const nsccl_topo_t *t = D->t;
  unsigned S = 0;
  for (int ph = 0; ph < nd; ph++) {
    int d = dims[ph], k = t->dims[d], c[NSCCL_TOPO_MAX_DIMS];
    nsccl_topo_coord(t, D->me, c);
    int i = c[d], nxt = with_coord(t, D->me, d, i + 1), prv = with_coord(t, D->me, d, i - 1);
    for (int s = 0; s < k - 1; s++) {
      int nr = set_runs(D, with_coord(t, D->me, d, i - s), S);
      for (int r = 0; r < nr; r++) {
        int j0 = D->runs[r][0], j1 = D->runs[r][1];
        size_t lo = D->off[j0], len = D->off[j1] - lo;
        if (!len) continue;
        nsccl_step_id_t id =
            nsccl_prog_send(D->p, nxt, nsccl_region(NSCCL_BUF_RECV, lo, len), D->deps, run_deps(D, j0, j1));
        run_touched(D, j0, j1, id);
      }
      nr = set_runs(D, with_coord(t, D->me, d, i - s - 1), S);
      for (int r = 0; r < nr; r++) {
        int j0 = D->runs[r][0], j1 = D->runs[r][1];
        size_t lo = D->off[j0], len = D->off[j1] - lo;
        if (!len) continue;
        nsccl_step_id_t id =
            nsccl_prog_recv(D->p, prv, nsccl_region(NSCCL_BUF_RECV, lo, len), D->deps, run_deps(D, j0, j1));
        run_touched(D, j0, j1, id);
      }
    }
    S |= 1u << d;
  }
}

nscclResult_t nsccl_ring_dims_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)opts;
  int n = prog->nranks;
  dims_t D = {prog, topo, n, prog->rank, NULL, NULL, NULL, NULL, NULL};
  D.off = malloc(sizeof(size_t) * (n + 1));
  D.last = malloc(sizeof(nsccl_step_id_t) * n);
  D.deps = malloc(sizeof(nsccl_step_id_t) * n);
  D.in_scratch = calloc(n, 1);
  D.runs = malloc(sizeof(*D.runs) * n);
  nscclResult_t rc = nscclSuccess;
  if (!D.off || !D.last || !D.deps || !D.in_scratch || !D.runs) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "ring/dims: out of memory for %d ranks", n);
    goto out;
  }
  const nsccl_coll_args_t *a = &prog->args;
  size_t elem = nsccl_algo_elem_bytes(prog);
  for (int j = 0; j <= n; j++) {
    if (a->coll == NSCCL_COLL_ALLREDUCE) {
      size_t first, len;
      nsccl_algo_block(a->count, n, j < n ? j : n - 1, &first, &len);
      D.off[j] = j < n ? first * elem : (first + len) * elem;
    } else {
      D.off[j] = (size_t)j * a->count * elem;
    }
    if (j < n) D.last[j] = NSCCL_NO_STEP;
  }
  int dims[NSCCL_TOPO_MAX_DIMS], nd = nsccl_topo_dims_by_bandwidth(topo, dims);
  size_t B = a->count * elem;
  if (a->coll == NSCCL_COLL_ALLGATHER) {
    /* The own block first goes to its place in recv (already there in place). */
    if (!a->in_place && B)
      D.last[D.me] = nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, B),
                                     nsccl_region(NSCCL_BUF_RECV, D.off[D.me], B), NSCCL_NODEPS);
    all_gather(&D, dims, nd);
  } else {
    unsigned left;
    nsccl_prog_need_scratch(prog, D.off[n]);
    if (nd == 0) {
      size_t lo = D.off[D.me], len = D.off[D.me + 1] - lo;
      if (a->coll == NSCCL_COLL_ALLREDUCE) lo = 0, len = D.off[n];
      if (len && !a->in_place)
        nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, lo, len),
                        nsccl_region(NSCCL_BUF_RECV, a->coll == NSCCL_COLL_ALLREDUCE ? lo : 0, len), NSCCL_NODEPS);
    } else {
      reduce_scatter(&D, dims, nd, &left);
      if (a->coll == NSCCL_COLL_ALLREDUCE) all_gather(&D, dims, nd);
    }
  }
out:
  free(D.off);
  free(D.last);
  free(D.deps);
  free(D.in_scratch);
  free(D.runs);
  return rc;
}
