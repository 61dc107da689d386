/* Sends meet receives per connection (docs/msccl.md, "Mapping", step 2).
 *
 * MSCCL: the k-th send of the connection (sender, receiver, channel) meets the k-th receive of it;
 * a thread block holds at most one connection each way. Here each send part is matched to its
 * receive that way, and what MSCCL would leave unmatched (or matched with different chunk counts)
 * is refused with the line. */
#include "algo/msccl_order.h"
#include "base/check.h"

static int is_send(const msccl_part_t *p) { return p->kind == NSCCL_STEP_SEND; }
static int is_recv(const msccl_part_t *p) { return p->kind == NSCCL_STEP_RECV || p->kind == NSCCL_STEP_RECV_REDUCE; }

/* The thread block of gpu g that receives from `from` on channel chan, or -1. */
static int recv_tb(const msccl_raw_gpu_t *g, int from, int chan) {
  for (int t = 0; t < g->ntbs; t++)
    if (g->tbs[t].recv == from && g->tbs[t].chan == chan) return t;
  return -1;
}

nscclResult_t msccl_unique_connections(const msccl_order_t *o, const msccl_raw_gpu_t *g) {
  for (int t = 0; t < g->ntbs; t++)
    for (int u = 0; u < t; u++) {
      const msccl_raw_tb_t *a = &g->tbs[t], *b = &g->tbs[u];
      if (a->chan != b->chan) continue;
      if ((a->send >= 0 && a->send == b->send) || (a->recv >= 0 && a->recv == b->recv))
        NSCCL_FAIL(nscclInvalidArgument,
                   "%s:%d: thread blocks %d and %d of gpu %d both %s gpu %d on channel %d (one connection each)",
                   o->plan->path, a->line, u, t, g->id, a->send >= 0 && a->send == b->send ? "send to" : "receive from",
                   a->send >= 0 && a->send == b->send ? a->send : a->recv, a->chan);
    }
  return nscclSuccess;
}

nscclResult_t msccl_match_messages(msccl_order_t *o, int *match) {
  nsccl_msccl_plan_t *plan = o->plan;
  for (int a = 0; a < plan->ngpus; a++) {
    msccl_gstate_t *A = &o->gs[a];
    for (int t = 0; t < A->g->ntbs; t++) {
      const msccl_raw_tb_t *T = &A->g->tbs[t];
      int b = T->send;
      if (b < 0) continue;
      msccl_gstate_t *B = &o->gs[b];
      int u = recv_tb(B->g, a, T->chan);
      /* Walk the sends of T and the receives of U side by side. */
      int i = 0, j = 0;
      int ni = A->nparts_total, nj = u >= 0 ? B->nparts_total : 0;
      for (;;) {
        while (i < ni && !(A->parts[i].tb == t && is_send(&A->parts[i]))) i++;
        while (j < nj && !(B->parts[j].tb == u && is_recv(&B->parts[j]))) j++;
        if (i >= ni && j >= nj) break;
        if (i >= ni)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d receives from gpu %d (thread block %d, step %d, channel %d) a message gpu %d never "
                     "sends",
                     plan->path, B->parts[j].line, b, a, u, B->parts[j].s, T->chan, a);
        if (j >= nj)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d sends to gpu %d (thread block %d, step %d, channel %d) but gpu %d has no matching "
                     "receive",
                     plan->path, A->parts[i].line, a, b, t, A->parts[i].s, T->chan, b);
        if (A->parts[i].cnt != B->parts[j].cnt)
          NSCCL_FAIL(nscclInvalidArgument,
                     "%s:%d: gpu %d sends %d chunks to gpu %d, whose matching receive (line %d) takes %d", plan->path,
                     A->parts[i].line, a, A->parts[i].cnt, b, B->parts[j].line, B->parts[j].cnt);
        match[B->base + j] = A->base + i;
        i++, j++;
      }
    }
  }
  /* Receives from a peer that has no thread block sending on that channel. */
  for (int a = 0; a < plan->ngpus; a++) {
    msccl_gstate_t *A = &o->gs[a];
    for (int j = 0; j < A->nparts_total; j++) {
      const msccl_raw_tb_t *T = &A->g->tbs[A->parts[j].tb];
      if (is_recv(&A->parts[j]) && match[A->base + j] < 0)
        NSCCL_FAIL(nscclInvalidArgument,
                   "%s:%d: gpu %d receives from gpu %d on channel %d, which has no thread block sending to it there",
                   plan->path, A->parts[j].line, a, T->recv, T->chan);
    }
  }
  return nscclSuccess;
}
