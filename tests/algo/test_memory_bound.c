/* The memory a collective's schedule needs is bounded independently of the message size
 * (docs/algorithms.md, "Memory bound").
 *
 * For every family and variant that builds all-gather, reduce-scatter, all-reduce, broadcast and
 * reduce, at 2, 3, 4 and 8 ranks, a 64-byte chunk and messages of 1, 16 and 64 chunks per block:
 *  (a) scratch: the largest scratch buffer of any rank is the same at 16 and at 64 chunks per block
 *      and at most 2 x NSCCL_ALGO_SLOTS x chunk x nranks;
 *  (b) window: computed here from the dependency graph alone (the largest antichain of receives
 *      that need staging or scratch, RECV_REDUCE and RECV into scratch, by Dilworth's theorem):
 *      at most NSCCL_ALGO_WINDOW of them can ever be posted at once, and none is larger than a
 *      chunk. Programs whose such receives total at most NSCCL_ALGO_WINDOW chunks are exempt (they
 *      fit the budget all at once);
 *  (c) the validator accepts every set of programs and the local engine's results equal a serial
 *      reference computed here from the definition of the collective. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/bcast_reduce.h"
#include "algo/direct.h"
#include "algo/tree.h"
#include "engine/local.h"
#include "sched/sched.h"

#define CHUNK           ((size_t)64)
#define ELEMS_PER_CHUNK (CHUNK / sizeof(int32_t))

typedef struct {
  nsccl_algo_t algo;
  int variant;
  nsccl_coll_t coll;
  const char *name;
} family_t;

static const family_t families[] = {
    {NSCCL_ALGO_RING, 0, NSCCL_COLL_ALLGATHER, "ring"},
    {NSCCL_ALGO_RING, 0, NSCCL_COLL_REDUCESCATTER, "ring"},
    {NSCCL_ALGO_RING, 0, NSCCL_COLL_ALLREDUCE, "ring"},
    {NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_ALLGATHER, "direct"},
    {NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_REDUCESCATTER, "direct"},
    {NSCCL_ALGO_DIRECT, NSCCL_DIRECT_ONESHOT, NSCCL_COLL_ALLREDUCE, "direct/oneshot"},
    {NSCCL_ALGO_DIRECT, NSCCL_DIRECT_RSAG, NSCCL_COLL_ALLREDUCE, "direct/rsag"},
    {NSCCL_ALGO_TREE, 0, NSCCL_COLL_ALLGATHER, "tree"},
    {NSCCL_ALGO_TREE, NSCCL_TREE_BRUCK, NSCCL_COLL_ALLGATHER, "tree/bruck"},
    {NSCCL_ALGO_TREE, 0, NSCCL_COLL_REDUCESCATTER, "tree"},
    {NSCCL_ALGO_TREE, NSCCL_TREE_RD, NSCCL_COLL_ALLREDUCE, "tree/rd"},
    {NSCCL_ALGO_TREE, NSCCL_TREE_RABENSEIFNER, NSCCL_COLL_ALLREDUCE, "tree/rabenseifner"},
    {NSCCL_ALGO_TREE, NSCCL_TREE_BINARY, NSCCL_COLL_ALLREDUCE, "tree/binary"},
    {NSCCL_ALGO_TREE, NSCCL_TREE_DOUBLE_BINARY, NSCCL_COLL_ALLREDUCE, "tree/double-binary"},
    {NSCCL_ALGO_RING, 0, NSCCL_COLL_BROADCAST, "chain"},
    {NSCCL_ALGO_TREE, 0, NSCCL_COLL_BROADCAST, "binomial"},
    {NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_BROADCAST, "flat"},
    {NSCCL_ALGO_RING, 0, NSCCL_COLL_REDUCE, "chain"},
    {NSCCL_ALGO_TREE, 0, NSCCL_COLL_REDUCE, "binomial"},
    {NSCCL_ALGO_DIRECT, 0, NSCCL_COLL_REDUCE, "flat"},
};
#define NFAMILIES (int)(sizeof(families) / sizeof(families[0]))

static const int rank_counts[] = {2, 3, 4, 8};
#define NRANKCOUNTS (int)(sizeof(rank_counts) / sizeof(rank_counts[0]))

typedef struct {
  const family_t *f;
  int n;
  size_t count;
  bool in_place;
  int root;
  char what[160];
} case_t;

static long input_value(int r, size_t i) { return (long)((r * 37 + i * 11) % 61) - 30; }

/* Element i of rank r's output, or false if that rank has no defined output there. */
static bool expected(const case_t *t, int r, size_t i, long *v) {
  long acc = 0;
  switch (t->f->coll) {
  case NSCCL_COLL_ALLGATHER: *v = input_value((int)(i / t->count), i % t->count); return true;
  case NSCCL_COLL_REDUCESCATTER:
    for (int j = 0; j < t->n; j++) acc += input_value(j, (size_t)r * t->count + i);
    *v = acc;
    return true;
  case NSCCL_COLL_BROADCAST: *v = input_value(t->root, i); return true;
  case NSCCL_COLL_REDUCE:
    if (r != t->root) return false;
    /* fallthrough */
  default:
    for (int j = 0; j < t->n; j++) acc += input_value(j, i);
    *v = acc;
    return true;
  }
}

static bool windowed(const nsccl_step_t *s) {
  return s->kind == NSCCL_STEP_RECV_REDUCE || (s->kind == NSCCL_STEP_RECV && s->dst.buf == NSCCL_BUF_SCRATCH);
}

/* Kuhn's augmenting path from left vertex a over the comparability edges adj[a]. */
static bool augment(uint32_t a, uint32_t *const *adj, const uint32_t *nadj, uint32_t *match, uint32_t *seen,
                    uint32_t mark) {
  for (uint32_t e = 0; e < nadj[a]; e++) {
    uint32_t b = adj[a][e];
    if (seen[b] == mark) continue;
    seen[b] = mark;
    if (match[b] == UINT32_MAX || augment(match[b], adj, nadj, match, seen, mark)) {
      match[b] = a;
      return true;
    }
  }
  return false;
}

/* The most windowed receives that can be posted at once: the largest antichain among them in the
 * dependency order (a receive is posted only once all its ancestors completed, so two posted at the
 * same time are unordered; and unordered ones can be). Dilworth: = m - a maximum matching of the
 * bipartite graph "a is an ancestor of b". */
static uint32_t max_antichain(const nsccl_program_t *p, const uint32_t *idx, uint32_t m) {
  size_t words = (m + 63) / 64;
  uint64_t *anc = calloc((size_t)p->nsteps * words + 1, sizeof(uint64_t));
  int64_t *widx = malloc((p->nsteps + 1) * sizeof(int64_t));
  cr_assert(anc && widx);
  for (uint32_t i = 0; i < p->nsteps; i++) widx[i] = -1;
  for (uint32_t k = 0; k < m; k++) widx[idx[k]] = k;
  for (uint32_t i = 0; i < p->nsteps; i++) {
    const nsccl_step_t *s = &p->steps[i];
    uint64_t *mine = anc + (size_t)i * words;
    for (uint32_t d = 0; d < s->ndeps; d++) {
      uint32_t q = p->deps[s->dep_first + d];
      const uint64_t *theirs = anc + (size_t)q * words;
      for (size_t w = 0; w < words; w++) mine[w] |= theirs[w];
      if (widx[q] >= 0) mine[widx[q] / 64] |= (uint64_t)1 << (widx[q] % 64);
    }
  }
  uint32_t **adj = calloc(m, sizeof(uint32_t *)), *nadj = calloc(m, sizeof(uint32_t));
  uint32_t *match = malloc(m * sizeof(uint32_t)), *seen = calloc(m, sizeof(uint32_t));
  cr_assert(adj && nadj && match && seen);
  for (uint32_t a = 0; a < m; a++) {
    adj[a] = malloc(m * sizeof(uint32_t));
    cr_assert(adj[a]);
    match[a] = UINT32_MAX;
  }
  for (uint32_t b = 0; b < m; b++) {
    const uint64_t *ab = anc + (size_t)idx[b] * words;
    for (uint32_t a = 0; a < m; a++)
      if (ab[a / 64] >> (a % 64) & 1) adj[a][nadj[a]++] = b;
  }
  uint32_t matched = 0;
  for (uint32_t a = 0; a < m; a++) matched += augment(a, adj, nadj, match, seen, a + 1);
  for (uint32_t a = 0; a < m; a++) free(adj[a]);
  free(adj);
  free(nadj);
  free(match);
  free(seen);
  free(anc);
  free(widx);
  return m - matched;
}

static void check_window(const case_t *t, const nsccl_program_t *p) {
  uint32_t *idx = malloc((p->nsteps + 1) * sizeof(uint32_t));
  cr_assert(idx);
  uint32_t m = 0;
  size_t total = 0;
  for (uint32_t i = 0; i < p->nsteps; i++)
    if (windowed(&p->steps[i])) {
      idx[m++] = i;
      total += p->steps[i].dst.bytes;
      cr_assert_leq(p->steps[i].dst.bytes, CHUNK, "%s: rank %d step %u receives %zu bytes, more than a chunk", t->what,
                    p->rank, i, p->steps[i].dst.bytes);
    }
  if (total > NSCCL_ALGO_WINDOW * CHUNK) {
    uint32_t most = max_antichain(p, idx, m);
    cr_assert_leq(most, NSCCL_ALGO_WINDOW,
                  "%s: rank %d can have %u staging/scratch receives posted at once (window %d)", t->what, p->rank, most,
                  NSCCL_ALGO_WINDOW);
  }
  free(idx);
}

/* Builds, checks and runs one case; returns the largest scratch of any rank. */
static size_t run_case(case_t *t) {
  const family_t *f = t->f;
  int n = t->n;
  snprintf(t->what, sizeof(t->what), "%s %s n=%d count=%zu %s", f->name, nsccl_coll_name(f->coll), n, t->count,
           t->in_place ? "in-place" : "out-of-place");
  nsccl_coll_args_t args = {f->coll, t->count, nscclInt32, t->in_place, t->root};
  nsccl_algo_opts_t opts = {CHUNK, f->variant};
  nsccl_program_t *progs = calloc((size_t)n, sizeof(*progs));
  void **own = calloc((size_t)n, sizeof(void *)), **extra = calloc((size_t)n, sizeof(void *));
  const void **send = calloc((size_t)n, sizeof(void *));
  void **recv = calloc((size_t)n, sizeof(void *));
  char err[1024];
  cr_assert(progs && own && extra && send && recv);
  size_t scratch = 0;
  for (int r = 0; r < n; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess, "%s: init", t->what);
    nscclResult_t rc = f->coll >= NSCCL_NUM_COLLS ? nsccl_bcast_reduce_build(f->algo, &opts, &progs[r])
                                                  : nsccl_algo_build(f->algo, NULL, &opts, &progs[r]);
    cr_assert_eq(rc, nscclSuccess, "%s: build rank %d", t->what, r);
    if (progs[r].buf_bytes[NSCCL_BUF_SCRATCH] > scratch) scratch = progs[r].buf_bytes[NSCCL_BUF_SCRATCH];
    check_window(t, &progs[r]);
  }
  cr_assert_eq(nsccl_sched_validate(progs, n, err, sizeof(err)), nscclSuccess, "%s: validator: %s", t->what, err);

  size_t sbytes = progs[0].buf_bytes[NSCCL_BUF_SEND], rbytes = progs[0].buf_bytes[NSCCL_BUF_RECV];
  for (int r = 0; r < n; r++) {
    if (t->in_place) {
      size_t big = sbytes > rbytes ? sbytes : rbytes;
      int32_t *b = malloc(big + 4);
      cr_assert(b);
      own[r] = b;
      for (size_t i = 0; i < big / 4; i++) b[i] = -999;
      size_t soff = f->coll == NSCCL_COLL_ALLGATHER ? (size_t)r * (sbytes / 4) : 0;
      size_t roff = f->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * (rbytes / 4) : 0;
      for (size_t i = 0; i < sbytes / 4; i++) b[soff + i] = (int32_t)input_value(r, i);
      send[r] = b + soff;
      recv[r] = b + roff;
    } else {
      int32_t *s = malloc(sbytes + 4), *d = malloc(rbytes + 4);
      cr_assert(s && d);
      own[r] = s;
      extra[r] = d;
      for (size_t i = 0; i < sbytes / 4; i++) s[i] = (int32_t)input_value(r, i);
      for (size_t i = 0; i < rbytes / 4; i++) d[i] = -999;
      send[r] = s;
      recv[r] = d;
    }
  }
  cr_assert_eq(nsccl_local_run(progs, n, send, recv, nscclSum, err, sizeof(err)), nscclSuccess, "%s: local engine: %s",
               t->what, err);
  for (int r = 0; r < n; r++)
    for (size_t i = 0; i < rbytes / 4; i++) {
      long want, got = ((const int32_t *)recv[r])[i];
      if (expected(t, r, i, &want) && want != got)
        cr_assert_fail("%s: rank %d element %zu is %ld, expected %ld", t->what, r, i, got, want);
    }
  for (int r = 0; r < n; r++) {
    nsccl_prog_free(&progs[r]);
    free(own[r]);
    free(extra[r]);
  }
  free(progs);
  free(own);
  free(extra);
  free(send);
  free(recv);
  return scratch;
}

/* Count for a block of `chunks` chunks (plus `tail` elements): all-gather and reduce-scatter count
 * one rank's block, all-reduce the vector of n blocks, broadcast and reduce the whole vector. */
static size_t count_for(nsccl_coll_t coll, int n, size_t chunks, size_t tail) {
  size_t block = chunks * ELEMS_PER_CHUNK + tail;
  return coll == NSCCL_COLL_ALLREDUCE ? block * (size_t)n : block;
}

static void check_family(const family_t *f) {
  for (int ni = 0; ni < NRANKCOUNTS; ni++)
    for (int ip = 0; ip < 2; ip++) {
      int n = rank_counts[ni];
      case_t t = {.f = f, .n = n, .in_place = ip, .root = f->coll >= NSCCL_NUM_COLLS ? n - 1 : 0};
      t.count = count_for(f->coll, n, 1, 0);
      size_t one = run_case(&t);
      t.count = count_for(f->coll, n, 16, 0);
      size_t mid = run_case(&t);
      char what16[160];
      snprintf(what16, sizeof(what16), "%s", t.what);
      t.count = count_for(f->coll, n, 64, 3); /* a partial last chunk too */
      size_t big = run_case(&t);
      size_t bound = 2 * NSCCL_ALGO_SLOTS * CHUNK * (size_t)n;
      cr_assert_eq(mid, big, "%s: scratch grows with the message: %zu bytes at 16 chunks per block, %zu at 64 (%s)",
                   t.what, mid, big, what16);
      cr_assert_leq(big, bound, "%s: scratch %zu bytes exceeds 2 x %d slots x %zu-byte chunk x %d ranks = %zu", t.what,
                    big, NSCCL_ALGO_SLOTS, CHUNK, n, bound);
      cr_assert_leq(one, bound, "%s: one-chunk scratch %zu bytes exceeds %zu", t.what, one, bound);
    }
}

Test(memory_bound, ring) {
  for (int i = 0; i < NFAMILIES; i++)
    if (families[i].algo == NSCCL_ALGO_RING && families[i].coll < NSCCL_NUM_COLLS) check_family(&families[i]);
}

Test(memory_bound, direct) {
  for (int i = 0; i < NFAMILIES; i++)
    if (families[i].algo == NSCCL_ALGO_DIRECT && families[i].coll < NSCCL_NUM_COLLS) check_family(&families[i]);
}

Test(memory_bound, tree) {
  for (int i = 0; i < NFAMILIES; i++)
    if (families[i].algo == NSCCL_ALGO_TREE && families[i].coll < NSCCL_NUM_COLLS) check_family(&families[i]);
}

Test(memory_bound, rooted) {
  for (int i = 0; i < NFAMILIES; i++)
    if (families[i].coll >= NSCCL_NUM_COLLS) check_family(&families[i]);
}

/* A message that fits one chunk gets no window dependencies and the same scratch as a whole-block
 * layout: the 8-byte path stays as cheap as it was. */
Test(memory_bound, one_chunk_untouched) {
  for (int i = 0; i < NFAMILIES; i++) {
    const family_t *f = &families[i];
    int n = 8;
    nsccl_coll_args_t args = {f->coll, f->coll == NSCCL_COLL_ALLREDUCE ? 2 * (size_t)n : 2, nscclInt32, false, 0};
    nsccl_algo_opts_t opts = {0, f->variant};
    for (int r = 0; r < n; r++) {
      nsccl_program_t p;
      cr_assert_eq(nsccl_prog_init(&p, r, n, &args), nscclSuccess);
      nscclResult_t rc = f->coll >= NSCCL_NUM_COLLS ? nsccl_bcast_reduce_build(f->algo, &opts, &p)
                                                    : nsccl_algo_build(f->algo, NULL, &opts, &p);
      cr_assert_eq(rc, nscclSuccess);
      /* every windowed receive is at most 8 bytes, so all of them fit the budget at once */
      size_t total = 0;
      for (uint32_t s = 0; s < p.nsteps; s++)
        if (windowed(&p.steps[s])) total += p.steps[s].dst.bytes;
      cr_assert_leq(total, NSCCL_ALGO_WINDOW * NSCCL_DEFAULT_CHUNK_BYTES);
      size_t msg = args.count * sizeof(int32_t) * (f->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)n : 1);
      cr_assert_leq(p.buf_bytes[NSCCL_BUF_SCRATCH], (size_t)(n + 1) * msg, "%s %s: %zu bytes of scratch for %zu bytes",
                    f->name, nsccl_coll_name(f->coll), p.buf_bytes[NSCCL_BUF_SCRATCH], msg);
      nsccl_prog_free(&p);
    }
  }
}
