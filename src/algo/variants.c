/* THE table of algorithm variants (algo/variant.h). Adding a variant: write its file (builder,
 * applies, price, descriptor) and add one line here. Order matters only for ties in the selector
 * (the earlier variant of a family wins), for listings, and while nsccl_model_best_variant reads at
 * most 8 offered variants per family (model/cost.c), for which are candidates: on a torus the tree
 * family offers 10 all-reduce variants, so Swing stands before RDH (rdh, rdh-rd are then built by
 * name only for all-reduce). */
#include <string.h>

#include "algo/msccl.h"
#include "algo/variant.h"
#include "topologies/topo.h"

/* Ids in use (nsccl_algo_opts_t.variant), per family, so a new file picks a free one:
 *   ring    0 ring, 16 topo, 17 dims, 18 kangaring, 0x200 hier
 *   tree    0 auto, 1 rd, 2 rabenseifner, 3 binary, 4 double-binary, 5 bruck, 0x100 mapped,
 *           0x101 rd-mapped, 0x102 rabenseifner-mapped, 0x200 hier, 0x400 rdh, 0x401 swing-lat,
 *           0x402 swing-bw, 0x403 rdh-rd
 *   direct  0 auto, 1 oneshot, 2 rsag, 3 mesh, 4 mesh-oneshot, 5 cross, 0x200 hier,
 *           0x800.. files loaded at run time ("msccl:PATH", algo/msccl_variant.c; not in this table)
 *   any     0x1000 | a chip variant's id: that variant composed under intra-chip stages (several ranks
 *           per chip, algo/compose.h; ring/dims, ring/kangaring, the mapped trees, Swing, RDH) */
#define VARIANTS(X)                                                                                                    \
  X(ring)                                                                                                              \
  X(ring_topo)                                                                                                         \
  X(ring_dims)                                                                                                         \
  X(ring_kangaring)                                                                                                    \
  X(ring_hier)                                                                                                         \
  X(tree)                                                                                                              \
  X(tree_rd)                                                                                                           \
  X(tree_rabenseifner)                                                                                                 \
  X(tree_binary)                                                                                                       \
  X(tree_double_binary)                                                                                                \
  X(tree_bruck)                                                                                                        \
  X(tree_mapped)                                                                                                       \
  X(tree_rd_mapped)                                                                                                    \
  X(tree_rabenseifner_mapped)                                                                                          \
  X(tree_hier)                                                                                                         \
  X(tree_swing_bw)                                                                                                     \
  X(tree_swing_lat)                                                                                                    \
  X(tree_rdh)                                                                                                          \
  X(tree_rdh_rd)                                                                                                       \
  X(direct)                                                                                                            \
  X(direct_oneshot)                                                                                                    \
  X(direct_rsag)                                                                                                       \
  X(direct_mesh)                                                                                                       \
  X(direct_mesh_oneshot)                                                                                               \
  X(direct_cross)                                                                                                      \
  X(direct_hier)                                                                                                       \
  X(ring_dims_chips)                                                                                                   \
  X(ring_kangaring_chips)                                                                                              \
  X(tree_mapped_chips)                                                                                                 \
  X(tree_rd_mapped_chips)                                                                                              \
  X(tree_rabenseifner_mapped_chips)                                                                                    \
  X(tree_swing_bw_chips)                                                                                               \
  X(tree_swing_lat_chips)                                                                                              \
  X(tree_rdh_chips)                                                                                                    \
  X(tree_rdh_rd_chips)

#define DECLARE(v) extern const nsccl_variant_t nsccl_variant_##v;
VARIANTS(DECLARE)
#define ENTRY(v) &nsccl_variant_##v,
static const nsccl_variant_t *const table[] = {VARIANTS(ENTRY)};

int nsccl_variant_count(void) { return (int)(sizeof(table) / sizeof(table[0])); }

const nsccl_variant_t *nsccl_variant_at(int i) { return i >= 0 && i < nsccl_variant_count() ? table[i] : NULL; }

const nsccl_variant_t *nsccl_variant_find(nsccl_algo_t family, int id) {
  for (int i = 0; i < nsccl_variant_count(); i++)
    if (table[i]->family == family && table[i]->id == id) return table[i];
  return family == NSCCL_ALGO_DIRECT ? nsccl_msccl_variant(id) : NULL;
}

const nsccl_variant_t *nsccl_variant_by_name(const char *name) {
  for (int i = 0; name && i < nsccl_variant_count(); i++)
    if (!strcmp(table[i]->name, name)) return table[i];
  /* "msccl:PATH": the file is read (once) and becomes a variant; on failure the error says why. */
  const nsccl_variant_t *v = NULL;
  if (name && !strncmp(name, NSCCL_MSCCL_PREFIX, strlen(NSCCL_MSCCL_PREFIX))) (void)nsccl_msccl_load(name, &v);
  return v;
}

int nsccl_variant_applies(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks) {
  if (!v || (unsigned)coll >= NSCCL_NUM_COLLS || !(v->colls & NSCCL_COLL_BIT(coll))) return 0;
  if (topo && topo->nranks != nranks) return 0;
  return !v->applies || v->applies(topo, coll, nranks);
}

int nsccl_variant_offered(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks) {
  if (!nsccl_variant_applies(v, topo, coll, nranks) || !(v->offered & NSCCL_COLL_BIT(coll))) return 0;
  return !v->offer || v->offer(topo, coll);
}
