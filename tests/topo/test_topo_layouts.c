/* The Trn3 Gen1 layouts and ranks per chip (docs/topologies.md): link counts, routes, hop counts and
 * latencies of trn3-u64 (AWS's Gen1 diagram: two switches of two 16-chip servers, direct links
 * between same-index chips of servers 0-2 and 1-3) and trn3-u64-tray (the teardown's 1 / 2 / 3 switch
 * traversals), counted by hand from the diagrams' structure here, not from the modules; chips of
 * several ranks on the torus and the switch; torus-aware schedules refusing them; errors for bad keys. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "base/check.h"
#include "topologies/topo.h"

static nsccl_topo_t *load(const char *name) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(name, &t), nscclSuccess, "%s: %s", name, nsccl_last_error());
  return t;
}

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b)) + 1e-18; }

/* Route src -> dst; asserts it is connected from src to dst; returns the vertices it passes. */
static int route_checked(const nsccl_topo_t *t, int src, int dst, int *mid, int *nmid) {
  int links[NSCCL_TOPO_MAX_ROUTE], n = nsccl_topo_route(t, src, dst, links, NSCCL_TOPO_MAX_ROUTE);
  cr_assert_gt(n, 0, "%s: no route %d -> %d", t->name, src, dst);
  cr_assert_eq(t->links[links[0]].src, src);
  cr_assert_eq(t->links[links[n - 1]].dst, dst);
  *nmid = 0;
  for (int k = 1; k < n; k++) {
    cr_assert_eq(t->links[links[k]].src, t->links[links[k - 1]].dst, "%s: route %d -> %d breaks", t->name, src, dst);
    mid[(*nmid)++] = t->links[links[k]].src;
  }
  return n;
}

/* ---- Gen1 as AWS draws it ---- */

/* By hand from the diagram: chip r is index r % 16 of server r / 16; servers 0, 1 on switch 0, 2, 3
 * on switch 1; partner servers 0-2, 1-3, i.e. chip r's direct link goes to r + 32 (mod 64). */
static int gen1_links_by_hand(int a, int b) {
  if (a / 32 == b / 32) return 2;   /* up and down one switch */
  if ((a + 32) % 64 == b) return 1; /* the direct link */
  return 3;                         /* direct link, then the far switch (or the reverse) */
}

Test(topo_layouts, gen1_links_and_routes) {
  nsccl_topo_t *t = load("trn3-u64");
  cr_assert_eq(t->nranks, 64);
  cr_assert_eq(t->nvertices, 64 + 2, "64 chips and 2 switches");
  cr_assert_eq(t->nlinks, 64 * 2 + 64, "an up and a down link per chip, one direct link per chip and direction");
  cr_assert_eq(t->nswitches, 2);
  cr_assert_eq(t->ngroups, 2);
  cr_assert_eq(t->group_size, 32);
  int direct = 0;
  for (int l = 0; l < t->nlinks; l++) {
    const nsccl_link_t *k = &t->links[l];
    if (k->src < 64 && k->dst < 64) {
      direct++;
      cr_assert_eq(k->dst, (k->src + 32) % 64, "direct link %d -> %d", k->src, k->dst);
      cr_assert(near(k->bandwidth, 0.233e12) && near(k->latency, 0.2e-6));
    }
  }
  cr_assert_eq(direct, 64);
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid, count[4] = {0}, total = 0;
  for (int a = 0; a < 64; a++)
    for (int b = 0; b < 64; b++) {
      if (a == b) continue;
      int n = route_checked(t, a, b, mid, &nmid), want = gen1_links_by_hand(a, b);
      cr_assert_eq(n, want, "route %d -> %d: %d links, the diagram gives %d", a, b, n, want);
      if (a == 0) count[n]++, total += n;
      if (n == 3) /* cross_route = source: through a's partner chip, which sits on b's switch */
        cr_assert_eq(mid[0], (a + 32) % 64, "route %d -> %d passes %d", a, b, mid[0]);
    }
  /* From chip 0: 31 chips on its switch, its partner, 31 chips behind the far switch. */
  cr_assert(count[2] == 31 && count[1] == 1 && count[3] == 31);
  cr_assert_eq(total, 31 * 2 + 1 + 31 * 3);
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 17, &p), nscclSuccess); /* same switch: 0.1 + 0.15 + 0.1 us */
  cr_assert(near(p.latency, 0.35e-6) && p.forwards == 0 && near(p.bandwidth, 1.047e12));
  cr_assert_eq(nsccl_topo_path(t, 0, 32, &p), nscclSuccess); /* the direct link */
  cr_assert(near(p.latency, 0.2e-6) && p.forwards == 0 && near(p.bandwidth, 0.233e12));
  cr_assert_eq(nsccl_topo_path(t, 0, 49, &p), nscclSuccess); /* direct 0.2, up 0.25, down 0.1 */
  cr_assert(near(p.latency, 0.55e-6) && p.forwards == 1 && near(p.bandwidth, 0.233e12));
  /* The ring changes switch over direct links only: no neighbours three links apart. */
  int order[64], seen[64] = {0}, links[8];
  nsccl_topo_ring(t, order);
  for (int i = 0; i < 64; i++) {
    cr_assert(!seen[order[i]]);
    seen[order[i]] = 1;
    cr_assert_leq(nsccl_topo_route(t, order[i], order[(i + 1) % 64], links, 8), 2, "ring %d -> %d", order[i],
                  order[(i + 1) % 64]);
  }
  nsccl_topo_free(t);
}

Test(topo_layouts, gen1_route_options) {
  /* cross_route = dest: own switch first, to the destination's partner chip, then its direct link. */
  nsccl_topo_t *t = load("trn3-u64?cross_route=dest");
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid;
  cr_assert_eq(route_checked(t, 0, 33, mid, &nmid), 3);
  cr_assert_eq(mid[1], 1, "0 -> 33 passes chip %d", mid[1]); /* server 0 index 1: partner of 33 */
  cr_assert_eq(route_checked(t, 0, 48, mid, &nmid), 3);
  cr_assert_eq(mid[1], 16); /* server 1 index 0, whose partner server 3 holds 48 */
  cr_assert_eq(route_checked(t, 0, 32, mid, &nmid), 1);
  nsccl_topo_free(t);
  /* forward = store: the chip in the middle receives the whole message and pays alpha again. */
  t = load("trn3-u64?forward=store");
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 49, &p), nscclSuccess);
  cr_assert(near(p.latency, 0.55e-6 + 1.3e-6), "%g", p.latency);
  nsccl_topo_free(t);
}

/* ---- the tray reading ---- */

/* By hand: 16 chips per plane, planes 0, 1 in rack 0 (chips 0-31), 2, 3 in rack 1 (32-63). Switch
 * traversals: same plane 1; same rack 2; other rack, same plane index 2; other rack and plane 3. */
static int tray_switches_by_hand(int a, int b) {
  int pa = a / 16, pb = b / 16, ra = pa / 2, rb = pb / 2;
  if (pa == pb) return 1;
  if (ra == rb) return 2;
  return pa % 2 == pb % 2 ? 2 : 3;
}

Test(topo_layouts, tray_hops) {
  nsccl_topo_t *t = load("trn3-u64-tray");
  cr_assert_eq(t->nvertices, 64 + 4);
  cr_assert_eq(t->nlinks, 128 + 4 + 4, "chip links, plane pairs in 2 racks, same planes across 2 racks");
  cr_assert_eq(t->ngroups, 4);
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid, count[4] = {0};
  for (int a = 0; a < 64; a++)
    for (int b = 0; b < 64; b++) {
      if (a == b) continue;
      int n = route_checked(t, a, b, mid, &nmid), sw = 0;
      for (int i = 0; i < nmid; i++) sw += mid[i] >= 64;
      cr_assert_eq(nmid, sw, "%d -> %d passes a chip", a, b);
      cr_assert_eq(sw, tray_switches_by_hand(a, b), "%d -> %d: %d switches", a, b, sw);
      cr_assert_eq(n, sw + 1);
      if (a == 0) count[sw]++;
    }
  cr_assert(count[1] == 15 && count[2] == 32 && count[3] == 16);
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 63, &p), nscclSuccess); /* 3 switches: 4 links of 0.1 us, 3 x 0.15 us */
  cr_assert(near(p.latency, 4 * 0.1e-6 + 3 * 0.15e-6), "%g", p.latency);
  int order[64], links[8];
  nsccl_topo_ring(t, order);
  for (int i = 0; i < 64; i++) cr_assert_leq(nsccl_topo_route(t, order[i], order[(i + 1) % 64], links, 8), 3);
  nsccl_topo_free(t);
}

/* ---- ranks per chip ---- */

static int torus_distance(int a, int b) { /* 4x4 chips, wraparound */
  int d = 0;
  for (int k = 0; k < 2; k++, a /= 4, b /= 4) {
    int x = abs(a % 4 - b % 4);
    d += x < 4 - x ? x : 4 - x;
  }
  return d;
}

Test(topo_layouts, torus_ranks_per_chip) {
  nsccl_topo_t *t = load("trn2-16-lnc2");
  cr_assert_eq(t->nranks, 64);
  cr_assert_eq(t->ranks_per_chip, 4);
  cr_assert_eq(t->nchips, 16);
  cr_assert_eq(t->nvertices, 64 + 16);
  cr_assert_eq(t->nlinks, 16 * 4 + 64 * 2, "4 torus links per chip, an intra-chip link per rank and direction");
  cr_assert_eq(t->ngroups, 16);
  cr_assert_eq(t->group_size, 4);
  for (int r = 0; r < 64; r++) cr_assert(t->chip_of_rank[r] == r / 4 && t->group_of_rank[r] == r / 4);
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid;
  for (int a = 0; a < 64; a++)
    for (int b = 0; b < 64; b++) {
      if (a == b) continue;
      int n = route_checked(t, a, b, mid, &nmid);
      cr_assert_eq(n, 2 + torus_distance(a / 4, b / 4), "%d -> %d: %d links", a, b, n);
      for (int i = 0; i < nmid; i++) cr_assert_geq(mid[i], 64, "%d -> %d passes rank %d", a, b, mid[i]);
    }
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 3, &p), nscclSuccess); /* two ranks of chip 0 */
  cr_assert(near(p.bandwidth, 362e9) && p.hops == 2 && p.forwards == 0);
  cr_assert_eq(nsccl_topo_path(t, 0, 4 * 10, &p), nscclSuccess); /* chip 0 -> chip 10 = (2, 2): 4 hops */
  cr_assert(near(p.bandwidth, 128e9) && p.hops == 6 && near(p.latency, 4 * 0.2e-6));
  /* The ring: a chip's ranks together, chips one torus hop apart. */
  int order[64], seen[64] = {0};
  nsccl_topo_ring(t, order);
  for (int i = 0; i < 64; i++) {
    cr_assert(!seen[order[i]]);
    seen[order[i]] = 1;
    int a = order[i] / 4, b = order[(i + 1) % 64] / 4;
    cr_assert(a == b || torus_distance(a, b) == 1, "ring %d -> %d", order[i], order[(i + 1) % 64]);
  }
  /* Schedules that read rank coordinates refuse it; on one rank per chip they run. */
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_RING_DIMS, t, NSCCL_COLL_ALLGATHER, 64), 0);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_RING_KANGARING, t, NSCCL_COLL_ALLGATHER, 64), 0);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, t, NSCCL_COLL_ALLGATHER, 64), 0);
  cr_assert_eq(
      nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED | NSCCL_TREE_RD, t, NSCCL_COLL_ALLREDUCE, 64), 0);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_VARIANT_HIER, t, NSCCL_COLL_ALLREDUCE, 64), 1,
               "hierarchical variants run over chips");
  int perm[64];
  cr_assert_eq(nsccl_topo_hypercube_perm(t, perm), 0);
  nsccl_topo_free(t);
  t = load("trn2-16");
  cr_assert_eq(t->ranks_per_chip, 1);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_RING_DIMS, t, NSCCL_COLL_ALLGATHER, 16), 1);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_RING, NSCCL_RING_KANGARING, t, NSCCL_COLL_ALLGATHER, 16), 1);
  cr_assert_eq(nsccl_topo_algo_supported(NSCCL_ALGO_TREE, NSCCL_TREE_MAPPED, t, NSCCL_COLL_ALLGATHER, 16), 1);
  nsccl_topo_free(t);
}

Test(topo_layouts, switch_ranks_per_chip) {
  nsccl_topo_t *t = load("switch:ranks=16,ranks_per_chip=4,link_bandwidth=1e12,intra_chip_bandwidth=5e11,"
                         "intra_chip_latency=1e-8,link_latency=1e-7,switch_latency=2e-7,endpoint_overhead=1e-6,"
                         "reduce_bandwidth=1e12");
  cr_assert_eq(t->nchips, 4);
  cr_assert_eq(t->nvertices, 16 + 4 + 1);
  cr_assert_eq(t->nlinks, 4 * 2 + 16 * 2);
  cr_assert_eq(t->ngroups, 4);
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 1, 2, &p), nscclSuccess);
  cr_assert(p.hops == 2 && near(p.latency, 2e-8) && near(p.bandwidth, 5e11));
  cr_assert_eq(nsccl_topo_path(t, 1, 14, &p), nscclSuccess); /* rank, chip, switch, chip, rank */
  cr_assert(p.hops == 4 && near(p.latency, 2e-8 + 2e-7 + 2e-7) && near(p.bandwidth, 5e11));
  nsccl_topo_free(t);
  /* Gen1 with 2 ranks per chip: the direct link joins chips, 2 intra-chip hops around each route. */
  t = load("trn3-u64?ranks=128&ranks_per_chip=2&intra_chip_bandwidth=1e12");
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid;
  cr_assert_eq(route_checked(t, 0, 64, mid, &nmid), 3); /* chip 0 -> chip 32: the direct link */
  cr_assert_eq(route_checked(t, 1, 2 * 49, mid, &nmid), 5);
  nsccl_topo_free(t);
}

/* efa over servers of several ranks per chip: chips numbered server after server. */
Test(topo_layouts, efa_of_chips) {
  nsccl_topo_t *t = load("efa:servers=2,inner=trn2-16-lnc2,nic_bandwidth=25e9,network_latency=15e-6");
  cr_assert_eq(t->nranks, 128);
  cr_assert_eq(t->ranks_per_chip, 4);
  cr_assert_eq(t->nchips, 32);
  for (int r = 0; r < 128; r++) cr_assert_eq(t->chip_of_rank[r], r / 4);
  int mid[NSCCL_TOPO_MAX_ROUTE], nmid;
  cr_assert_eq(route_checked(t, 64, 67, mid, &nmid), 2); /* two ranks of chip 16, server 1's chip 0 */
  cr_assert_geq(mid[0], 128, "passes a chip vertex of server 1");
  cr_assert_eq(route_checked(t, 0, 64, mid, &nmid), 2); /* rank, network, rank */
  nsccl_topo_free(t);
}

/* The counterfactual keeps trn2-16's per-chip numbers: a port carrying what the chip's 4 links
 * carry, a traversal costing one torus hop, the same endpoint. */
Test(topo_layouts, trn2_as_switch_matches_trn2_16) {
  nsccl_topo_t *torus = load("trn2-16"), *sw = load("trn2-16-as-switch");
  double out = 0;
  for (int l = 0; l < torus->nlinks; l++)
    if (torus->links[l].src == 0) out += torus->links[l].bandwidth;
  cr_assert(near(sw->links[0].bandwidth, out), "port %g, torus chip %g", sw->links[0].bandwidth, out);
  nsccl_path_t a, b;
  cr_assert_eq(nsccl_topo_path(torus, 0, 1, &a), nscclSuccess);
  cr_assert_eq(nsccl_topo_path(sw, 0, 1, &b), nscclSuccess);
  cr_assert(near(a.latency, b.latency));
  cr_assert(near(torus->endpoint_overhead, sw->endpoint_overhead) &&
            near(torus->reduce_bandwidth, sw->reduce_bandwidth));
  cr_assert(torus->dma_engines == sw->dma_engines && torus->engines_per_message == sw->engines_per_message &&
            near(torus->dma_engine_bandwidth, sw->dma_engine_bandwidth));
  nsccl_topo_free(torus);
  nsccl_topo_free(sw);
}

/* ---- errors ---- */

static void expect_error(const char *spec, const char *needle) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclInvalidArgument, "%s loaded", spec);
  cr_assert_null(t);
  cr_assert(strstr(nsccl_last_error(), needle), "%s: message '%s' lacks '%s'", spec, nsccl_last_error(), needle);
}

#define SW   "switch:ranks=64,link_bandwidth=1e12,endpoint_overhead=1e-6,reduce_bandwidth=1e12"
#define GEN1 SW ",switches=2,server_chips=16,cross_bandwidth=1e11"

Test(topo_layouts, bad_keys) {
  expect_error(SW ",switches=3", "does not divide the 64 chips");
  expect_error(SW ",switches=2", "without cross_links");
  expect_error(GEN1 ",cross_links=0+2", "not a list of server pairs");
  expect_error(GEN1 ",cross_links=0-1", "share switch 0");
  expect_error(GEN1 ",cross_links=0-9", "outside [0, 4)");
  expect_error(GEN1 ",cross_links=0-2 0-3", "appears in two pairs");
  expect_error(GEN1 ",cross_links=0-2", "server 1 cannot reach server 2");
  expect_error(GEN1 ",cross_links=0-2 1-3,cross_route=sideways", "neither 'source' nor 'dest'");
  expect_error(SW ",switches=2,server_chips=16,cross_links=0-2 1-3", "missing key 'cross_bandwidth'");
  expect_error(SW ",switches=2,server_chips=5,cross_links=0-2", "does not divide the 32 chips of a switch");
  expect_error(SW ",levels=2,ranks_per_switch=16,spine_bandwidth=1e12,cross_links=0-2", "unknown key 'cross_links'");
  expect_error("trn3-u64-crossbar?forward=store", "forward"); /* no chip forwards on a crossbar */
  expect_error(SW ",ranks_per_chip=4", "missing key 'intra_chip_bandwidth'");
  expect_error(SW ",ranks_per_chip=5,intra_chip_bandwidth=1e11", "does not divide ranks = 64");
  expect_error(SW ",ranks_per_chip=4,intra_chip_bandwidth=1e11,levels=2,ranks_per_switch=6,spine_bandwidth=1e9",
               "does not divide ranks");
  expect_error(SW ",ranks_per_chip=4,intra_chip_bandwidth=1e11,levels=2,ranks_per_switch=2,spine_bandwidth=1e9",
               "is not a multiple of ranks_per_chip = 4");
  expect_error("trn2-16-lnc2?forward=store", "ranks_per_chip = 4");
  expect_error("trn2-16-lnc2?ranks=16", "does not match dims x ranks_per_chip (64 ranks)");
  expect_error("trn3-u64-tray?ranks=62", "not a multiple of ranks_per_chip x racks x planes");
  expect_error("tray:ranks=8,planes=2,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9",
               "missing key 'plane_bandwidth'");
}
