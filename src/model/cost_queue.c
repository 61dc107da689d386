/* The cost model's DMA queues (docs/model.md, "Pipelined phases" and "All-gather phases"): the log
 * of a phase's flows per (src, dst) pair, which bounds the phase by its busiest queue, and the pair
 * queues of the message walk of an all-gather phase. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "model/cost_internal.h"
#include "model/cost_queue.h"
#include "model/price.h"

typedef nsccl_model_t model_t;

/* A pair's messages stream one after another through its one DMA queue (the simulator's rule), so
 * over a phase no pair finishes before its queue has streamed all it carries, whatever else
 * overlaps. Flows are noted per step (qstep) and added to the phase's table times the step's
 * repeat; the phase is bound by its busiest queue. */
typedef struct nsccl_model_queue queue_t;

void nsccl_model_queue_note(model_t *m, int src, int dst, double seconds) {
  if (m->qstep_n == m->qstep_cap) {
    int cap = m->qstep_cap ? 2 * m->qstep_cap : 256;
    queue_t *q = realloc(m->qstep, (size_t)cap * sizeof(*q));
    if (!q) {
      m->rc = nscclSystemError;
      return;
    }
    m->qstep = q, m->qstep_cap = cap;
  }
  m->qstep[m->qstep_n++] = (queue_t){(long long)src * m->p + dst, seconds};
}

/* The slot of `key` in an open-addressing table of pair queues (*tab, *cap entries, *n used),
 * created with seconds = 0 if absent; NULL when the table cannot grow. */
static queue_t *queue_slot(queue_t **tab, int *cap, int *n, long long key) {
  if (2 * (*n + 1) > *cap) {
    int ncap = *cap ? 2 * *cap : 1024;
    queue_t *q = malloc((size_t)ncap * sizeof(*q));
    if (!q) return NULL;
    for (int i = 0; i < ncap; i++) q[i].key = -1;
    for (int i = 0; i < *cap; i++) /* rehash */
      if ((*tab)[i].key >= 0) {
        unsigned long long h = (unsigned long long)(*tab)[i].key * 0x9e3779b97f4a7c15ull;
        int j = (int)(h >> 20) & (ncap - 1);
        while (q[j].key >= 0) j = (j + 1) & (ncap - 1);
        q[j] = (*tab)[i];
      }
    free(*tab);
    *tab = q, *cap = ncap;
  }
  unsigned long long h = (unsigned long long)key * 0x9e3779b97f4a7c15ull;
  int j = (int)(h >> 20) & (*cap - 1);
  while ((*tab)[j].key >= 0 && (*tab)[j].key != key) j = (j + 1) & (*cap - 1);
  if ((*tab)[j].key < 0) (*tab)[j] = (queue_t){key, 0}, (*n)++;
  return &(*tab)[j];
}

/* The step's notes, now that its repeat is known: each stands for repeat times its seconds. They
 * stay in qstep (the phase's log) until the phase ends; qn marks the end of the closed steps. */
void nsccl_model_queue_step_end(model_t *m, double repeat) {
  for (int i = m->qn; i < m->qstep_n; i++) m->qstep[i].seconds = repeat * m->qstep[i].seconds;
  m->qn = m->qstep_n;
}

/* The phase's busiest pair queue: the log sorted by pair, stably (a least-significant-digit radix
 * sort, 11 bits a pass, into qtab), then each pair's seconds added in the order its steps came, the
 * sums an open-addressing table of pairs would give, without a random access per note. */
double nsccl_model_queue_phase_end(model_t *m) {
  int n = m->qn;
  double busiest = 0;
  if (n > 0 && m->qcap < n) {
    queue_t *q = realloc(m->qtab, (size_t)n * sizeof(*q));
    if (!q) {
      m->rc = nscclSystemError;
      n = 0;
    } else
      m->qtab = q, m->qcap = n;
  }
  queue_t *from = m->qstep, *to = m->qtab;
  unsigned long long top = (unsigned long long)m->p * (unsigned long long)m->p;
  for (int shift = 0; n > 0 && shift < 64 && (top >> shift) > 0; shift += 11) {
    int count[2049] = {0};
    for (int i = 0; i < n; i++) count[((unsigned long long)from[i].key >> shift & 2047) + 1]++;
    for (int d = 0; d < 2048; d++) count[d + 1] += count[d];
    for (int i = 0; i < n; i++) to[count[(unsigned long long)from[i].key >> shift & 2047]++] = from[i];
    queue_t *t = from;
    from = to, to = t;
  }
  for (int i = 0; i < n;) {
    double sum = 0;
    int j = i;
    for (; j < n && from[j].key == from[i].key; j++) sum += from[j].seconds;
    busiest = nsccl_max(busiest, sum);
    i = j;
  }
  /* The sort wrote only [0, n) of either array: notes of a step not yet closed move to the front. */
  if (m->qstep_n > n) memmove(m->qstep, m->qstep + n, (size_t)(m->qstep_n - n) * sizeof(*m->qstep));
  m->qstep_n -= n;
  m->qn = 0;
  for (int i = 0; i < m->wcap; i++) m->wtab[i].key = -1; /* the walk's queues: free again */
  m->wn = 0;
  return busiest;
}

/* A message of the phase's walk (price.h): issued once its data is there (`ready`), it pays alpha
 * on its engines while its pair's queue may still stream an earlier message, then streams through
 * the queue at its own pace and arrives one route latency later (docs/model.md, "All-gather
 * phases"). Its pace is its engines' or its route's: on each link its share of the bandwidth is
 * its flow's part of the step's load there (flow_bytes: what the flow carries in the step, already
 * told with nsccl_model_flow), as when all of the step's flows on the link stream together.
 * Returns the arrival. */
double nsccl_model_walk_send(model_t *m, int src, int dst, double bytes, double flow_bytes, double ready) {
  src = nsccl_model_phys(m, src), dst = nsccl_model_phys(m, dst);
  if (bytes <= 0 || src == dst || m->rc != nscclSuccess) return ready;
  nsccl_model_xlat_flush(m); /* the walk reads the step's loads */
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  queue_t *q = n > 0 ? queue_slot(&m->wtab, &m->wcap, &m->wn, (long long)src * m->p + dst) : NULL;
  if (!q) {
    m->rc = n > 0 ? nscclSystemError : nscclInternalError;
    return ready;
  }
  route_cost_t c = nsccl_model_route_cost(m, route, n, bytes);
  for (int i = 0; i < n && flow_bytes > 0; i++) {
    const nsccl_link_t *l = &m->t->links[route[i]];
    double share = fmax(1.0, m->load[route[i]] * l->bandwidth / flow_bytes);
    c.hop = fmax(c.hop, share * bytes / l->bandwidth);
  }
  double start = fmax(ready + m->alpha, q->seconds);
  q->seconds = start + c.hop;
  double arrive = q->seconds + c.lat;
  if (arrive > m->walk_end) m->walk_end = arrive;
  return arrive;
}
