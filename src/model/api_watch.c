/* The modelling API's watched simulation (include/nsccl_model.h): nscclModelSimulate with a trace
 * file and per-link use, over the observers of observe.h. */
#include <stdlib.h>

#include "base/check.h"
#include "model/observe.h"
#include "topologies/topo.h"

int nscclModelTopoLinks(const nscclTopo_t *topo) { return topo ? topo->nlinks : 0; }

nscclResult_t nscclModelVertexName(const nscclTopo_t *topo, int v, char *buf, size_t len) {
  if (!topo || !buf || len == 0) NSCCL_FAIL(nscclInvalidArgument, "nscclModelVertexName: topo and buf are required");
  if (v < 0 || v >= topo->nvertices)
    NSCCL_FAIL(nscclInvalidArgument, "nscclModelVertexName: vertex %d outside [0, %d) of %s", v, topo->nvertices,
               topo->name);
  nsccl_topo_vertex_name(topo, v, buf, len);
  return nscclSuccess;
}

nscclResult_t nscclModelSimulateWatched(const nscclTopo_t *topo, nscclModelColl_t coll, nscclModelAlgo_t algo,
                                        size_t bytes, const nsccl_sim_opts_t *opts, const nscclModelWatch_t *watch,
                                        nsccl_sim_result_t *result) {
  if (!topo) NSCCL_FAIL(nscclInvalidArgument, "nscclModelSimulateWatched: the simulator needs a topology (got NULL)");
  if (!watch) return nscclModelSimulate(topo, coll, algo, bytes, opts, result);
  nsccl_observe_t ob = {NULL, NULL, NULL};
  nsccl_link_use_t *use = NULL;
  if (watch->links && !(ob.links = use = calloc((size_t)topo->nlinks + 1, sizeof(*use))))
    NSCCL_FAIL(nscclSystemError, "nscclModelSimulateWatched: out of memory for %d links", topo->nlinks);
  nscclResult_t rc = nscclSuccess;
  if (watch->trace_path) rc = nsccl_trace_open(watch->trace_path, watch->trace_limit, &ob.trace);
  if (rc == nscclSuccess)
    rc = nsccl_sim_collective_observed(topo, (nsccl_coll_t)coll, (nsccl_algo_t)algo, -1, bytes, 0, opts, &ob, result);
  if (ob.trace) {
    nscclResult_t rc2 = nsccl_trace_close(ob.trace);
    if (rc == nscclSuccess) rc = rc2;
  }
  if (rc == nscclSuccess && use)
    for (int i = 0; i < topo->nlinks; i++)
      watch->links[i] = (nscclModelLinkUse_t){topo->links[i].src, topo->links[i].dst, use[i].bytes, use[i].busy_s};
  free(use);
  return rc;
}
