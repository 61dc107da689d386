/* The message walk of an all-gather plan (gather_walk.h). A run of blocks gathers data that arrived
 * in different earlier steps; each of its chunks is issued once the chunks that brought its bytes
 * have arrived, so it is ready at the latest of those arrivals, not at the start of its step nor at
 * the end of the step before. The walk keeps, per (step, rank), the runs sent and every chunk's
 * arrival at the partner: memory in messages, not ranks squared. */
#include "algo/gather_walk.h"

#include <math.h>
#include <stdlib.h>

#include "model/price.h"

typedef struct {
  int (*runs)[2];
  int nruns;
  double *first;  /* per run: its first message's index */
  double *arrive; /* per message: run by run, chunk by chunk */
} sent_t;

typedef struct {
  double t, lo, bytes; /* ready at t: bytes from lo of its run */
  int idx;
} ready_t;

struct nsccl_gwalk {
  nsccl_model_t *m;
  int L;
  double B;
  nsccl_gwalk_source_fn source;
  const void *ctx;
  sent_t *sent; /* [L * p] */
  ready_t *rd;
  size_t rdcap;
};

static double chunks(double bytes, double chunk) { return fmax(1.0, ceil(bytes / chunk)); }

nsccl_gwalk_t *nsccl_gwalk_new(nsccl_model_t *m, int L, double B, nsccl_gwalk_source_fn source, const void *ctx) {
  nsccl_gwalk_t *w = calloc(1, sizeof(*w));
  if (w) w->sent = calloc((size_t)L * (size_t)m->p, sizeof(sent_t));
  if (!w || !w->sent) {
    free(w);
    m->rc = nscclSystemError;
    return NULL;
  }
  w->m = m, w->L = L, w->B = B, w->source = source, w->ctx = ctx;
  return w;
}

void nsccl_gwalk_free(nsccl_gwalk_t *w) {
  if (!w) return;
  for (size_t i = 0; i < (size_t)w->L * (size_t)w->m->p; i++)
    free(w->sent[i].runs), free(w->sent[i].first), free(w->sent[i].arrive);
  free(w->sent);
  free(w->rd);
  free(w);
}

/* Latest arrival of the chunks of `from` that carried bytes [lo, hi) of block q. */
static double carried(const nsccl_gwalk_t *w, const sent_t *from, int q, double lo, double hi) {
  double B = w->B, C = w->m->chunk;
  int a = 0, b = from->nruns - 1;
  while (a < b) { /* the run holding q (runs ascend) */
    int mid = (a + b + 1) / 2;
    if (from->runs[mid][0] <= q)
      a = mid;
    else
      b = mid - 1;
  }
  double first = from->first[a];
  double off = (q - from->runs[a][0]) * B;
  double j0 = isinf(C) ? 0 : floor((off + lo) / C), j1 = isinf(C) ? 0 : fmax(j0, ceil((off + hi) / C) - 1);
  double t = 0;
  for (double j = j0; j <= j1; j++) t = fmax(t, from->arrive[(size_t)(first + j)]);
  return t;
}

/* When bytes [lo, hi) of block q were at rank r before step s. */
static double held_at(const nsccl_gwalk_t *w, int r, int s, int q, double lo, double hi) {
  int step = -1, from = w->source(w->ctx, r, s, q, &step);
  if (from < 0 || step < 0 || step >= s) return 0;
  return carried(w, &w->sent[(size_t)step * w->m->p + from], q, lo, hi);
}

static int by_time(const void *a, const void *b) {
  double x = ((const ready_t *)a)->t, y = ((const ready_t *)b)->t;
  return x < y ? -1 : x > y;
}

void nsccl_gwalk_send(nsccl_gwalk_t *w, int s, int r, int to, const int (*runs)[2], int nruns) {
  nsccl_model_t *m = w->m;
  double B = w->B, C = m->chunk;
  sent_t *me = &w->sent[(size_t)s * m->p + r];
  double nmsg = 0, flow = 0; /* messages, and bytes to `to` in the step */
  for (int k = 0; k < nruns; k++)
    nmsg += chunks((runs[k][1] - runs[k][0]) * B, C), flow += (runs[k][1] - runs[k][0]) * B;
  me->runs = malloc(sizeof(*me->runs) * (size_t)(nruns > 0 ? nruns : 1));
  me->first = malloc(sizeof(double) * (size_t)(nruns > 0 ? nruns : 1));
  me->arrive = calloc((size_t)nmsg + 1, sizeof(double));
  if ((size_t)nmsg > w->rdcap) {
    free(w->rd);
    w->rdcap = (size_t)nmsg;
    w->rd = malloc(sizeof(*w->rd) * w->rdcap);
  }
  if (!me->runs || !me->first || !me->arrive || (nmsg > 0 && !w->rd)) {
    m->rc = nscclSystemError;
    return;
  }
  me->nruns = nruns;
  /* Each chunk is ready when the bytes it carries are there. */
  int nm = 0;
  for (int k = 0; k < nruns; k++) {
    me->runs[k][0] = runs[k][0], me->runs[k][1] = runs[k][1], me->first[k] = nm;
    double len = (runs[k][1] - runs[k][0]) * B, nc = chunks(len, C);
    for (double j = 0; j < nc; j++, nm++) {
      double lo = isinf(C) ? 0 : j * C, hi = isinf(C) ? len : fmin(len, lo + C), t = 0;
      for (int q = runs[k][0] + (int)floor(lo / B); q < runs[k][0] + (int)ceil(hi / B) && q < runs[k][1]; q++) {
        double base = (q - runs[k][0]) * B;
        t = fmax(t, held_at(w, r, s, q, fmax(lo - base, 0), fmin(hi - base, B)));
      }
      w->rd[nm] = (ready_t){t, lo, hi - lo, nm};
    }
  }
  /* Into the partner's queue in the order they become ready (the simulator's arrival order). */
  qsort(w->rd, (size_t)nm, sizeof(*w->rd), by_time);
  for (int i = 0; i < nm; i++)
    me->arrive[w->rd[i].idx] = nsccl_model_walk_send(m, r, to, w->rd[i].bytes, flow, w->rd[i].t);
}
