/* The machine the library runs on, for the runtime's selector: a shared-memory crossbar per host,
 * hosts joined by a network vertex. */
#ifndef NSCCL_TOPOLOGIES_HOST_H
#define NSCCL_TOPOLOGIES_HOST_H

#include "topologies/topo.h"

/* Default host parameters, used for a NULL topology and for arguments passed as 0 (see
 * docs/topologies.md). The same-host ones were measured with `nsccl-perf --calibrate` on 2 ranks of
 * the development VM (2-core AMD EPYC, docs/performance.md: alpha 0.51 us, 11.5 GB/s, 11.8 GB/s);
 * another host should be calibrated (NSCCL_HOST_TOPO). The network ones are placeholders. */
#define NSCCL_HOST_DEFAULT_ALPHA     5e-7   /* s per message: the same-host fast path, engine included */
#define NSCCL_HOST_DEFAULT_LINK_BW   11.5e9 /* B/s per rank: a single-copy same-host transfer */
#define NSCCL_HOST_DEFAULT_NET_BW    1.25e9 /* B/s per host NIC: 10 Gb/s Ethernet (placeholder) */
#define NSCCL_HOST_DEFAULT_NET_LAT   20e-6  /* s host to host over TCP (placeholder) */
#define NSCCL_HOST_DEFAULT_REDUCE_BW 11.5e9 /* B/s one core reduces (vectorised float sum) */
/* Latency of a message between ranks of an oversubscribed host (more ranks than PUs): the receiver
 * is usually not running and waits for a context switch. Measured here, 4 ranks on 2 cores: a
 * dependent step of a small collective costs 11-12 us (docs/performance.md), for Open MPI alike. */
#define NSCCL_HOST_OVERSUB_LATENCY 10e-6

/* Build the host topology: host_of_rank[r] is the host index of rank r (any non-negative ints;
 * ranks with equal values share a host). alpha = endpoint_overhead, link_bw = a rank's bandwidth
 * into its host crossbar, net_bw = each host's NIC bandwidth, net_lat = host-to-host latency,
 * reduce_bw = local reduction bytes/s, link_lat = latency of a rank's link into its host (0 on a
 * host with a core per rank; NSCCL_HOST_OVERSUB_LATENCY when ranks wait for context switches).
 * A value <= 0 takes the default above (link_lat: 0). */
nscclResult_t nsccl_topo_host_build(int nranks, const int *host_of_rank, double alpha, double link_bw, double net_bw,
                                    double net_lat, double reduce_bw, double link_lat, nsccl_topo_t **out);
/* Every rank on one host, default parameters: what a NULL topology means to the model and the
 * selector. */
nscclResult_t nsccl_topo_host_flat(int nranks, nsccl_topo_t **out);

#endif
