/* Broadcast and reduce schedules (src/algo/bcast_reduce.c): every family (chain, binomial tree,
 * flat tree) at many rank counts, every root, counts that do and do not fill whole chunks, in and out
 * of place. Each set of programs must pass the validator, and the local engine's results must equal
 * a serial reference computed here element by element. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/bcast_reduce.h"
#include "base/check.h"
#include "engine/local.h"

#define MAXN 40

static nsccl_program_t progs[MAXN];
static int32_t *sendb[MAXN], *recvb[MAXN];

static int32_t input(int rank, size_t i) { return (int32_t)((rank + 1) * 1000 + (int)(i % 997)) * (rank % 2 ? -1 : 1); }

static int32_t ref_reduce(nscclRedOp_t op, int n, size_t i) {
  int64_t acc = input(0, i);
  for (int r = 1; r < n; r++) {
    int64_t v = input(r, i);
    switch (op) {
    case nscclSum: acc += v; break;
    case nscclMax: acc = v > acc ? v : acc; break;
    case nscclMin: acc = v < acc ? v : acc; break;
    default: cr_assert_fail("op %d not covered by the reference", op);
    }
  }
  return (int32_t)acc;
}

/* Build, validate and run one case; check the outputs. */
static void one(nsccl_coll_t coll, nsccl_algo_t algo, int n, int root, size_t count, bool in_place, nscclRedOp_t op,
                size_t chunk) {
  nsccl_coll_args_t args = {.coll = coll, .count = count, .dtype = nscclInt32, .in_place = in_place, .root = root};
  nsccl_algo_opts_t opts = {.chunk_bytes = chunk};
  const char *what = coll == NSCCL_COLL_BROADCAST ? "broadcast" : "reduce";
  for (int r = 0; r < n; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess);
    cr_assert_eq(nsccl_bcast_reduce_build(algo, &opts, &progs[r]), nscclSuccess, "%s %s n=%d root=%d: %s", what,
                 nsccl_algo_name(algo), n, root, nsccl_last_error());
  }
  char err[1024] = "";
  cr_assert_eq(nsccl_sched_validate(progs, n, err, sizeof(err)), nscclSuccess, "%s %s n=%d root=%d count=%zu ip=%d: %s",
               what, nsccl_algo_name(algo), n, root, count, in_place, err);
  size_t bytes = count * sizeof(int32_t) + 4;
  for (int r = 0; r < n; r++) {
    sendb[r] = malloc(bytes);
    recvb[r] = in_place ? sendb[r] : malloc(bytes);
    for (size_t i = 0; i < count; i++) sendb[r][i] = coll == NSCCL_COLL_BROADCAST && r != root ? -7 : input(r, i);
    if (!in_place)
      for (size_t i = 0; i < count; i++) recvb[r][i] = -9;
  }
  cr_assert_eq(nsccl_local_run(progs, n, (const void *const *)sendb, (void *const *)recvb, op, err, sizeof(err)),
               nscclSuccess, "%s %s n=%d root=%d: %s", what, nsccl_algo_name(algo), n, root, err);
  for (int r = 0; r < n; r++) {
    if (coll == NSCCL_COLL_REDUCE && r != root) {
      /* a non-root's input must be left alone */
      for (size_t i = 0; i < count; i++)
        cr_assert_eq(sendb[r][i], input(r, i), "reduce %s n=%d root=%d: rank %d's sendbuff changed at %zu",
                     nsccl_algo_name(algo), n, root, r, i);
      continue;
    }
    for (size_t i = 0; i < count; i++) {
      int32_t want = coll == NSCCL_COLL_BROADCAST ? input(root, i) : ref_reduce(op, n, i);
      cr_assert_eq(recvb[r][i], want, "%s %s n=%d root=%d count=%zu in_place=%d: rank %d element %zu is %d, want %d",
                   what, nsccl_algo_name(algo), n, root, count, in_place, r, i, recvb[r][i], want);
    }
  }
  for (int r = 0; r < n; r++) {
    if (!in_place) free(recvb[r]);
    free(sendb[r]);
    nsccl_prog_free(&progs[r]);
  }
}

static const int ranks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 31, 32, 33, 40};
#define NRANKS (int)(sizeof(ranks) / sizeof(ranks[0]))

static void sweep(nsccl_coll_t coll, nscclRedOp_t op) {
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
    for (int k = 0; k < NRANKS; k++) {
      int n = ranks[k];
      int roots[] = {0, n / 2, n - 1, (n * 2) / 3};
      for (int q = 0; q < 4; q++)
        for (int ip = 0; ip < 2; ip++) {
          size_t counts[] = {0, 1, 37, 1000};
          for (int c = 0; c < 4; c++) one(coll, (nsccl_algo_t)a, n, roots[q], counts[c], ip, op, 64);
        }
    }
}

Test(bcast_reduce, broadcast_every_family_rank_count_and_root) { sweep(NSCCL_COLL_BROADCAST, nscclSum); }
Test(bcast_reduce, reduce_sum) { sweep(NSCCL_COLL_REDUCE, nscclSum); }
Test(bcast_reduce, reduce_max_and_min_default_chunks) {
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
    for (int n = 1; n <= 9; n++) {
      one(NSCCL_COLL_REDUCE, (nsccl_algo_t)a, n, n - 1, 5000, false, nscclMax, 0);
      one(NSCCL_COLL_REDUCE, (nsccl_algo_t)a, n, 0, 5000, true, nscclMin, 0);
    }
}

/* Every rank but the root of a binomial tree has exactly one parent; the root talks to ceil(log2 n)
 * children; a chain's ranks send at most once per chunk. */
Test(bcast_reduce, tree_shapes) {
  for (int n = 1; n <= 33; n++) {
    nsccl_coll_args_t args = {.coll = NSCCL_COLL_BROADCAST, .count = 4, .dtype = nscclInt32, .root = 0};
    int lg = 0;
    while ((1 << lg) < n) lg++;
    for (int r = 0; r < n; r++) {
      nsccl_program_t p;
      cr_assert_eq(nsccl_prog_init(&p, r, n, &args), nscclSuccess);
      cr_assert_eq(nsccl_bcast_reduce_build(NSCCL_ALGO_TREE, NULL, &p), nscclSuccess);
      int sends = 0, recvs = 0;
      for (uint32_t s = 0; s < p.nsteps; s++) {
        sends += p.steps[s].kind == NSCCL_STEP_SEND;
        recvs += p.steps[s].kind == NSCCL_STEP_RECV;
      }
      cr_assert_eq(recvs, r == 0 ? 0 : 1, "n=%d rank %d receives %d times", n, r, recvs);
      if (r == 0) cr_assert_eq(sends, lg, "n=%d: the root sends %d times, want %d", n, sends, lg);
      nsccl_prog_free(&p);
    }
  }
}

Test(bcast_reduce, bad_root_and_collective) {
  nsccl_coll_args_t args = {.coll = NSCCL_COLL_BROADCAST, .count = 4, .dtype = nscclInt32, .root = 3};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 0, 3, &args), nscclInvalidArgument);
  args.coll = NSCCL_COLL_ALLREDUCE;
  args.root = 0;
  cr_assert_eq(nsccl_prog_init(&p, 0, 3, &args), nscclSuccess);
  cr_assert_eq(nsccl_bcast_reduce_build(NSCCL_ALGO_RING, NULL, &p), nscclInvalidArgument);
  nsccl_prog_free(&p);
}
