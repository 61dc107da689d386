/* nsccl-perf internals: options, data patterns and checks, timing, calibration. The tool is split
 * in perf_*.c files by concern; nsccl-perf.c holds main and the sweep. */
#ifndef NSCCL_PERF_PERF_H
#define NSCCL_PERF_PERF_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nsccl.h"
#include "sched/sched.h"

/* Collectives in the order the tool runs them with -c all. */
#define PERF_NCOLLS 3
extern const nsccl_coll_t perf_coll_order[PERF_NCOLLS];

typedef struct {
  int coll_mask; /* bit (1 << nsccl_coll_t) per collective to run */
  size_t min_bytes, max_bytes;
  double factor;
  int iters, warmup;
  int check;
  nscclDataType_t dtype;
  nscclRedOp_t op;
  const char *algo; /* "ring" | "tree" | "direct" | "auto" | NULL (environment) */
  int vs_mpi;
  const char *vs_algo; /* --vs-algo SPEC: the peer is nsccl itself with this algorithm (NSCCL_ALGO syntax) */
  nscclComm_t vs_comm; /* that peer's communicator (made by main; NULL: the peer is MPI) */
  const char *csv;
  int calibrate;
  const char *topo_out; /* --calibrate: where the host topology file goes */
  int quiet;            /* no progress line */
  int silent;           /* the sweep prints no table (--calibrate prints its own, merged over rounds) */
  double time_budget;   /* seconds per (size, placement) before iterations are cut; 0: none */
  int median;           /* report the median iteration instead of the mean */
  int registered;       /* buffers from nscclMemAlloc, registered with the communicator */
  int batch;            /* calls per timed iteration, back to back (time = elapsed / batch) */
} perf_opts_t;

/* Parse argv. Returns 0 to run, 1 when --help was printed (exit 0), -1 on a bad option after
 * writing the reason to `err` (exit 2). Only rank 0 should print: pass print = 0 elsewhere. */
int perf_parse_opts(int argc, char **argv, perf_opts_t *o, int print);
void perf_usage(FILE *f);
const char *perf_coll_name(nsccl_coll_t c);

/* One size of one collective, as nccl-tests defines it. */
typedef struct {
  nsccl_coll_t coll;
  size_t bytes;      /* nccl-tests "size": all-reduce vector, all-gather output, reduce-scatter input */
  size_t count;      /* nccl-tests "count": bytes / element size */
  size_t call_count; /* what the call takes: all-reduce count, all-gather sendcount, reduce-scatter recvcount */
  size_t send_bytes, recv_bytes;
} perf_shape_t;

/* Round `bytes` to whole elements per rank (at least one element per rank when bytes > 0). */
void perf_shape(nsccl_coll_t coll, size_t bytes, size_t esz, int nranks, perf_shape_t *s);
/* busbw / algbw, as nccl-tests. */
double perf_bus_factor(nsccl_coll_t coll, int nranks);

/* Fill this rank's input (send region of `send_elems` elements, element i of the whole input has
 * global index base + i) with the check pattern. */
void perf_fill(void *buf, size_t elems, size_t base, int rank, nscclDataType_t t, nscclRedOp_t op);
/* Count elements of `out` (elems of them, global index base + i) that differ from the exact
 * result of reducing every rank's pattern (or, for all-gather, the pattern of the owning rank). */
size_t perf_check(const perf_shape_t *s, const void *out, size_t elems, size_t base, int rank, int nranks,
                  nscclDataType_t t, nscclRedOp_t op);

/* MPI equivalents; MPI_DATATYPE_NULL when there is none (narrow floats). */
MPI_Datatype perf_mpi_type(nscclDataType_t t);
MPI_Op perf_mpi_op(nscclRedOp_t op);

/* Parse a name for a datatype / op; -1 when unknown. */
int perf_parse_type(const char *s);
int perf_parse_op(const char *s);

/* Peak resident set of this process, bytes. */
size_t perf_peak_rss(void);

/* --calibrate: measure alpha, beta, gamma on this host, write the topology file, then run a sweep
 * and report the model's median error. Returns the process exit code. */
int perf_calibrate(const perf_opts_t *o, nscclComm_t comm, int rank, int nranks);

#endif
