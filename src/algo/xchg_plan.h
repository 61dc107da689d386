/* Pairwise-exchange plans on a torus: the machinery shared by the torus hypercube schedules
 * (tree/rdh, algo/tree_rdh.c) and Swing (tree/swing-lat, tree/swing-bw, algo/tree_swing.c).
 *
 * A plan is L steps; in step s every rank r exchanges with one partner peer(s, r) (an involution:
 * the partner's partner is r). Read forwards, the plan is an all-gather by "doubling": before step s
 * rank r holds the blocks held(s, r), it sends them to its partner and receives the partner's, so
 * held(s + 1, r) = held(s, r) + held(s, peer). The plan is valid when the two halves are always
 * disjoint and held(L, r) is every block: then each block reaches each rank exactly once (a
 * spanning tree per block). Read backwards the same plan is a reduce-scatter by "halving": before
 * step s (s = L-1 .. 0) r holds partials of held(s + 1, r), sends those of held(s, peer) and reduces
 * the partner's partials of held(s, r) into its own, ending with its own block. Blocks are named by
 * rank; the held sets are computed by simulating the exchanges (nsccl_xchg_plan_init), so any
 * partner pattern (hypercube bits, Swing's alternating distances) gets correct block sets, and an
 * invalid pattern is refused instead of built wrong.
 *
 * The builders (xchg_build.c) run J plans at once on J disjoint parts of the data (Swing uses one
 * per torus port); the price helpers (xchg_price.c) tell the cost model the same messages. */
#ifndef NSCCL_ALGO_XCHG_PLAN_H
#define NSCCL_ALGO_XCHG_PLAN_H

#include <stdint.h>

#include "algo/tree_internal.h"

struct nsccl_model;

typedef struct {
  int p, L, W;    /* ranks, steps, 64-bit words per block set */
  int *peer;      /* [L * p]: peer[s * p + r] */
  uint64_t *held; /* [(L + 1) * p * W]: blocks rank r holds before step s (s = L: all) */
  /* [p]: position -> rank, an order in which every held set is one interval (the leaves of the
   * hierarchy the held sets form: held(s + 1, r) splits into held(s, r) and held(s, peer), and in
   * a valid plan every member of a held set holds the same set); the identity if the sets do not
   * nest so. All-reduce places block q at position pos(q), so each exchange is one message. */
  int *order;
  /* [(L + 1) * p]: when the sets nest (order is not the identity fallback), held(s, r) is the
   * positions [span[s * p + r].lo, + n) of order; NULL otherwise. Runs in position order are then
   * one interval, read in O(1) instead of a scan of p positions. */
  struct nsccl_xchg_span {
    int lo, n;
  } * span;
  void *shared; /* the cache entry whose arrays these are (xchg_cache.c), or NULL: owned */
} nsccl_xchg_plan_t;

/* Copies peer[L * p], simulates the held sets and checks validity; errors name `who`. A plan is a
 * function of (p, L, peer) alone, and every rank's builder asks for the same ones, so plans are
 * shared through a small cache (xchg_cache.c): at 4,096 ranks computing them per rank was the
 * builders' whole cost. The plan is read-only; free it with nsccl_xchg_plan_free. */
nscclResult_t nsccl_xchg_plan_init(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer);
void nsccl_xchg_plan_free(nsccl_xchg_plan_t *pl);
/* The same, remembered under `key`: bytes that determine the peers (for Swing and rdh: the rank
 * count, the dimensions and the variant's choices), so that the next rank's builder finds the plan
 * with nsccl_xchg_plan_find (1: *pl filled) before computing the peers at all (p^2 work in all). */
#define NSCCL_XCHG_KEY_MAX 320
nscclResult_t nsccl_xchg_plan_init_key(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer,
                                       const void *key, size_t keylen);
int nsccl_xchg_plan_find(nsccl_xchg_plan_t *pl, const void *key, size_t keylen);
/* Uncached: compute a plan the caller owns / free its arrays (xchg_plan.c; the cache's parts). */
nscclResult_t nsccl_xchg_plan_compute(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer);
void nsccl_xchg_plan_release(nsccl_xchg_plan_t *pl);

static inline int nsccl_xchg_peer(const nsccl_xchg_plan_t *pl, int s, int r) { return pl->peer[s * pl->p + r]; }
static inline const uint64_t *nsccl_xchg_held(const nsccl_xchg_plan_t *pl, int s, int r) {
  return pl->held + ((size_t)s * pl->p + (size_t)r) * (size_t)pl->W;
}
static inline int nsccl_xchg_has(const uint64_t *set, int q) { return (int)(set[q >> 6] >> (q & 63) & 1); }
/* Blocks in a set; maximal runs [runs[i][0], runs[i][1]) of consecutive ranks in it (returns how
 * many). Each run is one message when the blocks of a part are contiguous. */
int nsccl_xchg_count(const nsccl_xchg_plan_t *pl, const uint64_t *set);
int nsccl_xchg_runs(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]);
/* The same in position order (pl->order): runs [runs[i][0], runs[i][1]) of positions. */
int nsccl_xchg_runs_ordered(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]);

/* Where the data of part j lives. Two layouts:
 *  - pieces (all-gather, reduce-scatter): block q is rank q's B bytes at q * B; part j is the bytes
 *    [cut[j], cut[j + 1]) of every block. With one part, consecutive blocks are one message; with
 *    several, each block's piece is its own message.
 *  - bounds (all-reduce): part j is a contiguous range of the vector, cut into p blocks whose byte
 *    bounds are bound[j * (p + 1) + i] by position i (plan order: rank q's block is at the
 *    position of q in plan[j].order); consecutive positions are always one message. */
typedef struct {
  int J, p;
  const nsccl_xchg_plan_t *plan; /* [J] one plan per part (all with the same L) */
  size_t B;                      /* pieces: block bytes; 0 for bounds */
  const size_t *cut;             /* pieces: [J + 1] */
  const size_t *bound;           /* bounds: [J * (p + 1)] */
} nsccl_xchg_layout_t;

/* Builders on ctx's program (nranks >= 2, non-empty data). Reduce-scatter keeps partials in scratch
 * (p * B bytes); all-reduce in the receive buffer. */
void nsccl_xchg_allgather(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay);
void nsccl_xchg_reducescatter(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay);
/* All-reduce: the halving reduce-scatter then the doubling all-gather, on bounds layout. */
void nsccl_xchg_allreduce_halving(nsccl_tree_ctx_t *c, const nsccl_xchg_layout_t *lay);
/* All-reduce exchanging whole vectors (recursive-doubling style) along plan `pl` read forwards,
 * chunk by chunk through NSCCL_ALGO_SLOTS scratch slots; partners combine the lower rank's operand
 * first, so both hold bitwise identical partial results after every step. */
void nsccl_xchg_allreduce_whole(nsccl_tree_ctx_t *c, const nsccl_xchg_plan_t *pl);

/* Byte cuts of `bytes` into J parts by weights w[J] (summing to 1), multiples of elem. */
void nsccl_xchg_cut(size_t bytes, size_t elem, int J, const double *w, size_t *cut);

/* Build prog (its collective, args.count) with J plans of weights w: all-gather and reduce-scatter
 * cut every block into J pieces, all-reduce the vector into J parts of p blocks each (block sizes
 * differ by at most one element); whole = 1: all-reduce exchanges whole vectors along plans[0]
 * instead. Handles count 0 and one rank. */
nscclResult_t nsccl_xchg_build(const nsccl_algo_opts_t *opts, nsccl_program_t *prog, const nsccl_xchg_plan_t *plans,
                               const double *w, int J, int whole);

/* Prices (xchg_price.c): the messages of the builders above for `n` bytes (nccl-tests convention),
 * parts of weight w[j] (the same weights the builder cuts with). */
void nsccl_xchg_price_allgather(struct nsccl_model *m, const nsccl_xchg_plan_t *plans, const double *w, int J,
                                double n);
void nsccl_xchg_price_reducescatter(struct nsccl_model *m, const nsccl_xchg_plan_t *plans, const double *w, int J,
                                    double n);
void nsccl_xchg_price_allreduce_halving(struct nsccl_model *m, const nsccl_xchg_plan_t *plans, const double *w, int J,
                                        double n);
void nsccl_xchg_price_allreduce_whole(struct nsccl_model *m, const nsccl_xchg_plan_t *pl, double n);
/* The price of what nsccl_xchg_build builds for coll. */
void nsccl_xchg_price(struct nsccl_model *m, nsccl_coll_t coll, const nsccl_xchg_plan_t *plans, const double *w, int J,
                      int whole, double n);

#endif
