/* The alpha-beta-gamma cost model: each algorithm is described as the steps its schedule takes
 * (which rank sends how many bytes to which, who reduces how much), and every step is priced from
 * the routes of its flows on the topology (cost.h states the step formula; docs/model.md derives
 * it and the closed forms it gives on a switch and a torus). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algo/direct.h"
#include "algo/topo_algo.h"
#include "algo/topo_tree_blocks.h"
#include "algo/tree.h"
#include "base/check.h"
#include "model/cost_internal.h"
#include "topologies/host.h"

typedef nsccl_model_t model_t;

static int phys(const model_t *m, int v) { return m->map ? m->map[v] : v; }

/* A flow of `bytes` from src to dst sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(model_t *m, int src, int dst, double bytes, double nmsgs) {
  if (bytes <= 0 || m->rc != nscclSuccess) return;
  src = phys(m, src), dst = phys(m, dst);
  if (src == dst) return;
  int route[NSCCL_TOPO_MAX_ROUTE];
  int n = nsccl_topo_route(m->t, src, dst, route, NSCCL_TOPO_MAX_ROUTE);
  if (n <= 0) {
    m->rc = nscclInternalError;
    return;
  }
  double lat = 0, minbw = INFINITY;
  int forwards = 0;
  for (int i = 0; i < n; i++) {
    const nsccl_link_t *l = &m->t->links[route[i]];
    if (m->load[route[i]] == 0) m->touched[m->ntouched++] = route[i];
    m->load[route[i]] += bytes / l->bandwidth;
    lat += l->latency;
    if (l->bandwidth < minbw) minbw = l->bandwidth;
    if (i > 0 && l->src < m->t->nranks) forwards++;
  }
  double per_msg = nmsgs > 0 ? bytes / nmsgs : fmin(bytes, m->chunk);
  /* A storing chip receives a whole message, pays its overhead and sends it again. */
  if (m->t->forward == NSCCL_FORWARD_STORE) lat += forwards * (m->alpha + per_msg / minbw);
  if (lat > m->lat) m->lat = lat;
  m->lat_sum += lat;
  if (lat < m->lat_min) m->lat_min = lat;
  m->msgs[src] += nmsgs > 0 ? nmsgs : fmax(1.0, ceil(bytes / m->chunk));
}

static void flow(model_t *m, int src, int dst, double bytes) { nsccl_model_flow(m, src, dst, bytes, 0); }

void nsccl_model_reduce(model_t *m, int rank, double bytes) {
  if (bytes > 0) m->red[phys(m, rank)] += bytes;
}

void nsccl_model_step_reset_latency(model_t *m) {
  m->lat = m->lat_sum = 0;
  m->lat_min = INFINITY;
}

/* Close a step that happens `repeat` times with the same flows. ring = 1: the flows form one ring
 * and the repeats pipeline around it, so a block's journey of repeat = p-1 hops pays each edge's
 * latency once (all edges but the cheapest), not the slowest edge's at every step. */
void nsccl_model_step_end(model_t *m, double repeat, int ring) {
  double k = 0, W = 0, R = 0;
  for (int r = 0; r < m->p; r++) {
    if (m->msgs[r] > k) k = m->msgs[r];
    if (m->red[r] > R) R = m->red[r];
    m->msgs[r] = m->red[r] = 0;
  }
  for (int i = 0; i < m->ntouched; i++) {
    if (m->load[m->touched[i]] > W) W = m->load[m->touched[i]];
    m->load[m->touched[i]] = 0;
  }
  m->ntouched = 0;
  double T;
  if (k == 0) {
    T = m->gamma * R;
  } else {
    double a = m->alpha, w = W / k, g = m->gamma * R / k;
    /* Chunks pipeline: after the first, the slowest of issuing, moving and reducing sets the pace.
     * Unless one core does all three (topology's cpu_copies): then they add up. */
    T = m->serial ? k * (a + w + g) : a + w + g + (k - 1) * fmax(a, fmax(w, g));
  }
  double lat = m->lat_override >= 0     ? m->lat_override
               : ring && m->lat_sum > 0 ? m->lat_sum - m->lat_min
                                        : repeat * m->lat;
  m->lat_override = -1;
  nsccl_model_step_reset_latency(m);
  m->total += repeat * T + lat;
}

static void step_end(model_t *m, double repeat) { nsccl_model_step_end(m, repeat, 0); }

/* ---- ring family ---- */

static void ring_phase(model_t *m, const int *order, double B, int reduce_too, int steps) {
  int p = m->p;
  for (int i = 0; i < p; i++) {
    flow(m, order[i], order[(i + 1) % p], B);
    if (reduce_too) nsccl_model_reduce(m, order[(i + 1) % p], B);
  }
  nsccl_model_step_end(m, steps, 1);
}

static void model_ring(model_t *m, nsccl_coll_t coll, const int *order, double n) {
  double B = n / m->p;
  if (coll != NSCCL_COLL_ALLGATHER) ring_phase(m, order, B, 1, m->p - 1);
  if (coll != NSCCL_COLL_REDUCESCATTER) ring_phase(m, order, B, 0, m->p - 1);
}

/* Per-dimension ("bucket") ring on a torus. A rank's blocks during a phase are the ranks that
 * vary over a set S of dimensions (the others equal its own); they lie in runs of consecutive
 * ranks of length prod_{d < a} k_d, a the lowest dimension not in S, each run one message. */
static double runs_of(const nsccl_topo_t *t, unsigned S, double *blocks) {
  double b = 1, run = 1;
  int a = 0;
  for (int d = 0; d < t->ndims; d++)
    if (S >> d & 1) b *= t->dims[d];
  while (a < t->ndims && (S >> a & 1)) run *= t->dims[a++];
  *blocks = b;
  return b / run;
}

static int torus_step(const nsccl_topo_t *t, int r, int d, int delta) {
  int c[NSCCL_TOPO_MAX_DIMS];
  nsccl_topo_coord(t, r, c);
  c[d] = ((c[d] + delta) % t->dims[d] + t->dims[d]) % t->dims[d];
  return nsccl_topo_rank_at(t, c);
}

static void dims_phase(model_t *m, int d, double bytes, double runs, int reduce_too) {
  for (int r = 0; r < m->p; r++) {
    int nb = torus_step(m->t, r, d, +1);
    nsccl_model_flow(m, r, nb, bytes, runs /* one message per run: the per-dimension builder does not chunk */);
    if (reduce_too) nsccl_model_reduce(m, nb, bytes);
  }
  step_end(m, m->t->dims[d] - 1);
}

static void model_ring_dims(model_t *m, nsccl_coll_t coll, double n) {
  const nsccl_topo_t *t = m->t;
  int dims[NSCCL_TOPO_MAX_DIMS], nd = nsccl_topo_dims_by_bandwidth(t, dims);
  double B = n / m->p, blocks;
  if (coll != NSCCL_COLL_ALLGATHER) {
    unsigned U = (1u << t->ndims) - 1; /* dimensions still unreduced */
    for (int j = nd - 1; j >= 0; j--) {
      unsigned part = U & ~(1u << dims[j]);
      double runs = runs_of(t, part, &blocks);
      dims_phase(m, dims[j], blocks * B, runs, 1);
      U = part;
    }
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    unsigned S = 0; /* dimensions gathered so far */
    for (int j = 0; j < nd; j++) {
      double runs = runs_of(t, S, &blocks);
      dims_phase(m, dims[j], blocks * B, runs, 0);
      S |= 1u << dims[j];
    }
  }
}

/* ---- tree family (as tree_*.c build them) ---- */

typedef struct {
  int P, L, x;
} fold_t;

static fold_t fold_of(int p) {
  fold_t f = {1, 0, 0};
  while (f.P * 2 <= p) f.P *= 2, f.L++;
  f.x = p - f.P;
  return f;
}

static int core_rank(const fold_t *f, int c) { return c < f->x ? 2 * c : c + f->x; }

/* Messages for `bytes` of whole blocks of B bytes that the tree reduce-scatter sends block by block
 * (tree_reducescatter.c): each block's piece is its own message, chunked. It does so when the
 * message needs several rounds of NSCCL_ALGO_SLOTS chunks per block (docs/algorithms.md, "Memory
 * bound"; a round is a multiple of the chunk, so a block costs ceil(B / chunk) messages over all
 * rounds) and in the last halving step; otherwise a run of consecutive blocks is one message, and
 * 0 (one message per chunk of the run) is returned. B = 0: not a reduce-scatter, runs throughout. */
static double rs_msgs(const model_t *m, double bytes, double B, int last) {
  if (B <= 0 || (!last && B <= NSCCL_ALGO_SLOTS * m->chunk)) return 0;
  return bytes / B * fmax(1.0, ceil(B / m->chunk));
}

/* Extras (odd ranks below 2x) hand `bytes` to their core partner, which reduces them. B: as for
 * rs_msgs. */
static void fold_in(model_t *m, const fold_t *f, double bytes, double B) {
  if (!f->x) return;
  for (int i = 0; i < f->x; i++) {
    nsccl_model_flow(m, 2 * i + 1, 2 * i, bytes, rs_msgs(m, bytes, B, 0));
    nsccl_model_reduce(m, 2 * i, bytes);
  }
  step_end(m, 1);
}

static void fold_out(model_t *m, const fold_t *f, double bytes) {
  if (!f->x) return;
  for (int i = 0; i < f->x; i++) flow(m, 2 * i, 2 * i + 1, bytes);
  step_end(m, 1);
}

/* Recursive halving over the cores, highest hypercube dimension first. B: as for rs_msgs (the
 * halving of the tree reduce-scatter, whose blocks are n / p; 0 for Rabenseifner's). */
static void halving(model_t *m, const fold_t *f, double n, double B) {
  for (int k = 0; k < f->L; k++) {
    double part = n / (double)(2 << k);
    for (int c = 0; c < f->P; c++) {
      int peer = core_rank(f, c ^ (1 << (f->L - 1 - k)));
      nsccl_model_flow(m, core_rank(f, c), peer, part, rs_msgs(m, part, B, k == f->L - 1));
      nsccl_model_reduce(m, peer, part);
    }
    step_end(m, 1);
  }
}

static void doubling(model_t *m, const fold_t *f, double n) {
  for (int k = 0; k < f->L; k++) {
    double part = n / f->P * (1 << k);
    for (int c = 0; c < f->P; c++) flow(m, core_rank(f, c), core_rank(f, c ^ (1 << k)), part);
    step_end(m, 1);
  }
}

/* Binary trees (tree_allreduce.c): heap order over the ranks (mirror: reversed), chunk by chunk
 * up (reduced at the parent) and down. A chunk climbs the depth-D tree level by level and comes
 * back down (2D single-chunk steps: the pipeline fill), and each further chunk costs one stage in
 * which every edge carries a chunk each way (the steady state: an inner rank sends 3 chunks and
 * reduces 2 per stage). The double tree runs both trees at once, each with half the vector. */
static int heap_depth(int v) {
  int d = 0;
  while (v > 0) v = (v - 1) / 2, d++;
  return d;
}

static void btree_flows(model_t *m, int trees, double c, int level, int up, int down) {
  int p = m->p;
  for (int t = 0; t < trees; t++)
    for (int v = 1; v < p; v++) {
      if (level >= 0 && heap_depth(v) != level) continue;
      int child = t ? p - 1 - v : v, parent = t ? p - 1 - (v - 1) / 2 : (v - 1) / 2;
      if (up) {
        nsccl_model_flow(m, child, parent, c, 1);
        nsccl_model_reduce(m, parent, c);
      }
      if (down) nsccl_model_flow(m, parent, child, c, 1);
    }
}

static void model_btree(model_t *m, int trees, double n) {
  double share = n / trees, c = fmin(share, m->chunk), k = ceil(share / c);
  int D = heap_depth(m->p - 1);
  for (int l = D; l >= 1; l--) {
    btree_flows(m, trees, c, l, 1, 0);
    step_end(m, 1);
  }
  for (int l = 1; l <= D; l++) {
    btree_flows(m, trees, c, l, 0, 1);
    step_end(m, 1);
  }
  if (k > 1) {
    btree_flows(m, trees, c, -1, 1, 1);
    m->lat_override = 0; /* the fill already paid the latency of the tree's depth */
    step_end(m, k - 1);
  }
}

static void model_tree(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int p = m->p;
  fold_t f = fold_of(p);
  double B = n / p;
  if (coll == NSCCL_COLL_ALLGATHER) {
    if (variant != NSCCL_TREE_BRUCK && (p & (p - 1)) == 0) {
      for (int k = 0; (1 << k) < p; k++) {
        for (int r = 0; r < p; r++) flow(m, r, r ^ (1 << k), B * (1 << k));
        step_end(m, 1);
      }
    } else {
      for (int k = 0; (1 << k) < p; k++) {
        int d = 1 << k, run = d < p - d ? d : p - d;
        for (int r = 0; r < p; r++) {
          double pieces = r + run > p ? 2 : 1; /* a run wrapping past block p-1 goes as two messages */
          nsccl_model_flow(m, r, (r - d + p) % p, B * run, pieces * fmax(1.0, ceil(B * run / pieces / m->chunk)));
        }
        step_end(m, 1);
      }
    }
  } else if (coll == NSCCL_COLL_REDUCESCATTER) {
    fold_in(m, &f, n, B);
    halving(m, &f, n, B);
    fold_out(m, &f, B);
  } else {
    int v = variant & ~NSCCL_TREE_MAPPED;
    if (v == NSCCL_TREE_AUTO) v = n <= (double)NSCCL_TREE_RD_MAX_BYTES ? NSCCL_TREE_RD : NSCCL_TREE_RABENSEIFNER;
    if (v == NSCCL_TREE_BINARY || v == NSCCL_TREE_DOUBLE_BINARY) {
      model_btree(m, v == NSCCL_TREE_DOUBLE_BINARY ? 2 : 1, n);
      return;
    }
    fold_in(m, &f, n, 0);
    if (v == NSCCL_TREE_RD) {
      for (int k = 0; k < f.L; k++) {
        for (int c = 0; c < f.P; c++) {
          int peer = core_rank(&f, c ^ (1 << k));
          flow(m, core_rank(&f, c), peer, n);
          nsccl_model_reduce(m, peer, n);
        }
        step_end(m, 1);
      }
    } else {
      halving(m, &f, n, 0);
      doubling(m, &f, n);
    }
    fold_out(m, &f, n);
  }
}

/* Mapped tree all-gather / reduce-scatter (topo_tree.c): priced from the builder's own plan
 * (topo_tree_blocks.c), step by step. In each step every rank sends its send set to one partner in
 * one torus dimension, one message per run of consecutive ranks (chunked), so the step formula sees
 * the real partner distance (1 hop in a dimension of 2 or 4, up to min(2^s, k - 2^s) for Bruck),
 * that dimension's link bandwidth and any sharing of links; reduce-scatter reduces what it
 * receives. Per dimension this is lg k_d steps whose message grows (all-gather) or shrinks
 * (reduce-scatter) by k_d over the phase. */
static void model_tree_mapped_blocks(model_t *m, nsccl_coll_t coll, double n) {
  int p = m->p, nst = -1;
  double B = n / p;
  nsccl_mapped_step_t *plan = malloc(sizeof(*plan) * (size_t)p * NSCCL_MAPPED_MAX_STEPS);
  int(*runs)[2] = malloc(sizeof(*runs) * (size_t)p);
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
  for (int i = 0; i < nst; i++) {
    for (int r = 0; r < p; r++) {
      const nsccl_mapped_step_t *st = &plan[(size_t)r * NSCCL_MAPPED_MAX_STEPS + i];
      int nr = nsccl_blockset_runs(m->t, &st->send, runs);
      double bytes = 0, msgs = 0;
      for (int k = 0; k < nr; k++) {
        double b = (runs[k][1] - runs[k][0]) * B;
        bytes += b;
        msgs += fmax(1.0, ceil(b / m->chunk));
      }
      nsccl_model_flow(m, r, st->to, bytes, msgs);
      if (coll == NSCCL_COLL_REDUCESCATTER) nsccl_model_reduce(m, r, nsccl_blockset_size(m->t, &st->recv) * B);
    }
    step_end(m, 1);
  }
out:
  free(plan);
  free(runs);
}

/* ---- direct family ---- */

static void model_direct(model_t *m, nsccl_coll_t coll, int variant, double n) {
  int p = m->p;
  double B = n / p;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_AUTO)
    variant = n <= (double)NSCCL_DIRECT_ONESHOT_MAX_BYTES ? NSCCL_DIRECT_ONESHOT : NSCCL_DIRECT_RSAG;
  if (coll == NSCCL_COLL_ALLREDUCE && variant == NSCCL_DIRECT_ONESHOT) {
    for (int r = 0; r < p; r++) {
      for (int j = 1; j < p; j++) flow(m, r, (r + j) % p, n);
      nsccl_model_reduce(m, r, (p - 1) * n);
    }
    step_end(m, 1);
    return;
  }
  if (coll != NSCCL_COLL_ALLGATHER) {
    for (int r = 0; r < p; r++) {
      for (int j = 1; j < p; j++) flow(m, r, (r + j) % p, B);
      nsccl_model_reduce(m, r, (p - 1) * B);
    }
    step_end(m, 1);
  }
  if (coll != NSCCL_COLL_REDUCESCATTER) {
    for (int r = 0; r < p; r++)
      for (int j = 1; j < p; j++) flow(m, r, (r + j) % p, B);
    step_end(m, 1);
  }
}

/* ---- variants, names, entry points ---- */

int nsccl_model_variants(const nsccl_topo_t *topo, nsccl_coll_t coll, nsccl_algo_t algo, int nranks, int *variants,
                         int max) {
  int cand[8], n = 0, out = 0;
  switch (algo) {
  case NSCCL_ALGO_RING:
    cand[n++] = topo ? NSCCL_RING_TOPO : 0;
    cand[n++] = NSCCL_RING_DIMS;
    break;
  case NSCCL_ALGO_TREE:
    if (coll == NSCCL_COLL_ALLREDUCE) {
      cand[n++] = NSCCL_TREE_RD;
      cand[n++] = NSCCL_TREE_RABENSEIFNER;
      cand[n++] = NSCCL_TREE_MAPPED | NSCCL_TREE_RD;
      cand[n++] = NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER;
      cand[n++] = NSCCL_TREE_BINARY;
      cand[n++] = NSCCL_TREE_DOUBLE_BINARY;
    } else {
      cand[n++] = NSCCL_TREE_AUTO;
      cand[n++] = NSCCL_TREE_MAPPED; /* all-gather / reduce-scatter on a torus: topo_tree.c */
    }
    break;
  case NSCCL_ALGO_DIRECT:
    if (coll == NSCCL_COLL_ALLREDUCE) {
      cand[n++] = NSCCL_DIRECT_ONESHOT;
      cand[n++] = NSCCL_DIRECT_RSAG;
    } else {
      cand[n++] = NSCCL_DIRECT_AUTO;
    }
    break;
  default: return 0;
  }
  /* Hierarchical schedules are offered where groups are joined by a network (efa servers, hosts):
   * that is what they are for. They also build on a two-level switch's leaves (NSCCL_ALGO=ring/hier),
   * but there the selector sticks to the flat schedules. */
  if (topo && topo->nic_bandwidth > 0) cand[n++] = NSCCL_VARIANT_HIER;
  for (int i = 0; i < n && out < max; i++)
    if (nsccl_topo_algo_supported(algo, cand[i], topo, coll, nranks)) variants[out++] = cand[i];
  return out;
}

const char *nsccl_model_variant_name(nsccl_algo_t algo, int variant) {
  switch (algo) {
  case NSCCL_ALGO_RING:
    if (variant == NSCCL_VARIANT_HIER) return "ring/hier";
    return variant == NSCCL_RING_DIMS ? "ring/dims" : variant == NSCCL_RING_TOPO ? "ring/topo" : "ring";
  case NSCCL_ALGO_TREE:
    switch (variant) {
    case NSCCL_TREE_RD: return "tree/rd";
    case NSCCL_TREE_RABENSEIFNER: return "tree/rabenseifner";
    case NSCCL_TREE_BINARY: return "tree/binary";
    case NSCCL_TREE_DOUBLE_BINARY: return "tree/double-binary";
    case NSCCL_TREE_BRUCK: return "tree/bruck";
    case NSCCL_TREE_MAPPED: return "tree/mapped";
    case NSCCL_TREE_MAPPED | NSCCL_TREE_RD: return "tree/rd-mapped";
    case NSCCL_TREE_MAPPED | NSCCL_TREE_RABENSEIFNER: return "tree/rabenseifner-mapped";
    case NSCCL_VARIANT_HIER: return "tree/hier";
    default: return "tree";
    }
  case NSCCL_ALGO_DIRECT:
    if (variant == NSCCL_VARIANT_HIER) return "direct/hier";
    return variant == NSCCL_DIRECT_ONESHOT ? "direct/oneshot" : variant == NSCCL_DIRECT_RSAG ? "direct/rsag" : "direct";
  default: return "?";
  }
}

nscclResult_t nsccl_model_predict(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                  nsccl_algo_t algo, int variant, size_t bytes, int nranks, double *seconds) {
  if ((unsigned)coll >= NSCCL_NUM_COLLS) NSCCL_FAIL(nscclInvalidArgument, "model: unknown collective %d", (int)coll);
  if ((unsigned)algo >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "model: unknown algorithm %d", (int)algo);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "model: nranks = %d, need >= 1", nranks);
  if (topo && topo->nranks != nranks)
    NSCCL_FAIL(nscclInvalidArgument, "model: topology %s has %d ranks, asked about %d", topo->name, topo->nranks,
               nranks);
  if (!seconds) NSCCL_FAIL(nscclInvalidArgument, "model: seconds is NULL");
  *seconds = 0;
  if (nranks == 1 || bytes == 0) return nscclSuccess;
  nsccl_topo_t *flat = NULL;
  if (!topo) {
    NSCCL_CHECK(nsccl_topo_host_flat(nranks, &flat));
    topo = flat;
  }
  model_t m = {.t = topo,
               .p = nranks,
               .alpha = topo->endpoint_overhead,
               .gamma = 1.0 / topo->reduce_bandwidth,
               .serial = topo->cpu_copies,
               .lat_override = -1};
  size_t chunk = opts && opts->chunk_bytes ? opts->chunk_bytes : NSCCL_DEFAULT_CHUNK_BYTES;
  m.chunk = chunk == SIZE_MAX ? INFINITY : (double)chunk;
  nsccl_model_step_reset_latency(&m);
  m.load = calloc(topo->nlinks + 1, sizeof(double));
  m.touched = malloc(sizeof(int) * (topo->nlinks + 1));
  m.msgs = calloc(nranks, sizeof(double));
  m.red = calloc(nranks, sizeof(double));
  int *order = malloc(sizeof(int) * nranks);
  nscclResult_t rc = nscclSuccess;
  if (!m.load || !m.touched || !m.msgs || !m.red || !order) {
    rc = nscclSystemError;
    goto out;
  }
  double n = (double)bytes;
  if (variant == NSCCL_VARIANT_HIER) {
    rc = nsccl_model_hier(&m, coll, algo, n);
    if (rc == nscclSuccess) rc = m.rc;
    *seconds = m.total;
    goto out;
  }
  switch (algo) {
  case NSCCL_ALGO_RING:
    if (variant == NSCCL_RING_DIMS && topo->ndims > 0) {
      model_ring_dims(&m, coll, n);
      break;
    }
    if (flat || variant == 0)
      for (int r = 0; r < nranks; r++) order[r] = r;
    else
      nsccl_topo_ring(topo, order);
    model_ring(&m, coll, order, n);
    break;
  case NSCCL_ALGO_TREE:
    if ((variant & NSCCL_TREE_MAPPED) && coll != NSCCL_COLL_ALLREDUCE) {
      model_tree_mapped_blocks(&m, coll, n);
      break;
    }
    if (variant & NSCCL_TREE_MAPPED) {
      nsccl_topo_hypercube_perm(topo, order);
      m.map = order;
    }
    model_tree(&m, coll, variant, n);
    break;
  default: model_direct(&m, coll, variant, n); break;
  }
  rc = m.rc;
  *seconds = m.total;
out:
  free(m.load);
  free(m.touched);
  free(m.msgs);
  free(m.red);
  free(order);
  nsccl_topo_free(flat);
  if (rc != nscclSuccess)
    NSCCL_FAIL(rc, "model: cannot price %s on %s", nsccl_algo_name(algo), topo ? "topology" : "flat");
  return nscclSuccess;
}

nscclResult_t nsccl_model_best_variant(const nsccl_topo_t *topo, const nsccl_model_opts_t *opts, nsccl_coll_t coll,
                                       nsccl_algo_t algo, size_t bytes, int nranks, int *variant, double *seconds) {
  int v[8], nv = nsccl_model_variants(topo, coll, algo, nranks, v, 8);
  *variant = 0;
  *seconds = -1;
  for (int i = 0; i < nv; i++) {
    double s;
    NSCCL_CHECK(nsccl_model_predict(topo, opts, coll, algo, v[i], bytes, nranks, &s));
    if (*seconds < 0 || s < *seconds) *seconds = s, *variant = v[i];
  }
  return nscclSuccess;
}
