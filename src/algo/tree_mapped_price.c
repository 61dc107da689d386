/* Price of the mapped tree all-gather and reduce-scatter (topo_tree.c), from the builder's own plan
 * (topo_tree_blocks.c), step by step. In each step every rank sends its send set to one partner in
 * one torus dimension, one message per run of consecutive ranks (chunked), so the step formula sees
 * the real partner distance (1 hop in a dimension of 2 or 4, up to min(2^s, k - 2^s) for Bruck),
 * that dimension's link bandwidth and any sharing of links; reduce-scatter reduces what it
 * receives. Per dimension this is lg k_d steps whose message grows (all-gather) or shrinks
 * (reduce-scatter) by k_d over the phase.
 *
 * The all-gather also walks its messages (model/price.h, nsccl_model_walk_send): a run gathers
 * blocks that arrived in different earlier steps, and the builder's byte-range dependencies issue
 * each chunk of it once the chunks it covers have arrived, so a chunk is ready at the latest
 * arrival among them, not at the start of its step nor at the end of the step before
 * (docs/model.md, "All-gather phases"). */
#include <math.h>
#include <stdlib.h>

#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

/* What the walk keeps of step s of rank r: its send runs (in rank order) and, per message (run by
 * run, chunk by chunk), when it arrives at the partner. */
typedef struct {
  int (*runs)[2];
  int nruns;
  double *arrive;
} sent_t;

typedef struct {
  double t;
  int idx;
} ready_t;

static int by_time(const void *a, const void *b) {
  double x = ((const ready_t *)a)->t, y = ((const ready_t *)b)->t;
  return x < y ? -1 : x > y;
}

static double chunks(double bytes, double chunk) { return fmax(1.0, ceil(bytes / chunk)); }

/* Latest arrival of the chunks of the partner's messages `from` that carried bytes [lo, hi) of
 * block q (B bytes a block). */
static double carried(const sent_t *from, int q, double B, double lo, double hi, double chunk) {
  int a = 0, b = from->nruns - 1;
  while (a < b) { /* the run holding q: runs are in rank order */
    int mid = (a + b + 1) / 2;
    if (from->runs[mid][0] <= q)
      a = mid;
    else
      b = mid - 1;
  }
  double first = 0;
  for (int k = 0; k < a; k++) first += chunks((from->runs[k][1] - from->runs[k][0]) * B, chunk);
  double off = (q - from->runs[a][0]) * B;
  double j0 = isinf(chunk) ? 0 : floor((off + lo) / chunk), j1 = isinf(chunk) ? 0 : ceil((off + hi) / chunk) - 1;
  j1 = fmax(j0, j1);
  double t = 0;
  for (double j = j0; j <= j1; j++) t = fmax(t, from->arrive[(size_t)(first + j)]);
  return t;
}

/* When bytes [lo, hi) of block q were at rank r before step s: at once for its own block, else
 * when the chunks that carried them arrived (in the earlier step whose receive set holds q). */
static double held_at(const model_t *m, const nsccl_mapped_step_t *plan, const sent_t *sent, int r, int s, int q,
                      double B, double lo, double hi) {
  for (int i = 0; q != r && i < s; i++) {
    const nsccl_mapped_step_t *st = &plan[(size_t)r * NSCCL_MAPPED_MAX_STEPS + i];
    if (nsccl_blockset_has(m->t, &st->recv, q)) return carried(&sent[(size_t)i * m->p + st->from], q, B, lo, hi, m->chunk);
  }
  return 0;
}

/* Walk step s: every rank's chunks, each ready when the bytes it carries have arrived, into the
 * partner's queue in the order they become ready. */
static void walk_step(model_t *m, const nsccl_mapped_step_t *plan, sent_t *sent, int s, double B, ready_t *rd) {
  for (int r = 0; r < m->p && m->rc == nscclSuccess; r++) {
    const nsccl_mapped_step_t *st = &plan[(size_t)r * NSCCL_MAPPED_MAX_STEPS + s];
    sent_t *me = &sent[(size_t)s * m->p + r];
    int nm = 0;
    for (int k = 0; k < me->nruns; k++) {
      double len = (me->runs[k][1] - me->runs[k][0]) * B, nc = chunks(len, m->chunk);
      for (double j = 0; j < nc; j++, nm++) {
        double lo = isinf(m->chunk) ? 0 : j * m->chunk, hi = isinf(m->chunk) ? len : fmin(len, lo + m->chunk);
        double t = 0;
        for (int q = me->runs[k][0] + (int)floor(lo / B); q < me->runs[k][0] + (int)ceil(hi / B); q++) {
          double qlo = q * B - me->runs[k][0] * B, x = fmax(lo - qlo, 0), y = fmin(hi - qlo, B);
          t = fmax(t, held_at(m, plan, sent, r, s, q, B, x, y));
        }
        rd[nm] = (ready_t){t, nm};
      }
    }
    qsort(rd, (size_t)nm, sizeof(*rd), by_time);
    for (int i = 0; i < nm; i++) {
      int idx = rd[i].idx, k = 0;
      double first = 0, len = 0;
      for (;; k++) { /* the run of message idx */
        len = (me->runs[k][1] - me->runs[k][0]) * B;
        if (idx < first + chunks(len, m->chunk)) break;
        first += chunks(len, m->chunk);
      }
      double lo = isinf(m->chunk) ? 0 : (idx - first) * m->chunk;
      double bytes = isinf(m->chunk) ? len : fmin(len - lo, m->chunk);
      me->arrive[idx] = nsccl_model_walk_send(m, r, st->to, bytes, rd[i].t);
    }
  }
}

void nsccl_tree_mapped_price(model_t *m, nsccl_coll_t coll, double n) {
  int p = m->p, nst = -1, walk = coll == NSCCL_COLL_ALLGATHER;
  nsccl_model_phase_begin(m); /* chunk-pipelined like every tree builder (tree_variants.c) */
  if (walk) nsccl_model_phase_gather(m);
  double B = n / p;
  nsccl_mapped_step_t *plan = malloc(sizeof(*plan) * (size_t)p * NSCCL_MAPPED_MAX_STEPS);
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)p);
  sent_t *sent = NULL;
  ready_t *rd = NULL;
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
  if (walk && !(sent = calloc((size_t)nst * p, sizeof(*sent)))) {
    m->rc = nscclSystemError;
    goto out;
  }
  double most = 0; /* messages of the busiest (rank, step): the walk's sort buffer */
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
      if (!walk) continue;
      sent_t *me = &sent[(size_t)i * p + r];
      me->nruns = nr;
      me->runs = malloc(sizeof(*runs) * (size_t)(nr > 0 ? nr : 1));
      me->arrive = calloc((size_t)msgs + 1, sizeof(double));
      if (!me->runs || !me->arrive) {
        m->rc = nscclSystemError;
        break;
      }
      for (int k = 0; k < nr; k++) me->runs[k][0] = runs[k][0], me->runs[k][1] = runs[k][1];
      if (msgs > most) {
        most = msgs;
        free(rd);
        if (!(rd = malloc(sizeof(*rd) * (size_t)most))) m->rc = nscclSystemError;
      }
    }
    if (walk && m->rc == nscclSuccess) walk_step(m, plan, sent, i, B, rd);
    nsccl_model_step(m, 1);
  }
out:
  nsccl_model_phase_end(m);
  if (sent)
    for (size_t i = 0; i < (size_t)nst * p; i++) free(sent[i].runs), free(sent[i].arrive);
  free(sent);
  free(rd);
  free(plan);
  free(runs);
}
