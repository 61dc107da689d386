/* The ring family's variants: the ring over the topology's ring embedding (identity when flat),
 * and the per-dimension ("bucket") torus ring. Builders in ring.c / topo_ring.c; their prices here
 * follow the builders message by message (docs/model.md, "Ring"). */
#include <math.h>
#include <stdlib.h>

#include "algo/gather_walk.h"
#include "algo/ring.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "model/price.h"
#include "topologies/topo.h"

typedef nsccl_model_t model_t;

static void ring_phase(model_t *m, const int *order, double B, int reduce_too, int steps) {
  int p = m->p;
  for (int i = 0; i < p; i++) {
    nsccl_model_flow1(m, order[i], order[(i + 1) % p], B);
    if (reduce_too) nsccl_model_reduce(m, order[(i + 1) % p], B);
  }
  nsccl_model_step_end(m, steps, 1);
}

static void model_ring(model_t *m, nsccl_coll_t coll, const int *order, double n) {
  double B = n / m->p;
  if (coll != NSCCL_COLL_ALLGATHER) ring_phase(m, order, B, 1, m->p - 1);
  if (coll != NSCCL_COLL_REDUCESCATTER) ring_phase(m, order, B, 0, m->p - 1);
}

/* Per-dimension ("bucket") ring on a torus. A rank's blocks during a phase are the ranks that
 * vary over a set S of dimensions (the others equal its own); they lie in runs of consecutive
 * ranks of length prod_{d < a} k_d, a the lowest dimension not in S, each run one message. */
static double runs_of(const nsccl_topo_t *t, unsigned S, double *blocks) {
  double b = 1, run = 1;
  int a = 0;
  for (int d = 0; d < t->ndims; d++)
    if (S >> d & 1) b *= t->dims[d];
  while (a < t->ndims && (S >> a & 1)) run *= t->dims[a++];
  *blocks = b;
  return b / run;
}

static int torus_step(const nsccl_topo_t *t, int r, int d, int delta) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, r, c);
  c[d] = ((c[d] + delta) % t->dims[d] + t->dims[d]) % t->dims[d];
  return nsccl_topo_rank_at(t, c);
}

static void dims_phase(model_t *m, int d, double bytes, double runs, int reduce_too) {
  for (int r = 0; r < m->p; r++) {
    int nb = torus_step(m->t, r, d, +1);
    nsccl_model_flow(m, r, nb, bytes, runs /* one message per run: the per-dimension builder does not chunk */);
    if (reduce_too) nsccl_model_reduce(m, nb, bytes);
  }
  nsccl_model_step_end(m, m->t->dims[d] - 1, 2); /* one ring per line of the dimension, all at once */
}

/* The all-gather's phases as one walked all-gather phase (gather_walk.h): the builder sends every
 * run of blocks once the blocks in it have arrived, so a phase's first step starts on what the
 * phase before delivered first (its own line's blocks at once), and the phases overlap on their
 * different links and pair queues. Step s of phase j (dimension d): rank r sends to its +1
 * neighbour in d the blocks of the ranks whose coordinate in d is r's minus s and whose other
 * coordinates equal r's outside the dimensions gathered before (S), as runs of consecutive ranks. */
typedef struct {
  const nsccl_topo_t *t;
  const int *dims;
  int nd, base[NSCCL_TOPO_MAX_DIMS]; /* base[j]: the walk's index of phase j's first step */
} dims_walk_t;

/* gather_walk.h's source: block q reached r in the latest phase whose dimension separates them,
 * from r's -1 neighbour there, in the step that carried q's coordinate. */
static int dims_source(const void *ctx, int r, int s, int q, int *step) {
  const dims_walk_t *w = ctx;
  int cr[NSCCL_TOPO_MAX_DIMS], cq[NSCCL_TOPO_MAX_DIMS];
  (void)s;
  if (q == r) return -1;
  nsccl_topo_coord(w->t, r, cr);
  nsccl_topo_coord(w->t, q, cq);
  for (int j = w->nd - 1; j >= 0; j--) {
    int d = w->dims[j], k = w->t->dims[d];
    if (cr[d] == cq[d]) continue;
    *step = w->base[j] + ((cr[d] - cq[d]) % k + k) % k - 1;
    return torus_step(w->t, r, d, -1);
  }
  return -1;
}

static int by_rank(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The runs rank r sends in step s of the phase of dimension d, S the dimensions gathered before;
 * ranks[] has room for the set (prod over S of the dimensions). Returns the number of runs. */
static int dims_runs(const nsccl_topo_t *t, int r, int d, int s, unsigned S, int *ranks, int (*runs)[2]) {
  int c[NSCCL_TOPO_MAX_DIMS], n = 1, nr = 0;
  nsccl_topo_coord(t, r, c);
  c[d] = ((c[d] - s) % t->dims[d] + t->dims[d]) % t->dims[d];
  ranks[0] = nsccl_topo_rank_at(t, c);
  for (int e = 0; e < t->ndims; e++) { /* every coordinate of a gathered dimension */
    if (!(S >> e & 1)) continue;
    for (int i = 0, m = n; i < m; i++)
      for (int x = 1; x < t->dims[e]; x++) {
        nsccl_topo_coord(t, ranks[i], c);
        c[e] = (c[e] + x) % t->dims[e];
        ranks[n++] = nsccl_topo_rank_at(t, c);
      }
  }
  qsort(ranks, (size_t)n, sizeof(int), by_rank);
  for (int i = 0; i < n; i++)
    if (nr && runs[nr - 1][1] == ranks[i])
      runs[nr - 1][1]++;
    else
      runs[nr][0] = ranks[i], runs[nr][1] = ranks[i] + 1, nr++;
  return nr;
}

static void walk_dims_gather(model_t *m, const int *dims, int nd, double B) {
  const nsccl_topo_t *t = m->t;
  dims_walk_t w = {t, dims, nd, {0}};
  int L = 0;
  for (int j = 0; j < nd; j++) w.base[j] = L, L += t->dims[dims[j]] - 1;
  int *ranks = malloc(sizeof(int) * (size_t)m->p);
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)m->p);
  double chunk = m->chunk;
  m->chunk = INFINITY; /* the per-dimension builder sends every run as one message */
  nsccl_gwalk_t *gw = ranks && runs ? nsccl_gwalk_new(m, L, B, dims_source, &w) : NULL;
  if (!gw) {
    m->rc = nscclSystemError;
  } else {
    nsccl_model_phase_begin(m);
    nsccl_model_phase_gather(m);
    unsigned S = 0;
    for (int j = 0; j < nd && m->rc == nscclSuccess; j++) {
      int d = dims[j];
      for (int s = 0; s < t->dims[d] - 1; s++) {
        for (int r = 0; r < m->p; r++) {
          int nr = dims_runs(t, r, d, s, S, ranks, runs), to = torus_step(t, r, d, +1);
          double blocks = 0;
          for (int i = 0; i < nr; i++) blocks += runs[i][1] - runs[i][0];
          nsccl_model_flow(m, r, to, blocks * B, nr);
          nsccl_gwalk_send(gw, w.base[j] + s, r, to, (const int(*)[2])runs, nr);
        }
        nsccl_model_step(m, 1);
      }
      S |= 1u << d;
    }
    nsccl_model_phase_end(m);
  }
  m->chunk = chunk;
  nsccl_gwalk_free(gw);
  free(ranks);
  free(runs);
}

static void model_ring_dims(model_t *m, nsccl_coll_t coll, double n) {
  const nsccl_topo_t *t = m->t;
  int dims[NSCCL_TOPO_MAX_DIMS], nd = nsccl_topo_dims_by_bandwidth(t, dims);
  double B = n / m->p, blocks;
  if (coll == NSCCL_COLL_ALLGATHER) {
    walk_dims_gather(m, dims, nd, B);
    return;
  }
  if (coll != NSCCL_COLL_ALLGATHER) {
    unsigned U = (1u << t->ndims) - 1; /* dimensions still unreduced */
    for (int j = nd - 1; j >= 0; j--) {
      unsigned part = U & ~(1u << dims[j]);
      double runs = runs_of(t, part, &blocks);
      dims_phase(m, dims[j], blocks * B, runs, 1);
      U = part;
    }
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    unsigned S = 0; /* dimensions gathered so far */
    for (int j = 0; j < nd; j++) {
      double runs = runs_of(t, S, &blocks);
      dims_phase(m, dims[j], blocks * B, runs, 0);
      S |= 1u << dims[j];
    }
  }
}

static void price_ring(model_t *m, nsccl_coll_t coll, double n) {
  int *order = malloc(sizeof(int) * (size_t)m->p);
  if (!order) {
    m->rc = nscclSystemError;
    return;
  }
  nsccl_topo_ring(m->t, order);
  model_ring(m, coll, order, n);
  free(order);
}

static int dims_apply(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll, (void)nranks;
  /* Rank coordinates: with several ranks per chip a torus's coordinates are the chips' (topo.h). */
  if (t && t->ranks_per_chip > 1) return 0;
  int nd = 0;
  for (int d = 0; t && d < t->ndims; d++) nd += t->dims[d] > 1;
  return nd >= 2;
}

static nscclResult_t build_ring(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return t ? nsccl_topo_algo_build(NSCCL_ALGO_RING, t, o, p) : nsccl_ring_build(t, o, p);
}

const nsccl_variant_t nsccl_variant_ring = {
    "ring",
    NSCCL_ALGO_RING,
    0,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    NULL,
    NULL,
    build_ring,
    price_ring,
    "ring over the topology's ring embedding (one hop per step on a torus; rank order when flat)"};
const nsccl_variant_t nsccl_variant_ring_topo = {"ring/topo",
                                                 NSCCL_ALGO_RING,
                                                 NSCCL_RING_TOPO,
                                                 NSCCL_COLLS_ALL,
                                                 0,
                                                 NULL,
                                                 NULL,
                                                 build_ring,
                                                 price_ring,
                                                 "the same schedule as ring (the name of earlier releases)"};
const nsccl_variant_t nsccl_variant_ring_dims = {
    "ring/dims",
    NSCCL_ALGO_RING,
    NSCCL_RING_DIMS,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    dims_apply,
    NULL,
    build_ring,
    model_ring_dims,
    "torus: one ring per dimension in turn, every line of the dimension at once (bucket)"};
