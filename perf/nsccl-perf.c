/* nsccl-perf: nccl-tests-style benchmark of nsccl's collectives, launched by mpirun, optionally side
 * by side with Open MPI's (--vs-mpi), and host calibration of the cost model (--calibrate).
 *
 *   mpirun -n 4 nsccl-perf -c all -b 8 -e 16M -f 4 --vs-mpi
 *
 * Options and output: nsccl-perf --help and docs/performance.md. Split by concern: perf_opts.c
 * (command line), perf_data.c (patterns, checks, shapes), perf_sweep.c (timing loop and table),
 * perf_calib.c (--calibrate). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf/perf.h"
#include "perf/perf_sweep.h"
#include "reduce/reduce.h"

static void print_preamble(const perf_opts_t *o, int rank, int nranks) {
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  char *all = rank == 0 ? malloc((size_t)nranks * 256) : NULL;
  int *pids = rank == 0 ? malloc((size_t)nranks * sizeof(int)) : NULL;
  int pid = (int)getpid();
  MPI_Gather(host, 256, MPI_CHAR, all, 256, MPI_CHAR, 0, MPI_COMM_WORLD);
  MPI_Gather(&pid, 1, MPI_INT, pids, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    char names[64] = "";
    for (int k = 0; k < PERF_NCOLLS; k++)
      if (o->coll_mask & (1 << perf_coll_order[k]))
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? "," : "",
                 perf_coll_name(perf_coll_order[k]));
    printf("# nsccl-perf: %s, minBytes %zu maxBytes %zu step: %g(factor) warmup iters: %d iters: %d "
           "validation: %d\n",
           names, o->min_bytes, o->max_bytes, o->factor, o->warmup, o->iters, o->check);
    printf("# datatype %s, op %s, algorithm %s, %s\n", nsccl_type_name(o->dtype), nsccl_op_name(o->op),
           o->algo                ? o->algo
           : getenv("NSCCL_ALGO") ? getenv("NSCCL_ALGO")
                                  : "auto",
           o->vs_mpi ? "side by side with MPI (alternating iterations; ratio = nsccl / MPI time)"
           : o->vs_algo
               ? "side by side with nsccl itself (--vs-algo; alternating iterations; ratio = nsccl / peer time)"
               : "nsccl only");
    if (o->vs_algo) printf("# peer: nsccl with algorithm %s\n", o->vs_algo);
    printf("#\n# Using devices\n");
    for (int r = 0; r < nranks; r++) printf("#  Rank %2d Pid %7d on %10s (host memory)\n", r, pids[r], all + r * 256);
    fflush(stdout);
  }
  free(all);
  free(pids);
}

static void print_rss(const perf_rows_t *rows, int rank, int nranks) {
  unsigned long long mine = perf_peak_rss(), *v = rank == 0 ? malloc((size_t)nranks * sizeof(*v)) : NULL;
  MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, v, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  if (rank != 0) return;
  printf("# Peak RSS per rank (MiB, of which %.1f are the benchmark's own buffers):", rows->buffer_bytes / 1048576.0);
  for (int r = 0; r < nranks; r++) printf(" %d:%.1f", r, v[r] / 1048576.0);
  printf("\n");
  free(v);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, nranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  perf_opts_t o;
  int prc = perf_parse_opts(argc, argv, &o, rank == 0);
  if (prc != 0) {
    MPI_Finalize();
    return prc > 0 ? 0 : 2;
  }

  nscclUniqueId id;
  memset(&id, 0, sizeof(id));
  nscclResult_t rc = nscclSuccess;
  if (rank == 0) rc = nscclGetUniqueId(&id);
  MPI_Bcast(&rc, sizeof(rc), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (rc != nscclSuccess) {
    if (rank == 0) fprintf(stderr, "nsccl-perf: nscclGetUniqueId failed: %s\n", nscclGetLastError(NULL));
    MPI_Finalize();
    return 1;
  }
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.algo = o.algo;
  nscclComm_t comm = NULL;
  rc = nscclCommInitRankConfig(&comm, nranks, id, rank, &cfg);
  if (rc != nscclSuccess) {
    fprintf(stderr, "nsccl-perf: rank %d: nscclCommInitRank failed: %s\n", rank, nscclGetLastError(NULL));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  /* --vs-algo: the peer is a second communicator of the same ranks with its own algorithm. */
  if (o.vs_algo) {
    if (rank == 0 && nscclGetUniqueId(&id) != nscclSuccess) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    nscclConfig_t pcfg = NSCCL_CONFIG_INITIALIZER;
    pcfg.algo = o.vs_algo;
    if (nscclCommInitRankConfig(&o.vs_comm, nranks, id, rank, &pcfg) != nscclSuccess) {
      fprintf(stderr, "nsccl-perf: rank %d: --vs-algo %s: %s\n", rank, o.vs_algo, nscclGetLastError(NULL));
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }

  int exit_code = 0;
  if (o.calibrate) {
    exit_code = perf_calibrate(&o, comm, rank, nranks);
  } else {
    FILE *csv = NULL;
    if (rank == 0 && o.csv) {
      csv = fopen(o.csv, "w");
      if (!csv) {
        fprintf(stderr, "nsccl-perf: cannot write --csv file '%s'\n", o.csv);
        MPI_Abort(MPI_COMM_WORLD, 2);
      }
      fprintf(csv, "collective,bytes,count,type,redop,algo,time_us,algbw_GBps,busbw_GBps,wrong,mpi_time_us,ratio,floor_"
                   "us,pct_floor\n");
    }
    print_preamble(&o, rank, nranks);
    perf_rows_t rows;
    memset(&rows, 0, sizeof(rows));
    perf_sweep(&o, comm, rank, nranks, csv, &rows);
    if (csv) fclose(csv);
    print_rss(&rows, rank, nranks);
    if (rank == 0) {
      printf("# Out of bounds values : %zu %s\n", rows.wrong, rows.wrong ? "FAILED" : "OK");
      printf("# Avg bus bandwidth    : %g \n#\n", rows.busbw_n ? rows.busbw_sum / rows.busbw_n : 0.0);
      if (!o.check) printf("# (results not checked: -C 0)\n");
    }
    int wrong = rank == 0 && rows.wrong > 0;
    MPI_Bcast(&wrong, 1, MPI_INT, 0, MPI_COMM_WORLD);
    exit_code = wrong ? 1 : 0;
    free(rows.v);
  }
  if (o.vs_comm) nscclCommDestroy(o.vs_comm);
  nscclCommDestroy(comm);
  MPI_Finalize();
  return exit_code;
}
