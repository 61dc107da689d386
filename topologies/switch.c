/* switch: NeuronSwitch-style crossbar. One level: every rank has an uplink to the switch and a
 * downlink from it, so any two ranks are two links apart. Two levels: ranks hang off first-level
 * ("leaf") switches of ranks_per_switch ranks; leaves join every second-level ("spine") switch, so
 * ranks on different leaves are four links apart (rank, leaf, spine, leaf, rank). A switch
 * traversal adds its latency to the link entering the switch (cut-through). */
#include <stdlib.h>

#include "base/check.h"
#include "topologies/common.h"

typedef struct {
  int leaves, spines, per_leaf;
} switch_priv_t;

static nscclResult_t switch_build(nsccl_topo_t *t, nsccl_params_t *p) {
  int n = 0, levels = 1;
  NSCCL_CHECK(nsccl_params_int(p, "ranks", 1, 1, &n));
  NSCCL_CHECK(nsccl_params_bw(p, "link_bandwidth", 1, &t->link_bandwidth));
  NSCCL_CHECK(nsccl_params_time(p, "switch_latency", 0, &t->switch_latency));
  NSCCL_CHECK(nsccl_topo_read_endpoint(t, p, 1));
  NSCCL_CHECK(nsccl_params_int(p, "levels", 0, 1, &levels));
  if (levels > 2) return nsccl_params_error(p, "levels", "key 'levels': %d levels; use 1 or 2", levels);
  t->nranks = n;
  t->levels = levels;
  switch_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  t->priv = pv;
  pv->per_leaf = n;
  pv->leaves = 1;
  double spine_bw = 0, spine_lat = t->switch_latency;
  if (levels == 2) {
    NSCCL_CHECK(nsccl_params_int(p, "ranks_per_switch", 1, 1, &pv->per_leaf));
    if (n % pv->per_leaf)
      return nsccl_params_error(p, "ranks_per_switch", "key 'ranks_per_switch' = %d does not divide ranks = %d",
                                pv->per_leaf, n);
    pv->spines = 1;
    NSCCL_CHECK(nsccl_params_int(p, "spine_switches", 0, 1, &pv->spines));
    NSCCL_CHECK(nsccl_params_bw(p, "spine_bandwidth", 1, &spine_bw));
    NSCCL_CHECK(nsccl_params_time(p, "spine_latency", 0, &spine_lat));
    pv->leaves = n / pv->per_leaf;
    t->group_size = pv->per_leaf;
  }
  t->ngroups = pv->leaves;
  t->nvertices = n + pv->leaves + pv->spines;
  t->group_of_rank = malloc(sizeof(int) * n);
  if (!t->group_of_rank) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  int ok = 1;
  /* Links 2r (up) and 2r+1 (down) for rank r; then leaf l <-> spine s at 2n + 2(l*spines+s) (+1). */
  for (int r = 0; r < n; r++) {
    int leaf = n + r / pv->per_leaf;
    t->group_of_rank[r] = r / pv->per_leaf;
    ok &= nsccl_topo_add_link(t, r, leaf, t->link_bandwidth, t->link_latency + t->switch_latency) >= 0;
    ok &= nsccl_topo_add_link(t, leaf, r, t->link_bandwidth, t->link_latency) >= 0;
  }
  for (int l = 0; l < pv->leaves && levels == 2; l++)
    for (int s = 0; s < pv->spines; s++) {
      int leaf = n + l, spine = n + pv->leaves + s;
      ok &= nsccl_topo_add_link(t, leaf, spine, spine_bw, t->link_latency + spine_lat) >= 0;
      ok &= nsccl_topo_add_link(t, spine, leaf, spine_bw, t->link_latency + t->switch_latency) >= 0;
    }
  if (!ok) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  return nscclSuccess;
}

static int switch_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const switch_priv_t *pv = t->priv;
  int ls = src / pv->per_leaf, ld = dst / pv->per_leaf;
  int n = ls == ld ? 2 : 4;
  if (max < n) return -1;
  links[0] = 2 * src;
  if (ls != ld) {
    /* Spread pairs over the spines deterministically. */
    int s = (ls + dst) % pv->spines;
    links[1] = 2 * t->nranks + 2 * (ls * pv->spines + s);
    links[2] = 2 * t->nranks + 2 * (ld * pv->spines + s) + 1;
  }
  links[n - 1] = 2 * dst + 1;
  return n;
}

/* Consecutive ranks share a leaf, so the natural order crosses the spines least. */
static void switch_ring(const nsccl_topo_t *t, int *order) {
  for (int r = 0; r < t->nranks; r++) order[r] = r;
}

static void switch_destroy(nsccl_topo_t *t) {
  free(t->priv);
  t->priv = NULL;
}

const nsccl_topo_module_t nsccl_topo_switch_module = {"switch", switch_build, switch_route, switch_ring,
                                                      switch_destroy};
