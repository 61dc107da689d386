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
 * Every rank measures; times are the slowest rank's per iteration, the median over iterations. */
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

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double now_s(void) { return (double)nsccl_now_ns() * 1e-9; }

/* Median over iterations of the slowest rank's time of an all-gather of `bytes` in total on c. */
static double time_allgather(nscclComm_t c, size_t bytes, int iters, int nranks) {
  size_t per = bytes / sizeof(float) / (size_t)nranks;
  if (per == 0) per = 1;
  float *buf = calloc(per * (size_t)nranks, sizeof(float));
  float *src = calloc(per, sizeof(float));
  double *t = malloc(sizeof(double) * (size_t)iters * 2);
  if (!buf || !src || !t) MPI_Abort(MPI_COMM_WORLD, 1);
  for (int it = -2; it < iters; it++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    if (nscclAllGather(src, buf, per, nscclFloat32, c, NULL) != nscclSuccess) {
      fprintf(stderr, "nsccl-perf: calibration all-gather failed: %s\n", nscclGetLastError(c));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (it >= 0) t[it] = now_s() - t0;
  }
  MPI_Allreduce(t, t + iters, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
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

static nscclComm_t probe_comm(const char *algo, int rank, int nranks) {
  nscclUniqueId id;
  if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.algo = algo;
  nscclComm_t c;
  if (nscclCommInitRankConfig(&c, nranks, id, rank, &cfg) != nscclSuccess) {
    fprintf(stderr, "nsccl-perf: rank %d: calibration communicator: %s\n", rank, nscclGetLastError(NULL));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return c;
}

int perf_calibrate(const perf_opts_t *o, nscclComm_t comm, int rank, int nranks) {
  /* Communicators for the alpha (tree) and beta (ring) probes, whatever --algo says for the sweep. */
  nscclComm_t ring = probe_comm("ring", rank, nranks), tree = probe_comm("tree", rank, nranks);
  nscclComm_t direct = probe_comm("direct", rank, nranks);
  double alpha = NSCCL_HOST_DEFAULT_ALPHA, link_bw = NSCCL_HOST_DEFAULT_LINK_BW, link_lat = 0;
  double t_small = 0, t_direct = 0, t_large = 0, t_bw0 = 0;
  if (nranks > 1) {
    int lg = 0;
    while ((1 << lg) < nranks) lg++;
    t_small = time_allgather(tree, sizeof(float) * (size_t)nranks, 200, nranks);
    t_direct = time_allgather(direct, sizeof(float) * (size_t)nranks, 200, nranks);
    t_bw0 = time_allgather(ring, SMALL_BW, 50, nranks);
    t_large = time_allgather(ring, LARGE_BW, 50, nranks);
    double step = t_small / lg; /* alpha + L */
    alpha = step;
    if (nranks > 2) {
      /* Noise can make either share come out negative: keep both within [0, step]. */
      alpha = (t_direct - step) / (nranks - 2);
      alpha = alpha < 0 ? 0 : alpha > step ? step : alpha;
      link_lat = step - alpha;
    }
    double frac = (double)(nranks - 1) / nranks;
    double beta = (t_large - t_bw0) / (frac * (double)(LARGE_BW - SMALL_BW));
    if (beta > 0) link_bw = 1.0 / beta;
  }
  nscclCommDestroy(ring);
  nscclCommDestroy(tree);
  nscclCommDestroy(direct);
  double reduce_bw = local_bandwidth(0, nranks);
  double memcpy_bw = local_bandwidth(1, nranks);

  int ok = 1;
  if (rank == 0) {
    printf("# nsccl-perf --calibrate on %d ranks (one host)\n", nranks);
    if (nranks > 1)
      printf("#   tree all-gather of %d floats: %.2f us, direct: %.2f us -> alpha = %.3f us per message, link "
             "latency = %.3f us per step\n"
             "#   ring all-gather of %zu KiB: %.1f us, of %zu KiB: %.1f us -> link bandwidth = %.3f GB/s "
             "(beta = %.4f ns/B)\n",
             nranks, t_small * 1e6, t_direct * 1e6, alpha * 1e6, link_lat * 1e6, SMALL_BW >> 10, t_bw0 * 1e6,
             LARGE_BW >> 10, t_large * 1e6, link_bw / 1e9, 1e9 / link_bw);
    else
      printf("#   1 rank: no messages to time; alpha and link bandwidth keep the defaults\n");
    printf("#   reduce kernel (float sum, %zu MiB): %.3f GB/s -> gamma = %.4f ns/B\n", LOCAL_BYTES >> 20,
           reduce_bw / 1e9, 1e9 / reduce_bw);
    printf("#   memcpy (%zu MiB, for reference): %.3f GB/s\n", LOCAL_BYTES >> 20, memcpy_bw / 1e9);
    mkdir_parents(o->topo_out);
    FILE *f = fopen(o->topo_out, "w");
    if (!f) {
      fprintf(stderr, "nsccl-perf: cannot write the topology to '%s': %s\n", o->topo_out, strerror(errno));
      ok = 0;
    } else {
      fprintf(f,
              "# This host, calibrated by nsccl-perf --calibrate on %d ranks (docs/performance.md).\n"
              "# alpha and link latency from tree and direct all-gathers of one float per rank, link\n"
              "# bandwidth from ring all-gathers of\n"
              "# %zu KiB and %zu KiB, reduce bandwidth from the float-sum kernel. Measured memcpy: %.3e B/s.\n"
              "[topology]\nmodule = host\nranks = %d\nranks_per_host = %d\n"
              "endpoint_overhead = %.4e\nlink_latency = %.4e\nlink_bandwidth = %.4e\nreduce_bandwidth = %.4e\n",
              nranks, SMALL_BW >> 10, LARGE_BW >> 10, memcpy_bw, nranks, nranks, alpha, link_lat, link_bw, reduce_bw);
      fclose(f);
      printf("# wrote %s\n", o->topo_out);
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) return 1;

  /* The sweep, measured as without --calibrate; rank 0 then compares each row with the model. */
  perf_rows_t rows;
  memset(&rows, 0, sizeof(rows));
  perf_sweep(o, comm, rank, nranks, NULL, &rows);
  if (rank == 0) {
    nsccl_topo_t *topo = NULL;
    if (nsccl_topo_load(o->topo_out, &topo) != nscclSuccess) {
      fprintf(stderr, "nsccl-perf: cannot load the topology just written: %s\n", nscclGetLastError(NULL));
      free(rows.v);
      return 1;
    }
    printf("#\n# Model against measurement (out-of-place and in-place rows; predicted for the algorithm run)\n");
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
