/* Keys every topology module reads the same way. */
#include <string.h>

#include "base/check.h"
#include "topologies/common.h"

nscclResult_t nsccl_topo_read_endpoint(nsccl_topo_t *t, nsccl_params_t *p, int required) {
  NSCCL_CHECK(nsccl_params_time(p, "endpoint_overhead", required, &t->endpoint_overhead));
  NSCCL_CHECK(nsccl_params_bw(p, "reduce_bandwidth", required, &t->reduce_bandwidth));
  NSCCL_CHECK(nsccl_params_time(p, "link_latency", 0, &t->link_latency));
  return nsccl_topo_read_engines(t, p);
}

nscclResult_t nsccl_topo_read_engines(nsccl_topo_t *t, nsccl_params_t *p) {
  if (t->dma_engines < 1) t->dma_engines = 1;
  if (t->engines_per_message < 1) t->engines_per_message = 1;
  NSCCL_CHECK(nsccl_params_int(p, "dma_engines", 0, 1, &t->dma_engines));
  NSCCL_CHECK(nsccl_params_int(p, "engines_per_message", 0, 1, &t->engines_per_message));
  /* 0 (the default) means unlimited: the engine hands bytes to the link as fast as it takes them. */
  NSCCL_CHECK(nsccl_params_double(p, "dma_engine_bandwidth", 0, &t->dma_engine_bandwidth));
  if (t->dma_engine_bandwidth < 0)
    return nsccl_params_error(p, "dma_engine_bandwidth",
                              "key 'dma_engine_bandwidth': must be >= 0 bytes/s (0: unlimited)");
  if (t->engines_per_message > t->dma_engines)
    return nsccl_params_error(p, "engines_per_message", "key 'engines_per_message' = %d exceeds dma_engines = %d",
                              t->engines_per_message, t->dma_engines);
  return nscclSuccess;
}

nscclResult_t nsccl_topo_read_forward(nsccl_topo_t *t, nsccl_params_t *p) {
  const char *f = NULL;
  NSCCL_CHECK(nsccl_params_string(p, "forward", 0, &f));
  t->forward = NSCCL_FORWARD_ROUTED;
  if (!f || !strcmp(f, "routed")) return nscclSuccess;
  if (!strcmp(f, "store")) {
    t->forward = NSCCL_FORWARD_STORE;
    return nscclSuccess;
  }
  return nsccl_params_error(p, "forward", "key 'forward': '%s' is neither 'store' nor 'routed'", f);
}
