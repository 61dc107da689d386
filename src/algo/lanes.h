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
  /* Seconds per byte on the phase's ring links (0: 1): only the order in which the builder emits
   * the lanes' chunks reads it, so that phases of different lanes that load different links run
   * side by side instead of in lockstep by step number. */
  double cost[NSCCL_LANE_MAX_PHASES];
  /* Optional plan (all zero: none). win[ph] = [start, end) of phase ph in the all-gather's nominal
   * time, 0..horizon; reduce-scatter runs the mirror image (horizon - end, horizon - start), and
   * all-reduce its reduce-scatter in [0, horizon) and all-gather in [horizon, 2 horizon). Chunks are
   * emitted in that time order instead of by the lane's own costs. gate[ph] = {lane, phase}: the
   * sends of phase ph wait for the receives that lane's phase emitted before them (in the
   * all-gather; reduce-scatter gates the mirror way, gate_rs), so two lanes' phases sharing links
   * go one after the other instead of splitting the links. */
  double win[NSCCL_LANE_MAX_PHASES][2], horizon;
  int gate[NSCCL_LANE_MAX_PHASES][2], gate_rs[NSCCL_LANE_MAX_PHASES][2];
  int gated; /* 1 if gate / gate_rs are set (entries with lane < 0 mean none) */
  /* Phases (bit ph) this lane does not run: other lanes move those bytes (with their own cut of
   * the block), and the phase only shapes the super-blocks of the later ones. Lets a Z ring carry
   * in one message per block what four plane rings gathered in quarters. */
  unsigned virt;
} nsccl_lane_t;

/* Build prog->rank's program for prog->args over the lanes (their shares must tile [0, 1)). */
nscclResult_t nsccl_lanes_build(const nsccl_lane_t *lanes, int nlanes, const nsccl_algo_opts_t *opts,
                                nsccl_program_t *prog);

/* Are the phases of a lane a proper hierarchy on n ranks: every next[] a permutation with prev[]
 * its inverse, all rings of a phase equally long, and in every phase the super-blocks of a rank's
 * ring mates disjoint? Returns how many blocks a rank holds after the last phase (n for a lane
 * that gathers everything, fewer for a first stage that others continue), 0 if not. */
int nsccl_lane_check(const nsccl_lane_t *lane, int n);

/* The blocks in rank q's super-block for phase ph of lane (the ranks reachable from q over the
 * rings of phases 0..ph-1), ascending, into out (n entries); returns how many. mark is n bytes of
 * scratch. */
int nsccl_lane_superblock(const nsccl_lane_t *lane, int n, int ph, int q, int *out, unsigned char *mark);

/* The rank `steps` places before q in the ring of phase ph (steps >= 0). */
int nsccl_lane_back(const nsccl_lane_t *lane, int ph, int q, int steps);
/* Length of q's ring in phase ph. */
int nsccl_lane_ring_len(const nsccl_lane_t *lane, int ph, int q);
/* Step t of the lane for coll (reduce-scatter steps, phases last to first, then all-gather steps,
 * phases first to last): its phase *ph, *rs = 1 for a reduce-scatter step, *k the step inside the
 * phase, *sblks the blocks of a super-block of that phase. Returns 0 when the lane has no step t. */
int nsccl_lane_step(const nsccl_lane_t *lane, nsccl_coll_t coll, int t, int *ph, int *rs, int *k, int *sblks);
/* The ring lengths of the lane's phases (from rank 0; a checked lane has rings of one length per
 * phase), len[nphases]; and nsccl_lane_step from them, without walking the rings per call (a ring
 * of 4,096 ranks made that the model's and builder's hot loop). */
void nsccl_lane_lengths(const nsccl_lane_t *lane, int *len);
int nsccl_lane_step_len(const nsccl_lane_t *lane, const int *len, nsccl_coll_t coll, int t, int *ph, int *rs, int *k,
                        int *sblks);

/* Tell the cost model (model/price.h) the steps nsccl_lanes_build emits for coll moving `bytes`:
 * every step of every lane at once, consecutive steps with the same shape as one repeated step
 * (docs/model.md, "Lanes"). */
struct nsccl_model;
void nsccl_lanes_price(struct nsccl_model *m, const nsccl_lane_t *lanes, int nlanes, nsccl_coll_t coll, double bytes);

#endif
