/* The measured sweep: for each collective and size, check once (when asked), then time warmup +
 * iterations out of place and in place, each iteration after a barrier, nsccl and (with --vs-mpi)
 * MPI alternating so that drift of a shared machine hits both alike. Per iteration the slowest
 * rank's time counts; the row shows their mean. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/algo.h"
#include "api/comm.h"
#include "base/clock.h"
#include "model/cost.h"
#include "model/select.h"
#include "perf/perf_floor.h"
#include "perf/perf_sweep.h"
#include "reduce/reduce.h"

#define DIE(rank, ...)                                                                                                 \
  do {                                                                                                                 \
    fprintf(stderr, "nsccl-perf: rank %d: ", rank);                                                                    \
    fprintf(stderr, __VA_ARGS__);                                                                                      \
    fprintf(stderr, "\n");                                                                                             \
    MPI_Abort(MPI_COMM_WORLD, 1);                                                                                      \
  } while (0)

typedef struct {
  const void *send;
  void *recv;
} ptrs_t;

/* Buffers for placement ip (0 out of place, 1 in place), following nsccl.h's in-place rules. */
static ptrs_t place(const perf_shape_t *s, int ip, unsigned char *sbuf, unsigned char *rbuf, int rank, size_t esz) {
  ptrs_t p = {sbuf, rbuf};
  if (!ip) return p;
  size_t off = (size_t)rank * s->call_count * esz;
  switch (s->coll) {
  case NSCCL_COLL_ALLREDUCE: p.send = rbuf; break;
  case NSCCL_COLL_ALLGATHER: p.send = rbuf + off; break;
  default: p.recv = sbuf + off; break; /* reduce-scatter: the input is the whole buffer */
  }
  return p;
}

static nscclResult_t run_nsccl(const perf_shape_t *s, ptrs_t p, nscclDataType_t t, nscclRedOp_t op, nscclComm_t comm) {
  switch (s->coll) {
  case NSCCL_COLL_ALLREDUCE: return nscclAllReduce(p.send, p.recv, s->call_count, t, op, comm, NULL);
  case NSCCL_COLL_ALLGATHER: return nscclAllGather(p.send, p.recv, s->call_count, t, comm, NULL);
  default: return nscclReduceScatter(p.send, p.recv, s->call_count, t, op, comm, NULL);
  }
}

static int run_mpi(const perf_shape_t *s, int ip, unsigned char *sbuf, unsigned char *rbuf, nscclDataType_t t,
                   nscclRedOp_t op) {
  MPI_Datatype mt = perf_mpi_type(t);
  int n = (int)s->call_count;
  switch (s->coll) {
  case NSCCL_COLL_ALLREDUCE:
    return MPI_Allreduce(ip ? MPI_IN_PLACE : sbuf, rbuf, n, mt, perf_mpi_op(op), MPI_COMM_WORLD);
  case NSCCL_COLL_ALLGATHER:
    return ip ? MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rbuf, n, mt, MPI_COMM_WORLD)
              : MPI_Allgather(sbuf, n, mt, rbuf, n, mt, MPI_COMM_WORLD);
  default:
    /* MPI's in-place reduce-scatter takes the input from the receive buffer: the whole sbuf. */
    return ip ? MPI_Reduce_scatter_block(MPI_IN_PLACE, sbuf, n, mt, perf_mpi_op(op), MPI_COMM_WORLD)
              : MPI_Reduce_scatter_block(sbuf, rbuf, n, mt, perf_mpi_op(op), MPI_COMM_WORLD);
  }
}

/* The peer of a side-by-side run: MPI (--vs-mpi) or nsccl on the --vs-algo communicator. */
static int has_peer(const perf_opts_t *o) { return o->vs_mpi || o->vs_comm; }

static int run_peer(const perf_opts_t *o, const perf_shape_t *s, int ip, unsigned char *sbuf, unsigned char *rbuf,
                    int rank) {
  if (!o->vs_comm) return run_mpi(s, ip, sbuf, rbuf, o->dtype, o->op) == MPI_SUCCESS;
  ptrs_t p = place(s, ip, sbuf, rbuf, rank, nsccl_type_size(o->dtype));
  return run_nsccl(s, p, o->dtype, o->op, o->vs_comm) == nscclSuccess;
}

/* Number of wrong elements over all ranks after one checked call. */
static size_t check_once(const perf_opts_t *o, const perf_shape_t *s, int ip, unsigned char *sbuf, unsigned char *rbuf,
                         nscclComm_t comm, int rank, int nranks) {
  size_t esz = nsccl_type_size(o->dtype);
  ptrs_t p = place(s, ip, sbuf, rbuf, rank, esz);
  size_t in_elems = s->coll == NSCCL_COLL_ALLGATHER ? s->call_count : s->count;
  /* Poison the output so that an element never written counts as wrong. */
  memset(p.recv, 0xa5, s->recv_bytes);
  perf_fill((void *)(uintptr_t)p.send, in_elems, 0, rank, o->dtype, o->op);
  nscclResult_t rc = run_nsccl(s, p, o->dtype, o->op, comm);
  if (rc != nscclSuccess)
    DIE(rank, "%s of %zu bytes failed: %s", perf_coll_name(s->coll), s->bytes, nscclGetLastError(comm));
  /* Test hook: the checker itself must be able to fail (tests/perf corrupt one element). */
  if (rank == 0 && s->recv_bytes && getenv("NSCCL_PERF_CORRUPT")) ((unsigned char *)p.recv)[0] ^= 1;
  size_t base = s->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)rank * s->call_count : 0;
  size_t out_elems = s->coll == NSCCL_COLL_REDUCESCATTER ? s->call_count : s->count;
  unsigned long long wrong = perf_check(s, p.recv, out_elems, base, rank, nranks, o->dtype, o->op), total = 0;
  MPI_Allreduce(&wrong, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  return (size_t)total;
}

static double now_us(void) { return (double)nsccl_now_ns() * 1e-3; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Mean (the nccl-tests convention) or, with --median, the median of n values (sorts v). */
static double stat(double *v, int n, int median) {
  if (median) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  double s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s / n;
}

/* Time one placement: mean over iterations of the slowest rank, nsccl and (vs_mpi) MPI. */
static void time_placement(const perf_opts_t *o, const perf_shape_t *s, int ip, unsigned char *sbuf,
                           unsigned char *rbuf, nscclComm_t comm, int rank, double *tn_out, double *tm_out) {
  size_t esz = nsccl_type_size(o->dtype);
  ptrs_t p = place(s, ip, sbuf, rbuf, rank, esz);
  int warmup = o->warmup, iters = o->iters, total = warmup + iters;
  double *tn = calloc((size_t)iters * 4, sizeof(double));
  if (!tn) DIE(rank, "out of memory for %d timings", iters);
  double *tm = tn + iters, *mn = tm + iters;
  double t_first = now_us();
  for (int it = 0; it < total; it++) {
    if (it == 1 && o->time_budget > 0) {
      /* Time budget: after the first warmup iteration, every rank agrees (on the slowest rank's
       * time) how many iterations fit; at least 3 are timed, and one warmup is then enough. */
      double took = now_us() - t_first, worst = 0;
      MPI_Allreduce(&took, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      int fit = (int)(o->time_budget * 1e6 / (worst > 1 ? worst : 1));
      if (fit < warmup - 1 + iters) {
        iters = fit - 1 < 3 ? 3 : fit - 1 < iters ? fit - 1 : iters;
        warmup = 1;
        total = warmup + iters;
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_us();
    nscclResult_t rc = nscclSuccess;
    for (int b = 0; b < o->batch && rc == nscclSuccess; b++) rc = run_nsccl(s, p, o->dtype, o->op, comm);
    double t1 = now_us();
    if (rc != nscclSuccess)
      DIE(rank, "%s of %zu bytes failed: %s", perf_coll_name(s->coll), s->bytes, nscclGetLastError(comm));
    if (it >= warmup) tn[it - warmup] = (t1 - t0) / o->batch;
    if (!has_peer(o)) continue;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = now_us();
    for (int b = 0; b < o->batch; b++)
      if (!run_peer(o, s, ip, sbuf, rbuf, rank))
        DIE(rank, "the peer's (%s) %s of %zu bytes failed", o->vs_comm ? o->vs_algo : "MPI", perf_coll_name(s->coll),
            s->bytes);
    t1 = now_us();
    if (it >= warmup) tm[it - warmup] = (t1 - t0) / o->batch;
  }
  /* tn and tm are contiguous only when every iteration ran; move tm next to tn's used part. */
  memmove(tn + iters, tm, (size_t)iters * sizeof(double));
  MPI_Allreduce(tn, mn, 2 * iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  double *mmx = mn + iters;
  *tn_out = stat(mn, iters, o->median);
  *tm_out = has_peer(o) ? stat(mmx, iters, o->median) : 0;
  free(tn);
}

/* The sizes of a sweep, deduplicated after rounding to whole elements per rank. */
static int plan_sizes(const perf_opts_t *o, nsccl_coll_t coll, int nranks, perf_shape_t **out) {
  size_t esz = nsccl_type_size(o->dtype);
  int cap = 16, n = 0;
  perf_shape_t *v = malloc((size_t)cap * sizeof(*v));
  for (size_t b = o->min_bytes;;) {
    perf_shape_t s;
    perf_shape(coll, b, esz, nranks, &s);
    if (n == 0 || s.bytes != v[n - 1].bytes) {
      if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof(*v));
      v[n++] = s;
    }
    if (b >= o->max_bytes) break;
    double next = (double)b * o->factor;
    size_t nb = next > (double)o->max_bytes ? o->max_bytes : (size_t)next;
    if (nb <= b) nb = b + 1;
    /* Stop at the last size not above MAX, as nccl-tests does. */
    if ((double)b * o->factor > (double)o->max_bytes * (1 + 1e-9)) break;
    b = nb;
  }
  *out = v;
  return n;
}

static void print_header(const perf_opts_t *o, nsccl_coll_t coll, int nranks) {
  printf("#\n# Collective: %s, %d ranks, busbw = algbw x %.4f\n#\n", perf_coll_name(coll), nranks,
         perf_bus_factor(coll, nranks));
  const char *mpi_h = o->vs_comm ? " peer(us)  ratio" : o->vs_mpi ? "  mpi(us)  ratio" : "";
  const char *mpi_u = has_peer(o) ? "     (us)       " : "";
  int w = has_peer(o) ? 60 : 44;
  printf("# %54s %-*s %-*s\n", "", w, "out-of-place", w, "in-place");
  printf("# %10s %12s %8s %6s %6s %9s %7s %7s %6s%s %6s %9s %7s %7s %6s%s %6s %9s  %s\n", "size", "count", "type",
         "redop", "root", "time", "algbw", "busbw", "#wrong", mpi_h, "%floor", "time", "algbw", "busbw", "#wrong",
         mpi_h, "%floor", "floor", "algo");
  printf("# %10s %12s %8s %6s %6s %9s %7s %7s %6s%s %6s %9s %7s %7s %6s%s %6s %9s\n", "(B)", "(elements)", "", "", "",
         "(us)", "(GB/s)", "(GB/s)", "", mpi_u, "", "(us)", "(GB/s)", "(GB/s)", "", mpi_u, "", "(us)");
}

/* What the communicator itself runs (its topology, its override), not a fresh guess: the variant
 * ("ring/hier", "tree/rabenseifner"), so that whether the hierarchy was selected can be read. */
static const char *algo_for(nscclComm_t comm, nsccl_coll_t coll, size_t bytes, int *algo_id, int *variant_id) {
  nsccl_choice_t ch;
  *algo_id = -1, *variant_id = 0;
  if (nsccl_comm_choice(comm, coll, bytes, &ch) != nscclSuccess) return "?";
  *algo_id = (int)ch.algo, *variant_id = ch.variant[ch.algo];
  return nsccl_model_variant_name(ch.algo, ch.variant[ch.algo]);
}

/* One untimed call of each library per collective at the sweep's largest size, both placements,
 * before any row. Measured: with --vs-mpi the first row was 1.2-2.4x slower for nsccl out of place
 * (and slower for MPI too) than the same size later in a sweep, over every timed iteration, while
 * nsccl alone showed no such effect; whatever either library sets up on first use of the
 * benchmark's buffers belongs to neither library's first row. */
static void prime(const perf_opts_t *o, perf_shape_t *const *plans, const int *nplan, unsigned char *sbuf,
                  unsigned char *rbuf, nscclComm_t comm, int rank) {
  size_t esz = nsccl_type_size(o->dtype);
  for (int k = 0; k < PERF_NCOLLS; k++) {
    if (!nplan[k]) continue;
    const perf_shape_t *s = &plans[k][nplan[k] - 1];
    for (int ip = 0; ip < 2; ip++) {
      if (run_nsccl(s, place(s, ip, sbuf, rbuf, rank, esz), o->dtype, o->op, comm) != nscclSuccess)
        DIE(rank, "%s of %zu bytes failed: %s", perf_coll_name(s->coll), s->bytes, nscclGetLastError(comm));
      if (has_peer(o) && !run_peer(o, s, ip, sbuf, rbuf, rank))
        DIE(rank, "the peer's %s of %zu bytes failed", perf_coll_name(s->coll), s->bytes);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

int perf_sweep(const perf_opts_t *o, nscclComm_t comm, int rank, int nranks, FILE *csv, perf_rows_t *rows) {
  perf_shape_t *plans[PERF_NCOLLS] = {0};
  int nplan[PERF_NCOLLS] = {0}, total_sizes = 0;
  size_t smax = 0, rmax = 0;
  for (int k = 0; k < PERF_NCOLLS; k++) {
    if (!(o->coll_mask & (1 << perf_coll_order[k]))) continue;
    nplan[k] = plan_sizes(o, perf_coll_order[k], nranks, &plans[k]);
    total_sizes += nplan[k];
    for (int i = 0; i < nplan[k]; i++) {
      if (plans[k][i].send_bytes > smax) smax = plans[k][i].send_bytes;
      if (plans[k][i].recv_bytes > rmax) rmax = plans[k][i].recv_bytes;
    }
  }
  /* Touch every page now so that first-touch faults are not timed. */
  unsigned char *sbuf = NULL, *rbuf = NULL;
  void *handles[2] = {NULL, NULL};
  if (o->registered) {
    if (nscclMemAlloc((void **)&sbuf, smax ? smax : 1) != nscclSuccess ||
        nscclMemAlloc((void **)&rbuf, rmax ? rmax : 1) != nscclSuccess ||
        nscclCommRegister(comm, sbuf, smax ? smax : 1, &handles[0]) != nscclSuccess ||
        nscclCommRegister(comm, rbuf, rmax ? rmax : 1, &handles[1]) != nscclSuccess)
      DIE(rank, "registered buffers of %zu + %zu bytes: %s", smax, rmax, nscclGetLastError(comm));
  } else {
    sbuf = malloc(smax ? smax : 1);
    rbuf = malloc(rmax ? rmax : 1);
  }
  if (!sbuf || !rbuf) DIE(rank, "cannot allocate %zu + %zu bytes of buffers", smax, rmax);
  memset(sbuf, 0, smax);
  memset(rbuf, 0, rmax);
  rows->buffer_bytes = smax + rmax;
  perf_floor_t floor;
  perf_floor_measure(smax > rmax ? smax : rmax, rank, nranks, &floor);
  if (rank == 0 && !o->silent) perf_floor_print(&floor, nranks);
  prime(o, plans, nplan, sbuf, rbuf, comm, rank);

  int done = 0, tty = isatty(2);
  double t_start = now_us(), t_last = t_start;
  for (int k = 0; k < PERF_NCOLLS; k++) {
    if (!nplan[k]) continue;
    nsccl_coll_t coll = perf_coll_order[k];
    double bf = perf_bus_factor(coll, nranks);
    if (rank == 0 && !o->silent) print_header(o, coll, nranks);
    for (int i = 0; i < nplan[k]; i++) {
      const perf_shape_t *s = &plans[k][i];
      perf_row_t row;
      memset(&row, 0, sizeof(row));
      row.shape = *s;
      row.algo = algo_for(comm, coll, s->bytes, &row.algo_id, &row.variant_id);
      row.floor_us = perf_floor_us(&floor, coll, s->bytes, nranks);
      for (int ip = 0; ip < 2; ip++) {
        if (o->check) row.wrong[ip] = check_once(o, s, ip, sbuf, rbuf, comm, rank, nranks);
        if (o->check && o->vs_comm) row.wrong[ip] += check_once(o, s, ip, sbuf, rbuf, o->vs_comm, rank, nranks);
        time_placement(o, s, ip, sbuf, rbuf, comm, rank, &row.time_us[ip], &row.mpi_us[ip]);
      }
      done++;
      if (rank != 0) continue;
      if (rows->n == rows->cap) {
        rows->cap = rows->cap ? 2 * rows->cap : 64;
        rows->v = realloc(rows->v, (size_t)rows->cap * sizeof(perf_row_t));
      }
      rows->v[rows->n++] = row;
      if (o->silent) {
        rows->wrong += row.wrong[0] + row.wrong[1];
        continue;
      }
      printf("  %10zu %12zu %8s %6s %6d", s->bytes, s->count, nsccl_type_name(o->dtype),
             coll == NSCCL_COLL_ALLGATHER ? "none" : nsccl_op_name(o->op), -1);
      for (int ip = 0; ip < 2; ip++) {
        double t = row.time_us[ip];
        double algbw = t > 0 ? (double)s->bytes / (t * 1e-6) / 1e9 : 0;
        printf(" %9.2f %7.3f %7.3f %6zu", t, algbw, algbw * bf, row.wrong[ip]);
        if (has_peer(o)) printf(" %8.2f %6.3f", row.mpi_us[ip], row.mpi_us[ip] > 0 ? t / row.mpi_us[ip] : 0);
        double pct = t > 0 ? 100.0 * row.floor_us / t : 0;
        printf(" %6.1f", pct);
        rows->busbw_sum += algbw * bf;
        rows->busbw_n++;
        rows->wrong += row.wrong[ip];
        if (csv) {
          fprintf(csv, "%s%s,%zu,%zu,%s,%s,%s,%.3f,%.6f,%.6f,%zu,", perf_coll_name(coll), ip ? "_inplace" : "",
                  s->bytes, s->count, nsccl_type_name(o->dtype),
                  coll == NSCCL_COLL_ALLGATHER ? "none" : nsccl_op_name(o->op), row.algo, t, algbw, algbw * bf,
                  row.wrong[ip]);
          if (has_peer(o))
            fprintf(csv, "%.3f,%.4f,", row.mpi_us[ip], row.mpi_us[ip] > 0 ? t / row.mpi_us[ip] : 0);
          else
            fprintf(csv, ",,");
          fprintf(csv, "%.4f,%.2f\n", row.floor_us, pct);
        }
      }
      printf(" %9.3f  %s\n", row.floor_us, row.algo);
      fflush(stdout);
      double now = now_us();
      if (!o->quiet && (tty || now - t_last > 2e6)) {
        fprintf(stderr, "%snsccl-perf: %d/%d sizes done (%s %zu B), %.1f s%s", tty ? "\r" : "", done, total_sizes,
                perf_coll_name(coll), s->bytes, (now - t_start) * 1e-6, tty ? "   " : "\n");
        t_last = now;
      }
    }
  }
  if (rank == 0 && !o->quiet && tty) fprintf(stderr, "\n");
  for (int k = 0; k < PERF_NCOLLS; k++) free(plans[k]);
  if (o->registered) {
    for (int b = 0; b < 2; b++) nscclCommDeregister(comm, handles[b]);
    nscclMemFree(sbuf);
    nscclMemFree(rbuf);
  } else {
    free(sbuf);
    free(rbuf);
  }
  return 0;
}
