/* The composed variants (algo/compose.h): one descriptor per chip-level torus variant that needs one
 * rank per chip, named after it with "-chips", id = its id | NSCCL_VARIANT_CHIPS. They build where
 * the chip variant builds on the chip view (a torus with ranks_per_chip > 1) and are offered where
 * it is offered there. The descriptor's functions only name their chip variant; compose.c and
 * compose_price.c do the work. */
#include "algo/compose.h"
#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "algo/tree_torus.h"
#include "model/price.h"

/* One composed variant of chip variant `inner` (id and collectives as the inner descriptor's;
 * offered for `offered` of them). */
#define COMPOSED(sym, fam, id, colls, offered, name, inner)                                                            \
  extern const nsccl_variant_t nsccl_variant_##inner;                                                                  \
  static int applies_##sym(const nsccl_topo_t *t, nsccl_coll_t c, int n) {                                             \
    return nsccl_compose_applies(&nsccl_variant_##inner, t, c, n);                                                     \
  }                                                                                                                    \
  static int offer_##sym(const nsccl_topo_t *t, nsccl_coll_t c) {                                                      \
    return nsccl_compose_offer(&nsccl_variant_##inner, t, c);                                                          \
  }                                                                                                                    \
  static nscclResult_t build_##sym(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {            \
    return nsccl_compose_build(&nsccl_variant_##inner, t, o, p);                                                       \
  }                                                                                                                    \
  static void price_##sym(nsccl_model_t *m, nsccl_coll_t c, double n) {                                                \
    nsccl_compose_price(&nsccl_variant_##inner, m, c, n);                                                              \
  }                                                                                                                    \
  const nsccl_variant_t nsccl_variant_##sym = {name "-chips",                                                          \
                                               fam,                                                                    \
                                               (id) | NSCCL_VARIANT_CHIPS,                                             \
                                               colls,                                                                  \
                                               offered,                                                                \
                                               applies_##sym,                                                          \
                                               offer_##sym,                                                            \
                                               build_##sym,                                                            \
                                               price_##sym,                                                            \
                                               "several ranks per chip: intra-chip stages around " name                \
                                               " on the chips, one per local index"};

#define AG_RS (NSCCL_COLLS_AG | NSCCL_COLLS_RS)
#define AR    NSCCL_COLLS_AR
#define ALL   NSCCL_COLLS_ALL
COMPOSED(ring_dims_chips, NSCCL_ALGO_RING, NSCCL_RING_DIMS, ALL, ALL, "ring/dims", ring_dims)
/* KangaRing composed is built by name only, never offered: its pipelined rings wait for DMA engines
 * behind the intra-chip stage's messages at every hop, which the price does not see
 * (trn2-u64-lnc2, 64 MiB all-gather: 128 us alone, 599 us composed, priced 186 us; all-reduce
 * priced 402 us, simulated 926 us, where tree/swing-bw-chips simulates 589 us). */
COMPOSED(ring_kangaring_chips, NSCCL_ALGO_RING, NSCCL_RING_KANGARING, ALL, 0, "ring/kangaring", ring_kangaring)
COMPOSED(tree_mapped_chips, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, AG_RS, AG_RS, "tree/mapped", tree_mapped)
COMPOSED(tree_rd_mapped_chips, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, AR, AR, "tree/rd-mapped",
         tree_rd_mapped)
COMPOSED(tree_rabenseifner_mapped_chips, NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER, AR, AR,
         "tree/rabenseifner-mapped", tree_rabenseifner_mapped)
COMPOSED(tree_swing_bw_chips, NSCCL_ALGO_TREE, NSCCL_TREE_SWING_BW, ALL, ALL, "tree/swing-bw", tree_swing_bw)
COMPOSED(tree_swing_lat_chips, NSCCL_ALGO_TREE, NSCCL_TREE_SWING_LAT, AR, AR, "tree/swing-lat", tree_swing_lat)
COMPOSED(tree_rdh_chips, NSCCL_ALGO_TREE, NSCCL_TREE_RDH, ALL, ALL, "tree/rdh", tree_rdh)
COMPOSED(tree_rdh_rd_chips, NSCCL_ALGO_TREE, NSCCL_TREE_RDH_RD, AR, AR, "tree/rdh-rd", tree_rdh_rd)
