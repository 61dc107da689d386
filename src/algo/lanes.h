/* Lanes: several hierarchical rings running at once, each over its own share of every block.
 *
 * A lane carries the share [lo, hi) of every rank's block (lo, hi fractions of the block, the same
 * cut on every rank) through a sequence of phases. A phase is a set of directed rings that
 * partition the ranks, given as a permutation: next[q] is q's successor in its ring. All-gather
 * runs the phases in order; in phase ph a rank forwards, around its ring, the "super-blocks" its
 * ring mates gathered in the phases before (the blocks of the ranks reachable from q over the rings
 * of phases 0..ph-1). Reduce-scatter runs the same phases mirrored (last phase first, each ring
 * step reducing super-blocks), all-reduce = reduce-scatter then all-gather. One phase of one ring
 * through every rank is the plain ring over that order; two phases (XY plane rings, then Z rings)
 * are a two-level ring as the per-dimension ring runs it.
 *
 * Lanes are emitted interleaved (step by step, and inside a step chunk by chunk, lane after lane),
 * so the receive window (membound.h) never holds one lane back behind another, and lanes that use
 * different links move at the same time. Dependencies come from byte-range hazards
 * (tree_internal.h), so a lane's chunk waits only for the chunks it overlaps: phases pipeline.
 * Reduce-scatter keeps foreign partial sums in scratch at their input offsets (scratch = the input
 * size, as for the per-dimension ring). */
#ifndef NSCCL_ALGO_LANES_H
#define NSCCL_ALGO_LANES_H

#include "algo/algo.h"

#define NSCCL_LANE_MAX_PHASES 4
#define NSCCL_LANES_MAX       32

typedef struct {
  double lo, hi; /* share of every block: elements [floor(lo * E), floor(hi * E)) of a block of E */
  int nphases;
  const int *next[NSCCL_LANE_MAX_PHASES]; /* [nranks]: successor in the phase's ring */
  const int *prev[NSCCL_LANE_MAX_PHASES]; /* [nranks]: predecessor (the inverse permutation) */
} nsccl_lane_t;

/* Build prog->rank's program for prog->args over the lanes (their shares must tile [0, 1)). */
nscclResult_t nsccl_lanes_build(const nsccl_lane_t *lanes, int nlanes, const nsccl_algo_opts_t *opts,
                                nsccl_program_t *prog);

/* Are the phases of a lane a proper hierarchy on n ranks: every next[] a permutation with prev[]
 * its inverse, and in every phase the super-blocks of a rank's ring mates disjoint, so that after
 * the last phase every rank has gathered every block exactly once? */
int nsccl_lane_check(const nsccl_lane_t *lane, int n);

/* The blocks in rank q's super-block for phase ph of lane (the ranks reachable from q over the
 * rings of phases 0..ph-1), ascending, into out (n entries); returns how many. mark is n bytes of
 * scratch. */
int nsccl_lane_superblock(const nsccl_lane_t *lane, int n, int ph, int q, int *out, unsigned char *mark);

/* The rank `steps` places before q in the ring of phase ph (steps >= 0). */
int nsccl_lane_back(const nsccl_lane_t *lane, int ph, int q, int steps);
/* Length of q's ring in phase ph. */
int nsccl_lane_ring_len(const nsccl_lane_t *lane, int ph, int q);

/* Tell the cost model (model/price.h) the steps nsccl_lanes_build emits for coll moving `bytes`:
 * every step of every lane at once, consecutive steps with the same shape as one repeated step
 * (docs/model.md, "Lanes"). */
struct nsccl_model;
void nsccl_lanes_price(struct nsccl_model *m, const nsccl_lane_t *lanes, int nlanes, nsccl_coll_t coll, double bytes);

#endif
