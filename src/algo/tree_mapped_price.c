/* Price of the mapped tree all-gather and reduce-scatter (topo_tree.c), from the builder's own plan
 * (topo_tree_blocks.c), step by step. In each step every rank sends its send set to one partner in
 * one torus dimension, one message per run of consecutive ranks (chunked), so the step formula sees
 * the real partner distance (1 hop in a dimension of 2 or 4, up to min(2^s, k - 2^s) for Bruck),
 * that dimension's link bandwidth and any sharing of links; reduce-scatter reduces what it
 * receives. Per dimension this is lg k_d steps whose message grows (all-gather) or shrinks
 * (reduce-scatter) by k_d over the phase.
 *
 * The all-gather also walks its messages (gather_walk.h): a run gathers blocks that arrived in
 * different earlier steps, and each chunk of it leaves once the chunks it carries have arrived. */
#include <math.h>
#include <stdlib.h>

#include "algo/gather_walk.h"
#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

typedef struct {
  const nsccl_topo_t *t;
  const nsccl_mapped_step_t *plan; /* [p * NSCCL_MAPPED_MAX_STEPS] */
} plan_ctx_t;

/* The walk's source (gather_walk.h): the earlier step whose receive set holds q, from its partner. */
static int mapped_source(const void *ctx, int r, int s, int q, int *step) {
  const plan_ctx_t *c = ctx;
  for (int i = 0; i < s; i++) {
    const nsccl_mapped_step_t *st = &c->plan[(size_t)r * NSCCL_MAPPED_MAX_STEPS + i];
    if (q != r && nsccl_blockset_has(c->t, &st->recv, q)) return *step = i, st->from;
  }
  return -1;
}

static double chunks(double bytes, double chunk) { return fmax(1.0, ceil(bytes / chunk)); }

void nsccl_tree_mapped_price(model_t *m, nsccl_coll_t coll, double n) {
  int p = m->p, nst = -1, walk = coll == NSCCL_COLL_ALLGATHER;
  nsccl_model_phase_begin(m); /* chunk-pipelined like every tree builder (tree_variants.c) */
  if (walk) nsccl_model_phase_gather(m);
  double B = n / p;
  nsccl_mapped_step_t *plan = malloc(sizeof(*plan) * (size_t)p * NSCCL_MAPPED_MAX_STEPS);
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)p);
  nsccl_gwalk_t *gw = NULL;
  if (!plan || !runs) {
    m->rc = nscclSystemError;
    goto out;
  }
  for (int r = 0; r < p; r++) {
    nst = nsccl_mapped_plan(m->t, coll, r, plan + (size_t)r * NSCCL_MAPPED_MAX_STEPS, NSCCL_MAPPED_MAX_STEPS);
    if (nst < 0) {
      m->rc = nscclInvalidArgument;
      goto out;
    }
  }
  plan_ctx_t ctx = {m->t, plan};
  if (walk && !(gw = nsccl_gwalk_new(m, nst, B, mapped_source, &ctx))) goto out;
  for (int i = 0; i < nst && m->rc == nscclSuccess; i++) {
    for (int r = 0; r < p; r++) {
      const nsccl_mapped_step_t *st = &plan[(size_t)r * NSCCL_MAPPED_MAX_STEPS + i];
      int nr = nsccl_blockset_runs(m->t, &st->send, runs);
      double bytes = 0, msgs = 0;
      for (int k = 0; k < nr; k++) {
        double b = (runs[k][1] - runs[k][0]) * B;
        bytes += b;
        msgs += chunks(b, m->chunk);
      }
      nsccl_model_flow(m, r, st->to, bytes, msgs);
      if (coll == NSCCL_COLL_REDUCESCATTER) nsccl_model_reduce(m, r, nsccl_blockset_size(m->t, &st->recv) * B);
      if (walk) nsccl_gwalk_send(gw, i, r, st->to, (const int(*)[2])runs, nr);
    }
    nsccl_model_step(m, 1);
  }
out:
  nsccl_model_phase_end(m);
  nsccl_gwalk_free(gw);
  free(plan);
  free(runs);
}
