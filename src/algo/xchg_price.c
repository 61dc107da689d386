/* Prices of the pairwise-exchange schedules (algo/xchg_plan.h), message by message as
 * xchg_build.c emits them: one model step per plan step, in which every part's exchange is a flow
 * from each rank to its partner of that part (the step formula of model/cost.h then sees the real
 * routes: hop counts, shared links, each dimension's bandwidth). docs/model.md, "Exchange plans". */
#include <math.h>
#include <stdlib.h>

#include "algo/gather_walk.h"
#include "algo/xchg_plan.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

/* Bytes and messages of a set of blocks of `piece` bytes: runs of consecutive blocks are one
 * message each (merge) or every block is its own; each message is cut into chunks. */
static double set_msgs(const model_t *m, const nsccl_xchg_plan_t *pl, const uint64_t *set, double piece, int merge,
                       int (*runs)[2], double *bytes) {
  /* merge == 2: the all-reduce layout, runs of positions in the plan's order */
  int nb = nsccl_xchg_count(pl, set);
  *bytes = nb * piece;
  if (piece <= 0) return 0;
  if (!merge) return nb * fmax(1.0, ceil(piece / m->chunk));
  double msgs = 0;
  int nr = merge == 2 ? nsccl_xchg_runs_ordered(pl, set, runs) : nsccl_xchg_runs(pl, set, runs);
  for (int i = 0; i < nr; i++) msgs += fmax(1.0, ceil((runs[i][1] - runs[i][0]) * piece / m->chunk));
  return msgs;
}

/* The flows of step s of every part: all-gather direction (send the own held set) or
 * reduce-scatter direction (send the partner's held set, reduce the own). The caller closes the
 * model step. */
static void exchange_flows(model_t *m, const nsccl_xchg_plan_t *plans, const double *piece, int J, int merge, int s,
                           int rs, int (*runs)[2]) {
  for (int j = 0; j < J; j++) {
    const nsccl_xchg_plan_t *pl = &plans[j];
    for (int r = 0; r < m->p; r++) {
      int peer = nsccl_xchg_peer(pl, s, r);
      double bytes, msgs = set_msgs(m, pl, nsccl_xchg_held(pl, s, rs ? peer : r), piece[j], merge, runs, &bytes);
      if (bytes <= 0) continue;
      nsccl_model_flow(m, r, peer, bytes, msgs);
      if (rs) nsccl_model_reduce(m, peer, bytes);
    }
  }
}

/* The all-gather walk's source (gather_walk.h): block q reached rank r in the earlier step whose
 * partner held it. */
static int xchg_source(const void *ctx, int r, int s, int q, int *step) {
  const nsccl_xchg_plan_t *pl = ctx;
  for (int i = 0; i < s; i++) {
    int peer = nsccl_xchg_peer(pl, i, r);
    if (nsccl_xchg_has(nsccl_xchg_held(pl, i, peer), q)) return *step = i, peer;
  }
  return -1;
}

/* Walk step s of every part's all-gather: rank r sends its held set, one message per run (one
 * part) or per block (several: each block's piece is its own message). */
static void walk_gather(const nsccl_xchg_plan_t *plans, nsccl_gwalk_t **gw, int J, int merge, int s, int (*runs)[2]) {
  for (int j = 0; j < J; j++) {
    const nsccl_xchg_plan_t *pl = &plans[j];
    for (int r = 0; r < pl->p; r++) {
      const uint64_t *set = nsccl_xchg_held(pl, s, r);
      int nr = 0;
      if (merge)
        nr = nsccl_xchg_runs(pl, set, runs);
      else
        for (int q = 0; q < pl->p; q++)
          if (nsccl_xchg_has(set, q)) runs[nr][0] = q, runs[nr][1] = q + 1, nr++;
      nsccl_gwalk_send(gw[j], s, r, nsccl_xchg_peer(pl, s, r), (const int(*)[2])runs, nr);
    }
  }
}

static int (*runs_buf(model_t *m))[2] {
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)m->p);
  if (!runs) m->rc = nscclSystemError;
  return runs;
}

static void phases(model_t *m, const nsccl_xchg_plan_t *plans, const double *w, int J, double block, int merge, int rs,
                   int ag) {
  double piece[NSCCL_TOPO_MAX_DIMS * 2 + 1];
  int(*runs)[2] = runs_buf(m);
  if (!runs || J > (int)(sizeof(piece) / sizeof(piece[0]))) {
    m->rc = nscclInternalError;
    free(runs);
    return;
  }
  for (int j = 0; j < J; j++) piece[j] = w[j] * block;
  int L = plans[0].L;
  /* Each phase is chunk-pipelined by the builder (its per-chunk dependencies let a step start on
   * the chunks that have arrived; an all-gather rank even sends blocks it already holds to later
   * partners at once), and consecutive steps use different links: a pipelined phase of the model
   * (model/price.h), which charges the smaller of the steps in series and the fill plus the
   * busiest link, reduction or issue over the phase. */
  if (rs) {
    nsccl_model_phase_begin(m);
    for (int s = L - 1; s >= 0; s--) {
      exchange_flows(m, plans, piece, J, merge, s, 1, runs);
      nsccl_model_step(m, 1);
    }
    nsccl_model_phase_end(m);
  }
  if (ag) {
    nsccl_model_phase_begin(m);
    nsccl_model_phase_gather(m); /* a rank sends the blocks it holds to all later partners at once */
    /* The all-gather of the pieces layout walks its messages (gather_walk.h): each part's data
     * moves along its own plan. (The all-reduce's nested layout keeps the step chain.) */
    nsccl_gwalk_t *gw[NSCCL_TOPO_MAX_DIMS * 2 + 1] = {0};
    int walk = merge != 2;
    for (int j = 0; walk && j < J; j++)
      walk = (gw[j] = nsccl_gwalk_new(m, L, piece[j], xchg_source, &plans[j])) != NULL;
    for (int s = 0; s < L && m->rc == nscclSuccess; s++) {
      exchange_flows(m, plans, piece, J, merge, s, 0, runs);
      if (walk) walk_gather(plans, gw, J, merge, s, runs);
      nsccl_model_step(m, 1);
    }
    for (int j = 0; j < J; j++) nsccl_gwalk_free(gw[j]);
    nsccl_model_phase_end(m);
  }
  free(runs);
}

void nsccl_xchg_price_allgather(model_t *m, const nsccl_xchg_plan_t *plans, const double *w, int J, double n) {
  phases(m, plans, w, J, n / m->p, J == 1, 0, 1);
}

void nsccl_xchg_price_reducescatter(model_t *m, const nsccl_xchg_plan_t *plans, const double *w, int J, double n) {
  phases(m, plans, w, J, n / m->p, J == 1, 1, 0);
}

void nsccl_xchg_price_allreduce_halving(model_t *m, const nsccl_xchg_plan_t *plans, const double *w, int J, double n) {
  phases(m, plans, w, J, n / m->p, 2, 1, 1);
}

/* Whole vectors, chunk by chunk through the L steps (xchg_build.c): a chunk's step s + 1 sends what
 * its step s reduced, but different chunks are at different steps at once, so the steps form one
 * pipelined phase. */
void nsccl_xchg_price_allreduce_whole(model_t *m, const nsccl_xchg_plan_t *pl, double n) {
  nsccl_model_phase_begin(m);
  for (int s = 0; s < pl->L; s++) {
    for (int r = 0; r < m->p; r++) {
      nsccl_model_flow1(m, r, nsccl_xchg_peer(pl, s, r), n);
      nsccl_model_reduce(m, r, n);
    }
    nsccl_model_step(m, 1);
  }
  nsccl_model_phase_end(m);
}

void nsccl_xchg_price(model_t *m, nsccl_coll_t coll, const nsccl_xchg_plan_t *plans, const double *w, int J, int whole,
                      double n) {
  if (coll == NSCCL_COLL_ALLGATHER)
    nsccl_xchg_price_allgather(m, plans, w, J, n);
  else if (coll == NSCCL_COLL_REDUCESCATTER)
    nsccl_xchg_price_reducescatter(m, plans, w, J, n);
  else if (whole)
    nsccl_xchg_price_allreduce_whole(m, &plans[0], n);
  else
    nsccl_xchg_price_allreduce_halving(m, plans, w, J, n);
}
