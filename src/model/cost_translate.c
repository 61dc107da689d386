/* Flows priced by translation (cost_internal.h, nsccl_model_xlat_*): on a topology whose
 * translations are coordinate additions (topo.h, link_orbit, one rank per vertex: the torus with one
 * rank per chip), the route from s to d is T_s of the route from 0 to d - s. So a flow's route is
 * asked of the topology once per displacement, not once per flow, and its latency and slowest
 * bandwidth are the displacement's (a translation keeps every link's bandwidth and latency).
 *
 * A route out of 0 is cut into runs: consecutive links of one class, which are one straight piece of
 * a line of that class (its links step by a unit in one dimension). A flow's run is then an interval
 * of that line, translated. The links' loads of a step are kept pending and added when the step
 * needs them (nsccl_model_xlat_flush), one of two ways:
 *
 * - the walk: every pending flow's translated links in order, adding bytes / bandwidth to each as
 *   nsccl_model_flow does with the topology's route: the same additions in the same order, so the
 *   same bits;
 * - difference arrays, when the flows cross many more links than the classes they use have (a
 *   step of long routes: recursive doubling's far partners on a large torus): each run adds +1 at
 *   its interval's start and -1 past its end on its line, and one prefix sum per line gives every
 *   link's count of flows. Used only when every pending flow has the same bytes, so a link's load
 *   is that count of equal terms; it is taken from a table of the repeated sums (q, q + q, ...), the
 *   same bits as adding the terms one by one. Messages: equal counts likewise, or whole numbers,
 *   whose sum is exact in any order.
 *
 * Exact either way: the loads, latencies and message times are the ones the topology's routes give
 * (tests/model/test_model_translate.c compares with flow-by-flow pricing). Only the order in which
 * links are first touched in a step differs, which nsccl_model_step_end does not depend on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/cost_internal.h"
#include "model/price.h"
#include "topologies/topo.h"

typedef struct {
  int cls, start, len; /* class, the vertex its first link leaves (route out of 0), links */
} run_t;

typedef struct {
  route_walk_t walk;
  double per_msg;    /* the last message size priced on it (-1: none) ... */
  route_cost_t cost; /* ... and its cost */
  int first, nruns, links;
  unsigned classes; /* bit mask of the classes its runs use */
  int whole_line;   /* a run as long as its line: only the walk prices it */
} rep_t;

typedef struct {
  int src, rep;
  double bytes, msgs;
} pend_t;

struct nsccl_model_xlat {
  int p, nd, K;
  int dims[NSCCL_TOPO_MAX_DIMS], stride[NSCCL_TOPO_MAX_DIMS];
  int *coord;               /* [p][nd] coordinates of each rank */
  int *at;                  /* [K][p] the class-c link leaving rank v */
  int *cls_of;              /* [nlinks] class of each link */
  int *cdim, *cup;          /* [K] dimension of class c and whether it steps up (+1) or down (-1) */
  double *cbw;              /* [K] bandwidth of class c's links */
  double qbytes[32], q[32]; /* the walk: bytes / bandwidth per class, for the last bytes seen */
  int *rep_of;              /* [p] displacement (as a rank) -> index into reps, -1: not routed yet */
  rep_t *reps;
  int nreps, reps_cap;
  run_t *runs;
  int nruns, runs_cap;
  pend_t *pend;
  int npend, pend_cap;
  long crossings;   /* links the pending flows cross */
  long pruns;       /* runs of the pending flows */
  unsigned used;    /* classes the pending flows cross */
  int whole_line;   /* some pending flow's run is as long as its line */
  int *cnt;         /* [K][p] difference arrays of flows (allocated on first use) */
  double *msum;     /* [K][p] ... and of messages */
  double *sum_tab;  /* repeated sums of one term (load), sum_tab[j] = j terms */
  double *msum_tab; /* ... of one message count */
  int tab_cap;
};

typedef struct nsccl_model_xlat xlat_t;

int nsccl_model_xlat_enabled = 1;

static int grow(void **a, int *cap, int need, size_t each) {
  if (need <= *cap) return 1;
  int ncap = *cap ? *cap : 64;
  while (ncap < need) ncap *= 2;
  void *b = realloc(*a, (size_t)ncap * each);
  if (!b) return 0;
  *a = b, *cap = ncap;
  return 1;
}

void nsccl_model_xlat_free(nsccl_model_t *m) {
  xlat_t *x = m->xlat;
  if (!x) return;
  free(x->coord), free(x->at), free(x->cls_of), free(x->cdim), free(x->cbw), free(x->rep_of), free(x->reps),
      free(x->runs), free(x->pend), free(x->cnt), free(x->msum), free(x->sum_tab);
  free(x);
  m->xlat = NULL;
}

/* The links of every class: one out of every rank, stepping by +1 or -1 in one dimension, all of
 * one bandwidth and latency. 0 if the topology is not of that kind. */
static int classes(const nsccl_topo_t *t, xlat_t *x) {
  int p = x->p, K = x->K;
  for (long i = 0; i < (long)K * p; i++) x->at[i] = -1;
  for (int c = 0; c < K; c++) x->cdim[c] = -1;
  const nsccl_link_t *first[32] = {0};
  for (int l = 0; l < t->nlinks; l++) {
    const nsccl_link_t *L = &t->links[l];
    int c = t->module->link_orbit(t, l);
    if (c < 0 || c >= K || L->src < 0 || L->src >= p || L->dst < 0 || L->dst >= p || x->at[(long)c * p + L->src] >= 0)
      return 0;
    x->at[(long)c * p + L->src] = l;
    x->cls_of[l] = c;
    const int *cs = x->coord + (size_t)L->src * x->nd, *cd = x->coord + (size_t)L->dst * x->nd;
    int dim = -1, up = 0;
    for (int d = 0; d < x->nd; d++) {
      if (cs[d] == cd[d]) continue;
      int k = x->dims[d], diff = cd[d] - cs[d] < 0 ? cd[d] - cs[d] + k : cd[d] - cs[d];
      if (dim >= 0 || (diff != 1 && diff != k - 1)) return 0;
      dim = d, up = diff == 1;
    }
    if (dim < 0) return 0;
    if (!first[c]) {
      first[c] = L, x->cdim[c] = dim, x->cup[c] = up, x->cbw[c] = L->bandwidth;
    } else if (x->cdim[c] != dim || x->cup[c] != up || first[c]->bandwidth != L->bandwidth ||
               first[c]->latency != L->latency)
      return 0;
  }
  /* A class in use has a link out of every rank (translations carry one to all). */
  for (int c = 0; c < K; c++)
    for (int v = 0; v < p && first[c]; v++)
      if (x->at[(long)c * p + v] < 0) return 0;
  return 1;
}

static xlat_t *xlat_new(const nsccl_model_t *m) {
  const nsccl_topo_t *t = m->t;
  int p = m->p;
  if (!nsccl_model_xlat_enabled || !t->module || !t->module->link_orbit || !t->module->orbits ||
      t->forward == NSCCL_FORWARD_STORE || p != t->nranks || t->nvertices != p || t->ndims < 1 ||
      t->ndims > NSCCL_TOPO_MAX_DIMS)
    return NULL;
  long prod = 1;
  for (int d = 0; d < t->ndims; d++) prod *= t->dims[d];
  int K = t->module->orbits(t);
  if (prod != p || K <= 0 || K > 32) return NULL;
  xlat_t *x = calloc(1, sizeof(*x));
  if (!x) return NULL;
  x->p = p, x->nd = t->ndims, x->K = K;
  for (int d = 0, s = 1; d < x->nd; s *= t->dims[d], d++) x->dims[d] = t->dims[d], x->stride[d] = s;
  x->coord = malloc(sizeof(int) * (size_t)p * x->nd);
  x->at = malloc(sizeof(int) * (size_t)K * p);
  x->cls_of = malloc(sizeof(int) * ((size_t)t->nlinks + 1));
  x->cdim = malloc(sizeof(int) * 2 * (size_t)K);
  x->cbw = malloc(sizeof(double) * (size_t)K);
  x->rep_of = malloc(sizeof(int) * (size_t)p);
  int ok = x->coord && x->at && x->cls_of && x->cdim && x->cbw && x->rep_of;
  if (ok) {
    x->cup = x->cdim + K;
    int c[NSCCL_TOPO_MAX_DIMS] = {0};
    for (int r = 0; r < p; r++) { /* coordinates counted up, dimension 0 fastest (topo.h) */
      x->rep_of[r] = -1;
      memcpy(x->coord + (size_t)r * x->nd, c, sizeof(int) * (size_t)x->nd);
      for (int d = 0; d < x->nd && ++c[d] == x->dims[d]; d++) c[d] = 0;
    }
    ok = classes(t, x);
  }
  if (!ok) {
    nsccl_model_t tmp = {.xlat = x};
    nsccl_model_xlat_free(&tmp);
    return NULL;
  }
  return x;
}

/* T_s(w): rank s's coordinates plus vertex w's. */
static int translate(const xlat_t *x, int s, int w) {
  const int *cs = x->coord + (size_t)s * x->nd, *cw = x->coord + (size_t)w * x->nd;
  int v = 0;
  for (int d = 0; d < x->nd; d++) {
    int c = cs[d] + cw[d];
    v += (c >= x->dims[d] ? c - x->dims[d] : c) * x->stride[d];
  }
  return v;
}

/* The route out of 0 to displacement `delta`, cut into runs; its index, or -1 (no route). */
static int add_rep(nsccl_model_t *m, xlat_t *x, int delta) {
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, 0, delta, route, NSCCL_TOPO_MAX_ROUTE);
  if (n <= 0 || !grow((void **)&x->reps, &x->reps_cap, x->nreps + 1, sizeof(rep_t)) ||
      !grow((void **)&x->runs, &x->runs_cap, x->nruns + n, sizeof(run_t)))
    return -1;
  rep_t *r = &x->reps[x->nreps];
  *r = (rep_t){nsccl_model_route_walk(m->t, route, n), -1, {0, 0}, x->nruns, 0, n, 0, 0};
  for (int i = 0; i < n; i++) {
    int c = x->cls_of[route[i]];
    if (r->nruns > 0 && x->runs[r->first + r->nruns - 1].cls == c) {
      run_t *u = &x->runs[r->first + r->nruns - 1];
      if (++u->len >= x->dims[x->cdim[c]]) r->whole_line = 1;
    } else {
      x->runs[r->first + r->nruns++] = (run_t){c, m->t->links[route[i]].src, 1};
      r->classes |= 1u << c;
    }
  }
  x->nruns += r->nruns;
  x->rep_of[delta] = x->nreps;
  return x->nreps++;
}

int nsccl_model_xlat_flow(nsccl_model_t *m, int src, int dst, double bytes, double msgs, double per_msg,
                          route_cost_t *c) {
  xlat_t *x = m->xlat;
  if (!x) {
    if (m->xlat_off || !(x = m->xlat = xlat_new(m))) {
      m->xlat_off = 1;
      return 0;
    }
  }
  const int *cs = x->coord + (size_t)src * x->nd, *cd = x->coord + (size_t)dst * x->nd;
  int delta = 0;
  for (int d = 0; d < x->nd; d++) {
    int v = cd[d] - cs[d];
    delta += (v < 0 ? v + x->dims[d] : v) * x->stride[d];
  }
  int r = x->rep_of[delta];
  if (r < 0 && (r = add_rep(m, x, delta)) < 0) return 0;
  if (!grow((void **)&x->pend, &x->pend_cap, x->npend + 1, sizeof(pend_t))) return 0;
  rep_t *rep = &x->reps[r];
  if (rep->per_msg != per_msg) rep->per_msg = per_msg, rep->cost = nsccl_model_route_cost_of(m, rep->walk, per_msg);
  *c = rep->cost;
  x->pend[x->npend++] = (pend_t){src, r, bytes, msgs};
  x->crossings += rep->links, x->pruns += rep->nruns;
  x->used |= rep->classes;
  x->whole_line |= rep->whole_line;
  return 1;
}

static void touch(nsccl_model_t *m, int l) {
  if (m->load[l] == 0) m->touched[m->ntouched++] = l;
}

/* A pending flow's run, translated to its source: class, links, its line's length and stride, the
 * vertex its first link leaves and that vertex's position on the line. */
typedef struct {
  int cls, len, k, s, u, pos;
} placed_t;

/* Calls fn for every run of every pending flow, flows in the order they came, runs in route order
 * (inlined, so that fn is too). */
static inline __attribute__((always_inline)) void
each_run(nsccl_model_t *m, xlat_t *x, void (*fn)(nsccl_model_t *, xlat_t *, const pend_t *, placed_t)) {
  for (int i = 0; i < x->npend; i++) {
    const pend_t *f = &x->pend[i];
    const rep_t *rep = &x->reps[f->rep];
    for (int j = 0; j < rep->nruns; j++) {
      const run_t *run = &x->runs[rep->first + j];
      int d = x->cdim[run->cls], u = translate(x, f->src, run->start);
      fn(m, x, f, (placed_t){run->cls, run->len, x->dims[d], x->stride[d], u, x->coord[(size_t)u * x->nd + d]});
    }
  }
}

/* The walk: a run's links one by one, as add_route_loads in cost.c (q: bytes / bandwidth, per
 * class, for the last bytes seen). */
static void walk_run(nsccl_model_t *m, xlat_t *x, const pend_t *f, placed_t r) {
  const int *at = x->at + (size_t)r.cls * x->p;
  if (x->qbytes[r.cls] != f->bytes) x->qbytes[r.cls] = f->bytes, x->q[r.cls] = f->bytes / x->cbw[r.cls];
  double q = x->q[r.cls];
  int up = x->cup[r.cls], u = r.u, pos = r.pos;
  for (int h = 0; h < r.len; h++) {
    int l = at[u];
    touch(m, l);
    m->load[l] += q;
    m->load_msgs[l] += f->msgs;
    int next = up ? (pos + 1 == r.k ? 0 : pos + 1) : (pos == 0 ? r.k - 1 : pos - 1);
    u += (next - pos) * r.s, pos = next;
  }
}

/* The lines: a run marks its interval of positions [a, a + len) on its line, +1 at a and -1 past
 * the end (a wrap past position k - 1 starts again at 0). */
static void mark_run(nsccl_model_t *m, xlat_t *x, const pend_t *f, placed_t r) {
  (void)m;
  int base = r.u - r.pos * r.s, a = x->cup[r.cls] ? r.pos : r.pos - r.len + 1;
  if (a < 0) a += r.k;
  int e = a + r.len, *cnt = x->cnt + (size_t)r.cls * x->p;
  double *ms = x->msum + (size_t)r.cls * x->p;
  cnt[base + a * r.s]++, ms[base + a * r.s] += f->msgs;
  if (e >= r.k) e -= r.k, cnt[base]++, ms[base] += f->msgs;
  cnt[base + e * r.s]--, ms[base + e * r.s] -= f->msgs;
}

/* tab[0..n]: 0, t, t + t, ... (each the previous plus t, as repeated additions give), extended from
 * *have entries to n. */
static void repeated_sums(double *tab, int *have, int n, double t) {
  if (*have == 0) tab[0] = 0, *have = 1;
  for (int j = *have; j <= n; j++) tab[j] = tab[j - 1] + t;
  if (n + 1 > *have) *have = n + 1;
}

/* Difference arrays: each run marks its interval on its class's line; see the file's comment. */
static int flush_lines(nsccl_model_t *m, xlat_t *x, int same_msgs) {
  int p = x->p;
  if (!x->cnt) {
    x->cnt = calloc((size_t)x->K * p, sizeof(int));
    x->msum = calloc((size_t)x->K * p, sizeof(double));
    if (!x->cnt || !x->msum) return 0;
  }
  if (!grow((void **)&x->sum_tab, &x->tab_cap, 2 * (x->npend + 1), sizeof(double))) return 0;
  x->msum_tab = x->sum_tab + x->npend + 1;
  each_run(m, x, mark_run);
  double bytes = x->pend[0].bytes, msgs = x->pend[0].msgs;
  int mhave = 0;
  for (int c = 0; c < x->K; c++) {
    if (!(x->used >> c & 1)) continue;
    int d = x->cdim[c], k = x->dims[d], s = x->stride[d];
    const int *at = x->at + (size_t)c * p;
    int *cnt = x->cnt + (size_t)c * p;
    double *ms = x->msum + (size_t)c * p;
    double q = bytes / x->cbw[c];
    int have = 0;
    for (int hi = 0; hi < p; hi += s * k)
      for (int lo = 0; lo < s; lo++) {
        int n = 0;
        double nm = 0;
        for (int y = 0, v = hi + lo; y < k; y++, v += s) {
          n += cnt[v], nm += ms[v];
          cnt[v] = 0, ms[v] = 0;
          if (n <= 0) continue;
          int l = at[v];
          touch(m, l);
          if (m->load[l] == 0 && n <= x->npend) {
            if (n >= have) repeated_sums(x->sum_tab, &have, n, q);
            if (same_msgs && n >= mhave) repeated_sums(x->msum_tab, &mhave, n, msgs);
            m->load[l] = x->sum_tab[n];
            m->load_msgs[l] = same_msgs ? x->msum_tab[n] : nm;
          } else { /* loaded before this batch: the terms one by one */
            for (int j = 0; j < n; j++) m->load[l] += q;
            if (same_msgs)
              for (int j = 0; j < n; j++) m->load_msgs[l] += msgs;
            else
              m->load_msgs[l] += nm;
          }
        }
      }
  }
  return 1;
}

void nsccl_model_xlat_flush(nsccl_model_t *m) {
  xlat_t *x = m->xlat;
  if (!x || x->npend == 0) return;
  if (!m->load_msgs && !(m->load_msgs = calloc((size_t)m->t->nlinks + 1, sizeof(double)))) {
    m->rc = nscclSystemError;
    x->npend = 0;
    return;
  }
  /* The lines are worth sweeping when the walk's work (about a dozen instructions a link crossed)
   * exceeds theirs (two dozen a run, eight a link of each class used); they need one term per link
   * (equal bytes) and messages summed exactly. */
  int same_bytes = 1, same_msgs = 1, whole_msgs = 1;
  int lines = !x->whole_line && 3 * x->crossings > 6 * x->pruns + 2L * x->p &&
              3 * x->crossings > 6 * x->pruns + 2L * __builtin_popcount(x->used) * x->p;
  for (int i = 0; i < x->npend && lines; i++) {
    const pend_t *f = &x->pend[i];
    same_bytes &= f->bytes == x->pend[0].bytes;
    same_msgs &= f->msgs == x->pend[0].msgs;
    whole_msgs &= f->msgs == floor(f->msgs) && f->msgs < 0x1p52;
    lines = same_bytes && (same_msgs || whole_msgs);
  }
  if (!lines || !flush_lines(m, x, same_msgs)) {
    for (int c = 0; c < x->K; c++) x->qbytes[c] = -1;
    each_run(m, x, walk_run);
  }
  x->npend = 0, x->crossings = 0, x->pruns = 0, x->used = 0, x->whole_line = 0;
}
