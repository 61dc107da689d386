/* The cost model's shortcuts by symmetry (model/cost.c, topo.h link_orbit) against the flows they
 * stand for: an all-to-all step priced from rank 0's routes must cost what p (p - 1) separate
 * nsccl_model_flow calls cost, on tori with odd, even and two-long rings, routed and storing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/price.h"
#include "topologies/topo.h"

/* A fresh step accumulator on t (what nsccl_model_predict sets up; keep the two in step when
 * nsccl_model_t gains per-rank arrays). */
static nsccl_model_t *model_on(const nsccl_topo_t *t, double chunk) {
  nsccl_model_t *m = calloc(1, sizeof(*m));
  m->t = t;
  m->p = t->nranks;
  m->alpha = t->endpoint_overhead;
  m->gamma = 1.0 / t->reduce_bandwidth;
  m->chunk = chunk;
  m->lat_override = -1;
  m->load = calloc((size_t)t->nlinks + 1, sizeof(double));
  m->touched = calloc((size_t)t->nlinks + 1, sizeof(int));
  m->msgs = calloc((size_t)m->p, sizeof(double));
  m->sent = calloc((size_t)m->p, sizeof(double));
  m->flows = calloc((size_t)m->p, sizeof(double));
  m->red = calloc((size_t)m->p, sizeof(double));
  m->fwd = calloc((size_t)m->p, sizeof(double));
  m->lag = calloc(4 * (size_t)m->p, sizeof(double));
  m->lag_fill = m->lag + m->p, m->arrive = m->lag + 2 * m->p, m->arrive_fill = m->lag + 3 * m->p;
  for (int r = 0; r < m->p; r++) m->arrive[r] = m->arrive_fill[r] = -INFINITY;
  nsccl_model_step_reset_latency(m);
  return m;
}

static void model_free(nsccl_model_t *m) {
  free(m->load), free(m->load_msgs), free(m->touched), free(m->msgs), free(m->sent), free(m->flows), free(m->red),
      free(m->fwd), free(m->lag);
  free(m->phase_load), free(m->phase_red), free(m->phase_msgs), free(m->phase_sent), free(m->qtab), free(m->qstep);
  free(m);
}

/* One all-to-all step (then a ring step, which reads lat_sum / hop_sum) both ways. */
static void compare(const char *spec, double bytes, double nmsgs, int in_phase) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", spec);
  cr_assert_not_null(t->module->link_orbit, "%s declares its translations", spec);
  double out[2];
  for (int way = 0; way < 2; way++) {
    nsccl_model_t *m = model_on(t, 65536);
    if (in_phase) nsccl_model_phase_begin(m);
    if (way == 0)
      nsccl_model_all_to_all(m, bytes, nmsgs);
    else
      for (int r = 0; r < m->p; r++)
        for (int d = 0; d < m->p; d++)
          if (d != r) nsccl_model_flow(m, r, d, bytes, nmsgs);
    nsccl_model_step_end(m, 3, 1);
    if (in_phase) nsccl_model_phase_end(m);
    cr_assert_eq(m->rc, nscclSuccess);
    out[way] = m->total;
    model_free(m);
  }
  cr_assert(out[0] > 0);
  cr_assert(fabs(out[0] - out[1]) <= 1e-12 * out[1], "%s: by symmetry %.17g s, flow by flow %.17g s", spec, out[0],
            out[1]);
  nsccl_topo_free(t);
}

Test(model_symmetry, all_to_all_equals_every_flow) {
  const char *tail = ",link_latency=3e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1e12,dma_engines=8,"
                     "engines_per_message=4,dma_engine_bandwidth=2e10";
  const char *grids[] = {"torus:dims=5x4,link_bandwidth=1e11", "torus:dims=2x3x4,dim_bandwidth=1e11,5e10,2e11",
                         "torus:dims=7,link_bandwidth=1e11", "torus:dims=4x4,link_bandwidth=1e11,forward=store"};
  for (size_t i = 0; i < sizeof(grids) / sizeof(grids[0]); i++) {
    char spec[512];
    snprintf(spec, sizeof(spec), "%s%s", grids[i], tail);
    compare(spec, 300000, 0, 0);
    compare(spec, 4096, 3, 1);
  }
}

/* Several ranks per chip: the translations move chip c to c + c0 and a chip's rank j to j + j0 mod
 * ranks_per_chip, which keeps routes (up, the chip route, down); rank-to-chip and chip-to-rank links
 * are two more classes. The shortcut must still equal every flow priced one by one. */
Test(model_symmetry, ranks_per_chip_translate_too) {
  const char *tail = ",link_latency=3e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1e12,dma_engines=8,"
                     "engines_per_message=4,dma_engine_bandwidth=2e10,intra_chip_bandwidth=3e11";
  const char *grids[] = {"torus:dims=4x4,link_bandwidth=1e11,ranks_per_chip=4",
                         "torus:dims=2x3,dim_bandwidth=1e11,5e10,ranks_per_chip=2",
                         "torus:dims=5,link_bandwidth=1e11,ranks_per_chip=3"};
  for (size_t i = 0; i < sizeof(grids) / sizeof(grids[0]); i++) {
    char spec[512];
    snprintf(spec, sizeof(spec), "%s%s", grids[i], tail);
    compare(spec, 300000, 0, 0);
    compare(spec, 4096, 3, 1);
  }
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64-lnc2", &t), nscclSuccess);
  cr_assert_eq(t->module->orbits(t), 2 * 3 + 2);
  nsccl_topo_free(t);
}

/* Blocks of two sizes (an all-reduce's partition when p does not divide the vector): ranks j < nhi
 * own hi bytes, the others lo. The window sums of nsccl_model_all_to_all_split must count every
 * link's flows as p (p - 1) separate flows do, flows carrying their source's block (all-gather) or
 * their destination's (reduce-scatter); lo = 0 leaves the short ranks out altogether. */
/* One step of the two-size all-to-all, by the shortcut (way 0) or flow by flow (way 1). */
static void split_flows(nsccl_model_t *m, double lo, double hi, int nhi, int by_dst, int way) {
  if (way == 0) {
    cr_assert(nsccl_model_all_to_all_split(m, lo, hi, nhi, by_dst), "%s takes the shortcut", m->t->name);
    return;
  }
  for (int r = 0; r < m->p; r++)
    for (int d = 0; d < m->p; d++) {
      double B = (by_dst ? d : r) < nhi ? hi : lo;
      if (d != r) nsccl_model_flow(m, r, d, B, fmax(1.0, ceil(B / 65536)));
    }
}

/* A plain step, then a ring step (which reads lat_sum, hop_sum). */
static double split_step(const nsccl_topo_t *t, double lo, double hi, int nhi, int by_dst, int way) {
  nsccl_model_t *m = model_on(t, 65536);
  split_flows(m, lo, hi, nhi, by_dst, way);
  nsccl_model_step_end(m, 1, 0);
  cr_assert_eq(m->rc, nscclSuccess);
  double plain = m->total;
  split_flows(m, lo, hi, nhi, by_dst, way);
  nsccl_model_step_end(m, 3, 1);
  double total = m->total;
  cr_assert(plain > 0 && total > plain);
  model_free(m);
  return total;
}

Test(model_symmetry, two_block_sizes_equal_every_flow) {
  const char *tail = ",link_latency=3e-7,endpoint_overhead=1.3e-6,reduce_bandwidth=1e12,dma_engines=8,"
                     "engines_per_message=4,dma_engine_bandwidth=2e10";
  const char *grids[] = {"torus:dims=5x4,link_bandwidth=1e11", "torus:dims=2x3x4,dim_bandwidth=1e11,5e10,2e11",
                         "torus:dims=7,link_bandwidth=1e11", "torus:dims=6x6,dim_bandwidth=1e11,4e10",
                         "torus:dims=3x5x2,link_bandwidth=1e11"};
  for (size_t i = 0; i < sizeof(grids) / sizeof(grids[0]); i++) {
    char spec[512];
    snprintf(spec, sizeof(spec), "%s%s", grids[i], tail);
    nsccl_topo_t *t = NULL;
    cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", spec);
    int p = t->nranks, nhis[] = {1, 3, p / 2, p - 1};
    double sizes[][2] = {{4096, 4097}, {200000, 200001}, {0, 1}};
    for (int h = 0; h < 4; h++)
      for (int s = 0; s < 3; s++)
        for (int by_dst = 0; by_dst < 2; by_dst++) {
          double a = split_step(t, sizes[s][0], sizes[s][1], nhis[h], by_dst, 0);
          double b = split_step(t, sizes[s][0], sizes[s][1], nhis[h], by_dst, 1);
          cr_assert(fabs(a - b) <= 1e-12 * b, "%s nhi %d lo %g by_dst %d: by symmetry %.17g s, flow by flow %.17g s",
                    spec, nhis[h], sizes[s][0], by_dst, a, b);
        }
    nsccl_topo_free(t);
  }
  /* Several ranks per chip: not coordinate additions on ranks, so no shortcut (the caller prices
   * flow by flow). */
  char spec[512];
  snprintf(spec, sizeof(spec), "torus:dims=4x4,link_bandwidth=1e11,ranks_per_chip=2,intra_chip_bandwidth=3e11%s", tail);
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s", spec);
  nsccl_model_t *m = model_on(t, 65536);
  cr_assert_not(nsccl_model_all_to_all_split(m, 10, 11, 3, 0));
  cr_assert_eq(m->ntouched, 0);
  model_free(m);
  nsccl_topo_free(t);
}
