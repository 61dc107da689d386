/* The simulator against closed forms written out here, on hand-made topologies and schedules:
 * exact alpha-beta times on contention-free cases, convergence as packets shrink, contention making
 * a torus direct all-gather slower than the contention-free formula, determinism and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_hand.h"

#define ALPHA 1e-6   /* per-message endpoint overhead */
#define BW    100e9  /* bytes/s per link */
#define LAT   100e-9 /* seconds per link */

static double sim_time(const hand_topo_t *h, const nsccl_program_t *progs, int n, const nsccl_sim_opts_t *opts,
                       double *per_rank) {
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  res.rank_time_s = per_rank;
  nscclResult_t rc = nsccl_sim_run(&h->t, progs, n, opts, &res);
  cr_assert_eq(rc, nscclSuccess, "nsccl_sim_run failed: %d", (int)rc);
  return res.time_s;
}

static void assert_close(double got, double want, double rel, const char *what) {
  cr_assert(fabs(got - want) <= rel * want + 1e-15, "%s: simulated %.9g s, closed form %.9g s (off by %.3g%%)", what,
            got, want, 100.0 * (got - want) / want);
}

static const size_t sizes[] = {0, 1, 1000, 65536, 1 << 20, (3 << 20) + 7, 64 << 20};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Packet settings every exact case must be insensitive to: cut-through makes the packet size
 * irrelevant when nothing contends. */
static nsccl_sim_opts_t packet_opts(int i) {
  nsccl_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  if (i == 1) o.packet_bytes = NSCCL_SIM_WHOLE_MESSAGE;
  if (i == 2) {
    o.packet_bytes = 4096;
    o.max_packets = NSCCL_SIM_UNLIMITED_PACKETS;
  }
  return o;
}

/* One message over one link: alpha + latency + bytes / bandwidth. */
Test(sim, one_message_alpha_beta) {
  hand_topo_t *h = hand_pair(BW, LAT, ALPHA);
  for (size_t i = 0; i < NSIZES; i++)
    for (int po = 0; po < 3; po++) {
      nsccl_program_t progs[2];
      nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, sizes[i], nscclUint8, false};
      nsccl_prog_init(&progs[0], 0, 2, &args);
      nsccl_prog_init(&progs[1], 1, 2, &args);
      nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, sizes[i]), NSCCL_NODEPS);
      nsccl_prog_recv(&progs[1], 0, nsccl_region(NSCCL_BUF_RECV, 0, sizes[i]), NSCCL_NODEPS);
      nsccl_sim_opts_t o = packet_opts(po);
      double per[2];
      double t = sim_time(h, progs, 2, &o, per);
      double want = ALPHA + LAT + (double)sizes[i] / BW;
      assert_close(t, want, 1e-9, "pair");
      assert_close(per[1], want, 1e-9, "pair receiver");
      assert_close(per[0], ALPHA + (double)sizes[i] / BW, 1e-9, "pair sender (last packet left)");
      hand_progs_free(progs, 2);
    }
  hand_free(h);
}

/* Check (a): ring all-gather on a switch is contention free; every step costs alpha + two link
 * latencies + m / B, and the n - 1 steps chain. */
Test(sim, ring_allgather_on_switch_matches_formula) {
  const int n = 8;
  hand_topo_t *h = hand_star(n, BW, LAT, ALPHA);
  nsccl_program_t progs[8];
  for (size_t i = 0; i < NSIZES; i++)
    for (int po = 0; po < 3; po++) {
      hand_ring_allgather(progs, n, sizes[i]);
      nsccl_sim_opts_t o = packet_opts(po);
      double t = sim_time(h, progs, n, &o, NULL);
      assert_close(t, (n - 1) * (ALPHA + 2 * LAT + (double)sizes[i] / BW), 0.02, "ring all-gather on a switch");
      hand_progs_free(progs, n);
    }
  hand_free(h);
}

/* A dependency named several times is waited for once: the ring all-gather of the formula above,
 * with every send naming its receive three times among its dependencies (and the rank's first
 * copy twice), as builders that list a run's blocks one by one do. */
Test(sim, repeated_dependency_waits_once) {
  const int n = 8;
  const size_t m = 1 << 20;
  hand_topo_t *h = hand_star(n, BW, LAT, ALPHA);
  nsccl_program_t progs[8];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, m, nscclUint8, false};
  for (int r = 0; r < n; r++) {
    nsccl_program_t *p = &progs[r];
    nsccl_prog_init(p, r, n, &args);
    int right = (r + 1) % n, left = (r + n - 1) % n;
    nsccl_step_id_t copy = nsccl_prog_copy(p, nsccl_region(NSCCL_BUF_SEND, 0, m),
                                           nsccl_region(NSCCL_BUF_RECV, (size_t)r * m, m), NSCCL_NODEPS);
    nsccl_step_id_t prev = NSCCL_NO_STEP;
    for (int k = 0; k < n - 1; k++) {
      int out = (r - k + n) % n, in = (r - k - 1 + n) % n;
      nsccl_region_t src = k == 0 ? nsccl_region(NSCCL_BUF_SEND, 0, m) : nsccl_region(NSCCL_BUF_RECV, out * m, m);
      nsccl_step_id_t deps[5] = {prev, copy, prev, copy, prev};
      nsccl_prog_send(p, right, src, deps, 5);
      prev = nsccl_prog_recv(p, left, nsccl_region(NSCCL_BUF_RECV, (size_t)in * m, m), NSCCL_NODEPS);
    }
  }
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_run(&h->t, progs, n, NULL, &res), nscclSuccess);
  assert_close(res.time_s, (n - 1) * (ALPHA + 2 * LAT + (double)m / BW), 1e-9, "ring with repeated dependencies");
  hand_progs_free(progs, n);
  hand_free(h);
}

/* Ring all-gather on a two-level switch: edges within a leaf cross 2 links, edges between leaves 4.
 * Rank r's last receive ends a chain over every ring edge but its own outgoing one, so the
 * collective takes (sum of edge times) - (smallest edge time). */
Test(sim, ring_allgather_on_two_level_switch_matches_formula) {
  const int n = 16, group = 4;
  hand_topo_t *h = hand_two_level(n, group, BW, 2 * BW, LAT, ALPHA);
  nsccl_program_t progs[16];
  for (size_t i = 0; i < NSIZES; i++) {
    hand_ring_allgather(progs, n, sizes[i]);
    double sum = 0, least = 1e300;
    for (int r = 0; r < n; r++) {
      int hops = r / group == ((r + 1) % n) / group ? 2 : 4;
      /* the slowest link on the route is the rank's own link (spine links are twice as fast) */
      double e = ALPHA + hops * LAT + (double)sizes[i] / BW;
      sum += e;
      if (e < least) least = e;
    }
    assert_close(sim_time(h, progs, n, NULL, NULL), sum - least, 0.02, "ring all-gather on two levels");
    hand_progs_free(progs, n);
  }
  hand_free(h);
}

/* A 4-rank 1D torus, rank 0 to rank 2 (two hops): a store-and-forward chip pays another alpha and
 * another full transfer; a routed one only the latency. */
Test(sim, torus_store_versus_routed) {
  int dims[1] = {4};
  for (size_t i = 0; i < NSIZES; i++)
    for (int fw = 0; fw < 2; fw++) {
      hand_topo_t *h = hand_torus(1, dims, BW, LAT, ALPHA, fw ? NSCCL_FORWARD_STORE : NSCCL_FORWARD_ROUTED);
      nsccl_program_t progs[4];
      nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, sizes[i], nscclUint8, false};
      for (int r = 0; r < 4; r++) nsccl_prog_init(&progs[r], r, 4, &args);
      nsccl_prog_send(&progs[0], 2, nsccl_region(NSCCL_BUF_SEND, 0, sizes[i]), NSCCL_NODEPS);
      nsccl_prog_recv(&progs[2], 0, nsccl_region(NSCCL_BUF_RECV, 0, sizes[i]), NSCCL_NODEPS);
      double m = (double)sizes[i];
      double want = fw ? 2 * (ALPHA + LAT + m / BW) : ALPHA + 2 * LAT + m / BW;
      assert_close(sim_time(h, progs, 4, NULL, NULL), want, 1e-9, fw ? "store" : "routed");
      hand_progs_free(progs, 4);
      hand_free(h);
    }
}

/* RECV_REDUCE pays bytes / reduce_bandwidth after the data landed; two REDUCEs on one rank queue
 * for its single reduction unit. */
Test(sim, reductions_cost_gamma_serialised) {
  const double G = 20e9;
  const size_t m = 1 << 20;
  hand_topo_t *h = hand_pair(BW, LAT, ALPHA);
  h->t.reduce_bandwidth = G;
  nsccl_program_t progs[2];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLREDUCE, 2 * m, nscclUint8, false};
  nsccl_prog_init(&progs[0], 0, 2, &args);
  nsccl_prog_init(&progs[1], 1, 2, &args);
  nsccl_prog_need_scratch(&progs[0], m);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, m), NSCCL_NODEPS);
  nsccl_prog_reduce(&progs[0], nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_SEND, m, m),
                    nsccl_region(NSCCL_BUF_RECV, 0, m), NSCCL_NODEPS);
  nsccl_prog_reduce(&progs[0], nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_SEND, m, m),
                    nsccl_region(NSCCL_BUF_RECV, m, m), NSCCL_NODEPS);
  nsccl_prog_recv_reduce(&progs[1], 0, nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_RECV, 0, m),
                         NSCCL_NODEPS);
  double per[2];
  sim_time(h, progs, 2, NULL, per);
  assert_close(per[0], 2 * m / G, 1e-9, "two reductions on one unit");
  assert_close(per[1], ALPHA + LAT + m / BW + m / G, 1e-9, "receive then reduce");
  hand_progs_free(progs, 2);
  hand_free(h);
}

/* COPY is free without a copy bandwidth and bytes / copy_bandwidth with one. */
Test(sim, copy_bandwidth_option) {
  const size_t m = 1 << 20;
  hand_topo_t *h = hand_pair(BW, LAT, ALPHA);
  nsccl_program_t progs[2];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, m, nscclUint8, false};
  for (int r = 0; r < 2; r++) {
    nsccl_prog_init(&progs[r], r, 2, &args);
    nsccl_prog_copy(&progs[r], nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_RECV, 0, m), NSCCL_NODEPS);
  }
  cr_assert_eq(sim_time(h, progs, 2, NULL, NULL), 0.0);
  nsccl_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  o.copy_bandwidth = 50e9;
  assert_close(sim_time(h, progs, 2, &o, NULL), m / 50e9, 1e-9, "copy");
  hand_progs_free(progs, 2);
  hand_free(h);
}

/* Zero-byte messages from rank 0 to four peers: overheads queue by default, overlap on request. */
Test(sim, serial_overhead_option) {
  const int n = 5;
  hand_topo_t *h = hand_star(n, BW, LAT, ALPHA);
  nsccl_program_t progs[5];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, 0, nscclUint8, false};
  for (int r = 0; r < n; r++) nsccl_prog_init(&progs[r], r, n, &args);
  for (int r = 1; r < n; r++) {
    nsccl_prog_send(&progs[0], r, nsccl_region(NSCCL_BUF_SEND, 0, 0), NSCCL_NODEPS);
    nsccl_prog_recv(&progs[r], 0, nsccl_region(NSCCL_BUF_RECV, 0, 0), NSCCL_NODEPS);
  }
  assert_close(sim_time(h, progs, n, NULL, NULL), (n - 1) * ALPHA + 2 * LAT, 1e-9, "serial overheads");
  nsccl_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  o.overlap_overhead = 1;
  assert_close(sim_time(h, progs, n, &o, NULL), ALPHA + 2 * LAT, 1e-9, "overlapping overheads");
  hand_progs_free(progs, n);
  hand_free(h);
}

/* Eager: a receive posted after the data landed completes when posted; one posted before waits. */
Test(sim, eager_receive_posted_late) {
  const double G = 1e9;
  const size_t m = 1 << 16;
  hand_topo_t *h = hand_pair(BW, LAT, ALPHA);
  h->t.reduce_bandwidth = G;
  nsccl_program_t progs[2];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLREDUCE, m, nscclUint8, false};
  nsccl_prog_init(&progs[0], 0, 2, &args);
  nsccl_prog_init(&progs[1], 1, 2, &args);
  nsccl_prog_need_scratch(&progs[1], m);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, m), NSCCL_NODEPS);
  nsccl_step_id_t busy =
      nsccl_prog_reduce(&progs[1], nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_SEND, 0, m),
                        nsccl_region(NSCCL_BUF_SCRATCH, 0, m), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, nsccl_region(NSCCL_BUF_RECV, 0, m), NSCCL_DEP1(busy));
  double per[2];
  sim_time(h, progs, 2, NULL, per);
  cr_assert_gt(m / G, ALPHA + LAT + m / BW, "the test needs the local work to outlast the transfer");
  assert_close(per[1], m / G, 1e-9, "late receive");
  hand_progs_free(progs, 2);
  hand_free(h);
}

/* Check (b): a contended schedule (direct all-gather on a 4x4 torus) converges as packets halve from
 * the whole message to 1/256 of it: with 16 MiB messages each change is at most 3/4 of the one
 * before (give or take 0.01% of the time); at both sizes the last change is small and the default
 * packets (64 KiB, at most 16 per message) land within 2% of the finest. */
Test(sim, converges_as_packets_shrink) {
  int dims[2] = {4, 4};
  const int n = 16;
  const size_t msizes[2] = {1 << 20, 16 << 20};
  for (int fw = 0; fw < 2; fw++) {
    const char *name = fw ? "store" : "routed";
    hand_topo_t *h = hand_torus(2, dims, BW, LAT, ALPHA, fw ? NSCCL_FORWARD_STORE : NSCCL_FORWARD_ROUTED);
    for (int mi = 0; mi < 2; mi++) {
      size_t m = msizes[mi];
      nsccl_program_t progs[16];
      hand_direct_allgather(progs, n, m);
      double t[9];
      for (int i = 0; i < 9; i++) {
        nsccl_sim_opts_t o;
        memset(&o, 0, sizeof(o));
        o.packet_bytes = m >> i;
        o.max_packets = NSCCL_SIM_UNLIMITED_PACKETS;
        t[i] = sim_time(h, progs, n, &o, NULL);
      }
      double fine = t[8];
      if (mi == 1)
        for (int i = 2; i < 9; i++)
          cr_assert_leq(fabs(t[i] - t[i - 1]), 0.75 * fabs(t[i - 1] - t[i - 2]) + 1e-4 * fine,
                        "%s m=%zu: halving %d moved the time by %g s, the one before by %g s", name, m, i,
                        fabs(t[i] - t[i - 1]), fabs(t[i - 1] - t[i - 2]));
      cr_assert_lt(fabs(t[8] - t[7]), (mi ? 0.001 : 0.005) * fine, "%s m=%zu: last halving still moves %.3g%%", name, m,
                   100 * fabs(t[8] - t[7]) / fine);
      assert_close(sim_time(h, progs, n, NULL, NULL), fine, 0.02, "default packets versus finest");
      hand_progs_free(progs, n);
    }
    hand_free(h);
  }
}

/* Check (c): direct all-gather on a 4x4 torus shares links, so it is slower than the contention-free
 * formula (each message alone: overhead + hops x latency (+ store costs) + m / B, the injection of
 * n - 1 messages over 4 ports), and no faster than the busiest link's load allows. */
Test(sim, contention_makes_torus_direct_slower) {
  int dims[2] = {4, 4};
  const int n = 16;
  for (int fw = 0; fw < 2; fw++) {
    hand_topo_t *h = hand_torus(2, dims, BW, LAT, ALPHA, fw ? NSCCL_FORWARD_STORE : NSCCL_FORWARD_ROUTED);
    /* load of every link under dimension-order routes, counted here from the route function */
    double *load = calloc((size_t)h->t.nlinks, sizeof(double));
    int route[16], maxhops = 0;
    for (int s = 0; s < n; s++)
      for (int d = 0; d < n; d++)
        if (s != d) {
          int k = h->mod.route(&h->t, s, d, route, 16);
          if (k > maxhops) maxhops = k;
          for (int i = 0; i < k; i++) load[route[i]] += 1;
        }
    double maxload = 0;
    for (int i = 0; i < h->t.nlinks; i++)
      if (load[i] > maxload) maxload = load[i];
    nsccl_sim_opts_t o;
    memset(&o, 0, sizeof(o));
    o.overlap_overhead = 1; /* keeps the formula free of the issue pipeline */
    for (size_t m = 1 << 16; m <= (16 << 20); m <<= 2) {
      nsccl_program_t progs[16];
      hand_direct_allgather(progs, n, m);
      double t = sim_time(h, progs, n, &o, NULL);
      double alone = fw ? maxhops * (ALPHA + LAT + m / BW) : ALPHA + maxhops * LAT + m / BW;
      double inject = ALPHA + LAT + (n - 1) * m / (4 * BW);
      double free_formula = alone > inject ? alone : inject;
      cr_assert_gt(t, 1.2 * free_formula, "%s m=%zu: simulated %g s, contention-free formula %g s",
                   fw ? "store" : "routed", m, t, free_formula);
      cr_assert_geq(t, maxload * m / BW, "%s m=%zu: faster than the busiest link allows", fw ? "store" : "routed", m);
      hand_progs_free(progs, n);
    }
    free(load);
    hand_free(h);
  }
}

/* Check (d): equal inputs, identical results. */
Test(sim, deterministic) {
  int dims[2] = {4, 4};
  hand_topo_t *h = hand_torus(2, dims, BW, LAT, ALPHA, NSCCL_FORWARD_STORE);
  h->t.reduce_bandwidth = 30e9;
  nsccl_program_t progs[16];
  hand_direct_allgather(progs, 16, 300000);
  double a[16], b[16];
  nsccl_sim_result_t r1, r2;
  memset(&r1, 0, sizeof(r1));
  memset(&r2, 0, sizeof(r2));
  r1.rank_time_s = a;
  r2.rank_time_s = b;
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 16, NULL, &r1), nscclSuccess);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 16, NULL, &r2), nscclSuccess);
  cr_assert(memcmp(a, b, sizeof(a)) == 0, "per-rank times differ between runs");
  cr_assert(r1.time_s == r2.time_s && r1.events == r2.events && r1.packets == r2.packets);
  cr_assert(r1.bottleneck_link == r2.bottleneck_link && r1.bottleneck_busy_s == r2.bottleneck_busy_s);
  cr_assert_eq(r1.messages, 16 * 15);
  cr_assert_gt(r1.events, r1.packets);
  hand_progs_free(progs, 16);
  hand_free(h);
}

/* Statistics: the bottleneck of a single message is its link, busy m / B. */
Test(sim, statistics) {
  const size_t m = 1 << 20;
  hand_topo_t *h = hand_pair(BW, LAT, ALPHA);
  nsccl_program_t progs[2];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, m, nscclUint8, false};
  nsccl_prog_init(&progs[0], 0, 2, &args);
  nsccl_prog_init(&progs[1], 1, 2, &args);
  nsccl_prog_send(&progs[1], 0, nsccl_region(NSCCL_BUF_SEND, 0, m), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[0], 1, nsccl_region(NSCCL_BUF_RECV, 0, m), NSCCL_NODEPS);
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclSuccess);
  cr_assert_eq(res.bottleneck_link, 1);
  assert_close(res.bottleneck_busy_s, m / BW, 1e-9, "busy time");
  cr_assert_eq(res.messages, 1);
  cr_assert_eq(res.packets, 16); /* 1 MiB in 64 KiB packets */
  cr_assert_geq(res.wall_s, 0.0);
  hand_progs_free(progs, 2);
  hand_free(h);
}
