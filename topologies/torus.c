/* torus: chips on a k0 x k1 x ... grid with wraparound links in every dimension (NeuronLink on
 * Trainium2). Dimension-order routing takes the shorter way round in each dimension; the ring
 * embedding is a boustrophedon ("snake") so ring neighbours are one hop apart. With ranks_per_chip
 * > 1 the grid, its links and routes are between chip vertices (chips.c) and a chip's ranks hang off
 * it; everything below works on chip indices. */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "topologies/common.h"

typedef struct {
  int *link_of; /* [chip][dim][dir]: link index from chip one step in dim, dir 0 = +1, 1 = -1; -1 none */
  int *orbit;   /* [nlinks]: dim * 2 + dir of each grid link; 2 nd, 2 nd + 1: rank-chip up, down links */
  nsccl_chip_links_t chips;
} torus_priv_t;

static int *link_slot(const nsccl_topo_t *t, int chip, int d, int dir) {
  torus_priv_t *pv = t->priv;
  return &pv->link_of[(chip * t->ndims + d) * 2 + dir];
}

/* The chip one step from chip in dimension d (chip indices; coordinates as topo.h). */
static int step_chip(const nsccl_topo_t *t, int chip, int d, int delta) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, chip, c);
  c[d] = ((c[d] + delta) % t->dims[d] + t->dims[d]) % t->dims[d];
  return nsccl_topo_rank_at(t, c);
}

static nscclResult_t torus_build(nsccl_topo_t *t, nsccl_params_t *p) {
  double dims[NSCCL_TOPO_MAX_DIMS];
  int nd = 0;
  NSCCL_CHECK(nsccl_params_list(p, "dims", 1, dims, NSCCL_TOPO_MAX_DIMS, &nd));
  long n = 1;
  for (int d = 0; d < nd; d++) {
    if (dims[d] < 1 || dims[d] != (int)dims[d] || dims[d] > 4096)
      return nsccl_params_error(p, "dims", "key 'dims': each dimension must be an integer >= 1");
    t->dims[d] = (int)dims[d];
    n *= t->dims[d];
    if (n > 1 << 20) return nsccl_params_error(p, "dims", "key 'dims': more than 2^20 ranks");
  }
  t->ndims = nd;
  int per_chip = 1;
  NSCCL_CHECK(nsccl_topo_read_chips(t, p, &per_chip));
  if (n * per_chip > 1 << 20)
    return nsccl_params_error(p, "ranks_per_chip", "key 'ranks_per_chip': more than 2^20 ranks");
  t->nranks = (int)n * per_chip;
  t->nvertices = t->nranks + (per_chip > 1 ? (int)n : 0);
  int ranks = t->nranks;
  NSCCL_CHECK(nsccl_params_int(p, "ranks", 0, 1, &ranks));
  if (ranks != t->nranks)
    return nsccl_params_error(p, "ranks", "key 'ranks' = %d does not match dims x ranks_per_chip (%d ranks)", ranks,
                              t->nranks);

  /* link_bandwidth applies to every dimension unless dim_bandwidth lists one value per dimension. */
  double bw = 0, dbw[NSCCL_TOPO_MAX_DIMS];
  int nbw = 0;
  NSCCL_CHECK(nsccl_params_list(p, "dim_bandwidth", 0, dbw, NSCCL_TOPO_MAX_DIMS, &nbw));
  NSCCL_CHECK(nsccl_params_bw(p, "link_bandwidth", nbw == 0, &bw));
  if (nbw && nbw != nd)
    return nsccl_params_error(p, "dim_bandwidth", "key 'dim_bandwidth': %d values for %d dimensions", nbw, nd);
  for (int d = 0; d < nd; d++) {
    t->dim_bandwidth[d] = nbw ? dbw[d] : bw;
    if (!(t->dim_bandwidth[d] > 0))
      return nsccl_params_error(p, "dim_bandwidth", "key 'dim_bandwidth': bandwidth must be > 0 bytes/s");
  }
  t->link_bandwidth = bw > 0 ? bw : t->dim_bandwidth[0];
  NSCCL_CHECK(nsccl_topo_read_endpoint(t, p, 1));
  NSCCL_CHECK(nsccl_topo_read_forward(t, p));
  NSCCL_CHECK(nsccl_topo_refuse_store_on_chips(t, p));

  torus_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) NSCCL_FAIL(nscclSystemError, "out of memory building torus %s", t->name);
  t->priv = pv;
  pv->link_of = malloc(sizeof(int) * (size_t)n * nd * 2 + 1);
  if (!pv->link_of) NSCCL_FAIL(nscclSystemError, "out of memory building torus %s", t->name);
  for (int c = 0; c < n; c++) {
    int v = nsccl_topo_chip_vertex(t, c);
    for (int d = 0; d < nd; d++) {
      int k = t->dims[d];
      *link_slot(t, c, d, 0) = *link_slot(t, c, d, 1) = -1;
      if (k == 1) continue;
      int fwd = nsccl_topo_add_link(t, v, nsccl_topo_chip_vertex(t, step_chip(t, c, d, +1)), t->dim_bandwidth[d],
                                    t->link_latency);
      /* A ring of two has one neighbour: both directions use the same link. */
      int bwd = k == 2 ? fwd
                       : nsccl_topo_add_link(t, v, nsccl_topo_chip_vertex(t, step_chip(t, c, d, -1)),
                                             t->dim_bandwidth[d], t->link_latency);
      if (fwd < 0 || bwd < 0) NSCCL_FAIL(nscclSystemError, "out of memory building torus %s", t->name);
      *link_slot(t, c, d, 0) = fwd;
      *link_slot(t, c, d, 1) = bwd;
    }
  }
  NSCCL_CHECK(nsccl_topo_add_chip_links(t, &pv->chips));
  /* The grid's translations are the symmetry of topo.h's link_orbit: a grid link's class is its
   * dimension and direction (a ring of two has one link, class dir 0). With several ranks per chip
   * the translations move chip c to c + c0 and a chip's rank j to (j + j0) mod ranks_per_chip:
   * routes (up, chip route, down) map to routes, and the rank-to-chip and chip-to-rank links are two
   * more classes. */
  pv->orbit = malloc(sizeof(int) * ((size_t)t->nlinks + 1));
  if (!pv->orbit) NSCCL_FAIL(nscclSystemError, "out of memory building torus %s", t->name);
  for (int i = 0; i < t->nlinks; i++) pv->orbit[i] = -1;
  for (int c = 0; c < n; c++)
    for (int d = 0; d < nd; d++)
      for (int dir = 1; dir >= 0; dir--)
        if (*link_slot(t, c, d, dir) >= 0) pv->orbit[*link_slot(t, c, d, dir)] = d * 2 + dir;
  if (per_chip > 1)
    for (int r = 0; r < t->nranks; r++) pv->orbit[pv->chips.up[r]] = 2 * nd, pv->orbit[pv->chips.down[r]] = 2 * nd + 1;
  return nscclSuccess;
}

/* Dimension-order route between two chips (chip indices). Coordinates are walked by strides (chip
 * index = sum of coord[d] x stride[d], topo.h) rather than recomputed per hop: the model and the
 * simulator ask for millions of routes at thousands of ranks. */
static int torus_chip_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  int n = 0, cur = src, stride = 1;
  for (int d = 0; d < t->ndims; d++) {
    int k = t->dims[d], sc = src / stride % k, dc = dst / stride % k;
    int delta = ((dc - sc) % k + k) % k;
    if (delta != 0) {
      /* Shorter way round; a tie (delta = k/2) goes the + way so routes are deterministic. */
      int dir = delta <= k - delta ? 0 : 1;
      int steps = dir == 0 ? delta : k - delta;
      if (n + steps > max) return -1;
      const int *slot = link_slot(t, 0, d, dir);
      int c = cur / stride % k; /* cur's coordinate in d (still sc: earlier dimensions moved others) */
      for (int s = 0; s < steps; s++) {
        links[n++] = slot[cur * t->ndims * 2];
        int next = dir == 0 ? (c + 1 == k ? 0 : c + 1) : (c == 0 ? k - 1 : c - 1);
        cur += (next - c) * stride;
        c = next;
      }
    }
    stride *= k;
  }
  return n;
}

static int torus_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const torus_priv_t *pv = t->priv;
  return nsccl_topo_route_via_chips(t, &pv->chips, src, dst, links, max, torus_chip_route);
}

/* Boustrophedon over the dimensions: the outermost (slowest) dimension is an even one, so the last
 * rank of the snake, (0, ..., 0, k_outer - 1), is one wraparound hop from the first (0, ..., 0).
 * With every dimension odd (and more than one of size > 1) the closing edge is several hops. */
static void torus_chip_ring(const nsccl_topo_t *t, int *order) {
  int nd = t->ndims, perm[NSCCL_TOPO_MAX_DIMS], np = 0, outer = -1;
  for (int d = nd - 1; d >= 0 && outer < 0; d--)
    if (t->dims[d] % 2 == 0) outer = d;
  for (int d = 0; d < nd; d++)
    if (d != outer) perm[np++] = d;
  if (outer >= 0) perm[np++] = outer;
  for (int j = 0; j < t->nchips; j++) {
    int c[NSCCL_TOPO_MAX_DIMS] = {0}, rem = j, rev = 0, w = t->nchips;
    for (int i = np - 1; i >= 0; i--) {
      int k = t->dims[perm[i]];
      w /= k;
      if (rev) rem = k * w - 1 - rem; /* this block runs backwards */
      int q = rem / w;
      rem %= w;
      c[perm[i]] = q;
      rev = q & 1; /* odd blocks of the level below run backwards */
    }
    order[j] = nsccl_topo_rank_at(t, c);
  }
}

/* The snake over the chips, a chip's ranks one after another. */
static void torus_ring(const nsccl_topo_t *t, int *order) {
  if (t->ranks_per_chip <= 1) {
    torus_chip_ring(t, order);
    return;
  }
  int *chips = malloc(sizeof(int) * (size_t)t->nchips);
  if (!chips) { /* ring() cannot fail: fall back to rank order, still a permutation */
    for (int r = 0; r < t->nranks; r++) order[r] = r;
    return;
  }
  torus_chip_ring(t, chips);
  nsccl_topo_ring_of_chips(t, chips, order);
  free(chips);
}

static void torus_destroy(nsccl_topo_t *t) {
  torus_priv_t *pv = t->priv;
  if (pv) free(pv->link_of);
  if (pv) free(pv->orbit);
  if (pv) nsccl_chip_links_free(&pv->chips);
  free(pv);
  t->priv = NULL;
}

static int torus_link_orbit(const nsccl_topo_t *t, int link) {
  const torus_priv_t *pv = t->priv;
  return pv->orbit && link >= 0 && link < t->nlinks ? pv->orbit[link] : -1;
}
static int torus_orbits(const nsccl_topo_t *t) {
  return ((const torus_priv_t *)t->priv)->orbit ? 2 * t->ndims + (t->ranks_per_chip > 1 ? 2 : 0) : 0;
}

const nsccl_topo_module_t nsccl_topo_torus_module = {"torus",       torus_build,      torus_route, torus_ring,
                                                     torus_destroy, torus_link_orbit, torus_orbits};
