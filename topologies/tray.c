/* tray: Trn3 Gen1 as a teardown reads its switch trays (docs/hardware-facts.md T3-TRAY): racks of
 * `planes` switch planes, `ranks / (racks x planes)` chips on each plane. A plane is one switch
 * vertex (its parallel switch chips merged); the planes of a rack are linked pairwise, and each
 * plane to the plane of the same index in every other rack. Routes, counted in switch traversals:
 *   same plane                       1  (chip, plane, chip)
 *   same rack, other plane           2  (chip, plane, plane, chip)
 *   other rack, same plane index     2  (chip, plane, same plane of the other rack, chip)
 *   other rack, other plane index    3  (chip, plane, same plane of the other rack, its plane, chip)
 * The teardown's "3 across racks" is the last case. A switch traversal adds switch_latency to the
 * link entering the switch (cut-through), as in the switch module. ranks_per_chip > 1: chips.c. */
#include <stdlib.h>

#include "base/check.h"
#include "topologies/common.h"

typedef struct {
  int chips, racks, planes, per_plane;
  int *up, *down;  /* [chips] */
  int *plane_link; /* [(rack * planes + p) * planes + q]: plane p -> plane q of one rack, -1 if p = q */
  int *rack_link;  /* [(p * racks + k) * racks + m]: plane p of rack k -> plane p of rack m, -1 if k = m */
  nsccl_chip_links_t chip_links;
} tray_priv_t;

static nscclResult_t oom(const nsccl_topo_t *t) {
  NSCCL_FAIL(nscclSystemError, "out of memory building tray %s", t->name);
}

static nscclResult_t tray_build(nsccl_topo_t *t, nsccl_params_t *p) {
  int n = 0, R = 1, racks = 1, planes = 1;
  double plane_bw = 0, rack_bw = 0, trunk_lat = 0;
  NSCCL_CHECK(nsccl_params_int(p, "ranks", 1, 1, &n));
  NSCCL_CHECK(nsccl_params_int(p, "racks", 0, 1, &racks));
  NSCCL_CHECK(nsccl_params_int(p, "planes", 0, 1, &planes));
  NSCCL_CHECK(nsccl_params_bw(p, "link_bandwidth", 1, &t->link_bandwidth));
  NSCCL_CHECK(nsccl_params_time(p, "switch_latency", 0, &t->switch_latency));
  NSCCL_CHECK(nsccl_topo_read_endpoint(t, p, 1));
  NSCCL_CHECK(nsccl_topo_read_chips(t, p, &R));
  if (planes > 1) NSCCL_CHECK(nsccl_params_bw(p, "plane_bandwidth", 1, &plane_bw));
  if (racks > 1) NSCCL_CHECK(nsccl_params_bw(p, "rack_bandwidth", 1, &rack_bw));
  trunk_lat = t->link_latency;
  NSCCL_CHECK(nsccl_params_time(p, "trunk_latency", 0, &trunk_lat));
  if (n % (R * racks * planes))
    return nsccl_params_error(p, "ranks", "key 'ranks' = %d is not a multiple of ranks_per_chip x racks x planes = %d",
                              n, R * racks * planes);
  tray_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) return oom(t);
  t->priv = pv;
  t->nranks = n;
  pv->chips = n / R;
  pv->racks = racks;
  pv->planes = planes;
  pv->per_plane = pv->chips / (racks * planes);
  int trays = racks * planes, sw0 = n + (R > 1 ? pv->chips : 0);
  t->nswitches = trays;
  t->nvertices = sw0 + trays;
  pv->up = malloc(sizeof(int) * (size_t)pv->chips);
  pv->down = malloc(sizeof(int) * (size_t)pv->chips);
  pv->plane_link = malloc(sizeof(int) * (size_t)(racks * planes * planes));
  pv->rack_link = malloc(sizeof(int) * (size_t)(planes * racks * racks));
  t->group_of_rank = malloc(sizeof(int) * (size_t)n);
  if (!pv->up || !pv->down || !pv->plane_link || !pv->rack_link || !t->group_of_rank) return oom(t);
  /* Groups: the chips of one plane (one switch traversal apart); by chip when ranks_per_chip > 1. */
  if (trays > 1) {
    t->group_size = pv->per_plane * R;
    t->ngroups = trays;
  }
  for (int r = 0; r < n; r++) t->group_of_rank[r] = r / R / pv->per_plane;
  int ok = 1;
  for (int c = 0; c < pv->chips; c++) {
    int v = nsccl_topo_chip_vertex(t, c), sw = sw0 + c / pv->per_plane;
    pv->up[c] = nsccl_topo_add_link(t, v, sw, t->link_bandwidth, t->link_latency + t->switch_latency);
    pv->down[c] = nsccl_topo_add_link(t, sw, v, t->link_bandwidth, t->link_latency);
    ok &= pv->up[c] >= 0 && pv->down[c] >= 0;
  }
  for (int k = 0; k < racks; k++)
    for (int a = 0; a < planes; a++)
      for (int b = 0; b < planes; b++) {
        int *slot = &pv->plane_link[(k * planes + a) * planes + b];
        *slot = a == b ? -1
                       : nsccl_topo_add_link(t, sw0 + k * planes + a, sw0 + k * planes + b, plane_bw,
                                             trunk_lat + t->switch_latency);
        ok &= a == b || *slot >= 0;
      }
  for (int q = 0; q < planes; q++)
    for (int k = 0; k < racks; k++)
      for (int m = 0; m < racks; m++) {
        int *slot = &pv->rack_link[(q * racks + k) * racks + m];
        *slot = k == m ? -1
                       : nsccl_topo_add_link(t, sw0 + k * planes + q, sw0 + m * planes + q, rack_bw,
                                             trunk_lat + t->switch_latency);
        ok &= k == m || *slot >= 0;
      }
  if (!ok) return oom(t);
  return nsccl_topo_add_chip_links(t, &pv->chip_links);
}

static int tray_chip_route(const nsccl_topo_t *t, int a, int b, int *links, int max) {
  const tray_priv_t *pv = t->priv;
  int P = pv->planes, R = pv->racks, ta = a / pv->per_plane, tb = b / pv->per_plane;
  int ka = ta / P, pa = ta % P, kb = tb / P, pb = tb % P, n = 0;
  if (max < 4) return -1;
  links[n++] = pv->up[a];
  if (ka != kb) links[n++] = pv->rack_link[(pa * R + ka) * R + kb];
  if (pa != pb) links[n++] = pv->plane_link[(kb * P + pa) * P + pb];
  links[n++] = pv->down[b];
  return n;
}

static int tray_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const tray_priv_t *pv = t->priv;
  return nsccl_topo_route_via_chips(t, &pv->chip_links, src, dst, links, max, tray_chip_route);
}

/* Plane after plane, the planes of odd racks in reverse, so each change of plane is one trunk link
 * (within a rack, or to the same plane of the next rack). */
static void tray_ring(const nsccl_topo_t *t, int *order) {
  const tray_priv_t *pv = t->priv;
  int *chips = malloc(sizeof(int) * (size_t)pv->chips), k = 0;
  if (!chips) { /* ring() cannot fail: rank order is still a permutation */
    for (int r = 0; r < t->nranks; r++) order[r] = r;
    return;
  }
  for (int rack = 0; rack < pv->racks; rack++)
    for (int i = 0; i < pv->planes; i++) {
      int plane = rack % 2 ? pv->planes - 1 - i : i, first = (rack * pv->planes + plane) * pv->per_plane;
      for (int c = 0; c < pv->per_plane; c++) chips[k++] = first + c;
    }
  nsccl_topo_ring_of_chips(t, chips, order);
  free(chips);
}

static void tray_destroy(nsccl_topo_t *t) {
  tray_priv_t *pv = t->priv;
  if (pv) {
    free(pv->up);
    free(pv->down);
    free(pv->plane_link);
    free(pv->rack_link);
    nsccl_chip_links_free(&pv->chip_links);
  }
  free(pv);
  t->priv = NULL;
}

const nsccl_topo_module_t nsccl_topo_tray_module = {"tray", tray_build, tray_route, tray_ring, tray_destroy};
