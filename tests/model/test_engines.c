/* DMA-engine concurrency (topologies/topo.h: dma_engines, engines_per_message,
 * dma_engine_bandwidth) in the simulator and the cost model, against closed forms written out
 * here (docs/model.md, "DMA engines"): messages issued at once pay one alpha, messages beyond the
 * engines wait for a free one, a message spread over k engines streams at k engine bandwidths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "model/cost.h"
#include "model/simulate.h"
#include "topologies/topo.h"

#define SW64                                                                                                           \
  "switch:ranks=64,levels=1,link_bandwidth=1e12,link_latency=0.25e-6,switch_latency=0.15e-6,endpoint_overhead=1e-6,"   \
  "reduce_bandwidth=1e12"

static nsccl_topo_t *load(const char *spec) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static void model_and_sim(const nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, int variant, size_t bytes, double *m,
                          double *s) {
  cr_assert_eq(nsccl_model_predict(t, NULL, c, a, variant, bytes, t->nranks, m), nscclSuccess, "%s",
               nsccl_last_error());
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, c, a, variant, bytes, NULL, &res), nscclSuccess, "%s", nsccl_last_error());
  *s = res.time_s;
}

static void near(double got, double want, double tol, const char *what) {
  cr_assert(fabs(got - want) <= tol * want, "%s: %.4f us, expected %.4f us", what, got * 1e6, want * 1e6);
}

/* The check: a direct all-gather of 64 B with 64 engines is one alpha plus one path
 * (1 + 0.25 + 0.15 + 0.25 us = 1.65 us); with one engine the 63 messages are issued one per alpha. */
Test(engines, oneshot_allgather_is_one_alpha) {
  nsccl_topo_t *t = load(SW64 ",dma_engines=64");
  double m, s, path = 2 * 0.25e-6 + 0.15e-6;
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, 64, &m, &s);
  near(m, 1e-6 + path, 0.10, "model, 64 engines");
  near(s, 1e-6 + path, 0.10, "simulator, 64 engines");
  nsccl_topo_free(t);
  t = load(SW64 ",dma_engines=1");
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, 64, &m, &s);
  near(m, 63e-6 + path, 0.01, "model, 1 engine");
  near(s, 63e-6 + path, 0.01, "simulator, 1 engine");
  nsccl_topo_free(t);
}

/* 63 messages on 16 engines: 4 rounds of alpha (16 + 16 + 16 + 15), then the last one's path. */
Test(engines, messages_beyond_the_engines_wait) {
  nsccl_topo_t *t = load(SW64 ",dma_engines=16");
  double m, s, want = 4 * 1e-6 + 2 * 0.25e-6 + 0.15e-6;
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, 64, &m, &s);
  near(m, want, 0.02, "model, 16 engines");
  near(s, want, 0.02, "simulator, 16 engines");
  nsccl_topo_free(t);
}

/* Two ranks' ring all-gather of 8 MiB: 4 MiB each way, as four 1 MiB chunks to the same peer. Each
 * chunk spreads over 4 engines of 10 GB/s (links 1 TB/s): 40 GB/s; the chunks go through the pair's
 * one DMA queue in order, so alpha once and 4 MiB at 40 GB/s. A 32 KiB message keeps to one engine. */
Test(engines, engine_bandwidth_and_spreading) {
  nsccl_topo_t *t = load("switch:ranks=2,levels=1,link_bandwidth=1e12,link_latency=0,switch_latency=0,"
                         "endpoint_overhead=1e-6,reduce_bandwidth=1e12,dma_engines=16,engines_per_message=4,"
                         "dma_engine_bandwidth=10e9");
  double m, s;
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, 0, (size_t)8 << 20, &m, &s);
  double want = 1e-6 + (double)(4 << 20) / 40e9;
  near(s, want, 0.02, "simulator, 4 MiB as 4 chunks on 16 engines");
  near(m, want, 0.05, "model, 4 MiB as 4 chunks on 16 engines");
  /* 32 KiB each: one engine at 10 GB/s. */
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, 0, (size_t)64 << 10, &m, &s);
  want = 1e-6 + 32768.0 / 10e9;
  near(s, want, 0.02, "simulator, 32 KiB on one engine");
  near(m, want, 0.02, "model, 32 KiB on one engine");
  nsccl_topo_free(t);
}

/* A tree phase streams through the engines too: recursive doubling all-gather of 64 MiB on 8 ranks
 * whose 2 engines of 10 GB/s are the bottleneck (links 1 TB/s). Each rank sends 7/8 of 64 MiB as
 * 1 MiB chunks on both its engines (20 GB/s), one chunk at a time, each holding them for alpha and
 * its streaming: 56 x (1 us + 1 MiB / 20 GB/s) = 2.99 ms, not the links' 59 us. The ring and direct
 * schedules simulate at exactly that; the tree's simulated time is up to 30% above it, because a
 * rank's queue to its next partner is served in program order and waits at the head for chunks
 * still arriving (docs/model.md, "Pipelined repeats and phases"). */
Test(engines, tree_phase_streams_through_the_engines) {
  nsccl_topo_t *t = load("switch:ranks=8,levels=1,link_bandwidth=1e12,link_latency=0.25e-6,switch_latency=0.15e-6,"
                         "endpoint_overhead=1e-6,reduce_bandwidth=1e12,dma_engines=2,engines_per_message=2,"
                         "dma_engine_bandwidth=10e9");
  double m, s, bytes = (double)(64 << 20), want = 56 * (1e-6 + (double)(1 << 20) / 20e9);
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, 0, (size_t)bytes, &m, &s);
  cr_assert_geq(m, 7.0 / 8 * bytes / 20e9, "model %.1f us below the engines' streaming bound", m * 1e6);
  near(m, want, 0.05, "model, recursive doubling on 2 engines");
  cr_assert(s >= 0.999 * want && s <= 1.3 * want, "simulator %.1f us, engine bound %.1f us", s * 1e6, want * 1e6);
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, 0, (size_t)bytes, &m, &s);
  near(s, want, 0.01, "simulator, ring on 2 engines");
  nsccl_topo_free(t);
}

/* One DMA queue binds a tree phase: with 64 engines but one per message (10 GB/s), recursive doubling's
 * last step sends half of 64 MiB to one partner through one pair's queue, message after message:
 * 32 MiB / 10 GB/s = 3.36 ms, whatever the earlier steps overlap (the links alone: 59 us). */
Test(engines, tree_phase_waits_for_its_busiest_queue) {
  nsccl_topo_t *t = load("switch:ranks=8,levels=1,link_bandwidth=1e12,link_latency=0.25e-6,switch_latency=0.15e-6,"
                         "endpoint_overhead=1e-6,reduce_bandwidth=1e12,dma_engines=64,engines_per_message=1,"
                         "dma_engine_bandwidth=10e9");
  double m, s, want = (double)(32 << 20) / 10e9;
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_TREE, 0, (size_t)64 << 20, &m, &s);
  cr_assert(m >= want && m <= 1.05 * want, "model %.1f us, one queue's streaming %.1f us", m * 1e6, want * 1e6);
  near(s, want, 0.10, "simulator, recursive doubling through one queue");
  nsccl_topo_free(t);
}

/* Store-and-forward chips re-send on their own engines. A ring of 8 chips, direct all-gather of 64 B:
 * each chip sends 7 messages and, by symmetry, re-sends 0+1+2+3+2+1+0 = 9 that pass it. With 2
 * engines that is 16 issues of 1 us on 2 engines, 8 us; with 64 engines the farthest message's path
 * sets the time: alpha, 3 re-sends of alpha, 4 hops of 0.1 us = 4.4 us. */
Test(engines, storing_chips_resend_on_their_engines) {
  const char *spec = "torus:dims=8,link_bandwidth=1e12,link_latency=0.1e-6,endpoint_overhead=1e-6,"
                     "reduce_bandwidth=1e12,forward=store,dma_engines=%d";
  char buf[256];
  double m, s;
  snprintf(buf, sizeof(buf), spec, 2);
  nsccl_topo_t *t = load(buf);
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, 64, &m, &s);
  near(m, 8e-6, 0.02, "model, 2 engines");
  near(s, 8e-6, 0.05, "simulator, 2 engines");
  nsccl_topo_free(t);
  snprintf(buf, sizeof(buf), spec, 64);
  t = load(buf);
  model_and_sim(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_DIRECT, 0, 64, &m, &s);
  near(m, 4.4e-6, 0.02, "model, 64 engines");
  near(s, 4.4e-6, 0.02, "simulator, 64 engines");
  nsccl_topo_free(t);
}

/* Bad keys are refused with the key's name. */
Test(engines, bad_keys) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(SW64 ",dma_engines=0", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "dma_engines"), "%s", nsccl_last_error());
  cr_assert_eq(nsccl_topo_load(SW64 ",dma_engines=4,engines_per_message=8", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "engines_per_message"), "%s", nsccl_last_error());
  cr_assert_eq(nsccl_topo_load(SW64 ",dma_engine_bandwidth=-1", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "dma_engine_bandwidth"), "%s", nsccl_last_error());
}
