/* Topology-aware variants of the ring and tree families (topo_ring.c, topo_tree.c). They are
 * chosen with nsccl_algo_opts_t.variant when a topology is given; the values sit above every
 * family's own variants (NSCCL_TREE_*, NSCCL_DIRECT_*) so one number names one schedule.
 * Tree variants combine: NSCCL_TREE_MAPPED | NSCCL_TREE_RD. */
#ifndef NSCCL_ALGO_TOPO_ALGO_H
#define NSCCL_ALGO_TOPO_ALGO_H

#include "algo/algo.h"

#define NSCCL_RING_TOPO 16 /* ring over nsccl_topo_ring (one hop per step on a torus); default with a topology */
#define NSCCL_RING_DIMS 17 /* torus: one ring per dimension in turn ("bucket"); all lines of a dimension at once */
#define NSCCL_RING_KANGARING                                                                                           \
  18 /* torus: KangaRing, 4 directed rings over 2 edge-disjoint Hamiltonian cycles (algo/kangaring.h) */
#define NSCCL_TREE_MAPPED                                                                                              \
  0x100 /* | NSCCL_TREE_RD or _RABENSEIFNER, all-reduce on a torus: hypercube dimensions on torus dimensions */

/* | nothing else, on ring, tree or direct: the hierarchical schedule (algo/hier.h) for a topology whose
 * ranks form groups (efa servers, hosts, leaf switches): ring phases inside each group, and across
 * groups the family's own pattern (ring; tree = recursive halving/doubling, power-of-two groups;
 * direct = one exchange). */
#define NSCCL_VARIANT_HIER 0x200

/* True if the registered variant (algorithm, variant) itself builds coll on topo (NULL: flat);
 * algo/variant.h, nsccl_variant_applies. */
int nsccl_topo_algo_supported(nsccl_algo_t algo, int variant, const struct nsccl_topo *topo, nsccl_coll_t coll,
                              int nranks);

/* nsccl_algo_build's path when topo != NULL: the topology-aware builders for their variants, the
 * flat builders for the rest (ring variant 0 follows the topology's ring). */
nscclResult_t nsccl_topo_algo_build(nsccl_algo_t algo, const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts,
                                    nsccl_program_t *prog);

/* Hypercube labelling of a torus whose dimensions are all 1, 2 or 4: virtual rank v (bits of each
 * dimension's coordinate, Gray-coded) -> rank, so every hypercube step is one hop. Returns 0 if the
 * torus does not qualify (then perm is the identity). perm has nranks entries. */
int nsccl_topo_hypercube_perm(const struct nsccl_topo *topo, int *perm);

#endif
