/* host: the running machine. Each host is a crossbar vertex every local rank links to (shared
 * memory); hosts link to one network vertex (NIC bandwidth, network latency). Built at run time
 * from the bootstrap's host names, or from a spec "host:ranks=8,ranks_per_host=4,..." for tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "topologies/common.h"
#include "topologies/host.h"

typedef struct {
  int nhosts;
  int net_link0; /* host h: h -> net at net_link0 + 2h, net -> h at + 1 */
} host_priv_t;

/* Fill t from the parameters; group_of_rank must already hold dense host indices [0, nhosts). */
static nscclResult_t host_fill(nsccl_topo_t *t, int nhosts, double net_bw, double net_lat) {
  host_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) NSCCL_FAIL(nscclSystemError, "out of memory building host topology");
  t->priv = pv;
  pv->nhosts = nhosts;
  t->ngroups = nhosts;
  t->nic_bandwidth = net_bw;
  t->network_latency = net_lat;
  t->nic_per_rank = 0;
  t->nvertices = t->nranks + nhosts + (nhosts > 1);
  int net = t->nranks + nhosts, ok = 1;
  /* Links 2r (rank -> its host crossbar) and 2r + 1 (crossbar -> rank). */
  for (int r = 0; r < t->nranks; r++) {
    int h = t->nranks + t->group_of_rank[r];
    ok &= nsccl_topo_add_link(t, r, h, t->link_bandwidth, t->link_latency) >= 0;
    ok &= nsccl_topo_add_link(t, h, r, t->link_bandwidth, 0.0) >= 0;
  }
  pv->net_link0 = t->nlinks;
  for (int h = 0; h < nhosts && nhosts > 1; h++) {
    ok &= nsccl_topo_add_link(t, t->nranks + h, net, net_bw, net_lat) >= 0;
    ok &= nsccl_topo_add_link(t, net, t->nranks + h, net_bw, 0.0) >= 0;
  }
  if (!ok) NSCCL_FAIL(nscclSystemError, "out of memory building host topology");
  /* Equal contiguous blocks make a regular hierarchy that hierarchical algorithms can use. */
  int g = t->nranks / nhosts, regular = t->nranks % nhosts == 0;
  for (int r = 0; r < t->nranks && regular; r++) regular = t->group_of_rank[r] == r / g;
  t->group_size = regular && nhosts > 1 ? g : 0;
  t->cpu_copies = nhosts == 1;
  return nscclSuccess;
}

nscclResult_t nsccl_topo_host_build(int nranks, const int *host_of_rank, double alpha, double link_bw, double net_bw,
                                    double net_lat, double reduce_bw, double link_lat, nsccl_topo_t **out) {
  if (nranks < 1 || !host_of_rank || !out)
    NSCCL_FAIL(nscclInvalidArgument, "host topology: need nranks >= 1 (got %d), host_of_rank and out", nranks);
  nsccl_topo_t *t;
  NSCCL_CHECK(nsccl_topo_alloc(&t));
  t->module = nsccl_topo_module_find("host");
  snprintf(t->name, sizeof(t->name), "host");
  t->nranks = nranks;
  t->endpoint_overhead = alpha > 0 ? alpha : NSCCL_HOST_DEFAULT_ALPHA;
  t->link_bandwidth = link_bw > 0 ? link_bw : NSCCL_HOST_DEFAULT_LINK_BW;
  t->reduce_bandwidth = reduce_bw > 0 ? reduce_bw : NSCCL_HOST_DEFAULT_REDUCE_BW;
  t->link_latency = link_lat > 0 ? link_lat : 0;
  t->group_of_rank = malloc(sizeof(int) * nranks);
  if (!t->group_of_rank) {
    nsccl_topo_free(t);
    NSCCL_FAIL(nscclSystemError, "out of memory building host topology");
  }
  /* Dense host indices in order of first appearance. */
  int nhosts = 0;
  for (int r = 0; r < nranks; r++) {
    if (host_of_rank[r] < 0) {
      nsccl_topo_free(t);
      NSCCL_FAIL(nscclInvalidArgument, "host topology: host_of_rank[%d] = %d is negative", r, host_of_rank[r]);
    }
    int h = -1;
    for (int q = 0; q < r && h < 0; q++)
      if (host_of_rank[q] == host_of_rank[r]) h = t->group_of_rank[q];
    t->group_of_rank[r] = h >= 0 ? h : nhosts++;
  }
  nscclResult_t rc = host_fill(t, nhosts, net_bw > 0 ? net_bw : NSCCL_HOST_DEFAULT_NET_BW,
                               net_lat > 0 ? net_lat : NSCCL_HOST_DEFAULT_NET_LAT);
  nsccl_chip_links_t none = {NULL, NULL}; /* a process is a "chip" of its own */
  if (rc == nscclSuccess) rc = nsccl_topo_add_chip_links(t, &none);
  if (rc != nscclSuccess) {
    nsccl_topo_free(t);
    return rc;
  }
  *out = t;
  return nscclSuccess;
}

nscclResult_t nsccl_topo_host_flat(int nranks, nsccl_topo_t **out) {
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "host topology: need nranks >= 1 (got %d)", nranks);
  int *hosts = calloc((size_t)nranks, sizeof(int));
  if (!hosts) NSCCL_FAIL(nscclSystemError, "host topology: out of memory for %d ranks", nranks);
  nscclResult_t rc = nsccl_topo_host_build(nranks, hosts, 0, 0, 0, 0, 0, 0, out);
  free(hosts);
  return rc;
}

static nscclResult_t host_build(nsccl_topo_t *t, nsccl_params_t *p) {
  int n = 0, per = 0;
  NSCCL_CHECK(nsccl_params_int(p, "ranks", 1, 1, &n));
  per = n;
  NSCCL_CHECK(nsccl_params_int(p, "ranks_per_host", 0, 1, &per));
  if (n % per) return nsccl_params_error(p, "ranks_per_host", "key 'ranks_per_host' = %d does not divide ranks", per);
  t->nranks = n;
  t->endpoint_overhead = NSCCL_HOST_DEFAULT_ALPHA;
  t->link_bandwidth = NSCCL_HOST_DEFAULT_LINK_BW;
  t->reduce_bandwidth = NSCCL_HOST_DEFAULT_REDUCE_BW;
  double net_bw = NSCCL_HOST_DEFAULT_NET_BW, net_lat = NSCCL_HOST_DEFAULT_NET_LAT;
  NSCCL_CHECK(nsccl_topo_read_endpoint(t, p, 0));
  NSCCL_CHECK(nsccl_params_bw(p, "link_bandwidth", 0, &t->link_bandwidth));
  NSCCL_CHECK(nsccl_params_bw(p, "nic_bandwidth", 0, &net_bw));
  NSCCL_CHECK(nsccl_params_time(p, "network_latency", 0, &net_lat));
  t->group_of_rank = malloc(sizeof(int) * n);
  if (!t->group_of_rank) NSCCL_FAIL(nscclSystemError, "out of memory building host topology");
  for (int r = 0; r < n; r++) t->group_of_rank[r] = r / per;
  return host_fill(t, n / per, net_bw, net_lat);
}

static int host_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const host_priv_t *pv = t->priv;
  int hs = t->group_of_rank[src], hd = t->group_of_rank[dst];
  int n = hs == hd ? 2 : 4;
  if (max < n) return -1;
  links[0] = 2 * src;
  if (hs != hd) {
    links[1] = pv->net_link0 + 2 * hs;
    links[2] = pv->net_link0 + 2 * hd + 1;
  }
  links[n - 1] = 2 * dst + 1;
  return n;
}

/* Host by host (stable), so the ring crosses the network once per host. */
static void host_ring(const nsccl_topo_t *t, int *order) {
  const host_priv_t *pv = t->priv;
  int k = 0;
  for (int h = 0; h < pv->nhosts; h++)
    for (int r = 0; r < t->nranks; r++)
      if (t->group_of_rank[r] == h) order[k++] = r;
}

static void host_destroy(nsccl_topo_t *t) {
  free(t->priv);
  t->priv = NULL;
}

const nsccl_topo_module_t nsccl_topo_host_module = {"host", host_build, host_route, host_ring, host_destroy};
