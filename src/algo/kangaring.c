/* KangaRing's cycles and lanes (kangaring.h). */
#include <stdlib.h>
#include <string.h>

#include "algo/kangaring.h"
#include "base/check.h"
#include "topologies/topo.h"

/* Is next[] one cycle through all n nodes? */
static int single_cycle(const int *next, int n) {
  int v = 0, len = 0;
  do {
    if (next[v] < 0 || next[v] >= n) return 0;
    v = next[v];
    len++;
  } while (v != 0 && len <= n);
  return v == 0 && len == n;
}

int nsccl_kangaring_cycles(int a, int b, int *h1, int *h2) {
  if (a < 3 || b < 3 || b % a) return 0;
  for (int y = 0; y < b; y++)
    for (int x = 0; x < a; x++) {
      int v = x + a * y, c = ((-y) % a + a) % a;
      int px = (x + 1) % a + a * y, py = x + a * ((y + 1) % b);
      h1[v] = x == c ? py : px;
      h2[v] = x == c ? px : py;
    }
  int n = a * b;
  if (!single_cycle(h1, n) || !single_cycle(h2, n)) return 0;
  /* Different links out of every node: h1[v] != h2[v] (with a, b >= 3 the +x and +y neighbours are
   * distinct), so no directed link is in both; reversed they use the -x / -y links. */
  for (int v = 0; v < n; v++)
    if (h1[v] == h2[v]) return 0;
  return 1;
}

double nsccl_kangaring_split(int P, int c, double bxy, double bz) {
  /* Per-link seconds per byte of block (docs/model.md): XY u (c + (1 - c) s), Z v (1 + (P - 1) s). */
  double u = (P - 1) / (4.0 * bxy), v = (c - 1) / (2.0 * bz);
  double den = v * (P - 1) + u * (c - 1);
  double s = den > 0 ? (u * c - v) / den : 1;
  return s < 0 ? 0 : s > 1 ? 1 : s;
}

/* The rank with coordinates of r except (x, y) in the plane dims (and z shifted by dz in zdim). */
static int moved(const nsccl_topo_t *t, int r, const int *plane, int x, int y, int zdim, int dz) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, r, c);
  c[plane[0]] = x, c[plane[1]] = y;
  if (zdim >= 0) c[zdim] = ((c[zdim] + dz) % t->dims[zdim] + t->dims[zdim]) % t->dims[zdim];
  return nsccl_topo_rank_at(t, c);
}

/* Plane orientation with working cycles: plane[0] gets the dimension that divides the other. */
static int orient(const nsccl_topo_t *t, int d0, int d1, int *plane, int *h1, int *h2) {
  for (int o = 0; o < 2; o++) {
    plane[0] = o ? d1 : d0, plane[1] = o ? d0 : d1;
    if (nsccl_kangaring_cycles(t->dims[plane[0]], t->dims[plane[1]], h1, h2)) return 1;
  }
  return 0;
}

void nsccl_kangaring_free(nsccl_kangaring_t *k) {
  free(k->perm);
  k->perm = NULL;
  k->nlanes = 0;
}

nscclResult_t nsccl_kangaring_plan(const nsccl_topo_t *t, nsccl_kangaring_t *k) {
  memset(k, 0, sizeof(*k));
  k->zdim = -1;
  k->split = 1;
  if (!t || t->ndims == 0) NSCCL_FAIL(nscclInvalidArgument, "ring/kangaring: needs a torus");
  long prod = 1;
  for (int d = 0; d < t->ndims; d++) prod *= t->dims[d];
  if (prod != t->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "ring/kangaring: %s has %d ranks on %ld torus vertices (one per vertex needed)",
               t->name, t->nranks, prod);
  int eff[NSCCL_TOPO_MAX_DIMS], ne = nsccl_topo_dims_by_bandwidth(t, eff);
  if (ne != 2 && ne != 3)
    NSCCL_FAIL(nscclInvalidArgument, "ring/kangaring: %s has %d dimensions longer than 1 (2 or 3 needed)", t->name, ne);
  for (int i = 0; i < ne; i++)
    if (t->dims[eff[i]] < 3)
      NSCCL_FAIL(nscclInvalidArgument, "ring/kangaring: %s: dimension %d has %d ranks (3 or more needed)", t->name,
                 eff[i], t->dims[eff[i]]);
  int n = t->nranks, amax = 1;
  for (int i = 0; i < ne; i++) amax *= t->dims[eff[i]];
  int *h1 = malloc(sizeof(int) * (size_t)amax * 2);
  k->perm = malloc(sizeof(int) * (size_t)n * 6);
  if (!h1 || !k->perm) {
    free(h1);
    nsccl_kangaring_free(k);
    NSCCL_FAIL(nscclSystemError, "ring/kangaring: out of memory for %d ranks", n);
  }
  int *h2 = h1 + amax, ok = 0;
  if (ne == 2) {
    ok = orient(t, eff[0], eff[1], k->plane, h1, h2);
  } else {
    /* Z is the thinnest dimension; if its plane has no cycles, try the others as Z. */
    for (int zi = 0; zi < 3 && !ok; zi++) {
      int p0 = eff[zi == 0 ? 1 : 0], p1 = eff[zi == 2 ? 1 : 2];
      k->zdim = eff[zi];
      ok = orient(t, p0, p1, k->plane, h1, h2);
    }
  }
  if (!ok) {
    free(h1);
    nsccl_kangaring_free(k);
    NSCCL_FAIL(nscclInvalidArgument,
               "ring/kangaring: %s: no plane whose staircase cycles are Hamiltonian (one side must divide the other)",
               t->name);
  }
  int a = t->dims[k->plane[0]];
  int *h1n = k->perm, *h1p = h1n + n, *h2n = h1p + n, *h2p = h2n + n, *zn = h2p + n, *zp = zn + n;
  for (int r = 0; r < n; r++) {
    int c[NSCCL_TOPO_MAX_DIMS];
    nsccl_topo_coord(t, r, c);
    int v = c[k->plane[0]] + a * c[k->plane[1]];
    h1n[r] = moved(t, r, k->plane, h1[v] % a, h1[v] / a, -1, 0);
    h2n[r] = moved(t, r, k->plane, h2[v] % a, h2[v] / a, -1, 0);
    zn[r] = k->zdim >= 0 ? moved(t, r, k->plane, c[k->plane[0]], c[k->plane[1]], k->zdim, +1) : r;
  }
  for (int r = 0; r < n; r++) h1p[h1n[r]] = r, h2p[h2n[r]] = r, zp[zn[r]] = r;
  free(h1);
  /* Plane rings: H1 and H2, each both ways. */
  const int *pn[4] = {h1n, h1p, h2n, h2p}, *pp[4] = {h1p, h1n, h2p, h2n};
  if (k->zdim < 0) {
    k->nlanes = 4;
    for (int i = 0; i < 4; i++)
      k->lane[i] = (nsccl_lane_t){
          .lo = i / 4.0, .hi = (i + 1) / 4.0, .nphases = 1, .next = {pn[i]}, .prev = {pp[i]}, .cost = {1}};
    return nscclSuccess;
  }
  const int *zn2[2] = {zn, zp}, *zp2[2] = {zp, zn};
  double bxy = t->dim_bandwidth[k->plane[0]] < t->dim_bandwidth[k->plane[1]] ? t->dim_bandwidth[k->plane[0]]
                                                                             : t->dim_bandwidth[k->plane[1]];
  k->split = nsccl_kangaring_split(a * t->dims[k->plane[1]], t->dims[k->zdim], bxy, t->dim_bandwidth[k->zdim]);
  /* The plan (lanes.h): per-link busy times of each part's phases, in seconds per byte of a block.
   * All-gather: the XY links carry part 1's plane rings first (A1), then part 2's (A2); the Z links
   * part 2's Z rings first (Z2), then part 1's (Z1), whose sends wait for part 2's (gate). Each part
   * so starts on the links the other part does not need yet; reduce-scatter mirrors it. */
  int P = a * t->dims[k->plane[1]], c = t->dims[k->zdim];
  double s = k->split, cz = 1 / t->dim_bandwidth[k->zdim], cxy = 1 / bxy;
  double A1 = (P - 1) * s / 4 * cxy, A2 = (P - 1) * c * (1 - s) / 4 * cxy;
  double Z1 = (c - 1) * P * s / 2 * cz, Z2 = (c - 1) * (1 - s) / 2 * cz;
  double T = A1 + A2 > Z1 + Z2 ? A1 + A2 : Z1 + Z2;
  /* Twelve lanes (lanes.h). Part 1, [0, s) of every block: four plane rings with a quarter each
   * (lanes 0-3), then the two Z rings with a half each (4-5) carrying the plane's blocks. Part 2,
   * [s, 1): the two Z rings (6-7), then the four plane rings (8-11) carrying the Z line's blocks.
   * The second stage of a part has the first stage's phase as a virtual one (it shapes the
   * super-blocks; the other lanes run it), so a Z message carries one block's half, not four
   * quarters, and a plane message one block's quarter gathered by both Z rings. */
  double mid = A1 > Z2 ? A1 : Z2;
  k->nlanes = 12;
  for (int l = 0; l < 12; l++) {
    nsccl_lane_t *ln = &k->lane[l];
    int part = l >= 6, plane_first = l < 4 || l >= 8, q = l < 4 ? l : l < 6 ? l - 4 : l < 8 ? l - 6 : l - 8;
    int of = plane_first ? 4 : 2;
    double base = part ? s : 0, width = part ? 1 - s : s;
    *ln = (nsccl_lane_t){.lo = base + width * q / of, .hi = base + width * (q + 1) / of, .horizon = T, .gated = 1};
    if (part && q + 1 == of) ln->hi = 1;
    for (int ph = 0; ph < 2; ph++) ln->gate[ph][0] = ln->gate_rs[ph][0] = -1;
    /* Stage 1 of a part is phase 0; stage 2 is phase 1 with stage 1's kind of ring as phase 0. */
    int stage2 = l == 4 || l == 5 || l >= 8, ph = stage2;
    const int *vn = part ? zn : pn[0], *vp = part ? zp : pp[0]; /* the virtual phase's rings */
    if (stage2) ln->next[0] = vn, ln->prev[0] = vp, ln->cost[0] = part ? cz : cxy, ln->virt = 1;
    ln->nphases = ph + 1;
    if (plane_first)
      ln->next[ph] = pn[q], ln->prev[ph] = pp[q], ln->cost[ph] = cxy;
    else
      ln->next[ph] = zn2[q], ln->prev[ph] = zp2[q], ln->cost[ph] = cz;
    if (l < 4) ln->win[0][0] = 0, ln->win[0][1] = A1;             /* part 1, plane */
    if (l == 4 || l == 5) ln->win[1][0] = mid, ln->win[1][1] = T; /* part 1, Z: after part 2's Z */
    if (l == 6 || l == 7) ln->win[0][0] = 0, ln->win[0][1] = Z2;  /* part 2, Z */
    if (l >= 8) ln->win[1][0] = mid, ln->win[1][1] = T;           /* part 2, plane */
    if (l == 4 || l == 5) ln->gate[1][0] = 6 + q, ln->gate[1][1] = 0;
    if (l == 6 || l == 7) ln->gate_rs[0][0] = 4 + q, ln->gate_rs[0][1] = 1;
  }
  return nscclSuccess;
}
