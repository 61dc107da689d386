/* KangaRing (Neuron's torus ring, docs/algorithms.md "ring/kangaring"): rings over two
 * edge-disjoint Hamiltonian cycles of a 2D torus, each run both ways, so the four directed rings
 * use every link of every chip in both directions, each carrying a quarter of the data.
 *
 * The cycles of an a x b torus (node (x, y), a | b): the staircase H1 steps +y where x == c(y) and
 * +x elsewhere, with c(y) = -y mod a; H2 is its complement (+x where x == c(y), +y elsewhere). At
 * every node H1 and H2 leave by different links, so they share no directed link, and their
 * reversals use the other two. Both are checked to be single cycles through all a*b nodes; where
 * they are not (3 x 6, say) the variant does not apply.
 *
 * 3D (a x b x c, plane = the two dimensions of highest bandwidth, Z the third): the data is split
 * in two parts that run at once. Part 1 (share s) runs KangaRing inside every plane, then a ring in
 * both Z directions carrying the gathered plane blocks; part 2 (1 - s) runs the Z rings first,
 * then the planes with the gathered Z-line blocks. s makes every link's load proportional to its
 * bandwidth (nsccl_kangaring_split): about 21% on 4x4x4 with XY links at twice Z. Each part is
 * eight lanes (lanes.h): 4 plane rings x 2 Z directions, each 1/8 of the part. */
#ifndef NSCCL_ALGO_KANGARING_H
#define NSCCL_ALGO_KANGARING_H

#include "algo/lanes.h"

struct nsccl_topo;

/* The two cycles of an a x b grid with wraparound, node x + a*y: h1[v], h2[v] = successor of v.
 * Returns 1 if both are single Hamiltonian cycles that share no directed link, 0 otherwise
 * (including when a does not divide b or a dimension is below 3). */
int nsccl_kangaring_cycles(int a, int b, int *h1, int *h2);

typedef struct {
  int nlanes;
  nsccl_lane_t lane[16];
  int plane[2]; /* torus dimensions of the plane (x, y of the construction) */
  int zdim;     /* the third dimension, -1 on a 2D torus */
  double split; /* 3D: share s of part 1 (plane first); 2D: 1 */
  int *perm;    /* storage of the lanes' next / prev arrays */
} nsccl_kangaring_t;

/* The lanes of KangaRing on torus t (every dimension of size > 1 counted; 2 or 3 of them, each >= 3,
 * one rank per torus vertex). nscclInvalidArgument with the reason when it does not apply. */
nscclResult_t nsccl_kangaring_plan(const struct nsccl_topo *t, nsccl_kangaring_t *k);
void nsccl_kangaring_free(nsccl_kangaring_t *k);

/* Share s of the plane-first part on a 3D torus of plane P = a*b ranks with link bandwidth bxy,
 * and c ranks along Z at bz (docs/model.md, "KangaRing split"), clamped to [0, 1]. */
double nsccl_kangaring_split(int P, int c, double bxy, double bz);

#endif
