/* Hierarchical variants of every family (algo/hier.h): ring phases inside each group, the family's
 * own pattern across groups. Offered to the selector where groups are joined by something slower
 * than their inside: a network (efa servers, hosts), or the chip boundary when several ranks share
 * a chip (ranks_per_chip > 1: the intra-chip stage Neuron runs at LNC=2, which sends each block
 * off the chip once instead of once per rank there); they also build on a two-level switch's
 * leaves when forced (NSCCL_ALGO=ring/hier).
 * Priced by model/cost_hier.c, which follows the builder's layout (docs/model.md, "Hierarchical"). */
#include "algo/hier.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "model/price.h"
#include "topologies/topo.h"

static int apply_ring(const nsccl_topo_t *t, nsccl_coll_t c, int n) {
  return nsccl_hier_supported(t, NSCCL_ALGO_RING, c, n);
}
static int apply_tree(const nsccl_topo_t *t, nsccl_coll_t c, int n) {
  return nsccl_hier_supported(t, NSCCL_ALGO_TREE, c, n);
}
static int apply_direct(const nsccl_topo_t *t, nsccl_coll_t c, int n) {
  return nsccl_hier_supported(t, NSCCL_ALGO_DIRECT, c, n);
}
static int groups_joined_slower(const nsccl_topo_t *t, nsccl_coll_t c) {
  (void)c;
  return t && (t->nic_bandwidth > 0 || t->ranks_per_chip > 1);
}
static nscclResult_t build_ring(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return nsccl_hier_build(t, NSCCL_ALGO_RING, o, p);
}
static nscclResult_t build_tree(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return nsccl_hier_build(t, NSCCL_ALGO_TREE, o, p);
}
static nscclResult_t build_direct(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *p) {
  return nsccl_hier_build(t, NSCCL_ALGO_DIRECT, o, p);
}
static void price(nsccl_model_t *m, nsccl_coll_t c, double n, nsccl_algo_t inter) {
  nscclResult_t rc = nsccl_model_hier(m, c, inter, n);
  if (rc != nscclSuccess && m->rc == nscclSuccess) m->rc = rc;
}
static void price_ring(nsccl_model_t *m, nsccl_coll_t c, double n) { price(m, c, n, NSCCL_ALGO_RING); }
static void price_tree(nsccl_model_t *m, nsccl_coll_t c, double n) { price(m, c, n, NSCCL_ALGO_TREE); }
static void price_direct(nsccl_model_t *m, nsccl_coll_t c, double n) { price(m, c, n, NSCCL_ALGO_DIRECT); }

const nsccl_variant_t nsccl_variant_ring_hier = {
    "ring/hier",          NSCCL_ALGO_RING,
    NSCCL_VARIANT_HIER,   NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,      apply_ring,
    groups_joined_slower, build_ring,
    price_ring,           "groups (servers, hosts): ring inside each group, ring across groups"};
const nsccl_variant_t nsccl_variant_tree_hier = {
    "tree/hier",          NSCCL_ALGO_TREE,
    NSCCL_VARIANT_HIER,   NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,      apply_tree,
    groups_joined_slower, build_tree,
    price_tree,           "groups: ring inside each group, recursive halving/doubling across (2^k groups)"};
const nsccl_variant_t nsccl_variant_direct_hier = {
    "direct/hier",        NSCCL_ALGO_DIRECT,
    NSCCL_VARIANT_HIER,   NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,      apply_direct,
    groups_joined_slower, build_direct,
    price_direct,         "groups: ring inside each group, one direct exchange across groups"};
