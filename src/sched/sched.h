/* The schedule IR: a collective, for one rank, is a program of steps.
 *
 * A step is SEND (bytes of a region to a peer), RECV (bytes from a peer into a region),
 * RECV_REDUCE (dst = src (+) incoming), COPY (dst = src) or REDUCE (dst = src (+) src2), where (+)
 * is the collective's reduction operator. Regions name one of three buffers plus a byte range.
 * A step waits for the earlier steps of the same program listed in its dependencies, and for
 * nothing else: steps whose dependencies are met may run concurrently, so every pair of steps that
 * touch overlapping bytes (and one of them writes) must be ordered by dependencies.
 *
 * Messages between one ordered pair of ranks match in program order (non-overtaking, as in MPI):
 * the k-th SEND from a to b meets the k-th RECV/RECV_REDUCE at b from a, and both carry the same
 * number of bytes. Steps therefore carry no tags.
 *
 * The program knows the collective it implements (nsccl_coll_args_t), which is how the engines and
 * the validator know buffer sizes and in-place aliasing. Algorithms never see real pointers. */
#ifndef NSCCL_SCHED_SCHED_H
#define NSCCL_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsccl.h"

typedef enum { NSCCL_BUF_SEND = 0, NSCCL_BUF_RECV = 1, NSCCL_BUF_SCRATCH = 2, NSCCL_NUM_BUFS = 3 } nsccl_buf_t;

typedef struct {
  uint8_t buf;   /* nsccl_buf_t */
  size_t offset; /* bytes from the buffer's start */
  size_t bytes;
} nsccl_region_t;

typedef enum {
  NSCCL_STEP_SEND = 0,    /* peer, src */
  NSCCL_STEP_RECV,        /* peer, dst */
  NSCCL_STEP_RECV_REDUCE, /* peer, src, dst: dst = src (+) incoming; src may equal dst */
  NSCCL_STEP_COPY,        /* src, dst */
  NSCCL_STEP_REDUCE,      /* src, src2, dst: dst = src (+) src2; either may equal dst */
  NSCCL_NUM_STEP_KINDS
} nsccl_step_kind_t;

typedef struct {
  uint8_t kind;                  /* nsccl_step_kind_t */
  int peer;                      /* SEND / RECV / RECV_REDUCE: the other rank; -1 otherwise */
  nsccl_region_t src, src2, dst; /* unused ones have bytes == 0 */
  uint32_t dep_first;            /* this step's dependencies are deps[dep_first .. +ndeps) */
  uint32_t ndeps;
} nsccl_step_t;

/* NSCCL_NUM_COLLS counts the collectives every algorithm family, the cost model, the selector and
 * the simulator handle (all-gather, reduce-scatter, all-reduce); code that loops over "every
 * collective" loops to it. Rooted collectives follow it, up to NSCCL_NUM_COLLS_ALL: the builders of
 * src/algo/bcast_reduce.h build them and src/model/cost_rooted.c prices them for the selector; the
 * simulator's collective driver does not take them (docs/compat.md). */
typedef enum {
  NSCCL_COLL_ALLGATHER = 0,
  NSCCL_COLL_REDUCESCATTER,
  NSCCL_COLL_ALLREDUCE,
  NSCCL_NUM_COLLS,
  NSCCL_COLL_BROADCAST = NSCCL_NUM_COLLS, /* root's send -> every rank's recv (count elements) */
  NSCCL_COLL_REDUCE,                      /* every rank's send reduced into root's recv */
  NSCCL_NUM_COLLS_ALL
} nsccl_coll_t;

/* What one rank was asked to do. count follows NCCL: all-gather the per-rank send count,
 * reduce-scatter the per-rank receive count, all-reduce, broadcast and reduce the whole vector
 * (send and recv both hold count elements on every rank; only the root's send of a broadcast and
 * the root's recv of a reduce carry meaning, the other ranks' are never touched). In place: send ==
 * recv, as for all-reduce. */
typedef struct {
  nsccl_coll_t coll;
  size_t count;
  nscclDataType_t dtype;
  bool in_place;
  int root; /* broadcast / reduce: the root rank; 0 for the others */
} nsccl_coll_args_t;

typedef struct {
  int rank, nranks;
  nsccl_coll_args_t args;
  size_t buf_bytes[NSCCL_NUM_BUFS]; /* sizes of send, recv (from args) and scratch (grown by builders) */
  nsccl_step_t *steps;
  uint32_t nsteps, cap_steps;
  uint32_t *deps; /* step indices, all smaller than the index of the step that lists them */
  uint32_t ndeps, cap_deps;
} nsccl_program_t;

/* Step index type used by builders; NSCCL_NO_STEP means "no dependency". */
typedef int64_t nsccl_step_id_t;
#define NSCCL_NO_STEP ((nsccl_step_id_t)-1)

/* ---- building ---- */
nscclResult_t nsccl_prog_init(nsccl_program_t *p, int rank, int nranks, const nsccl_coll_args_t *args);
void nsccl_prog_free(nsccl_program_t *p);
void nsccl_prog_reset(nsccl_program_t *p); /* drop steps, keep rank/args, keep capacity */

/* Byte sizes of the send and recv buffers that args imply for nranks ranks. */
size_t nsccl_coll_send_bytes(const nsccl_coll_args_t *args, int nranks);
size_t nsccl_coll_recv_bytes(const nsccl_coll_args_t *args, int nranks);
/* Where each buffer of p starts in one address space of this rank's bytes: disjoint out of
 * place; in place send and recv alias as NCCL's rule says (all-reduce, broadcast, reduce: send ==
 * recv; all-gather: send = recv + rank * send bytes; reduce-scatter: recv = send + rank * recv
 * bytes), scratch after them. Two regions overlap in memory iff their [base + offset, + bytes)
 * ranges do. */
void nsccl_prog_layout(const nsccl_program_t *p, size_t base[NSCCL_NUM_BUFS]);
const char *nsccl_coll_name(nsccl_coll_t coll);
/* Does this rank's recv buffer end up holding a reduction (so nscclAvg divides it)? All-reduce and
 * reduce-scatter: every rank; reduce: the root only; all-gather and broadcast: none. */
bool nsccl_coll_output_reduced(const nsccl_coll_args_t *args, int rank);
const char *nsccl_step_kind_name(nsccl_step_kind_t kind);
const char *nsccl_buf_name(nsccl_buf_t buf);

static inline nsccl_region_t nsccl_region(nsccl_buf_t buf, size_t offset, size_t bytes) {
  nsccl_region_t r = {(uint8_t)buf, offset, bytes};
  return r;
}

/* Make sure the scratch buffer holds at least `bytes`. */
void nsccl_prog_need_scratch(nsccl_program_t *p, size_t bytes);

/* Each adder appends a step depending on deps[0..ndeps) (entries equal to NSCCL_NO_STEP are
 * skipped, so builders can pass "the previous step, if any") and returns its index, or
 * NSCCL_NO_STEP when memory ran out (the error is recorded; check with nsccl_prog_failed). */
nsccl_step_id_t nsccl_prog_send(nsccl_program_t *p, int peer, nsccl_region_t src, const nsccl_step_id_t *deps,
                                int ndeps);
nsccl_step_id_t nsccl_prog_recv(nsccl_program_t *p, int peer, nsccl_region_t dst, const nsccl_step_id_t *deps,
                                int ndeps);
nsccl_step_id_t nsccl_prog_recv_reduce(nsccl_program_t *p, int peer, nsccl_region_t src, nsccl_region_t dst,
                                       const nsccl_step_id_t *deps, int ndeps);
nsccl_step_id_t nsccl_prog_copy(nsccl_program_t *p, nsccl_region_t src, nsccl_region_t dst, const nsccl_step_id_t *deps,
                                int ndeps);
nsccl_step_id_t nsccl_prog_reduce(nsccl_program_t *p, nsccl_region_t src, nsccl_region_t src2, nsccl_region_t dst,
                                  const nsccl_step_id_t *deps, int ndeps);
/* Convenience for one dependency (or NSCCL_NO_STEP for none). */
#define NSCCL_DEP1(d)    ((const nsccl_step_id_t[]){(d)}), 1
#define NSCCL_DEP2(a, b) ((const nsccl_step_id_t[]){(a), (b)}), 2
#define NSCCL_NODEPS     NULL, 0

/* True if an adder failed since init/reset. */
bool nsccl_prog_failed(const nsccl_program_t *p);

static inline const uint32_t *nsccl_step_deps(const nsccl_program_t *p, const nsccl_step_t *s) {
  return p->deps + s->dep_first;
}

/* Print a program, one step per line (for debugging and validator messages). */
void nsccl_prog_dump(const nsccl_program_t *p, void *file /* FILE* */);

/* ---- checking (validate.c) ----
 * Checks a whole set of programs (one per rank) before anything runs: steps well formed and in
 * bounds, dependencies on earlier steps, every send matched by a receive of the same size (per
 * ordered pair, in order), no read of bytes that no earlier (dependency-ordered) step wrote, no
 * unordered conflicting accesses, and no deadlock. On failure returns nscclInvalidUsage and writes
 * a message naming the rank and step into err. */
nscclResult_t nsccl_sched_validate(const nsccl_program_t *progs, int nranks, char *err, size_t errlen);

#endif
