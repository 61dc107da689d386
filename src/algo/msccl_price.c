/* The cost model's view of an imported MSCCL-IR algorithm (docs/msccl.md, "Pricing").
 *
 * No closed form exists for an arbitrary file, so the price follows the plan's own dependency
 * structure: every part has a level (the longest chain of dependencies and messages before it,
 * found while ordering, msccl_order.c; a receive has its message's, so a flow and the reduction
 * it feeds share a step), and the parts of one level are one model step: its sends are flows of
 * cnt chunks, its reductions (rrc, rrs, rrcs, re) reductions at their rank. Chunks
 * longer than the builders' chunk size travel in slices that pipeline through the levels, priced
 * as one pipelined phase (model/price.h). tests/algo/test_msccl.c compares the price with the
 * simulator's time. */
#include <math.h>
#include <stdlib.h>

#include "algo/msccl.h"
#include "base/check.h"
#include "model/price.h"

void nsccl_msccl_price(const nsccl_msccl_plan_t *plan, nsccl_model_t *m, nsccl_coll_t coll, double bytes) {
  if (m->p != plan->ngpus || coll != plan->coll) {
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument,
                    "%s: the algorithm is a %s on ngpus=%d, asked to price a %s on %d ranks", plan->path,
                    nsccl_coll_name(plan->coll), plan->ngpus, nsccl_coll_name(coll), m->p);
    m->rc = nscclInvalidArgument;
    return;
  }
  double C = bytes / plan->nchunks;
  double L = isinf(m->chunk) || C <= m->chunk ? 1 : ceil(C / m->chunk);
  /* Parts bucketed by level: start[lev] .. start[lev + 1] in `order` (rank, part) pairs. */
  int total = 0;
  for (int r = 0; r < plan->ngpus; r++) total += plan->ranks[r].nparts;
  int *start = calloc((size_t)plan->nlevels + 2, sizeof(int));
  int *order = malloc(sizeof(int) * 2 * (size_t)(total ? total : 1));
  if (!start || !order) {
    free(start);
    free(order);
    m->rc = nscclSystemError;
    return;
  }
  for (int r = 0; r < plan->ngpus; r++)
    for (int i = 0; i < plan->ranks[r].nparts; i++) start[plan->ranks[r].parts[i].level + 1]++;
  for (int l = 0; l < plan->nlevels; l++) start[l + 1] += start[l];
  int *fill = calloc((size_t)plan->nlevels + 1, sizeof(int));
  if (!fill) {
    free(start);
    free(order);
    m->rc = nscclSystemError;
    return;
  }
  for (int r = 0; r < plan->ngpus; r++)
    for (int i = 0; i < plan->ranks[r].nparts; i++) {
      int l = plan->ranks[r].parts[i].level, at = start[l] + fill[l]++;
      order[2 * at] = r, order[2 * at + 1] = i;
    }
  free(fill);
  if (L > 1) nsccl_model_phase_begin(m);
  for (int l = 0; l < plan->nlevels; l++) {
    int any = 0;
    for (int k = start[l]; k < start[l + 1]; k++) {
      int r = order[2 * k];
      const msccl_part_t *p = &plan->ranks[r].parts[order[2 * k + 1]];
      double b = p->cnt * C;
      /* One message for the whole range unless sliced; sliced, one per chunk per slice (msccl_build.c). */
      if (p->kind == NSCCL_STEP_SEND) nsccl_model_flow(m, r, p->peer, b, L > 1 ? p->cnt * L : 1), any = 1;
      if (p->kind == NSCCL_STEP_RECV_REDUCE || p->kind == NSCCL_STEP_REDUCE) nsccl_model_reduce(m, r, b), any = 1;
    }
    if (any) nsccl_model_step(m, 1);
  }
  if (L > 1) nsccl_model_phase_end(m);
  free(start);
  free(order);
}
