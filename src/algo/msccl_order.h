/* The ordering stage of the MSCCL-IR importer (docs/msccl.md, "Mapping"), in four steps, one file
 * each:
 *   msccl_parts.c  each gpu's MSCCL steps become parts (nsccl steps) with their dependencies;
 *   msccl_guard.c  a part that overwrites what an earlier send reads waits for that send;
 *   msccl_match.c  each send part is matched to its receive, per connection in order;
 *   msccl_order.c  all parts of all ranks in one topological order, each pair's messages in one
 *                  order at both ends, and every rank's program cut out of it (nsccl_msccl_order).
 * The state below is what those steps share while one file is ordered. */
#ifndef NSCCL_ALGO_MSCCL_ORDER_H
#define NSCCL_ALGO_MSCCL_ORDER_H

#include "algo/msccl_internal.h"

/* A small set of part indices (insertion order kept; a repeated value is not added again). */
typedef struct {
  int *v;
  int n, cap;
} msccl_ivec_t;

/* Add x unless present; 0 when out of memory. */
int msccl_ivec_push(msccl_ivec_t *a, int x);
/* Add every value of e; 0 when out of memory. */
int msccl_ivec_push_all(msccl_ivec_t *a, const msccl_ivec_t *e);

/* Per gpu, while ordering. */
typedef struct {
  const msccl_raw_gpu_t *g;
  int **first; /* [tb][s]: first raw part of the step */
  int **nparts;
  /* [full][tb][s]: parts whose completion is the step's (nops: what they wait for); full = 1 in
   * MSCCL's own sense (sends included), full = 0 what nsccl waits for (resolve) */
  msccl_ivec_t **done[2];
  char **state[2]; /* 0 not yet, 1 resolving, 2 resolved */
  msccl_part_t *parts;
  msccl_ivec_t *deps; /* per raw part */
  int nparts_total;
  int base; /* global id of raw part 0 */
} msccl_gstate_t;

typedef struct {
  nsccl_msccl_plan_t *plan;
  msccl_gstate_t *gs;
  int total;
  int *gpu_of; /* global part -> gpu */
} msccl_order_t;

/* The error every allocation failure of the stage returns (names the file). */
nscclResult_t msccl_order_oom(const msccl_order_t *o);

/* msccl_parts.c: per-gpu tables for g, and their release (safe on a partly allocated state). */
nscclResult_t msccl_gstate_alloc(msccl_order_t *o, msccl_gstate_t *G, const msccl_raw_gpu_t *g);
void msccl_gstate_free(msccl_gstate_t *G);
/* Raw parts of gpu G and their dependencies (thread block order, depid/deps, write-after-send);
 * *ntmp counts the gpu's rrs temporaries. */
nscclResult_t msccl_build_gpu(msccl_order_t *o, msccl_gstate_t *G, int *ntmp);
/* done(t, s) of step s of thread block t: full = 1 in MSCCL's sense (sends included), 0 what an
 * nsccl part waits for. */
nscclResult_t msccl_resolve(msccl_order_t *o, msccl_gstate_t *G, int full, int t, int s, const msccl_ivec_t **out);

/* msccl_guard.c: add to G->deps the write-after-send waits (called by msccl_build_gpu once the
 * gpu's parts and dependencies exist). */
nscclResult_t msccl_guard_writes(msccl_order_t *o, msccl_gstate_t *G);

/* msccl_match.c: refuse two thread blocks of one gpu on one connection. */
nscclResult_t msccl_unique_connections(const msccl_order_t *o, const msccl_raw_gpu_t *g);
/* match[global recv part] = global send part (match[] starts all -1), per connection in order. */
nscclResult_t msccl_match_messages(msccl_order_t *o, int *match);

#endif
