/* Helpers the topology modules share (not part of the topology interface). */
#ifndef NSCCL_TOPOLOGIES_COMMON_H
#define NSCCL_TOPOLOGIES_COMMON_H

#include "topologies/params.h"
#include "topologies/topo.h"

/* Read the endpoint keys every module understands: endpoint_overhead and reduce_bandwidth (required
 * unless the defaults already hold values > 0), link_latency (default 0). */
nscclResult_t nsccl_topo_read_endpoint(nsccl_topo_t *t, nsccl_params_t *p, int required);
/* The endpoint-concurrency keys (dma_engines, engines_per_message, dma_engine_bandwidth; topo.h),
 * defaults 1, 1 and unlimited unless t already holds values. Called by nsccl_topo_read_endpoint. */
nscclResult_t nsccl_topo_read_engines(nsccl_topo_t *t, nsccl_params_t *p);
/* Parse forward = store | routed (default routed). */
nscclResult_t nsccl_topo_read_forward(nsccl_topo_t *t, nsccl_params_t *p);

#endif
