/* Choosing a libfabric provider and opening its objects (fabric, domain, AV, CQ, endpoint).
 *
 * Providers are named by their core name: fi_getinfo reports RDM over tcp as "tcp;ofi_rxm" (the rxm
 * utility layered on the tcp core), and the core name is what users write in NSCCL_PROVIDER and
 * what ranks compare when they match address entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/tp_internal.h"

const char *nsccl_tp_core_name(const char *prov_name, char *buf, size_t len) {
  snprintf(buf, len, "%s", prov_name ? prov_name : "");
  char *semi = strchr(buf, ';');
  if (semi) *semi = '\0';
  return buf;
}

/* Hints shared by every query: reliable datagram endpoints with tagged and untagged messages. We
 * accept the FI_CONTEXT modes (every fragment carries a fi_context2) and every local-registration
 * mode we implement in mr_cache.c. */
static struct fi_info *base_hints(uint64_t extra_caps) {
  struct fi_info *h = fi_allocinfo();
  if (!h) return NULL;
  h->caps = FI_TAGGED | FI_MSG | extra_caps;
  h->mode = FI_CONTEXT | FI_CONTEXT2;
  h->ep_attr->type = FI_EP_RDM;
  h->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
  h->domain_attr->threading = FI_THREAD_DOMAIN;
  return h;
}

static int is_loopback(const struct fi_info *i) {
  const char *d = i->domain_attr ? i->domain_attr->name : NULL;
  return d && (!strcmp(d, "lo") || !strncmp(d, "lo:", 3));
}

/* The interface of the IPv4 default route (/proc/net/route: destination 00000000), or "". */
static void default_route_ifname(char *out, size_t len) {
  out[0] = '\0';
  FILE *f = fopen("/proc/net/route", "r");
  if (!f) return;
  char line[256], name[64];
  unsigned long dest;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "%63s %lx", name, &dest) == 2 && dest == 0) {
      snprintf(out, len, "%s", name);
      break;
    }
  fclose(f);
}

/* Among entries of one provider, prefer the interface named by NSCCL_SOCKET_IFNAME, then a
 * non-loopback one, the one of the default route first (libfabric may list others before it: a
 * veth that another program adds and removes, such as the namespace harness of tests/net, must not
 * be taken for the host's network), then IPv4, then the first one listed. */
static int entry_score(const struct fi_info *i, const char *ifname, const char *route_if) {
  int s = 0;
  const char *d = i->domain_attr ? i->domain_attr->name : NULL;
  if (ifname && *ifname && d && !strcmp(d, ifname)) s += 8;
  if (!is_loopback(i)) s += 4;
  if (d && *route_if && !strcmp(d, route_if)) s += 2;
  if (i->addr_format == FI_SOCKADDR_IN) s += 1;
  return s;
}

/* A name matches an entry's full name ("net", "tcp;ofi_rxm") or its core name ("tcp"). An exact
 * full name wins over a core-name match: libfabric 1.17 lists both "net" (its native RDM over TCP)
 * and "net;ofi_rxm", and "net" must mean the first. */
static struct fi_info *pick(struct fi_info *list, const char *want, const char *ifname) {
  struct fi_info *best = NULL;
  int best_score = -1;
  char core[NSCCL_TP_NAME_LEN], route_if[64];
  default_route_ifname(route_if, sizeof(route_if));
  for (struct fi_info *i = list; i; i = i->next) {
    const char *pn = i->fabric_attr ? i->fabric_attr->prov_name : NULL;
    if (!pn) continue;
    int exact = !strcmp(pn, want);
    if (!exact && strcmp(nsccl_tp_core_name(pn, core, sizeof(core)), want)) continue;
    int s = entry_score(i, ifname, route_if) + (exact ? 16 : 0);
    if (s > best_score) best = i, best_score = s;
  }
  return best;
}

static void list_names(struct fi_info *list, char *out, size_t len) {
  out[0] = '\0';
  size_t used = 0;
  char core[NSCCL_TP_NAME_LEN];
  for (struct fi_info *i = list; i; i = i->next) {
    if (!i->fabric_attr || !i->fabric_attr->prov_name) continue;
    nsccl_tp_core_name(i->fabric_attr->prov_name, core, sizeof(core));
    int seen = 0;
    char other[NSCCL_TP_NAME_LEN];
    for (struct fi_info *j = list; j != i && !seen; j = j->next)
      if (j->fabric_attr && j->fabric_attr->prov_name)
        seen = !strcmp(nsccl_tp_core_name(j->fabric_attr->prov_name, other, sizeof(other)), core);
    if (seen) continue;
    int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", core);
    if (n < 0 || (size_t)n >= len - used) break;
    used += (size_t)n;
  }
  if (!used) snprintf(out, len, "none");
}

/* The same provider on the same interface: libfabric 1.17's net ignores the fabric and domain
 * names of the hints and answers with all its entries, first the first interface it lists. */
static int same_entry(const struct fi_info *a, const struct fi_info *b) {
  const char *da = a->domain_attr ? a->domain_attr->name : NULL, *db = b->domain_attr ? b->domain_attr->name : NULL;
  const char *fa = a->fabric_attr ? a->fabric_attr->name : NULL, *fb = b->fabric_attr ? b->fabric_attr->name : NULL;
  return !strcmp(a->fabric_attr->prov_name, b->fabric_attr->prov_name) && (!da || (db && !strcmp(da, db))) &&
         (!fa || (fb && !strcmp(fa, fb))) && a->addr_format == b->addr_format;
}

/* Ask again for the chosen entry with what we would like on top of the basics: FI_DIRECTED_RECV
 * (receives name their source, so tags need not carry the sender's rank) and FI_ORDER_SAS (sends
 * between two endpoints match in order, so the fragments of a message can share its tag). NULL
 * when the provider grants neither combination on the chosen interface. Only an answer on that
 * interface counts: taking net's first answer put a root-namespace endpoint on whatever interface
 * it listed first (eth0 with NSCCL_SOCKET_IFNAME=lo, or a veth of the namespace harness, whose
 * removal then stranded every message in flight: docs/transport.md, "Known limit (net)"). */
static struct fi_info *refine(const struct fi_info *chosen, uint64_t caps, uint64_t order) {
  struct fi_info *h = base_hints(caps);
  if (!h) return NULL;
  h->fabric_attr->prov_name = strdup(chosen->fabric_attr->prov_name);
  if (chosen->fabric_attr->name) h->fabric_attr->name = strdup(chosen->fabric_attr->name);
  if (chosen->domain_attr->name) h->domain_attr->name = strdup(chosen->domain_attr->name);
  h->addr_format = chosen->addr_format;
  h->tx_attr->msg_order = order;
  h->rx_attr->msg_order = order;
  struct fi_info *res = NULL, *out = NULL;
  if (fi_getinfo(NSCCL_FI_VERSION, NULL, NULL, 0, h, &res) == 0) {
    for (struct fi_info *i = res; i && !out; i = i->next)
      if ((i->caps & caps) == caps && (i->tx_attr->msg_order & order) == order &&
          (i->rx_attr->msg_order & order) == order && same_entry(chosen, i))
        out = fi_dupinfo(i);
    fi_freeinfo(res);
  }
  fi_freeinfo(h);
  return out;
}

static struct fi_info *refine_best(const struct fi_info *chosen) {
  struct fi_info *r = refine(chosen, FI_DIRECTED_RECV, FI_ORDER_SAS);
  if (!r) r = refine(chosen, 0, FI_ORDER_SAS);
  if (!r) r = refine(chosen, FI_DIRECTED_RECV, 0);
  return r;
}

/* want: a provider name, or NULL for the best network provider (efa, verbs, net, tcp). origin names
 * where the request came from, for the error message. */
nscclResult_t nsccl_tp_select(const char *want, const char *origin, const char *ifname, struct fi_info **out) {
  struct fi_info *h = base_hints(0), *list = NULL;
  if (!h) NSCCL_FAIL(nscclSystemError, "transport: fi_allocinfo failed (out of memory)");
  int rc = fi_getinfo(NSCCL_FI_VERSION, NULL, NULL, 0, h, &list);
  fi_freeinfo(h);
  if (rc != 0 && rc != -FI_ENODATA)
    NSCCL_FAIL(nscclSystemError, "transport: fi_getinfo failed: %s (%d)", fi_strerror(-rc), rc);
  const char *fi_provider = getenv("FI_PROVIDER");
  char avail[512];
  list_names(list, avail, sizeof(avail));
  struct fi_info *chosen = NULL;
  if (want) {
    chosen = pick(list, want, ifname);
    if (!chosen) {
      fi_freeinfo(list);
      NSCCL_FAIL(nscclInvalidArgument,
                 "transport: provider '%s' (%s) is not available for reliable tagged messages; available: %s%s%s", want,
                 origin, avail, fi_provider ? " (restricted by FI_PROVIDER=" : "", fi_provider ? fi_provider : "");
    }
  } else {
    /* "net" is libfabric 1.17's native RDM endpoint over TCP (later releases merged it back as
     * "tcp"): tag matching in the provider, no rxm layer; measured faster than tcp;ofi_rxm at
     * every size between namespace hosts (docs/transport.md, "The network path"). */
    static const char *const order[] = {"efa", "verbs", "net", "tcp"};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]) && !chosen; k++) chosen = pick(list, order[k], ifname);
    if (!chosen) {
      fi_freeinfo(list);
      NSCCL_FAIL(nscclSystemError,
                 "transport: no network provider (efa, verbs, net or tcp) offers reliable tagged messages; available: "
                 "%s%s%s; set NSCCL_PROVIDER to one of them",
                 avail, fi_provider ? " (restricted by FI_PROVIDER=" : "", fi_provider ? fi_provider : "");
    }
  }
  struct fi_info *d = refine_best(chosen);
  *out = d ? d : fi_dupinfo(chosen);
  fi_freeinfo(list);
  if (!*out) NSCCL_FAIL(nscclSystemError, "transport: fi_dupinfo failed (out of memory)");
  return nscclSuccess;
}

#define FI_TRY(call, what)                                                                                             \
  do {                                                                                                                 \
    int fi_rc_ = (call);                                                                                               \
    if (fi_rc_ != 0) {                                                                                                 \
      nsccl_tp_prov_close(p);                                                                                          \
      NSCCL_FAIL(nscclSystemError, "transport: %s failed for provider %s: %s (%d)", what, name, fi_strerror(-fi_rc_),  \
                 fi_rc_);                                                                                              \
    }                                                                                                                  \
  } while (0)

static const char *mr_mode_str(uint64_t m, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s%s%s%s", m & FI_MR_LOCAL ? "|LOCAL" : "", m & FI_MR_VIRT_ADDR ? "|VIRT_ADDR" : "",
           m & FI_MR_ALLOCATED ? "|ALLOCATED" : "", m & FI_MR_PROV_KEY ? "|PROV_KEY" : "",
           m & FI_MR_ENDPOINT ? "|ENDPOINT" : "", m ? "" : "|none");
  if (buf[0] == '|') memmove(buf, buf + 1, strlen(buf));
  return buf;
}

/* rxm over tcp (libfabric 1.17) sends a message above FI_OFI_RXM_EAGER_LIMIT (16 KiB) by
 * rendezvous: a request, an RMA read by the receiver, an acknowledgement. Over tcp its eager path
 * hands the caller's buffer straight to the socket and the receiver's tcp endpoint reads it straight
 * into the posted receive (direct send, dynamic receive buffers; an unexpected message gets a
 * buffer of its size), so rendezvous only adds a round trip (32 KiB all-reduce, 2 namespace hosts:
 * 34.5 us with it, TODO without). It also exposes a libfabric 1.17 bug: an endpoint closed while
 * an RMA read response is arriving completes that read twice, the second time with a freed entry
 * (NULL context), and rxm crashes in rxm_handle_comp_error during fi_close (the intermittent crash
 * in nscclCommAbort after a link went down; fixed upstream after 1.17, libfabric commit a74ea0fcd).
 * So unless the user set it, the eager limit becomes 1 GiB (rxm sends it as 32 bits in its
 * connection request, so it must stay below 4 GiB) and no fragment is larger: rxm never uses
 * rendezvous. libfabric reads the variable when the endpoint is opened. */
#define RXM_EAGER_LIMIT ((size_t)1 << 30)
static void rxm_eager_everything(nsccl_tp_prov_t *p) {
  const char *v = getenv("FI_OFI_RXM_EAGER_LIMIT");
  if (v && *v) {
    NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: %s: FI_OFI_RXM_EAGER_LIMIT=%s set by the user, kept", p->full_name, v);
    return;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%zu", RXM_EAGER_LIMIT);
  setenv("FI_OFI_RXM_EAGER_LIMIT", buf, 0);
  if (p->max_msg > RXM_EAGER_LIMIT) p->max_msg = RXM_EAGER_LIMIT;
}

/* Takes ownership of info (freed by nsccl_tp_prov_close). */
nscclResult_t nsccl_tp_prov_open(nsccl_tp_prov_t *p, struct fi_info *info, int npeers, int force_mr) {
  memset(p, 0, sizeof(*p));
  p->info = info;
  snprintf(p->full_name, sizeof(p->full_name), "%s", info->fabric_attr->prov_name);
  nsccl_tp_core_name(p->full_name, p->name, sizeof(p->name));
  const char *name = p->full_name;
  p->directed = (info->caps & FI_DIRECTED_RECV) != 0;
  p->ordered = (info->tx_attr->msg_order & FI_ORDER_SAS) && (info->rx_attr->msg_order & FI_ORDER_SAS);
  p->max_msg = info->ep_attr->max_msg_size ? info->ep_attr->max_msg_size : SIZE_MAX;
  if (strstr(p->full_name, "ofi_rxm") && (!strcmp(p->name, "tcp") || !strcmp(p->name, "net"))) rxm_eager_everything(p);
  uint64_t mr_mode = info->domain_attr->mr_mode;
  p->need_mr = (mr_mode & FI_MR_LOCAL) || force_mr;

  FI_TRY(fi_fabric(info->fabric_attr, &p->fabric, NULL), "fi_fabric");
  FI_TRY(fi_domain(p->fabric, info, &p->domain, NULL), "fi_domain");
  struct fi_cq_attr cq_attr = {.format = FI_CQ_FORMAT_TAGGED, .wait_obj = FI_WAIT_NONE};
  FI_TRY(fi_cq_open(p->domain, &cq_attr, &p->cq, NULL), "fi_cq_open");
  struct fi_av_attr av_attr = {.type = FI_AV_TABLE, .count = (size_t)(npeers > 0 ? npeers : 1)};
  if (info->domain_attr->av_type != FI_AV_UNSPEC) av_attr.type = info->domain_attr->av_type;
  FI_TRY(fi_av_open(p->domain, &av_attr, &p->av, NULL), "fi_av_open");
  FI_TRY(fi_endpoint(p->domain, info, &p->ep, NULL), "fi_endpoint");
  FI_TRY(fi_ep_bind(p->ep, &p->av->fid, 0), "fi_ep_bind(av)");
  FI_TRY(fi_ep_bind(p->ep, &p->cq->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
  FI_TRY(fi_enable(p->ep), "fi_enable");
  p->addrlen = sizeof(p->addr);
  FI_TRY(fi_getname(&p->ep->fid, p->addr, &p->addrlen), "fi_getname");

  p->mrc.domain = p->domain;
  p->mrc.ep = p->ep;
  p->mrc.mr_mode = mr_mode;

  char mrbuf[96];
  NSCCL_INFO(NSCCL_SUBSYS_NET,
             "transport: provider %s fabric %s domain %s: max_msg_size %zu, inject %zu, tx %zu rx %zu, mr_mode %s%s, "
             "directed recv %s, send order %s, addr %zu bytes",
             p->full_name, info->fabric_attr->name ? info->fabric_attr->name : "?",
             info->domain_attr->name ? info->domain_attr->name : "?", info->ep_attr->max_msg_size,
             info->tx_attr ? info->tx_attr->inject_size : 0, info->tx_attr ? info->tx_attr->size : 0,
             info->rx_attr ? info->rx_attr->size : 0, mr_mode_str(mr_mode, mrbuf, sizeof(mrbuf)),
             force_mr ? " (registration forced)" : "", p->directed ? "yes" : "no (source rank in tag)",
             p->ordered ? "SAS (fragments share the tag)" : "none (messages are never split)", p->addrlen);
  return nscclSuccess;
}

static void close_fid(struct fid *f, const char *what, const char *prov) {
  if (!f) return;
  int rc = fi_close(f);
  if (rc) NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: closing %s of %s: %s (%d)", what, prov, fi_strerror(-rc), rc);
}

/* The endpoint goes first (no more completions can name our buffers), then the registrations, the
 * AV and CQ it was bound to, the domain and the fabric. */
void nsccl_tp_prov_close(nsccl_tp_prov_t *p) {
  close_fid(p->ep ? &p->ep->fid : NULL, "endpoint", p->full_name);
  p->ep = NULL;
  nsccl_mr_cache_destroy(&p->mrc);
  close_fid(p->av ? &p->av->fid : NULL, "address vector", p->full_name);
  close_fid(p->cq ? &p->cq->fid : NULL, "completion queue", p->full_name);
  close_fid(p->domain ? &p->domain->fid : NULL, "domain", p->full_name);
  close_fid(p->fabric ? &p->fabric->fid : NULL, "fabric", p->full_name);
  p->av = NULL, p->cq = NULL, p->domain = NULL, p->fabric = NULL;
  if (p->info) fi_freeinfo(p->info);
  p->info = NULL;
}
