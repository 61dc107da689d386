/* direct/cross: the direct exchange on two switches joined chip by chip (Trn3 Gen1's layout,
 * trn3-u64; docs/algorithms.md, "Cross"). Every block crosses between the switches once.
 *
 * Each rank r has a partner q(r) on the other switch, the chip at the other end of its direct
 * chip-to-chip link, and S(r), the other ranks on its own switch.
 *   all-gather      r sends its block to q(r) over the direct link; then r sends its own block and
 *                   q(r)'s (once it has arrived) to every rank of S(r) through the switch. Each rank
 *                   of S(r) thus gets r's block and q(r)'s, and the partners of the ranks on one
 *                   switch are all the ranks of the other: every block arrives.
 *   reduce-scatter  the mirror: r sends every rank c of S(r) its input blocks of c and q(c); r
 *                   reduces what S(r) sends it for its own block and for q(r)'s (its switch's partial
 *                   sums); then r sends q(r) the partial of q(r)'s block over the direct link and
 *                   reduces the partial q(r) sends it into its output.
 *   all-reduce      that reduce-scatter and all-gather on the vector's block partition.
 * The plain direct exchange sends each block over the direct links once per destination on the
 * other switch (the links carry half of everything at 233 GB/s); here they carry one block per
 * rank and the switch ports carry the rest.
 *
 * Partners and switches are read from the topology's links (a rank-to-rank link) and groups (a
 * one-level switch fabric groups ranks by switch): nothing here knows the preset. Reductions run
 * in a fixed order (own input, then S(r) staggered from r, then the partner), the same on every run;
 * each block is reduced by one rank, so all-reduce gives every rank the same bits. The emitters
 * are the hazard-tracked ones (tree_internal.h); the partial sums live in scratch. */
#include <math.h>
#include <stdlib.h>

#include "algo/direct.h"
#include "algo/ring.h"
#include "algo/tree_internal.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/price.h"
#include "topologies/topo.h"

#define NSCCL_DIRECT_CROSS 5

/* Rank r's partner: the one rank at the other end of a rank-to-rank link out of r, on another
 * group; -1 if there is none or more than one. */
static int partner_of(const nsccl_topo_t *t, int r) {
  int q = -1;
  for (int i = 0; i < t->nlinks; i++) {
    const nsccl_link_t *l = &t->links[i];
    if (l->src != r || l->dst >= t->nranks || l->dst == r) continue;
    if (q >= 0 || t->group_of_rank[l->dst] == t->group_of_rank[r]) return -1;
    q = l->dst;
  }
  return q;
}

/* Two groups of at least two ranks each, one rank per chip, and every rank paired both ways with a
 * rank of the other group. */
static int cross_applies(const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  (void)coll;
  if (!t || t->nranks != nranks || t->ngroups != 2 || !t->group_of_rank || t->ranks_per_chip > 1 ||
      t->cross_bandwidth <= 0)
    return 0;
  int count[2] = {0, 0};
  for (int r = 0; r < nranks; r++) {
    int g = t->group_of_rank[r], q = partner_of(t, r);
    if (g < 0 || g > 1 || q < 0 || partner_of(t, q) != r) return 0;
    count[g]++;
  }
  return count[0] >= 2 && count[1] >= 2;
}

typedef struct {
  nsccl_tree_ctx_t c;
  const nsccl_coll_args_t *a;
  int n, me, q; /* ranks, this rank, its partner */
  int *part;    /* [n]: every rank's partner */
  int *side;    /* [m]: the ranks of my switch in rank order (me among them) */
  int m, pos;   /* how many, and my position */
  size_t big;   /* bytes of the largest block (scratch slot size) */
} cross_t;

static nsccl_region_t block(const cross_t *X, nsccl_buf_t buf, int j) {
  size_t elem = X->c.elem;
  if (X->a->coll == NSCCL_COLL_ALLREDUCE) {
    size_t first, len;
    nsccl_algo_block(X->a->count, X->n, j, &first, &len);
    return nsccl_region(buf, first * elem, len * elem);
  }
  return nsccl_region(buf, (size_t)j * X->a->count * elem, X->a->count * elem);
}

/* The i-th rank of my switch after (i > 0) or before (i < 0) me, cyclically. */
static int side_at(const cross_t *X, int i) { return X->side[((X->pos + i) % X->m + X->m) % X->m]; }

/* All-gather of the blocks in RECV (my block already in place). */
static void cross_all_gather(cross_t *X) {
  nsccl_region_t mine = block(X, NSCCL_BUF_RECV, X->me), theirs = block(X, NSCCL_BUF_RECV, X->q);
  nsccl_tree_send(&X->c, X->q, mine);
  nsccl_tree_recv(&X->c, X->q, theirs);
  /* Own block first (it is here), the partner's once it has crossed; each pair's messages in
   * that order on both sides. */
  for (int i = 1; i < X->m; i++) nsccl_tree_send(&X->c, side_at(X, i), mine);
  for (int i = 1; i < X->m; i++) nsccl_tree_send(&X->c, side_at(X, i), theirs);
  for (int i = 1; i < X->m; i++) {
    int from = side_at(X, -i);
    nsccl_tree_recv(&X->c, from, block(X, NSCCL_BUF_RECV, from));
    nsccl_tree_recv(&X->c, from, block(X, NSCCL_BUF_RECV, X->part[from]));
  }
}

/* Reduce-scatter onto the blocks (all-reduce: the result in RECV at my block's place). */
static void cross_reduce_scatter(cross_t *X) {
  bool rs = X->a->coll == NSCCL_COLL_REDUCESCATTER;
  nsccl_region_t in_me = block(X, NSCCL_BUF_SEND, X->me), in_q = block(X, NSCCL_BUF_SEND, X->q);
  nsccl_region_t acc_me = nsccl_region(NSCCL_BUF_SCRATCH, 0, in_me.bytes);
  nsccl_region_t acc_q = nsccl_region(NSCCL_BUF_SCRATCH, X->big, in_q.bytes);
  for (int i = 1; i < X->m; i++) {
    int to = side_at(X, i);
    nsccl_tree_send(&X->c, to, block(X, NSCCL_BUF_SEND, to));
    nsccl_tree_send(&X->c, to, block(X, NSCCL_BUF_SEND, X->part[to]));
  }
  for (int i = 1; i < X->m; i++) {
    int from = side_at(X, -i);
    nsccl_tree_recv_reduce(&X->c, from, i == 1 ? in_me : acc_me, acc_me);
    nsccl_tree_recv_reduce(&X->c, from, i == 1 ? in_q : acc_q, acc_q);
  }
  nsccl_tree_send(&X->c, X->q, acc_q);
  nsccl_region_t out = rs ? nsccl_region(NSCCL_BUF_RECV, 0, in_me.bytes) : block(X, NSCCL_BUF_RECV, X->me);
  nsccl_tree_recv_reduce(&X->c, X->q, acc_me, out);
}

static nscclResult_t cross_build(const nsccl_topo_t *t, const nsccl_algo_opts_t *o, nsccl_program_t *prog) {
  if (!cross_applies(t, prog->args.coll, prog->nranks))
    NSCCL_FAIL(nscclInvalidArgument,
               "direct/cross: needs two switches whose ranks are paired one to one by direct chip-to-chip links, "
               "one rank per chip (topology %s)",
               t ? t->name : "flat");
  const nsccl_coll_args_t *a = &prog->args;
  if (a->count == 0) return nscclSuccess;
  cross_t X = {.a = a, .n = prog->nranks, .me = prog->rank};
  X.part = malloc(sizeof(int) * (size_t)X.n);
  X.side = malloc(sizeof(int) * (size_t)X.n);
  if (!X.part || !X.side) {
    free(X.part), free(X.side);
    NSCCL_FAIL(nscclSystemError, "direct/cross: out of memory for the pairs of rank %d", X.me);
  }
  for (int r = 0; r < X.n; r++) {
    X.part[r] = partner_of(t, r);
    if (t->group_of_rank[r] == t->group_of_rank[X.me]) {
      if (r == X.me) X.pos = X.m;
      X.side[X.m++] = r;
    }
  }
  X.q = X.part[X.me];
  nscclResult_t rc = nsccl_tree_ctx_init(&X.c, prog, o);
  if (rc == nscclSuccess) {
    size_t elem = X.c.elem;
    X.big = (a->coll == NSCCL_COLL_ALLREDUCE ? (a->count + (size_t)X.n - 1) / (size_t)X.n : a->count) * elem;
    if (a->coll == NSCCL_COLL_ALLGATHER) {
      nsccl_tree_copy(&X.c, nsccl_region(NSCCL_BUF_SEND, 0, a->count * elem), block(&X, NSCCL_BUF_RECV, X.me));
      cross_all_gather(&X);
    } else {
      nsccl_prog_need_scratch(prog, 2 * X.big);
      cross_reduce_scatter(&X);
      if (a->coll == NSCCL_COLL_ALLREDUCE) cross_all_gather(&X);
    }
    rc = nsccl_tree_ctx_finish(&X.c);
  }
  free(X.part);
  free(X.side);
  return rc;
}

/* ---- price (docs/model.md, "Cross") ---- */

/* Block j's bytes as the builder cuts them: all-reduce's partition of `bytes` one-byte elements,
 * else bytes / p per rank. */
static double block_bytes(const nsccl_model_t *m, nsccl_coll_t coll, double bytes, int j) {
  if (coll != NSCCL_COLL_ALLREDUCE) return bytes / m->p;
  size_t first, len;
  nsccl_algo_block((size_t)bytes, m->p, j, &first, &len);
  return (double)len;
}

static double msgs_of(const nsccl_model_t *m, double b) { return b > 0 ? (b / m->chunk > 1 ? ceil(b / m->chunk) : 1) : 0; }

/* Rank r's flow to c of c's (reduce) or r's blocks together with the partner's, as two messages
 * per chunk; reduce: c reduces them. */
static void side_flows(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part, int reduce, int second) {
  const nsccl_topo_t *t = m->t;
  for (int r = 0; r < m->p; r++)
    for (int c = 0; c < m->p; c++) {
      if (c == r || t->group_of_rank[c] != t->group_of_rank[r]) continue;
      int a = reduce ? c : r;
      double b1 = block_bytes(m, coll, bytes, a), b2 = block_bytes(m, coll, bytes, part[a]);
      /* The all-gather's first step sends the own block, its second the partner's; a reduce-scatter
       * step sends both at once. */
      double b = reduce ? b1 + b2 : second ? b2 : b1, k = reduce ? msgs_of(m, b1) + msgs_of(m, b2) : msgs_of(m, b);
      if (b <= 0) continue;
      nsccl_model_flow(m, r, c, b, k);
      if (reduce) nsccl_model_reduce(m, c, b);
    }
}

static void cross_flows(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part, int reduce) {
  for (int r = 0; r < m->p; r++) {
    double b = block_bytes(m, coll, bytes, reduce ? part[r] : r);
    if (b <= 0) continue;
    nsccl_model_flow(m, r, part[r], b, msgs_of(m, b));
    if (reduce) nsccl_model_reduce(m, part[r], b);
  }
}

/* The all-gather as a message walk (price.h, nsccl_model_walk_send): the crossing and the own
 * block's sends are ready at once; each chunk of the partner's block is ready to go on to the switch
 * when it has crossed, and waits in each pair's queue behind the own block. The phase's link loads
 * (a rank's switch port carries 2 (m - 1) blocks) bound the walk. cross[r * K + j]: when chunk j of
 * r's block reached r's partner. */
static void cross_gather_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part) {
  const nsccl_topo_t *t = m->t;
  int p = m->p, K = 1;
  for (int r = 0; r < p; r++) K = (int)fmax(K, msgs_of(m, block_bytes(m, coll, bytes, r)));
  double *cross = calloc((size_t)p * (size_t)K, sizeof(double));
  if (!cross) {
    if (m->rc == nscclSuccess) m->rc = nscclSystemError;
    return;
  }
  nsccl_model_phase_begin(m);
  nsccl_model_phase_gather(m);
  cross_flows(m, coll, bytes, part, 0);
  side_flows(m, coll, bytes, part, 0, 0);
  for (int r = 0; r < p; r++) {
    double b = block_bytes(m, coll, bytes, r), k = msgs_of(m, b);
    for (int j = 0; j < k; j++) cross[(size_t)r * K + j] = nsccl_model_walk_send(m, r, part[r], b / k, b, 0);
    for (int c = 0; c < p; c++)
      if (c != r && t->group_of_rank[c] == t->group_of_rank[r])
        for (int j = 0; j < k; j++) nsccl_model_walk_send(m, r, c, b / k, b, 0);
  }
  nsccl_model_step(m, 1);
  side_flows(m, coll, bytes, part, 0, 1);
  for (int r = 0; r < p; r++) {
    int q = part[r];
    double b = block_bytes(m, coll, bytes, q), k = msgs_of(m, b);
    for (int c = 0; c < p; c++)
      if (c != r && t->group_of_rank[c] == t->group_of_rank[r])
        for (int j = 0; j < k; j++) nsccl_model_walk_send(m, r, c, b / k, b, cross[(size_t)q * K + j]);
  }
  nsccl_model_step(m, 1);
  nsccl_model_phase_end(m);
  free(cross);
}

/* Reduce-scatter: the switch step (each rank reduces its switch's partial sums of its block and its
 * partner's), then the crossing (the partner's partial over, reduced into the output). All-reduce:
 * that, then the all-gather on the block partition. */
static void cross_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes) {
  int *part = malloc(sizeof(int) * (size_t)m->p);
  if (!part) {
    if (m->rc == nscclSuccess) m->rc = nscclSystemError;
    return;
  }
  for (int r = 0; r < m->p; r++) part[r] = partner_of(m->t, r);
  if (coll != NSCCL_COLL_ALLGATHER) {
    side_flows(m, coll, bytes, part, 1, 0);
    nsccl_model_step(m, 1);
    cross_flows(m, coll, bytes, part, 1);
    nsccl_model_step(m, 1);
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) cross_gather_price(m, coll, bytes, part);
  free(part);
}

const nsccl_variant_t nsccl_variant_direct_cross = {
    "direct/cross",
    NSCCL_ALGO_DIRECT,
    NSCCL_DIRECT_CROSS,
    NSCCL_COLLS_ALL,
    NSCCL_COLLS_ALL,
    cross_applies,
    NULL,
    cross_build,
    cross_price,
    "two switches joined chip by chip: each block crosses its direct link once, then the switch spreads it "
    "and its partner's; all-reduce = RS + AG"};
