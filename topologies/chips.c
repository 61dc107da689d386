/* Ranks per chip: a chip running several ranks (Neuron at LNC=2 runs 4 ranks on a Trainium2 chip).
 * The chip becomes a vertex of its own, where its external links start and end, joined to each of
 * its ranks by one intra-chip link per direction; a module routes between chips and these helpers
 * add the first and last intra-chip hop. With one rank per chip nothing changes: the rank is the
 * chip vertex and the module's chip routes are its rank routes. */
#include <stdlib.h>

#include "base/check.h"
#include "topologies/common.h"

nscclResult_t nsccl_topo_read_chips(nsccl_topo_t *t, nsccl_params_t *p, int *ranks_per_chip) {
  int r = 1;
  NSCCL_CHECK(nsccl_params_int(p, "ranks_per_chip", 0, 1, &r));
  t->ranks_per_chip = r;
  t->intra_chip_bandwidth = 0;
  t->intra_chip_latency = 0;
  if (r > 1) {
    NSCCL_CHECK(nsccl_params_bw(p, "intra_chip_bandwidth", 1, &t->intra_chip_bandwidth));
    NSCCL_CHECK(nsccl_params_time(p, "intra_chip_latency", 0, &t->intra_chip_latency));
  }
  *ranks_per_chip = r;
  return nscclSuccess;
}

nscclResult_t nsccl_topo_refuse_store_on_chips(const nsccl_topo_t *t, nsccl_params_t *p) {
  if (t->ranks_per_chip > 1 && t->forward == NSCCL_FORWARD_STORE)
    return nsccl_params_error(p, "forward",
                              "key 'forward' = store with ranks_per_chip = %d: a chip passing traffic is a chip "
                              "vertex, not a rank, and the model and simulator charge store-and-forward only at ranks; "
                              "use forward = routed or ranks_per_chip = 1",
                              t->ranks_per_chip);
  return nscclSuccess;
}

int nsccl_topo_chip_vertex(const nsccl_topo_t *t, int chip) { return t->ranks_per_chip > 1 ? t->nranks + chip : chip; }

nscclResult_t nsccl_topo_add_chip_links(nsccl_topo_t *t, nsccl_chip_links_t *cl) {
  int n = t->nranks, R = t->ranks_per_chip;
  t->chip_of_rank = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  if (!t->chip_of_rank) NSCCL_FAIL(nscclSystemError, "out of memory building %s", t->name);
  for (int r = 0; r < n; r++) t->chip_of_rank[r] = r / R;
  t->nchips = n / R;
  if (R == 1) return nscclSuccess;
  /* A chip is the group of its ranks, so the hierarchical variants run an intra-chip stage. */
  free(t->group_of_rank);
  t->group_of_rank = malloc(sizeof(int) * (size_t)n);
  cl->up = malloc(sizeof(int) * (size_t)n);
  cl->down = malloc(sizeof(int) * (size_t)n);
  if (!t->group_of_rank || !cl->up || !cl->down) NSCCL_FAIL(nscclSystemError, "out of memory building %s", t->name);
  t->group_size = R;
  t->ngroups = t->nchips;
  for (int r = 0; r < n; r++) {
    int c = nsccl_topo_chip_vertex(t, r / R);
    t->group_of_rank[r] = r / R;
    cl->up[r] = nsccl_topo_add_link(t, r, c, t->intra_chip_bandwidth, t->intra_chip_latency);
    cl->down[r] = nsccl_topo_add_link(t, c, r, t->intra_chip_bandwidth, t->intra_chip_latency);
    if (cl->up[r] < 0 || cl->down[r] < 0) NSCCL_FAIL(nscclSystemError, "out of memory building %s", t->name);
  }
  return nscclSuccess;
}

int nsccl_topo_route_via_chips(const nsccl_topo_t *t, const nsccl_chip_links_t *cl, int src, int dst, int *links,
                               int max, nsccl_chip_route_fn chip_route) {
  int R = t->ranks_per_chip;
  if (R <= 1) return chip_route(t, src, dst, links, max);
  int a = src / R, b = dst / R, n = 0;
  if (max < 2) return -1;
  links[n++] = cl->up[src];
  if (a != b) {
    int k = chip_route(t, a, b, links + 1, max - 2);
    if (k < 0) return -1;
    n += k;
  }
  links[n++] = cl->down[dst];
  return n;
}

void nsccl_topo_ring_of_chips(const nsccl_topo_t *t, const int *chip_order, int *order) {
  int R = t->ranks_per_chip, k = 0;
  for (int i = 0; i < t->nchips; i++)
    for (int j = 0; j < R; j++) order[k++] = chip_order[i] * R + j;
}

void nsccl_chip_links_free(nsccl_chip_links_t *cl) {
  free(cl->up);
  free(cl->down);
  cl->up = cl->down = NULL;
}
