/* The ring family's variants: the ring over the topology's ring embedding (identity when flat),
 * and the per-dimension ("bucket") torus ring. Builders in ring.c / topo_ring.c; their prices here
 * follow the builders message by message (docs/model.md, "Ring"). */
#include <math.h>
#include <stdlib.h>

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

static void model_ring_dims(model_t *m, nsccl_coll_t coll, double n) {
  const nsccl_topo_t *t = m->t;
  int dims[NSCCL_TOPO_MAX_DIMS], nd = nsccl_topo_dims_by_bandwidth(t, dims);
  double B = n / m->p, blocks;
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
