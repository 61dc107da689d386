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

/* How many blocks of its own switch a rank forwards to its partner over the direct link in the
 * all-gather, x: then a rank's switch port carries 2 (m - 1) - x blocks and its direct link 1 + x,
 * and x is the whole number that best balances the two at their bandwidths (the slowest rank's
 * port and direct link, so every rank computes the same x). 0 when the direct link is too slow to
 * take more than the own block, and 0 when the forwarded messages (`msg` bytes: a block, or a chunk
 * of one) would stream slower than the direct link: the forwards go one after another through the
 * pair's one DMA queue, each on the engines its size takes (topo.h, nsccl_dma_engines_for), so
 * small ones would make the link wait (docs/algorithms.md, "Cross"). */
static int cross_forward(const nsccl_topo_t *t, int m, double msg) {
  double port = INFINITY, cross = INFINITY;
  for (int r = 0; r < t->nranks; r++) {
    double pr = 0, cr = 0;
    for (int i = 0; i < t->nlinks; i++) {
      const nsccl_link_t *l = &t->links[i];
      if (l->src != r) continue;
      if (l->dst < t->nranks)
        cr += l->bandwidth;
      else
        pr += l->bandwidth;
    }
    port = fmin(port, pr), cross = fmin(cross, cr);
  }
  int epm = t->engines_per_message < t->dma_engines ? t->engines_per_message : t->dma_engines;
  if (t->dma_engine_bandwidth > 0 && nsccl_dma_engines_for(msg, epm > 0 ? epm : 1) * t->dma_engine_bandwidth < cross)
    return 0;
  int best = 0;
  double least = INFINITY;
  for (int x = 0; x < m && port > 0 && cross > 0; x++) {
    double T = fmax((2.0 * (m - 1) - x) / port, (1.0 + x) / cross);
    if (T < least * (1 - 1e-12)) least = T, best = x;
  }
  return best;
}

typedef struct {
  nsccl_tree_ctx_t c;
  const nsccl_coll_args_t *a;
  int n, me, q; /* ranks, this rank, its partner */
  int *part;    /* [n]: every rank's partner */
  int *side;    /* [m]: the ranks of my switch in rank order (me among them) */
  int *oside;   /* [m]: the ranks of the other switch in rank order (my partner among them) */
  int m, pos;   /* how many per switch, my position on mine */
  int qpos;     /* my partner's position on its switch */
  int x;        /* all-gather: blocks my partner forwards to me over the direct link (cross_forward) */
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

/* The i-th rank of my partner's switch after (i > 0) my partner, cyclically. */
static int oside_at(const cross_t *X, int i) { return X->oside[((X->qpos + i) % X->m + X->m) % X->m]; }

typedef enum { PIECES_SEND, PIECES_RECV, PIECES_RECV_REDUCE } pieces_op_t;

/* Regions a[0..n) sent to peer, received from it, or (recv-reduce) reduced with what it sends into
 * b[0..n), chunk 0 of every region, then chunk 1, ...: a forwarded block goes on as its chunks
 * arrive, and the blocks travel side by side, so the pair's one DMA queue is never held up by the
 * one block whose next chunk is late. Both sides cut the same regions the same way. */
static void interleaved(cross_t *X, int peer, const nsccl_region_t *a, const nsccl_region_t *b, int n, pieces_op_t op) {
  size_t step = X->c.chunk / X->c.elem * X->c.elem, most = 0;
  if (step == 0) step = X->c.elem;
  for (int i = 0; i < n; i++) most = a[i].bytes > most ? a[i].bytes : most;
  for (size_t off = 0; off < most; off += step)
    for (int i = 0; i < n; i++) {
      if (off >= a[i].bytes) continue;
      size_t len = a[i].bytes - off < step ? a[i].bytes - off : step;
      nsccl_region_t pa = nsccl_region((nsccl_buf_t)a[i].buf, a[i].offset + off, len);
      if (op == PIECES_SEND)
        nsccl_tree_send(&X->c, peer, pa);
      else if (op == PIECES_RECV)
        nsccl_tree_recv(&X->c, peer, pa);
      else
        nsccl_tree_recv_reduce(&X->c, peer, pa, nsccl_region((nsccl_buf_t)b[i].buf, b[i].offset + off, len));
    }
}

/* All-gather of the blocks in RECV (my block already in place). With x > 0 my partner forwards me
 * the blocks that the x ranks after me on my switch would have sent on (their partners' blocks,
 * which reach my partner through its switch), and those x ranks do not send them. */
static void cross_all_gather(cross_t *X) {
  nsccl_region_t mine = block(X, NSCCL_BUF_RECV, X->me), theirs = block(X, NSCCL_BUF_RECV, X->q);
  int x = X->x;
  nsccl_region_t fwd_out[X->m > 0 ? X->m : 1], fwd_in[X->m > 0 ? X->m : 1];
  nsccl_tree_send(&X->c, X->q, mine);
  nsccl_tree_recv(&X->c, X->q, theirs);
  /* Own block first (it is here); then what the switch brings, the partner's block once it has
   * crossed; each pair's messages in that order on both sides. Receives are emitted before the
   * sends that forward what they bring (the hazard tracking orders a send after the write it reads). */
  /* The ranks that forward my block (those whose partners stand up to x before mine on the other
   * switch) get it first: their direct links wait for it. */
  char *first = calloc((size_t)X->n, 1);
  if (!first) {
    X->c.oom = true;
    return;
  }
  for (int i = 1; i <= x; i++) {
    int f = X->part[oside_at(X, -i)];
    first[f] = 1;
    nsccl_tree_send(&X->c, f, mine);
  }
  for (int i = 1; i < X->m; i++)
    if (!first[side_at(X, i)]) nsccl_tree_send(&X->c, side_at(X, i), mine);
  free(first);
  for (int i = 1; i < X->m; i++) {
    int from = side_at(X, -i);
    nsccl_tree_recv(&X->c, from, block(X, NSCCL_BUF_RECV, from));
    if (i < X->m - x) nsccl_tree_recv(&X->c, from, block(X, NSCCL_BUF_RECV, X->part[from]));
  }
  for (int i = 1; i <= x; i++)
    fwd_out[i - 1] = block(X, NSCCL_BUF_RECV, X->part[oside_at(X, i)]),
                fwd_in[i - 1] = block(X, NSCCL_BUF_RECV, X->part[side_at(X, i)]);
  interleaved(X, X->q, fwd_out, NULL, x, PIECES_SEND);
  for (int i = 1; i < X->m - x; i++) nsccl_tree_send(&X->c, side_at(X, i), theirs);
  interleaved(X, X->q, fwd_in, NULL, x, PIECES_RECV);
}

/* Reduce-scatter onto the blocks (all-reduce: the result in RECV at my block's place). The mirror
 * of the all-gather's forwarding: my inputs for the partners of the x ranks after me on my switch
 * go to my partner over the direct link (not to those ranks), and my partner adds each into its
 * own input for that block before it sends it through its switch; I do the same with the x inputs
 * my partner sends me (into scratch slots 2.., then on to their blocks' ranks). Scratch: my block's
 * partial sum at 0, my partner's at one block, the combined inputs after. */
static void cross_reduce_scatter(cross_t *X) {
  bool rs = X->a->coll == NSCCL_COLL_REDUCESCATTER;
  int x = X->x;
  nsccl_region_t in_me = block(X, NSCCL_BUF_SEND, X->me), in_q = block(X, NSCCL_BUF_SEND, X->q);
  nsccl_region_t acc_me = nsccl_region(NSCCL_BUF_SCRATCH, 0, in_me.bytes);
  nsccl_region_t acc_q = nsccl_region(NSCCL_BUF_SCRATCH, X->big, in_q.bytes);
  nsccl_region_t off_out[X->m > 0 ? X->m : 1], mine_in[X->m > 0 ? X->m : 1], comb[X->m > 0 ? X->m : 1];
  int comb_of[X->m > 0 ? X->m : 1]; /* comb_of[i]: the rank the i-th combined input goes to */
  for (int i = 1; i <= x; i++) {
    off_out[i - 1] = block(X, NSCCL_BUF_SEND, X->part[side_at(X, i)]);
    comb_of[i - 1] = X->part[oside_at(X, i)];
    mine_in[i - 1] = block(X, NSCCL_BUF_SEND, comb_of[i - 1]);
    comb[i - 1] = nsccl_region(NSCCL_BUF_SCRATCH, (size_t)(i + 1) * X->big, mine_in[i - 1].bytes);
  }
  interleaved(X, X->q, off_out, NULL, x, PIECES_SEND);
  interleaved(X, X->q, mine_in, comb, x, PIECES_RECV_REDUCE);
  for (int i = 1; i < X->m; i++) {
    int to = side_at(X, i), k = -1;
    for (int j = 0; j < x; j++)
      if (comb_of[j] == to) k = j;
    nsccl_tree_send(&X->c, to, k >= 0 ? comb[k] : block(X, NSCCL_BUF_SEND, to));
    if (i > x) nsccl_tree_send(&X->c, to, block(X, NSCCL_BUF_SEND, X->part[to]));
  }
  for (int i = 1; i < X->m; i++) {
    int from = side_at(X, -i);
    nsccl_tree_recv_reduce(&X->c, from, i == 1 ? in_me : acc_me, acc_me);
    if (i > x) nsccl_tree_recv_reduce(&X->c, from, i == x + 1 ? in_q : acc_q, acc_q);
  }
  /* x = m - 1: nobody on my switch sends me my partner's block, its partial sum is my input. */
  nsccl_tree_send(&X->c, X->q, x + 1 < X->m ? acc_q : in_q);
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
  X.oside = malloc(sizeof(int) * (size_t)X.n);
  if (!X.part || !X.side || !X.oside) {
    free(X.part), free(X.side), free(X.oside);
    NSCCL_FAIL(nscclSystemError, "direct/cross: out of memory for the pairs of rank %d", X.me);
  }
  int mo = 0;
  X.q = partner_of(t, X.me);
  for (int r = 0; r < X.n; r++) {
    X.part[r] = partner_of(t, r);
    if (t->group_of_rank[r] == t->group_of_rank[X.me]) {
      if (r == X.me) X.pos = X.m;
      X.side[X.m++] = r;
    } else {
      if (r == X.q) X.qpos = mo;
      X.oside[mo++] = r;
    }
  }
  nscclResult_t rc = nsccl_tree_ctx_init(&X.c, prog, o);
  if (rc == nscclSuccess) {
    size_t elem = X.c.elem;
    X.big = (a->coll == NSCCL_COLL_ALLREDUCE ? (a->count + (size_t)X.n - 1) / (size_t)X.n : a->count) * elem;
    X.x = cross_forward(t, X.m, (double)(X.big < X.c.chunk ? X.big : X.c.chunk));
    if (a->coll == NSCCL_COLL_ALLGATHER) {
      nsccl_tree_copy(&X.c, nsccl_region(NSCCL_BUF_SEND, 0, a->count * elem), block(&X, NSCCL_BUF_RECV, X.me));
      cross_all_gather(&X);
    } else {
      nsccl_prog_need_scratch(prog, (size_t)(2 + X.x) * X.big);
      cross_reduce_scatter(&X);
      if (a->coll == NSCCL_COLL_ALLREDUCE) cross_all_gather(&X);
    }
    rc = nsccl_tree_ctx_finish(&X.c);
  }
  free(X.part);
  free(X.side);
  free(X.oside);
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

static void cross_flows(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part, int reduce) {
  for (int r = 0; r < m->p; r++) {
    double b = block_bytes(m, coll, bytes, reduce ? part[r] : r);
    if (b <= 0) continue;
    nsccl_model_flow(m, r, part[r], b, msgs_of(m, b));
    if (reduce) nsccl_model_reduce(m, part[r], b);
  }
}

/* The two switches' ranks in rank order and every rank's place among its switch's (the builder's
 * side / oside lists, for every rank at once). */
typedef struct {
  int m, *list[2], *pos;
} layout_t;

static int layout_at(const layout_t *L, int g, int pos, int i) { return L->list[g][((pos + i) % L->m + L->m) % L->m]; }

/* The all-gather as a message walk (price.h, nsccl_model_walk_send), in the builder's order. Step 1:
 * the crossing and the own block's sends (to its forwarders first), ready at once. Step 2: the
 * partner's block to the switch, each chunk ready when it has crossed (behind the own block in
 * each pair's queue), and the x forwarded blocks over the direct link, chunk by chunk, each ready
 * when it has come through the switch. The phase's link loads (a rank's port carries 2 (m - 1) - x
 * blocks, its direct link 1 + x) bound the walk. */
static void cross_gather_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part, const layout_t *Lp,
                               int x) {
  const nsccl_topo_t *t = m->t;
  const layout_t L = *Lp;
  int p = m->p, K = 1;
  for (int r = 0; r < p; r++) K = (int)fmax(K, msgs_of(m, block_bytes(m, coll, bytes, r)));
  /* crossed[r K + j]: chunk j of r's block at r's partner; fwd[(r x + i) K + j]: at the rank that
   * forwards it as its (i+1)-th block. */
  double *crossed = calloc((size_t)p * (size_t)K, sizeof(double));
  double *fwd = calloc((size_t)p * (size_t)(x > 0 ? x : 1) * (size_t)K, sizeof(double));
  if (!crossed || !fwd) {
    if (m->rc == nscclSuccess) m->rc = nscclSystemError;
    goto out;
  }
  nsccl_model_phase_begin(m);
  nsccl_model_phase_gather(m);
  /* Step 1 in two: the crossing and the own block to its forwarders (issued first, they share the
   * port among themselves), then to the rest of the switch. */
  cross_flows(m, coll, bytes, part, 0);
  for (int r = 0; r < p; r++) {
    int g = t->group_of_rank[r], q = part[r];
    double b = block_bytes(m, coll, bytes, r), k = msgs_of(m, b);
    for (int i = 1; i <= x && b > 0; i++) nsccl_model_flow(m, r, part[layout_at(&L, 1 - g, L.pos[q], -i)], b, k);
  }
  for (int r = 0; r < p; r++) {
    int g = t->group_of_rank[r], q = part[r];
    double b = block_bytes(m, coll, bytes, r), k = msgs_of(m, b);
    for (int j = 0; j < k; j++) crossed[(size_t)r * K + j] = nsccl_model_walk_send(m, r, q, b / k, b, 0);
    for (int i = 1; i <= x; i++) {
      int f = part[layout_at(&L, 1 - g, L.pos[q], -i)];
      for (int j = 0; j < k; j++)
        fwd[((size_t)r * x + i - 1) * K + j] = nsccl_model_walk_send(m, r, f, b / k, b, 0);
    }
  }
  if (x > 0) nsccl_model_step(m, 1);
  for (int pass = 0; pass < 2; pass++) /* flows first (the walk reads the step's loads), then the walk */
    for (int r = 0; r < p; r++) {
      int g = t->group_of_rank[r], q = part[r];
      double b = block_bytes(m, coll, bytes, r), k = msgs_of(m, b);
      for (int i = 1; i < L.m && b > 0; i++) {
        int c = layout_at(&L, g, L.pos[r], i), first = 0;
        for (int f = 1; f <= x; f++) first |= part[layout_at(&L, 1 - g, L.pos[q], -f)] == c;
        if (first) continue;
        if (pass == 0)
          nsccl_model_flow(m, r, c, b, k);
        else
          for (int j = 0; j < k; j++) nsccl_model_walk_send(m, r, c, b / k, b, 0);
      }
    }
  nsccl_model_step(m, 1);
  for (int r = 0; r < p; r++) {
    int g = t->group_of_rank[r], q = part[r];
    double bq = block_bytes(m, coll, bytes, q), kq = msgs_of(m, bq), out = 0, nout = 0;
    for (int i = 1; i < L.m - x; i++)
      if (bq > 0) nsccl_model_flow(m, r, layout_at(&L, g, L.pos[r], i), bq, kq);
    for (int i = 1; i <= x; i++) {
      double b = block_bytes(m, coll, bytes, part[layout_at(&L, 1 - g, L.pos[q], i)]);
      out += b, nout += msgs_of(m, b);
    }
    if (out > 0) nsccl_model_flow(m, r, q, out, nout);
  }
  for (int r = 0; r < p; r++) {
    int g = t->group_of_rank[r], q = part[r];
    double out = 0;
    for (int i = 1; i <= x; i++) out += block_bytes(m, coll, bytes, part[layout_at(&L, 1 - g, L.pos[q], i)]);
    for (int j = 0; j < K; j++)
      for (int i = 1; i <= x; i++) {
        int jb = part[layout_at(&L, 1 - g, L.pos[q], i)];
        double b = block_bytes(m, coll, bytes, jb), k = msgs_of(m, b);
        if (j < k) nsccl_model_walk_send(m, r, q, b / k, out, fwd[((size_t)jb * x + i - 1) * K + j]);
      }
    double bq = block_bytes(m, coll, bytes, q), kq = msgs_of(m, bq);
    for (int i = 1; i < L.m - x; i++)
      for (int j = 0; j < kq; j++)
        nsccl_model_walk_send(m, r, layout_at(&L, g, L.pos[r], i), bq / kq, bq, crossed[(size_t)q * K + j]);
  }
  nsccl_model_step(m, 1);
  nsccl_model_phase_end(m);
out:
  free(crossed);
  free(fwd);
}

/* Reduce-scatter: the switch step, then the crossing. In the switch step each rank sends each rank c
 * of its switch its input for c (or, for the x ranks whose blocks its partner forwarded, that input
 * combined with the partner's) and its input for c's partner unless c is one of the x after it, and
 * its x forwarded inputs over the direct link, which its partner reduces; c reduces what it gets.
 * One step: the direct link's x blocks and the port's 2 (m - 1) - x balance, and the combined inputs
 * the port sends wait for the direct link's share (the builder sends them as they come). Then the
 * crossing: each rank's partial sum of its partner's block, reduced there. */
static void cross_scatter_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes, const int *part, const layout_t *L,
                                int x) {
  const nsccl_topo_t *t = m->t;
  for (int r = 0; r < m->p; r++) {
    int g = t->group_of_rank[r], q = part[r];
    double out = 0, nout = 0;
    for (int i = 1; i <= x; i++) {
      double b = block_bytes(m, coll, bytes, part[layout_at(L, g, L->pos[r], i)]);
      out += b, nout += msgs_of(m, b);
    }
    if (out > 0) {
      nsccl_model_flow(m, r, q, out, nout);
      nsccl_model_reduce(m, q, out);
    }
    for (int i = 1; i < L->m; i++) {
      int c = layout_at(L, g, L->pos[r], i);
      double b1 = block_bytes(m, coll, bytes, c), b2 = i > x ? block_bytes(m, coll, bytes, part[c]) : 0;
      if (b1 + b2 <= 0) continue;
      nsccl_model_flow(m, r, c, b1 + b2, msgs_of(m, b1) + msgs_of(m, b2));
      nsccl_model_reduce(m, c, b1 + b2);
    }
  }
  nsccl_model_step(m, 1);
  cross_flows(m, coll, bytes, part, 1);
  nsccl_model_step(m, 1);
}

/* All-reduce: the reduce-scatter, then the all-gather on the block partition; x as the builder's
 * (cross_forward of the largest block or chunk). */
static void cross_price(nsccl_model_t *m, nsccl_coll_t coll, double bytes) {
  const nsccl_topo_t *t = m->t;
  int p = m->p, n2[2] = {0, 0};
  int *part = malloc(sizeof(int) * (size_t)p);
  layout_t L = {0, {calloc((size_t)p, sizeof(int)), calloc((size_t)p, sizeof(int))}, calloc((size_t)p, sizeof(int))};
  if (!part || !L.list[0] || !L.list[1] || !L.pos) {
    if (m->rc == nscclSuccess) m->rc = nscclSystemError;
    goto out;
  }
  double most = 0;
  for (int r = 0; r < p; r++) {
    int g = t->group_of_rank[r];
    part[r] = partner_of(t, r);
    L.pos[r] = n2[g];
    L.list[g][n2[g]++] = r;
    most = fmax(most, block_bytes(m, coll, bytes, r));
  }
  L.m = n2[0];
  int x = cross_forward(t, L.m, fmin(most, m->chunk));
  if (coll != NSCCL_COLL_ALLGATHER) cross_scatter_price(m, coll, bytes, part, &L, x);
  if (coll != NSCCL_COLL_REDUCESCATTER) cross_gather_price(m, coll, bytes, part, &L, x);
out:
  free(part);
  free(L.list[0]), free(L.list[1]), free(L.pos);
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
