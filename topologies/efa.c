/* efa: `servers` copies of an inner topology (a preset such as trn2-16, or keys in an [inner]
 * section) joined through NICs by a network modelled as one crossbar vertex. Global rank
 * s * G + i is rank i of server s (G ranks per server). A NIC per rank (Trn2: 200 Gbps per chip)
 * links that rank to the network; a NIC per server is shared by the server's ranks. The network
 * latency sits on the link into the network, so any two servers are network_latency apart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "topologies/common.h"

typedef struct {
  nsccl_topo_t *inner;
  int net_link0; /* index of the first NIC/network link */
  int nic0;      /* vertex of server 0's NIC (NIC per server) */
  int net;       /* the network vertex */
} efa_priv_t;

/* Inner topology from the [inner] section: the keys without their "inner." prefix, same lines. */
static nscclResult_t build_inline_inner(nsccl_params_t *p, const char *name, nsccl_topo_t **out) {
  nsccl_params_t *sub = calloc(1, sizeof(*sub));
  if (!sub) NSCCL_FAIL(nscclSystemError, "out of memory reading [inner] of %s", name);
  sub->file = p->file;
  nscclResult_t rc = nscclSuccess;
  for (int i = 0; i < p->n && rc == nscclSuccess; i++)
    if (!strncmp(p->kv[i].key, "inner.", 6)) {
      p->kv[i].used = 1;
      rc = nsccl_params_set(sub, p->kv[i].key + 6, p->kv[i].value, p->kv[i].line);
    }
  if (rc == nscclSuccess && sub->n == 0)
    rc = nsccl_params_error(p, "module", "missing key 'inner' (a preset name) or an [inner] section");
  if (rc == nscclSuccess && !nsccl_params_find(sub, "module", NULL))
    rc = nsccl_params_error(p, "module", "the [inner] section needs a 'module' key");
  if (rc == nscclSuccess) {
    char iname[sizeof(((nsccl_topo_t *)0)->name)];
    snprintf(iname, sizeof(iname), "%.*s[inner]", (int)sizeof(iname) - 8, name);
    rc = nsccl_topo_from_params(sub, iname, out);
  }
  free(sub);
  return rc;
}

static nscclResult_t efa_build(nsccl_topo_t *t, nsccl_params_t *p) {
  efa_priv_t *pv = calloc(1, sizeof(*pv));
  if (!pv) NSCCL_FAIL(nscclSystemError, "out of memory building efa %s", t->name);
  t->priv = pv;
  int servers = 0;
  const char *inner_name = NULL, *nic = NULL;
  NSCCL_CHECK(nsccl_params_int(p, "servers", 1, 1, &servers));
  NSCCL_CHECK(nsccl_params_string(p, "inner", 0, &inner_name));
  if (inner_name) {
    if (!strcmp(inner_name, t->name) || strstr(inner_name, "efa"))
      return nsccl_params_error(p, "inner", "key 'inner': '%s' would nest efa inside efa", inner_name);
    nscclResult_t rc = nsccl_topo_load(inner_name, &pv->inner);
    if (rc != nscclSuccess) return nsccl_params_error(p, "inner", "key 'inner': %s", nsccl_last_error());
  } else {
    NSCCL_CHECK(build_inline_inner(p, t->name, &pv->inner));
  }
  const nsccl_topo_t *in = pv->inner;
  t->inner = in;
  NSCCL_CHECK(nsccl_params_bw(p, "nic_bandwidth", 1, &t->nic_bandwidth));
  NSCCL_CHECK(nsccl_params_time(p, "network_latency", 1, &t->network_latency));
  NSCCL_CHECK(nsccl_params_string(p, "nic", 0, &nic));
  t->nic_per_rank = 1;
  if (nic && !strcmp(nic, "server"))
    t->nic_per_rank = 0;
  else if (nic && strcmp(nic, "rank"))
    return nsccl_params_error(p, "nic", "key 'nic': '%s' is neither 'rank' nor 'server'", nic);
  /* Endpoint parameters default to the inner topology's. */
  t->endpoint_overhead = in->endpoint_overhead;
  t->reduce_bandwidth = in->reduce_bandwidth;
  NSCCL_CHECK(nsccl_params_time(p, "endpoint_overhead", 0, &t->endpoint_overhead));
  NSCCL_CHECK(nsccl_params_bw(p, "reduce_bandwidth", 0, &t->reduce_bandwidth));
  t->dma_engines = in->dma_engines;
  t->engines_per_message = in->engines_per_message;
  t->dma_engine_bandwidth = in->dma_engine_bandwidth;
  NSCCL_CHECK(nsccl_topo_read_engines(t, p));
  t->forward = in->forward;
  t->link_bandwidth = in->link_bandwidth;
  t->link_latency = in->link_latency;
  t->switch_latency = in->switch_latency;

  int G = in->nranks, extra = in->nvertices - in->nranks;
  if ((long)G * servers > 1 << 20) return nsccl_params_error(p, "servers", "key 'servers': too many ranks");
  t->nranks = G * servers;
  t->group_size = G;
  t->ngroups = servers;
  pv->nic0 = t->nranks + servers * extra;
  pv->net = pv->nic0 + (t->nic_per_rank ? 0 : servers);
  t->nvertices = pv->net + 1;
  t->group_of_rank = malloc(sizeof(int) * t->nranks);
  if (!t->group_of_rank) NSCCL_FAIL(nscclSystemError, "out of memory building efa %s", t->name);
  int ok = 1;
  for (int s = 0; s < servers; s++)
    for (int i = 0; i < in->nlinks; i++) {
      const nsccl_link_t *l = &in->links[i];
      int a = l->src < G ? s * G + l->src : t->nranks + s * extra + (l->src - G);
      int b = l->dst < G ? s * G + l->dst : t->nranks + s * extra + (l->dst - G);
      ok &= nsccl_topo_add_link(t, a, b, l->bandwidth, l->latency) >= 0;
    }
  pv->net_link0 = t->nlinks;
  for (int r = 0; r < t->nranks; r++) t->group_of_rank[r] = r / G;
  /* Chips as inside a server, numbered server after server. */
  t->ranks_per_chip = in->ranks_per_chip;
  t->nchips = in->nchips * servers;
  t->intra_chip_bandwidth = in->intra_chip_bandwidth;
  t->intra_chip_latency = in->intra_chip_latency;
  t->chip_of_rank = malloc(sizeof(int) * t->nranks);
  if (!t->chip_of_rank) NSCCL_FAIL(nscclSystemError, "out of memory building efa %s", t->name);
  for (int r = 0; r < t->nranks; r++) t->chip_of_rank[r] = r / G * in->nchips + in->chip_of_rank[r % G];
  if (t->nic_per_rank) {
    /* Links net_link0 + 2r (rank -> network) and + 2r + 1 (network -> rank). */
    for (int r = 0; r < t->nranks; r++) {
      ok &= nsccl_topo_add_link(t, r, pv->net, t->nic_bandwidth, t->network_latency) >= 0;
      ok &= nsccl_topo_add_link(t, pv->net, r, t->nic_bandwidth, 0.0) >= 0;
    }
  } else {
    /* Per server s: NIC -> network, network -> NIC at net_link0 + 2s (+1); then per rank r:
     * rank -> NIC, NIC -> rank at net_link0 + 2 servers + 2r (+1). A rank alone can fill the NIC. */
    for (int s = 0; s < servers; s++) {
      ok &= nsccl_topo_add_link(t, pv->nic0 + s, pv->net, t->nic_bandwidth, t->network_latency) >= 0;
      ok &= nsccl_topo_add_link(t, pv->net, pv->nic0 + s, t->nic_bandwidth, 0.0) >= 0;
    }
    for (int r = 0; r < t->nranks; r++) {
      ok &= nsccl_topo_add_link(t, r, pv->nic0 + r / G, t->nic_bandwidth, 0.0) >= 0;
      ok &= nsccl_topo_add_link(t, pv->nic0 + r / G, r, t->nic_bandwidth, 0.0) >= 0;
    }
  }
  if (!ok) NSCCL_FAIL(nscclSystemError, "out of memory building efa %s", t->name);
  return nscclSuccess;
}

static int efa_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const efa_priv_t *pv = t->priv;
  const nsccl_topo_t *in = pv->inner;
  int G = in->nranks, ss = src / G, sd = dst / G;
  if (ss == sd) {
    int n = nsccl_topo_route(in, src % G, dst % G, links, max);
    for (int i = 0; i < n; i++) links[i] += ss * in->nlinks;
    return n;
  }
  if (t->nic_per_rank) {
    if (max < 2) return -1;
    links[0] = pv->net_link0 + 2 * src;
    links[1] = pv->net_link0 + 2 * dst + 1;
    return 2;
  }
  if (max < 4) return -1;
  int servers = t->ngroups;
  links[0] = pv->net_link0 + 2 * servers + 2 * src;
  links[1] = pv->net_link0 + 2 * ss;
  links[2] = pv->net_link0 + 2 * sd + 1;
  links[3] = pv->net_link0 + 2 * servers + 2 * dst + 1;
  return 4;
}

/* Server after server, each following the inner ring. */
static void efa_ring(const nsccl_topo_t *t, int *order) {
  const efa_priv_t *pv = t->priv;
  int G = pv->inner->nranks;
  nsccl_topo_ring(pv->inner, order);
  for (int s = 1; s < t->ngroups; s++)
    for (int i = 0; i < G; i++) order[s * G + i] = s * G + order[i];
}

static void efa_destroy(nsccl_topo_t *t) {
  efa_priv_t *pv = t->priv;
  if (pv) nsccl_topo_free(pv->inner);
  free(pv);
  t->priv = NULL;
  t->inner = NULL;
}

const nsccl_topo_module_t nsccl_topo_efa_module = {"efa", efa_build, efa_route, efa_ring, efa_destroy};
