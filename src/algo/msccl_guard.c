/* Write-after-send, per gpu (docs/msccl.md, "Mapping", step 1).
 *
 * A send part does not hold its thread block up (msccl_parts.c's resolve): MSCCL's send completes
 * into the connection's buffer, nsccl's when the receiver has the data. The data a send reads must
 * then not be overwritten before the send is done: a part that writes chunks an earlier send reads
 * ("earlier" in MSCCL's own happens-before, sends included, transitively) waits for that send. */
#include <stdlib.h>

#include "algo/msccl_order.h"

/* A chunk range in the rank's aliased space: an in-place algorithm's input and output are one
 * buffer (MSCCLang's layout: all-gather's input is block r of the output, reduce-scatter's output
 * block r of the input). */
static void canon(const nsccl_msccl_plan_t *plan, int rank, unsigned char buf, int off, unsigned char *cb, int *coff) {
  *cb = buf, *coff = off;
  if (!plan->inplace) return;
  int blk = plan->nchunks / plan->ngpus;
  if (plan->coll == NSCCL_COLL_ALLGATHER && buf == 'i') *cb = 'o', *coff = off + rank * blk;
  if (plan->coll == NSCCL_COLL_ALLREDUCE && buf == 'o') *cb = 'i';
  if (plan->coll == NSCCL_COLL_REDUCESCATTER && buf == 'o') *cb = 'i', *coff = off + rank * blk;
}

/* Does part w write chunks that send part q reads? */
static int write_after_send(const msccl_order_t *o, int rank, const msccl_part_t *w, const msccl_part_t *q) {
  if (q->kind != NSCCL_STEP_SEND || w->kind == NSCCL_STEP_SEND || !w->buf[2] || q->buf[0] == 't') return 0;
  unsigned char wb, qb;
  int wo, qo;
  canon(o->plan, rank, w->buf[2], w->off[2], &wb, &wo);
  canon(o->plan, rank, q->buf[0], q->off[0], &qb, &qo);
  return wb == qb && wo < qo + q->cnt && qo < wo + w->cnt;
}

/* Part w waits for every send part among its full predecessors (fdeps, walked transitively) that
 * reads chunks w overwrites. */
static nscclResult_t guard_sends(msccl_order_t *o, msccl_gstate_t *G, const msccl_ivec_t *fdeps, int w, int *mark,
                                 int *stack) {
  int top = 0;
  for (int i = 0; i < fdeps[w].n; i++)
    if (mark[fdeps[w].v[i]] != w) mark[fdeps[w].v[i]] = w, stack[top++] = fdeps[w].v[i];
  while (top) {
    int q = stack[--top];
    if (write_after_send(o, G->g->id, &G->parts[w], &G->parts[q]) && !msccl_ivec_push(&G->deps[w], q))
      return msccl_order_oom(o);
    for (int i = 0; i < fdeps[q].n; i++)
      if (mark[fdeps[q].v[i]] != w) mark[fdeps[q].v[i]] = w, stack[top++] = fdeps[q].v[i];
  }
  return nscclSuccess;
}

nscclResult_t msccl_guard_writes(msccl_order_t *o, msccl_gstate_t *G) {
  const msccl_raw_gpu_t *g = G->g;
  int n = G->nparts_total;
  /* Each part's direct predecessors in MSCCL's sense (fdeps): the parts msccl_build_gpu's
   * dependencies come from, with sends kept. */
  msccl_ivec_t *fdeps = calloc(n ? (size_t)n : 1, sizeof(msccl_ivec_t));
  int *mark = malloc(sizeof(int) * (size_t)(n ? n : 1)), *stack = malloc(sizeof(int) * (size_t)(n ? n : 1));
  nscclResult_t rc = fdeps && mark && stack ? nscclSuccess : msccl_order_oom(o);
  for (int t = 0; t < g->ntbs && rc == nscclSuccess; t++)
    for (int s = 0; s < g->tbs[t].nsteps && rc == nscclSuccess; s++) {
      if (!G->nparts[t][s]) continue;
      int p = G->first[t][s];
      const msccl_ivec_t *e;
      const msccl_raw_step_t *st = &g->tbs[t].steps[s];
      for (int k = 0; k < 2 && rc == nscclSuccess; k++) {
        if (k == 0 && s == 0) continue;
        if (k == 1 && st->depid < 0) continue;
        rc = k == 0 ? msccl_resolve(o, G, 1, t, s - 1, &e) : msccl_resolve(o, G, 1, st->depid, st->deps, &e);
        if (rc == nscclSuccess && !msccl_ivec_push_all(&fdeps[p], e)) rc = msccl_order_oom(o);
      }
      if (rc == nscclSuccess && G->nparts[t][s] == 2 && !msccl_ivec_push(&fdeps[p + 1], p)) rc = msccl_order_oom(o);
    }
  for (int w = 0; mark && w < n; w++) mark[w] = -1;
  for (int w = 0; w < n && rc == nscclSuccess; w++) rc = guard_sends(o, G, fdeps, w, mark, stack);
  for (int i = 0; fdeps && i < n; i++) free(fdeps[i].v);
  free(fdeps);
  free(mark);
  free(stack);
  return rc;
}
