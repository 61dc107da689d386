/* The heap-tree walk's shortcuts (model/cost_rooted.c) against the walk without them: its events in
 * the simulator's radix queue against a binary heap, and prices from the exact memo
 * (model/price_memo.h) against prices walked afresh. Every rooted family's broadcast and reduce and
 * both binary trees' all-reduce, on a torus (routed and storing chips), a switch with engines, two
 * Trainium presets and one at four ranks per chip, from one chunk to many, must give the same
 * seconds bit for bit; and the memo itself keeps, finds and forgets keys as its header says. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/cost_rooted.h"
#include "model/price_memo.h"
#include "topologies/topo.h"

static const size_t sizes[] = {8, 65536, 1u << 20, 3000000, 64u << 20, 256u << 20};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* One price with the radix queue on or off (the memo as it is set). */
static double price(const nsccl_topo_t *t, nsccl_coll_t coll, const char *variant, nsccl_algo_t family, size_t bytes,
                    int radix) {
  nsccl_model_walk_radix = radix;
  double s = -1;
  nscclResult_t rc;
  if (variant) {
    const nsccl_variant_t *v = nsccl_variant_by_name(variant);
    cr_assert(v, "no variant %s", variant);
    rc = nsccl_model_predict(t, NULL, coll, v->family, v->id, bytes, t->nranks, &s);
  } else {
    rc = nsccl_model_predict_rooted(t, NULL, coll, family, bytes, t->nranks, 0, &s);
  }
  nsccl_model_walk_radix = 1;
  cr_assert_eq(rc, nscclSuccess, "%s %s on %s: %s", variant ? variant : nsccl_algo_name(family), nsccl_coll_name(coll),
               t->name, nsccl_last_error());
  return s;
}

typedef struct {
  nsccl_coll_t coll;
  const char *variant; /* NULL: the rooted family below */
  nsccl_algo_t family;
} walked_t;

static const walked_t walked[] = {
    {NSCCL_COLL_ALLREDUCE, "tree/binary", NSCCL_ALGO_TREE},
    {NSCCL_COLL_ALLREDUCE, "tree/double-binary", NSCCL_ALGO_TREE},
    {NSCCL_COLL_BROADCAST, NULL, NSCCL_ALGO_RING},
    {NSCCL_COLL_BROADCAST, NULL, NSCCL_ALGO_TREE},
    {NSCCL_COLL_BROADCAST, NULL, NSCCL_ALGO_DIRECT},
    {NSCCL_COLL_REDUCE, NULL, NSCCL_ALGO_RING},
    {NSCCL_COLL_REDUCE, NULL, NSCCL_ALGO_TREE},
    {NSCCL_COLL_REDUCE, NULL, NSCCL_ALGO_DIRECT},
};
#define NWALKED (sizeof(walked) / sizeof(walked[0]))

static void compare_on(const char *spec) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  double ref[NWALKED][NSIZES];
  nsccl_price_memo_enable(0); /* the reference: every walk afresh, in the binary heap */
  for (size_t w = 0; w < NWALKED; w++)
    for (size_t i = 0; i < NSIZES; i++)
      ref[w][i] = price(t, walked[w].coll, walked[w].variant, walked[w].family, sizes[i], 0);
  for (int radix = 0; radix <= 1; radix++)
    for (int memo = 0; memo <= 1; memo++) {
      nsccl_price_memo_enable(memo);
      unsigned long hits = nsccl_price_memo_hits();
      for (int round = 0; round < 2; round++) /* the second round finds every walk in the memo */
        for (size_t w = 0; w < NWALKED; w++)
          for (size_t i = 0; i < NSIZES; i++) {
            double s = price(t, walked[w].coll, walked[w].variant, walked[w].family, sizes[i], radix);
            cr_expect(s == ref[w][i], "%s %s %zu B on %s (radix %d, memo %d, round %d): %.17g s, walked afresh %.17g s",
                      walked[w].variant ? walked[w].variant : nsccl_algo_name(walked[w].family),
                      nsccl_coll_name(walked[w].coll), sizes[i], spec, radix, memo, round, s, ref[w][i]);
          }
      if (memo) cr_expect(nsccl_price_memo_hits() > hits, "%s: the memo found nothing", spec);
    }
  nsccl_price_memo_enable(1);
  nsccl_topo_free(t);
}

Test(walk_exact, torus_routed_and_storing) {
  compare_on("torus:dims=4x4,link_bandwidth=1e11,link_latency=2e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1.7e12,"
             "dma_engines=16,engines_per_message=4,dma_engine_bandwidth=2.7e10");
  compare_on("torus:dims=3x5,link_bandwidth=1e11,link_latency=2e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1.7e12,"
             "forward=store");
}

Test(walk_exact, switch_and_presets) {
  compare_on("switch:ranks=12,link_bandwidth=2e11,endpoint_overhead=1e-6,reduce_bandwidth=1e12,dma_engines=8,"
             "engines_per_message=3,dma_engine_bandwidth=4e10");
  compare_on("trn2-u64");
  compare_on("trn3-u64");
  compare_on("trn2-16-lnc2");
}

/* A topology changed in place (a test or tool may do that between two prices) is a new key: after
 * each change of one number the walk reads, the memo must give what a fresh walk gives, not the
 * price it kept from before. */
static double walked_price(const nsccl_topo_t *t, const char *variant, int memo) {
  const nsccl_variant_t *v = nsccl_variant_by_name(variant);
  cr_assert(v, "no variant %s", variant);
  nsccl_price_memo_enable(memo);
  double s = -1;
  cr_assert_eq(nsccl_model_predict(t, NULL, NSCCL_COLL_ALLREDUCE, v->family, v->id, 64u << 20, t->nranks, &s),
               nscclSuccess, "%s", nsccl_last_error());
  nsccl_price_memo_enable(1);
  return s;
}

Test(walk_exact, changed_topology_is_a_new_key) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64?forward=routed", &t), nscclSuccess, "%s", nsccl_last_error());
  int on_route[NSCCL_TOPO_MAX_ROUTE];
  cr_assert(nsccl_topo_route(t, 1, 0, on_route, NSCCL_TOPO_MAX_ROUTE) > 0); /* rank 1's edge to the root */
  nsccl_link_t *l = &t->links[on_route[0]];
  const char *what[] = {"link bandwidth", "link latency",        "alpha",     "gamma", "engine bandwidth",
                        "engines",        "engines per message", "forwarding"};
  const char *variants[] = {"tree/binary", "tree/double-binary"};
  for (int change = 0; change < 8; change++) {
    double before[2];
    for (int k = 0; k < 2; k++) before[k] = walked_price(t, variants[k], 1);
    switch (change) {
    case 0: l->bandwidth /= 16; break;
    case 1: l->latency += 5e-6; break;
    case 2: t->endpoint_overhead *= 2; break;
    case 3: t->reduce_bandwidth /= 8; break;
    case 4: t->dma_engine_bandwidth /= 4; break;
    case 5: t->dma_engines /= 4; break;
    case 6: t->engines_per_message /= 4; break;
    default: t->forward = NSCCL_FORWARD_STORE; break;
    }
    for (int k = 0; k < 2; k++) {
      double memo = walked_price(t, variants[k], 1), fresh = walked_price(t, variants[k], 0);
      cr_expect(memo == fresh && memo != before[k],
                "%s after a change of %s: %.17g s from the memo, %.17g s walked afresh, %.17g s before", variants[k],
                what[change], memo, fresh, before[k]);
    }
  }
  nsccl_topo_free(t);
}

Test(walk_exact, memo_keeps_finds_and_forgets) {
  nsccl_price_memo_enable(0);
  nsccl_price_memo_enable(1);
  unsigned char a[100], b[100];
  memset(a, 7, sizeof(a));
  memcpy(b, a, sizeof(b));
  b[99] = 8; /* differs in its last byte only */
  double s = 0;
  cr_expect(!nsccl_price_memo_get(a, sizeof(a), &s), "an empty memo found a key");
  nsccl_price_memo_put(a, sizeof(a), 1.5);
  cr_expect(nsccl_price_memo_get(a, sizeof(a), &s) && s == 1.5, "a kept key was not found (%g)", s);
  cr_expect(!nsccl_price_memo_get(b, sizeof(b), &s), "a different key was found");
  cr_expect(!nsccl_price_memo_get(a, sizeof(a) - 1, &s), "a key's prefix was found");
  /* a thousand newer keys push the first one out; the newest stays */
  for (int i = 0; i < 1000; i++) {
    unsigned char k[sizeof(int)];
    memcpy(k, &i, sizeof(k));
    nsccl_price_memo_put(k, sizeof(k), i);
  }
  cr_expect(!nsccl_price_memo_get(a, sizeof(a), &s), "the oldest key outlived a thousand newer ones");
  int last = 999;
  cr_expect(nsccl_price_memo_get(&last, sizeof(last), &s) && s == 999, "the newest key was not found");
  nsccl_price_memo_enable(0);
  cr_expect(!nsccl_price_memo_get(&last, sizeof(last), &s), "a switched-off memo found a key");
  nsccl_price_memo_put(a, sizeof(a), 2.5);
  cr_expect(!nsccl_price_memo_get(a, sizeof(a), &s), "a switched-off memo kept a key");
  nsccl_price_memo_enable(1);
}
