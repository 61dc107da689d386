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

/* ---- ranks per chip (chips.c; topo.h "Chips") ---- */
/* The intra-chip links of ranks_per_chip > 1: up[r] rank r -> its chip vertex, down[r] back. */
typedef struct {
  int *up, *down;
} nsccl_chip_links_t;
/* Read ranks_per_chip (default 1) and, when it is > 1, intra_chip_bandwidth (required) and
 * intra_chip_latency (default 0). The module then sets nranks = chips x ranks_per_chip. */
nscclResult_t nsccl_topo_read_chips(nsccl_topo_t *t, nsccl_params_t *p, int *ranks_per_chip);
/* forward = store is refused with ranks_per_chip > 1 (a passing chip is not a rank vertex). */
nscclResult_t nsccl_topo_refuse_store_on_chips(const nsccl_topo_t *t, nsccl_params_t *p);
/* Vertex of chip c: c itself with one rank per chip, else nranks + c. */
int nsccl_topo_chip_vertex(const nsccl_topo_t *t, int chip);
/* Fill chip_of_rank and nchips; with ranks_per_chip > 1 also add the intra-chip links (after the
 * module's own links) and group the ranks by chip. Needs nranks and ranks_per_chip set. */
nscclResult_t nsccl_topo_add_chip_links(nsccl_topo_t *t, nsccl_chip_links_t *cl);
/* A module's route between two different chips (chip indices), links into links[0..max). */
typedef int (*nsccl_chip_route_fn)(const nsccl_topo_t *t, int src_chip, int dst_chip, int *links, int max);
/* Rank route: the chip route with the intra-chip hops added (two ranks of one chip: up, down). */
int nsccl_topo_route_via_chips(const nsccl_topo_t *t, const nsccl_chip_links_t *cl, int src, int dst, int *links,
                               int max, nsccl_chip_route_fn chip_route);
/* Expand a ring of chips into a ring of ranks (a chip's ranks consecutive). */
void nsccl_topo_ring_of_chips(const nsccl_topo_t *t, const int *chip_order, int *order);
void nsccl_chip_links_free(nsccl_chip_links_t *cl);

#endif
