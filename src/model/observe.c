/* One simulator observer that feeds a trace file and per-link totals, so that a run watched for both
 * is simulated once. */
#include <string.h>

#include "base/check.h"
#include "model/observe.h"
#include "topologies/topo.h"

typedef struct {
  nsccl_trace_run_t *run;  /* NULL: no trace */
  nsccl_link_use_t *links; /* NULL: no link totals */
} watch_t;

static void on_step_start(void *ctx, int rank, uint32_t step, double t) {
  watch_t *w = ctx;
  if (w->run) nsccl_trace_step_start(w->run, rank, step, t);
}

static void on_step_end(void *ctx, int rank, uint32_t step, double t) {
  watch_t *w = ctx;
  if (w->run) nsccl_trace_step_end(w->run, rank, step, t);
}

static void on_link_busy(void *ctx, int link, double start, double end, double bytes) {
  watch_t *w = ctx;
  if (w->links) {
    w->links[link].bytes += bytes;
    w->links[link].busy_s += end - start;
  }
  if (w->run) nsccl_trace_link_busy(w->run, link, start, end, bytes);
}

static void on_message(void *ctx, int src, uint32_t send_step, int dst, uint32_t recv_step, double bytes, double t,
                       int phase) {
  watch_t *w = ctx;
  if (w->run) nsccl_trace_message(w->run, src, send_step, dst, recv_step, bytes, t, phase);
}

nscclResult_t nsccl_sim_observed(const nsccl_topo_t *topo, const nsccl_program_t *progs, int nranks,
                                 const nsccl_sim_opts_t *opts, const nsccl_observe_t *ob, nsccl_sim_result_t *res) {
  if (!ob || (!ob->trace && !ob->links)) return nsccl_sim_run(topo, progs, nranks, opts, res);
  if (!topo || !progs || !res) return nsccl_sim_run(topo, progs, nranks, opts, res); /* its own error */
  watch_t w = {NULL, ob->links};
  if (ob->links) memset(ob->links, 0, (size_t)topo->nlinks * sizeof(nsccl_link_use_t));
  if (ob->trace && nranks >= 1 && nranks <= topo->nranks)
    NSCCL_CHECK(nsccl_trace_run_begin(ob->trace, ob->label, topo, progs, nranks, &w.run));
  nsccl_sim_observer_t obs = {&w, on_step_start, on_step_end, on_link_busy, on_message};
  nscclResult_t rc = nsccl_sim_run_observed(topo, progs, nranks, opts, &obs, res);
  if (w.run) {
    nscclResult_t rc2 = nsccl_trace_run_end(w.run, rc == nscclSuccess ? res->time_s : 0, rc == nscclSuccess);
    if (rc == nscclSuccess) rc = rc2;
  }
  return rc;
}
