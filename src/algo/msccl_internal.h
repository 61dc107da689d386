/* The importer's raw form of an MSCCL-IR file: what the XML says, checked attribute by attribute
 * (msccl_parse.c), before msccl_order.c turns it into ordered parts. */
#ifndef NSCCL_ALGO_MSCCL_INTERNAL_H
#define NSCCL_ALGO_MSCCL_INTERNAL_H

#include "algo/msccl.h"

typedef struct {
  int kind; /* msccl_op_kind_t */
  char srcbuf, dstbuf;
  int srcoff, dstoff, cnt;
  int depid, deps, hasdep;
  int line;
} msccl_raw_step_t;

typedef struct {
  int id, send, recv, chan, line;
  msccl_raw_step_t *steps;
  int nsteps;
} msccl_raw_tb_t;

typedef struct {
  int id, i_chunks, o_chunks, s_chunks, line;
  msccl_raw_tb_t *tbs;
  int ntbs;
} msccl_raw_gpu_t;

/* Order the raw algorithm into plan->ranks (msccl_order.c). gpus[g] is GPU g. Errors name the file
 * (plan->path) and the line of the step at fault. */
nscclResult_t nsccl_msccl_order(nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *gpus);

/* Chunks of buffer 'i' / 'o' a rank of this plan holds (the XML's chunk units). */
int nsccl_msccl_capacity(const nsccl_msccl_plan_t *plan, char buf);

#endif
