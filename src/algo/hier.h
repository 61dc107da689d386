/* Hierarchical (two-level) schedules for topologies whose ranks form groups (efa servers, hosts,
 * leaf switches): the heavy traffic stays inside a group, and only one share per rank crosses the
 * network, every rank's NIC working at once.
 *
 *   all-reduce      intra-group ring reduce-scatter, inter-group all-reduce of each column's block,
 *                   intra-group ring all-gather
 *   all-gather      inter-group all-gather among ranks of equal local index, then intra-group ring
 *   reduce-scatter  intra-group ring reduce-scatter, then inter-group reduce-scatter
 *
 * The inter-group phase is a ring (ring family), recursive halving / doubling (tree family, needs a
 * power-of-two number of groups) or one direct exchange (direct family). They are selected with
 * nsccl_algo_opts_t.variant = NSCCL_VARIANT_HIER (algo/topo_algo.h). docs/algorithms.md
 * ("## Hierarchical (EFA)") explains the layout; docs/model.md prices it. */
#ifndef NSCCL_ALGO_HIER_H
#define NSCCL_ALGO_HIER_H

#include "algo/algo.h"
#include "algo/tree_internal.h"

struct nsccl_topo;

/* The group structure both the builders and the cost model use.
 *
 * Group g's ranks, in the order of the topology's ring embedding (so a group's ring is one hop per
 * step where the inner topology allows), are members[first[g] .. first[g] + size[g]); rank r is
 * local index local[r] of group group[r]. width = the largest group. Column c (0 <= c < width) is
 * served in group g by its member of local index c mod size[g]; in all-gather and reduce-scatter the
 * column's blocks are those of the ranks of local index c (groups smaller than c + 1 have none), in
 * all-reduce column c is block c of the vector cut into width blocks. Groups may differ in size and
 * need not be contiguous ranges of ranks. */
typedef struct {
  int nranks, ngroups, width;
  int *size, *first;  /* [ngroups] */
  int *members;       /* [nranks] */
  int *group, *local; /* [nranks] */
} nsccl_hier_layout_t;

/* Fills l from topo (needs ngroups >= 2 and group_of_rank); free with nsccl_hier_layout_free. */
nscclResult_t nsccl_hier_layout(const struct nsccl_topo *topo, nsccl_hier_layout_t *l);
void nsccl_hier_layout_free(nsccl_hier_layout_t *l);
/* The member of group g that serves column c. */
static inline int nsccl_hier_member(const nsccl_hier_layout_t *l, int g, int c) {
  return l->members[l->first[g] + c % l->size[g]];
}

/* True if the hierarchical schedule whose inter-group phase is `inter` (ring, tree, direct) applies:
 * topo has at least two groups, and for tree a power-of-two number of them. */
int nsccl_hier_supported(const struct nsccl_topo *topo, nsccl_algo_t inter, nsccl_coll_t coll, int nranks);

/* Build prog->rank's hierarchical program; errors name why the topology does not qualify. */
nscclResult_t nsccl_hier_build(const struct nsccl_topo *topo, nsccl_algo_t inter, const nsccl_algo_opts_t *opts,
                               nsccl_program_t *prog);

/* Composed schedules (algo/compose.c): the intra-group stages (intra: ring, or direct: every member
 * sends each other member its set at once) of the hierarchical schedule
 * around an inter-group phase that `fn` emits into c (the hazard-tracked context of prog: its steps
 * get their dependencies on the intra stages from the bytes they touch). On entry to fn, and what fn
 * must leave behind:
 *   all-reduce      column local[me]'s block (of the vector cut into width blocks) holds the group's
 *                   sum in RECV; fn leaves the whole column's sum there
 *   all-gather      nothing done yet; fn leaves the blocks of every rank of local index local[me] in
 *                   RECV at their places (its own included)
 *   reduce-scatter  the group's sums of the blocks of local index local[me], group q's block at
 *                   SCRATCH nsccl_hier_landing + q * B (B = count bytes); fn leaves this rank's total
 *                   in RECV
 * Needs groups of equal size (every rank serves exactly its own column). */
typedef nscclResult_t (*nsccl_hier_inter_fn)(void *arg, nsccl_tree_ctx_t *c, const nsccl_hier_layout_t *L, int me);
nscclResult_t nsccl_hier_build_with(const struct nsccl_topo *topo, nsccl_algo_t intra, nsccl_hier_inter_fn fn,
                                    void *arg, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
/* Where a composed reduce-scatter's landing area starts in SCRATCH: after the nranks blocks of B
 * bytes the intra stage accumulates in. */
static inline size_t nsccl_hier_landing(const nsccl_hier_layout_t *l, size_t B) { return (size_t)l->nranks * B; }

#endif
