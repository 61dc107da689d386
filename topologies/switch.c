/* switch: NeuronSwitch-style fabrics of chips and switches.
 *   One level, one switch: every chip has an uplink to the switch and a downlink from it, so any two
 *     chips are two links apart (a crossbar).
 *   One level, several switches (Trn3 Gen1: docs/hardware-facts.md T3-GEN1-LAYOUT): the chips split
 *     into equal blocks, one per switch, in servers of server_chips; direct "cross" links join the
 *     chips of the same index in partner servers on different switches (cross_links = 0-2, 1-3). A
 *     chip reaches a chip on another switch over one cross link and at most one switch (switch_cross.c).
 *   Two levels: chips hang off first-level ("leaf") switches; leaves join every second-level
 *     ("spine") switch, so chips on different leaves are four links apart (chip, leaf, spine, leaf,
 *     chip).
 * A switch traversal adds its latency to the link entering the switch (cut-through). With
 * ranks_per_chip > 1 these links join chip vertices and the ranks hang off them (chips.c). */
#include <stdlib.h>

#include "base/check.h"
#include "topologies/switch_cross.h"

static nscclResult_t oom(const nsccl_topo_t *t) {
  NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
}

/* Two levels: ranks_per_switch, spine_switches, spine_bandwidth, spine_latency. */
static nscclResult_t read_two_level(nsccl_topo_t *t, nsccl_params_t *p, switch_priv_t *pv, int R, double *spine_bw,
                                    double *spine_lat) {
  int per_leaf = 0;
  NSCCL_CHECK(nsccl_params_int(p, "ranks_per_switch", 1, 1, &per_leaf));
  if (t->nranks % per_leaf)
    return nsccl_params_error(p, "ranks_per_switch", "key 'ranks_per_switch' = %d does not divide ranks = %d", per_leaf,
                              t->nranks);
  if (per_leaf % R)
    return nsccl_params_error(p, "ranks_per_switch",
                              "key 'ranks_per_switch' = %d is not a multiple of ranks_per_chip = %d", per_leaf, R);
  pv->per_leaf = per_leaf / R;
  pv->spines = 1;
  NSCCL_CHECK(nsccl_params_int(p, "spine_switches", 0, 1, &pv->spines));
  NSCCL_CHECK(nsccl_params_bw(p, "spine_bandwidth", 1, spine_bw));
  NSCCL_CHECK(nsccl_params_time(p, "spine_latency", 0, spine_lat));
  pv->leaves = pv->chips / pv->per_leaf;
  return nscclSuccess;
}

static nscclResult_t switch_build(nsccl_topo_t *t, nsccl_params_t *p) {
  int n = 0, levels = 1, R = 1;
  NSCCL_CHECK(nsccl_params_int(p, "ranks", 1, 1, &n));
  NSCCL_CHECK(nsccl_params_bw(p, "link_bandwidth", 1, &t->link_bandwidth));
  NSCCL_CHECK(nsccl_params_time(p, "switch_latency", 0, &t->switch_latency));
  NSCCL_CHECK(nsccl_topo_read_endpoint(t, p, 1));
  NSCCL_CHECK(nsccl_topo_read_chips(t, p, &R));
  if (n % R)
    return nsccl_params_error(p, "ranks_per_chip", "key 'ranks_per_chip' = %d does not divide ranks = %d", R, n);
  NSCCL_CHECK(nsccl_params_int(p, "levels", 0, 1, &levels));
  if (levels > 2) return nsccl_params_error(p, "levels", "key 'levels': %d levels; use 1 or 2", levels);
  t->nranks = n;
  t->levels = levels;
  switch_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) return oom(t);
  t->priv = pv;
  pv->chips = n / R;
  pv->per_leaf = pv->chips;
  pv->leaves = 1;
  double spine_bw = 0, spine_lat = t->switch_latency;
  if (levels == 2) {
    NSCCL_CHECK(read_two_level(t, p, pv, R, &spine_bw, &spine_lat));
  } else {
    NSCCL_CHECK(nsccl_switch_read_cross(t, p, pv)); /* switches, servers, cross links (switch_cross.c) */
  }
  int sw0 = n + (R > 1 ? pv->chips : 0); /* vertices: ranks, chips (ranks_per_chip > 1), switches */
  t->nvertices = sw0 + pv->leaves + pv->spines;
  pv->up = malloc(sizeof(int) * (size_t)pv->chips);
  pv->down = malloc(sizeof(int) * (size_t)pv->chips);
  pv->trunk = malloc(sizeof(int) * (size_t)(2 * pv->leaves * (pv->spines > 0 ? pv->spines : 1)));
  t->group_of_rank = malloc(sizeof(int) * (size_t)n);
  if (!pv->up || !pv->down || !pv->trunk || !t->group_of_rank) return oom(t);
  /* Groups: a leaf (two levels) or a switch (several one-level switches); by chip when
   * ranks_per_chip > 1 (nsccl_topo_add_chip_links regroups). */
  if (pv->leaves > 1) {
    t->group_size = pv->per_leaf * R;
    t->ngroups = pv->leaves;
  }
  for (int r = 0; r < n; r++) t->group_of_rank[r] = r / R / pv->per_leaf;
  int ok = 1;
  /* Links 2c (up) and 2c+1 (down) for chip c; then leaf l <-> spine s at 2 chips + 2(l*spines+s) (+1);
   * then the cross links; then the intra-chip links. One rank per chip, no cross links: link 2r is
   * rank r's uplink, as before chips existed. */
  for (int c = 0; c < pv->chips; c++) {
    int v = nsccl_topo_chip_vertex(t, c), leaf = sw0 + c / pv->per_leaf;
    pv->up[c] = nsccl_topo_add_link(t, v, leaf, t->link_bandwidth, t->link_latency + t->switch_latency);
    pv->down[c] = nsccl_topo_add_link(t, leaf, v, t->link_bandwidth, t->link_latency);
    ok &= pv->up[c] >= 0 && pv->down[c] >= 0;
  }
  for (int l = 0; l < pv->leaves && levels == 2; l++)
    for (int s = 0; s < pv->spines; s++) {
      int leaf = sw0 + l, spine = sw0 + pv->leaves + s, k = 2 * (l * pv->spines + s);
      pv->trunk[k] = nsccl_topo_add_link(t, leaf, spine, spine_bw, t->link_latency + spine_lat);
      pv->trunk[k + 1] = nsccl_topo_add_link(t, spine, leaf, spine_bw, t->link_latency + t->switch_latency);
      ok &= pv->trunk[k] >= 0 && pv->trunk[k + 1] >= 0;
    }
  if (!ok) return oom(t);
  NSCCL_CHECK(nsccl_switch_add_cross(t, pv));
  return nsccl_topo_add_chip_links(t, &pv->chip_links);
}

static int switch_chip_route(const nsccl_topo_t *t, int a, int b, int *links, int max) {
  const switch_priv_t *pv = t->priv;
  int la = a / pv->per_leaf, lb = b / pv->per_leaf;
  if (la != lb && t->levels == 1) return nsccl_switch_cross_route(t, pv, a, b, links, max);
  int n = la == lb ? 2 : 4;
  if (max < n) return -1;
  links[0] = pv->up[a];
  if (la != lb) {
    /* Spread pairs over the spines deterministically. */
    int s = (la + b) % pv->spines;
    links[1] = pv->trunk[2 * (la * pv->spines + s)];
    links[2] = pv->trunk[2 * (lb * pv->spines + s) + 1];
  }
  links[n - 1] = pv->down[b];
  return n;
}

static int switch_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const switch_priv_t *pv = t->priv;
  return nsccl_topo_route_via_chips(t, &pv->chip_links, src, dst, links, max, switch_chip_route);
}

/* Consecutive chips share a leaf, so the natural order crosses the spines least; with cross links
 * the order of switch_cross.c crosses between switches over direct links only. */
static void switch_ring(const nsccl_topo_t *t, int *order) {
  const switch_priv_t *pv = t->priv;
  int *chips = malloc(sizeof(int) * (size_t)pv->chips);
  if (!chips) { /* ring() cannot fail: rank order is still a permutation */
    for (int r = 0; r < t->nranks; r++) order[r] = r;
    return;
  }
  for (int c = 0; c < pv->chips; c++) chips[c] = c;
  nsccl_switch_cross_ring(pv, chips);
  nsccl_topo_ring_of_chips(t, chips, order);
  free(chips);
}

static void switch_destroy(nsccl_topo_t *t) {
  switch_priv_t *pv = t->priv;
  if (pv) {
    free(pv->up);
    free(pv->down);
    free(pv->trunk);
    free(pv->partner);
    free(pv->cross);
    nsccl_chip_links_free(&pv->chip_links);
  }
  free(pv);
  t->priv = NULL;
}

const nsccl_topo_module_t nsccl_topo_switch_module = {"switch", switch_build, switch_route, switch_ring,
                                                      switch_destroy};
