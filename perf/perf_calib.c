/* nsccl-perf --calibrate: measure this host's alpha, beta and gamma, write them as a `host`
 * topology file, then time the usual sweep and compare every row with the cost model's prediction
 * on that topology (and on the topology the communicator itself prices with, for contrast).
 *
 *   alpha and link latency L: a tree (recursive doubling / Bruck) all-gather of one float per rank
 *          takes ceil(lg p) dependent steps of one tiny message each, t_tree = lg (alpha + L); a
 *          direct one takes one step of p-1 messages, t_direct = (p-1) alpha + L. Two probes, two
 *          unknowns: alpha is what each message costs its sender, L what each dependent step
 *          waits (a cache-line transfer on an idle host, a context switch on an oversubscribed
 *          one). With 2 ranks both probes are one message: alpha = t, L = 0;
 *   beta:  a ring all-gather of n bytes takes (p-1) alpha + (p-1)/p n beta: the slope between
 *          n = SMALL_BW and n = LARGE_BW gives beta without alpha in it; link_bandwidth = 1 / beta.
 *          Both sizes finish within a scheduler time slice, so preemption on a shared machine
 *          (which dominates transfers of tens of milliseconds) does not enter the estimate;
 *   gamma: nsccl_reduce (the reduce kernels) summing two float arrays of 32 MiB, on every rank at
 *          once (ranks share the machine's cores and memory as in a collective), the median rank.
 * Every rank measures; times are the slowest rank's per iteration, the median over iterations.
 * Probes and the sweep the model is checked against run in interleaved rounds (perf_calibrate).
 * Across several hosts (the bootstrap's host names) the probes run twice: on the ranks of each host
 * (all hosts at once) for the same-host keys, then on one rank per host for the network's latency
 * and NIC bandwidth (`network_latency`, `nic_bandwidth`), which the runtime's host topology takes
 * from NSCCL_HOST_TOPO (docs/performance.md, "Between hosts"). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/comm.h"
#include "base/clock.h"
#include "model/cost.h"
#include "perf/perf.h"
#include "perf/perf_sweep.h"
#include "reduce/reduce.h"
#include "topologies/host.h"
#include "topologies/topo.h"

#define SMALL_BW    ((size_t)64 << 10)
#define LARGE_BW    ((size_t)2 << 20)
#define LOCAL_BYTES ((size_t)32 << 20)
#define ROUNDS      5 /* interleaved rounds of the probes */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double now_s(void) { return (double)nsccl_now_ns() * 1e-9; }

/* Median over iterations of the slowest rank's time of an all-gather of `bytes` in total on c, whose
 * ranks are those of the MPI communicator mc. */
static double time_allgather(nscclComm_t c, MPI_Comm mc, size_t bytes, int iters, int nranks) {
  size_t per = bytes / sizeof(float) / (size_t)nranks;
  if (per == 0) per = 1;
  float *buf = calloc(per * (size_t)nranks, sizeof(float));
  float *src = calloc(per, sizeof(float));
  double *t = malloc(sizeof(double) * (size_t)iters * 2);
  if (!buf || !src || !t) MPI_Abort(MPI_COMM_WORLD, 1);
  for (int it = -2; it < iters; it++) {
    MPI_Barrier(mc);
    double t0 = now_s();
    if (nscclAllGather(src, buf, per, nscclFloat32, c, NULL) != nscclSuccess) {
      fprintf(stderr, "nsccl-perf: calibration all-gather failed: %s\n", nscclGetLastError(c));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (it >= 0) t[it] = now_s() - t0;
  }
  MPI_Allreduce(t, t + iters, iters, MPI_DOUBLE, MPI_MAX, mc);
  double m = median(t + iters, iters);
  free(buf);
  free(src);
  free(t);
  return m;
}

/* Bytes/s of dst = a + b over float arrays (kind 0) or of memcpy (kind 1): best of 5 on this rank,
 * then the median over ranks (all ranks run at once). */
static double local_bandwidth(int kind, int nranks) {
  size_t n = LOCAL_BYTES / sizeof(float);
  float *a = malloc(LOCAL_BYTES), *b = malloc(LOCAL_BYTES), *d = malloc(LOCAL_BYTES);
  if (!a || !b || !d) MPI_Abort(MPI_COMM_WORLD, 1);
  for (size_t i = 0; i < n; i++) a[i] = b[i] = d[i] = (float)(i & 1023);
  double best = 1e30;
  MPI_Barrier(MPI_COMM_WORLD);
  for (int it = 0; it < 5; it++) {
    double t0 = now_s();
    if (kind == 0)
      nsccl_reduce(d, a, b, n, nscclFloat32, nscclSum);
    else
      memcpy(d, a, LOCAL_BYTES);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  double bw = (double)LOCAL_BYTES / best, *all = malloc(sizeof(double) * (size_t)nranks);
  MPI_Allgather(&bw, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, MPI_COMM_WORLD);
  double m = median(all, nranks);
  free(all);
  free(a);
  free(b);
  free(d);
  return m;
}

static void mkdir_parents(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
}

/* Median |predicted - measured| / measured over the rows of one collective, on topo. */
static double model_error(const perf_rows_t *rows, nsccl_coll_t coll, const nsccl_topo_t *topo, int nranks, int *n) {
  double *err = malloc(sizeof(double) * (size_t)(2 * rows->n + 1));
  *n = 0;
  for (int i = 0; i < rows->n; i++) {
    const perf_row_t *r = &rows->v[i];
    if (r->shape.coll != coll || r->algo_id < 0) continue;
    double pred;
    if (nsccl_model_predict(topo, NULL, coll, (nsccl_algo_t)r->algo_id, r->variant_id, r->shape.bytes, nranks, &pred) !=
        nscclSuccess)
      continue;
    for (int ip = 0; ip < 2; ip++)
      if (r->time_us[ip] > 0) err[(*n)++] = fabs(pred * 1e6 - r->time_us[ip]) / r->time_us[ip];
  }
  double m = *n ? median(err, *n) : NAN;
  free(err);
  return m;
}

static nscclComm_t probe_comm(const char *algo, MPI_Comm mc, int rank, int nranks) {
  nscclUniqueId id;
  if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, mc);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.algo = algo;
  nscclComm_t c;
  if (nscclCommInitRankConfig(&c, nranks, id, rank, &cfg) != nscclSuccess) {
    fprintf(stderr, "nsccl-perf: rank %d: calibration communicator: %s\n", rank, nscclGetLastError(NULL));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return c;
}

/* The probes of one crossbar (all ranks of one host) or of the network (one rank per host): their
 * communicators stay open over every round, so that a round costs only its timings. */
typedef struct {
  int n;                                   /* ranks probed */
  MPI_Comm mc;                             /* their MPI communicator */
  nscclComm_t ring, tree, direct;          /* n > 1: one communicator per probed algorithm */
  double r[4][ROUNDS];                     /* per round: tree, direct, ring small, ring large (s) */
  double t_tree, t_direct, t_bw0, t_large; /* probe times: medians of the round medians, s */
  double alpha, lat, bw;                   /* fitted: s per message, s per dependent step, B/s */
} probe_t;

/* Fit alpha, the step latency and the bandwidth from the probe times (see the top of the file). */
static void probe_fit(probe_t *f) {
  f->alpha = NSCCL_HOST_DEFAULT_ALPHA, f->lat = 0, f->bw = 0;
  if (f->n < 2) return;
  int lg = 0;
  while ((1 << lg) < f->n) lg++;
  double step = f->t_tree / lg; /* alpha + L */
  f->alpha = step;
  if (f->n > 2) {
    /* Noise can make either share come out negative: keep both within [0, step]. */
    double a = (f->t_direct - step) / (f->n - 2);
    f->alpha = a < 0 ? 0 : a > step ? step : a;
    f->lat = step - f->alpha;
  }
  double frac = (double)(f->n - 1) / f->n;
  double beta = (f->t_large - f->t_bw0) / (frac * (double)(LARGE_BW - SMALL_BW));
  if (beta > 0) f->bw = 1.0 / beta;
}

/* The probes on the n ranks of mc (this one is `rank` of them), whatever --algo says. */
static void probe_open(MPI_Comm mc, int rank, int n, probe_t *f) {
  memset(f, 0, sizeof(*f));
  f->n = n, f->mc = mc;
  if (n < 2) return;
  f->ring = probe_comm("ring", mc, rank, n);
  f->tree = probe_comm("tree", mc, rank, n);
  f->direct = probe_comm("direct", mc, rank, n);
}

/* Round k of the probes (a fifth of their iterations). */
static void probe_round(probe_t *f, int k) {
  if (f->n < 2) return;
  f->r[0][k] = time_allgather(f->tree, f->mc, sizeof(float) * (size_t)f->n, 200 / ROUNDS, f->n);
  f->r[1][k] = time_allgather(f->direct, f->mc, sizeof(float) * (size_t)f->n, 200 / ROUNDS, f->n);
  f->r[2][k] = time_allgather(f->ring, f->mc, SMALL_BW, 50 / ROUNDS, f->n);
  f->r[3][k] = time_allgather(f->ring, f->mc, LARGE_BW, 50 / ROUNDS, f->n);
}

/* The median of each probe's round medians, the communicators closed, the fit. */
static void probe_close(probe_t *f) {
  if (f->n > 1) {
    f->t_tree = median(f->r[0], ROUNDS), f->t_direct = median(f->r[1], ROUNDS);
    f->t_bw0 = median(f->r[2], ROUNDS), f->t_large = median(f->r[3], ROUNDS);
    /* With 2 ranks both probes are the same exchange of one message: one estimate from both. */
    if (f->n == 2) f->t_tree = f->t_direct = 0.5 * (f->t_tree + f->t_direct);
    nscclCommDestroy(f->ring);
    nscclCommDestroy(f->tree);
    nscclCommDestroy(f->direct);
  }
  f->ring = f->tree = f->direct = NULL;
  f->mc = MPI_COMM_NULL;
  probe_fit(f);
}

/* The sweep's rows of every round, merged into rounds[0]: per row and placement the median of the
 * round times (rank 0; every round ran the same sizes with the same selector, so rows align). */
static void merge_rounds(perf_rows_t *rounds) {
  for (int i = 0; i < rounds[0].n; i++)
    for (int ip = 0; ip < 2; ip++) {
      double t[ROUNDS];
      for (int k = 0; k < ROUNDS; k++) t[k] = rounds[k].v[i].time_us[ip];
      rounds[0].v[i].time_us[ip] = median(t, ROUNDS);
    }
  for (int k = 1; k < ROUNDS; k++) free(rounds[k].v);
}

static void probe_print(const char *what, const probe_t *f) {
  printf("#   %s, %d ranks: tree all-gather of %d floats %.2f us, direct %.2f us -> alpha %.3f us per message, "
         "latency %.3f us per step\n"
         "#   %s: ring all-gather of %zu KiB %.1f us, of %zu KiB %.1f us -> bandwidth %.3f GB/s\n",
         what, f->n, f->n, f->t_tree * 1e6, f->t_direct * 1e6, f->alpha * 1e6, f->lat * 1e6, what, SMALL_BW >> 10,
         f->t_bw0 * 1e6, LARGE_BW >> 10, f->t_large * 1e6, f->bw / 1e9);
  /* probe_close sorted each probe's round medians: the spread is the first and the last. */
  printf("#   %s: the %d round medians ranged over tree %.1f-%.1f us, direct %.1f-%.1f us, %zu KiB %.1f-%.1f us, "
         "%zu KiB %.1f-%.1f us\n",
         what, ROUNDS, f->r[0][0] * 1e6, f->r[0][ROUNDS - 1] * 1e6, f->r[1][0] * 1e6, f->r[1][ROUNDS - 1] * 1e6,
         SMALL_BW >> 10, f->r[2][0] * 1e6, f->r[2][ROUNDS - 1] * 1e6, LARGE_BW >> 10, f->r[3][0] * 1e6,
         f->r[3][ROUNDS - 1] * 1e6);
}

/* Ranks in equal contiguous blocks per host (how mpirun and the namespace harness place them)? */
static int regular_hosts(nscclComm_t comm, int nranks, int *rph) {
  *rph = nranks / comm->nhosts;
  if (nranks % comm->nhosts) return 0;
  for (int r = 0; r < nranks; r++)
    if (comm->host_of_rank[r] != comm->host_of_rank[r / *rph * *rph]) return 0;
  return 1;
}

int perf_calibrate(const perf_opts_t *o, nscclComm_t comm, int rank, int nranks) {
  int nhosts = comm->nhosts > 1 ? comm->nhosts : 1, rph = nranks;
  if (nhosts > 1 && !regular_hosts(comm, nranks, &rph)) {
    if (rank == 0)
      fprintf(stderr,
              "nsccl-perf: --calibrate across %d hosts needs the same number of ranks on every host, in "
              "contiguous blocks (a host file describes that shape only)\n",
              nhosts);
    return 1;
  }
  /* Same host: the ranks of each host at once (as in a collective, hosts share what they share),
   * the slowest host's times. Network: one rank per host (the first of each), alone. Then the
   * sweep. All three in ROUNDS interleaved rounds (probes, then the sweep with a fifth of its
   * iterations), each time the median of the round medians: on this kind of machine a probe's
   * median moves 2-4x from one second to the next, and probes and rows timed minutes apart would
   * compare two different machines (docs/performance.md, "Between hosts"). */
  probe_t local, net;
  memset(&net, 0, sizeof(net));
  MPI_Comm lc = MPI_COMM_NULL, nc = MPI_COMM_NULL;
  int lr = rank;
  if (nhosts == 1) {
    probe_open(MPI_COMM_WORLD, rank, nranks, &local);
  } else {
    MPI_Comm_split(MPI_COMM_WORLD, comm->host_of_rank[rank], rank, &lc);
    MPI_Comm_rank(lc, &lr);
    probe_open(lc, lr, rph, &local);
    MPI_Comm_split(MPI_COMM_WORLD, lr == 0 ? 0 : MPI_UNDEFINED, rank, &nc);
    if (lr == 0) probe_open(nc, rank / rph, nhosts, &net);
  }
  perf_opts_t so = *o;
  so.silent = 1;
  so.iters = (o->iters + ROUNDS - 1) / ROUNDS;
  if (so.iters < 3) so.iters = 3;
  so.time_budget = o->time_budget / ROUNDS;
  perf_rows_t rounds[ROUNDS];
  memset(rounds, 0, sizeof(rounds));
  for (int k = 0; k < ROUNDS; k++) {
    probe_round(&local, k);
    if (nc != MPI_COMM_NULL) probe_round(&net, k);
    MPI_Barrier(MPI_COMM_WORLD);
    perf_sweep(&so, comm, rank, nranks, NULL, &rounds[k]);
  }
  probe_close(&local);
  if (nhosts > 1) {
    MPI_Allreduce(MPI_IN_PLACE, &local.t_tree, 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    probe_fit(&local);
    MPI_Comm_free(&lc);
    if (nc != MPI_COMM_NULL) {
      probe_close(&net);
      MPI_Comm_free(&nc);
    }
    MPI_Bcast(&net, sizeof(net), MPI_BYTE, 0, MPI_COMM_WORLD);
  }
  if (rank == 0) merge_rounds(rounds);
  perf_rows_t rows = rounds[0];
  double alpha = local.alpha, link_lat = local.lat;
  double link_bw = local.bw > 0 ? local.bw : NSCCL_HOST_DEFAULT_LINK_BW;
  double net_lat = NSCCL_HOST_DEFAULT_NET_LAT, net_bw = NSCCL_HOST_DEFAULT_NET_BW;
  if (nhosts > 1) {
    /* One alpha per file: with several ranks per host it is the same-host one, and the network's
     * extra per-step time (its messages cost their sender more, too) goes into network_latency;
     * with one rank per host every message crosses the network, so alpha and the step latency are
     * the network's own, except at 2 hosts, where one probe cannot split them: alpha keeps the
     * default and the rest of the step is the network's latency. A route between hosts adds
     * link_latency + network_latency (topologies/host.c). At least 1 ns: 0 means "default" to the
     * runtime (nsccl_topo_host_build). */
    int lg = 0;
    while ((1 << lg) < nhosts) lg++;
    double step = net.t_tree / lg;
    if (rph == 1 && nhosts > 2)
      alpha = net.alpha, link_lat = 0, net_lat = net.lat;
    else if (rph == 1)
      alpha = NSCCL_HOST_DEFAULT_ALPHA, link_lat = 0, net_lat = step - alpha;
    else
      net_lat = step - alpha - link_lat;
    if (net_lat < 1e-9) net_lat = 1e-9;
    if (net.bw > 0) net_bw = net.bw;
  }
  double reduce_bw = local_bandwidth(0, nranks);
  double memcpy_bw = local_bandwidth(1, nranks);

  int ok = 1;
  if (rank == 0) {
    printf("# nsccl-perf --calibrate on %d ranks (%d host%s, %d rank%s each)\n", nranks, nhosts, nhosts > 1 ? "s" : "",
           rph, rph > 1 ? "s" : "");
    if (rph > 1) probe_print("same host", &local);
    if (nhosts > 1) probe_print("network (one rank per host)", &net);
    if (nranks == 1) printf("#   1 rank: no messages to time; alpha and link bandwidth keep the defaults\n");
    printf("#   -> alpha %.3f us, link latency %.3f us, link bandwidth %.3f GB/s", alpha * 1e6, link_lat * 1e6,
           link_bw / 1e9);
    if (nhosts > 1) printf(", network latency %.3f us, NIC bandwidth %.3f GB/s", net_lat * 1e6, net_bw / 1e9);
    printf("\n#   reduce kernel (float sum, %zu MiB): %.3f GB/s -> gamma = %.4f ns/B\n", LOCAL_BYTES >> 20,
           reduce_bw / 1e9, 1e9 / reduce_bw);
    printf("#   memcpy (%zu MiB, for reference): %.3f GB/s\n", LOCAL_BYTES >> 20, memcpy_bw / 1e9);
    mkdir_parents(o->topo_out);
    FILE *f = fopen(o->topo_out, "w");
    if (!f) {
      fprintf(stderr, "nsccl-perf: cannot write the topology to '%s': %s\n", o->topo_out, strerror(errno));
      ok = 0;
    } else {
      fprintf(f,
              "# This machine, calibrated by nsccl-perf --calibrate on %d ranks, %d per host (docs/performance.md).\n"
              "# alpha and link latency from tree and direct all-gathers of one float per rank, link\n"
              "# bandwidth from ring all-gathers of %zu KiB and %zu KiB (the ranks of one host; with several\n"
              "# hosts, the same probes on one rank per host give network latency and NIC bandwidth),\n"
              "# reduce bandwidth from the float-sum kernel. Measured memcpy: %.3e B/s.\n"
              "[topology]\nmodule = host\nranks = %d\nranks_per_host = %d\n"
              "endpoint_overhead = %.4e\nlink_latency = %.4e\nlink_bandwidth = %.4e\nreduce_bandwidth = %.4e\n",
              nranks, rph, SMALL_BW >> 10, LARGE_BW >> 10, memcpy_bw, nranks, rph, alpha, link_lat, link_bw, reduce_bw);
      if (nhosts > 1) fprintf(f, "network_latency = %.4e\nnic_bandwidth = %.4e\n", net_lat, net_bw);
      fclose(f);
      printf("# wrote %s\n", o->topo_out);
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) {
    free(rows.v);
    return 1;
  }

  /* Rank 0 compares each row of the sweep with the model. */
  if (rank == 0) {
    nsccl_topo_t *topo = NULL;
    if (nsccl_topo_load(o->topo_out, &topo) != nscclSuccess) {
      fprintf(stderr, "nsccl-perf: cannot load the topology just written: %s\n", nscclGetLastError(NULL));
      free(rows.v);
      return 1;
    }
    printf(
        "#\n# Model against measurement (out-of-place and in-place rows; predicted for the algorithm run; measured:\n"
        "# per placement the median over %d rounds of %d iterations each, interleaved with the probes' rounds)\n",
        ROUNDS, so.iters);
    printf("# %14s %10s %7s %12s %12s %12s %8s\n", "collective", "size(B)", "algo", "measured(us)", "model(us)",
           "runtime(us)", "error");
    for (int i = 0; i < rows.n; i++) {
      const perf_row_t *r = &rows.v[i];
      double pred = NAN, prt = NAN;
      if (r->algo_id >= 0) {
        nsccl_model_predict(topo, NULL, r->shape.coll, (nsccl_algo_t)r->algo_id, r->variant_id, r->shape.bytes, nranks,
                            &pred);
        nsccl_model_predict(comm->topo, NULL, r->shape.coll, (nsccl_algo_t)r->algo_id, r->variant_id, r->shape.bytes,
                            nranks, &prt);
      }
      double meas = 0.5 * (r->time_us[0] + r->time_us[1]);
      printf("  %14s %10zu %7s %12.2f %12.2f %12.2f %7.1f%%\n", perf_coll_name(r->shape.coll), r->shape.bytes, r->algo,
             meas, pred * 1e6, prt * 1e6, meas > 0 ? 100 * fabs(pred * 1e6 - meas) / meas : NAN);
    }
    printf("#\n# Median absolute relative error of the model (calibrated host file | the communicator's own host "
           "topology: defaults, oversubscription, or NSCCL_HOST_TOPO):\n");
    for (int k = 0; k < PERF_NCOLLS; k++) {
      nsccl_coll_t c = perf_coll_order[k];
      if (!(o->coll_mask & (1 << c))) continue;
      int n1, n2;
      double e1 = model_error(&rows, c, topo, nranks, &n1), e2 = model_error(&rows, c, comm->topo, nranks, &n2);
      printf("#   %-14s %6.1f%% | %6.1f%%   over %d measurements\n", perf_coll_name(c), 100 * e1, 100 * e2, n1);
    }
    nsccl_topo_free(topo);
  }
  free(rows.v);
  return 0;
}
