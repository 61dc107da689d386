/* Shared exchange plans (algo/xchg_cache.c): a plan asked for twice is computed once and is the
 * same as computing it afresh; different peers or keys give different plans; freeing every user
 * leaves a plan evictable, not dangling. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "algo/xchg_plan.h"

/* Recursive doubling on p = 2^L ranks: step s pairs r with r ^ (1 << bit[s]). */
static int *hypercube(int p, int L, const int *bit) {
  int *peer = malloc(sizeof(int) * (size_t)(L * p));
  for (int s = 0; s < L; s++)
    for (int r = 0; r < p; r++) peer[s * p + r] = r ^ (1 << bit[s]);
  return peer;
}

static void same_plan(const nsccl_xchg_plan_t *a, const nsccl_xchg_plan_t *b) {
  cr_assert_eq(a->p, b->p);
  cr_assert_eq(a->L, b->L);
  size_t words = (size_t)(a->L + 1) * (size_t)a->p * (size_t)a->W;
  cr_assert(!memcmp(a->held, b->held, words * sizeof(uint64_t)));
  cr_assert(!memcmp(a->order, b->order, sizeof(int) * (size_t)a->p));
  cr_assert_eq(!a->span, !b->span);
}

Test(xchg_cache, shared_equals_computed) {
  int bits[] = {2, 0, 1, 3, 4, 5, 6};
  int p = 128, L = 7, *peer = hypercube(p, L, bits);
  nsccl_xchg_plan_t a, b, fresh;
  cr_assert_eq(nsccl_xchg_plan_init(&a, "test", p, L, peer), nscclSuccess);
  cr_assert_eq(nsccl_xchg_plan_init(&b, "test", p, L, peer), nscclSuccess);
  cr_assert_eq(a.held, b.held, "the second request shares the first plan");
  cr_assert_eq(nsccl_xchg_plan_compute(&fresh, "test", p, L, peer), nscclSuccess);
  same_plan(&a, &fresh);
  /* the held sets nest in the plan's order: every held set is one interval of positions */
  cr_assert_not_null(a.span);
  int runs[128][2];
  for (int s = 0; s <= L; s++)
    for (int r = 0; r < p; r++) {
      cr_assert_eq(nsccl_xchg_runs_ordered(&a, nsccl_xchg_held(&a, s, r), runs), 1);
      cr_assert_eq(runs[0][1] - runs[0][0], 1 << s);
      cr_assert_eq(nsccl_xchg_count(&a, nsccl_xchg_held(&a, s, r)), 1 << s);
    }
  nsccl_xchg_plan_release(&fresh);
  nsccl_xchg_plan_free(&a);
  nsccl_xchg_plan_free(&b);
  free(peer);
}

Test(xchg_cache, other_peers_other_plan) {
  int b1[] = {0, 1, 2, 3, 4, 5}, b2[] = {5, 4, 3, 2, 1, 0};
  int p = 64, L = 6, *p1 = hypercube(p, L, b1), *p2 = hypercube(p, L, b2);
  nsccl_xchg_plan_t a, b;
  cr_assert_eq(nsccl_xchg_plan_init(&a, "test", p, L, p1), nscclSuccess);
  cr_assert_eq(nsccl_xchg_plan_init(&b, "test", p, L, p2), nscclSuccess);
  cr_assert_neq(a.held, b.held);
  /* rank 0 holds {0, 1} after step 0 of the first, {0, 32} after step 0 of the second */
  cr_assert(nsccl_xchg_has(nsccl_xchg_held(&a, 1, 0), 1) && !nsccl_xchg_has(nsccl_xchg_held(&a, 1, 0), 32));
  cr_assert(nsccl_xchg_has(nsccl_xchg_held(&b, 1, 0), 32) && !nsccl_xchg_has(nsccl_xchg_held(&b, 1, 0), 1));
  nsccl_xchg_plan_free(&a);
  nsccl_xchg_plan_free(&b);
  free(p1);
  free(p2);
}

/* Rank-order runs (word at a time) against a bit-by-bit scan, on sets crossing word boundaries. */
Test(xchg_cache, runs_match_a_scan) {
  nsccl_xchg_plan_t pl = {.p = 200, .W = 4};
  uint64_t set[4];
  unsigned seed = 7;
  for (int trial = 0; trial < 500; trial++) {
    for (int w = 0; w < 4; w++) {
      seed = seed * 1103515245u + 12345u;
      uint64_t x = (uint64_t)seed << 32;
      seed = seed * 1103515245u + 12345u;
      set[w] = x | seed;
      if (trial % 3 == 0) set[w] = ~(uint64_t)0 << (seed % 64); /* long runs across words */
    }
    set[3] &= ((uint64_t)1 << (200 - 192)) - 1; /* no bits past p */
    int runs[200][2], want[200][2], n = 0;
    for (int q = 0; q < 200; q++)
      if (nsccl_xchg_has(set, q)) {
        if (n && want[n - 1][1] == q)
          want[n - 1][1] = q + 1;
        else
          want[n][0] = q, want[n][1] = q + 1, n++;
      }
    int got = nsccl_xchg_runs(&pl, set, runs);
    cr_assert_eq(got, n, "trial %d", trial);
    for (int i = 0; i < n; i++)
      cr_assert(runs[i][0] == want[i][0] && runs[i][1] == want[i][1], "trial %d run %d", trial, i);
  }
}
