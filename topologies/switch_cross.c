/* One-level switch fabrics of several switches joined by direct chip-to-chip links: Trn3 Gen1 as
 * AWS draws it (docs/hardware-facts.md T3-GEN1-LAYOUT): two NeuronSwitch-v1, each joining two
 * 16-chip servers, and links between the chips of the same index in servers 0 and 2, 1 and 3.
 *
 * Routes between chips a (server S, index i) and b (server D, index j) on different switches:
 *   a and b partners (partner(S) = D, i = j): the cross link alone (1 link);
 *   cross_route = source (default): a's cross link to (partner(S), i), which sits on b's switch,
 *     then up and down that switch to b (3 links);
 *   cross_route = dest: up and down a's switch to (partner(D), j), then its cross link into b.
 * The chip in the middle passes the message on: forward = routed (hop latency only; AWS is
 * reported to rely on forwarding in the chips, T3-TRAY) or store (it receives the whole message
 * and re-sends it, paying endpoint_overhead). */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "topologies/switch_cross.h"

static int switch_of_server(const switch_priv_t *pv, int s) { return s * pv->server_chips / pv->per_leaf; }

/* "0-2, 1-3": pairs of servers, separated by commas or blanks. */
static nscclResult_t parse_pairs(nsccl_params_t *p, const char *txt, switch_priv_t *pv) {
  for (int s = 0; s < pv->nservers; s++) pv->partner[s] = -1;
  const char *c = txt;
  int npairs = 0;
  for (;;) {
    while (*c == ' ' || *c == '\t' || *c == ',') c++;
    if (!*c) break;
    char *end;
    long a = strtol(c, &end, 10);
    if (end == c || *end != '-')
      return nsccl_params_error(p, "cross_links",
                                "key 'cross_links': '%s' is not a list of server pairs like '0-2, 1-3'", txt);
    c = end + 1;
    long b = strtol(c, &end, 10);
    if (end == c)
      return nsccl_params_error(p, "cross_links",
                                "key 'cross_links': '%s' is not a list of server pairs like '0-2, 1-3'", txt);
    c = end;
    if (a < 0 || b < 0 || a >= pv->nservers || b >= pv->nservers)
      return nsccl_params_error(p, "cross_links", "key 'cross_links': pair %ld-%ld names a server outside [0, %d)", a,
                                b, pv->nservers);
    if (switch_of_server(pv, (int)a) == switch_of_server(pv, (int)b))
      return nsccl_params_error(p, "cross_links",
                                "key 'cross_links': servers %ld and %ld share switch %d; a cross link joins servers on "
                                "different switches",
                                a, b, switch_of_server(pv, (int)a));
    if (pv->partner[a] >= 0 || pv->partner[b] >= 0)
      return nsccl_params_error(p, "cross_links", "key 'cross_links': server %ld appears in two pairs",
                                pv->partner[a] >= 0 ? a : b);
    pv->partner[a] = (int)b;
    pv->partner[b] = (int)a;
    npairs++;
  }
  if (!npairs) return nsccl_params_error(p, "cross_links", "key 'cross_links': no server pairs");
  return nscclSuccess;
}

/* Every pair of servers on different switches must have a route under the chosen cross_route. */
static nscclResult_t check_reach(nsccl_params_t *p, const switch_priv_t *pv) {
  for (int s = 0; s < pv->nservers; s++)
    for (int d = 0; d < pv->nservers; d++) {
      int ws = switch_of_server(pv, s), wd = switch_of_server(pv, d);
      if (ws == wd) continue;
      int via = pv->route_dest ? pv->partner[d] : pv->partner[s];
      int want = pv->route_dest ? ws : wd;
      if (via < 0 || switch_of_server(pv, via) != want)
        return nsccl_params_error(p, "cross_links",
                                  "key 'cross_links': server %d cannot reach server %d (cross_route = %s needs server "
                                  "%d's partner on switch %d)",
                                  s, d, pv->route_dest ? "dest" : "source", pv->route_dest ? d : s, want);
    }
  return nscclSuccess;
}

nscclResult_t nsccl_switch_read_cross(nsccl_topo_t *t, nsccl_params_t *p, switch_priv_t *pv) {
  int switches = 1;
  NSCCL_CHECK(nsccl_params_int(p, "switches", 0, 1, &switches));
  if (pv->chips % switches)
    return nsccl_params_error(p, "switches", "key 'switches' = %d does not divide the %d chips", switches, pv->chips);
  pv->leaves = switches;
  pv->per_leaf = pv->chips / switches;
  t->nswitches = switches;
  pv->server_chips = pv->per_leaf;
  NSCCL_CHECK(nsccl_params_int(p, "server_chips", 0, 1, &pv->server_chips));
  if (pv->per_leaf % pv->server_chips)
    return nsccl_params_error(p, "server_chips", "key 'server_chips' = %d does not divide the %d chips of a switch",
                              pv->server_chips, pv->per_leaf);
  pv->nservers = pv->chips / pv->server_chips;
  const char *pairs = NULL;
  NSCCL_CHECK(nsccl_params_string(p, "cross_links", 0, &pairs));
  if (!pairs) {
    if (switches > 1)
      return nsccl_params_error(p, "switches",
                                "key 'switches' = %d without cross_links: chips on different switches cannot reach "
                                "each other (use levels = 2 for spines)",
                                switches);
    return nscclSuccess;
  }
  pv->partner = malloc(sizeof(int) * (size_t)pv->nservers);
  if (!pv->partner) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  NSCCL_CHECK(parse_pairs(p, pairs, pv));
  NSCCL_CHECK(nsccl_params_bw(p, "cross_bandwidth", 1, &t->cross_bandwidth));
  pv->cross_latency = t->link_latency;
  NSCCL_CHECK(nsccl_params_time(p, "cross_latency", 0, &pv->cross_latency));
  const char *mode = NULL;
  NSCCL_CHECK(nsccl_params_string(p, "cross_route", 0, &mode));
  if (mode && strcmp(mode, "source") && strcmp(mode, "dest"))
    return nsccl_params_error(p, "cross_route", "key 'cross_route': '%s' is neither 'source' nor 'dest'", mode);
  pv->route_dest = mode && !strcmp(mode, "dest");
  NSCCL_CHECK(nsccl_topo_read_forward(t, p));
  NSCCL_CHECK(nsccl_topo_refuse_store_on_chips(t, p));
  return check_reach(p, pv);
}

nscclResult_t nsccl_switch_add_cross(nsccl_topo_t *t, switch_priv_t *pv) {
  if (!pv->partner) return nscclSuccess;
  pv->cross = malloc(sizeof(int) * (size_t)pv->chips);
  if (!pv->cross) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  for (int c = 0; c < pv->chips; c++) {
    int s = c / pv->server_chips, q = pv->partner[s];
    pv->cross[c] = -1;
    if (q < 0) continue;
    int peer = q * pv->server_chips + c % pv->server_chips;
    pv->cross[c] = nsccl_topo_add_link(t, nsccl_topo_chip_vertex(t, c), nsccl_topo_chip_vertex(t, peer),
                                       t->cross_bandwidth, pv->cross_latency);
    if (pv->cross[c] < 0) NSCCL_FAIL(nscclSystemError, "out of memory building switch %s", t->name);
  }
  return nscclSuccess;
}

int nsccl_switch_cross_route(const nsccl_topo_t *t, const switch_priv_t *pv, int a, int b, int *links, int max) {
  (void)t;
  int S = a / pv->server_chips, D = b / pv->server_chips, i = a % pv->server_chips, j = b % pv->server_chips;
  if (pv->partner[S] == D && i == j) {
    if (max < 1) return -1;
    links[0] = pv->cross[a];
    return 1;
  }
  if (max < 3) return -1;
  if (!pv->route_dest) { /* over a's cross link to its partner, which shares b's switch */
    int mid = pv->partner[S] * pv->server_chips + i;
    links[0] = pv->cross[a];
    links[1] = pv->up[mid];
    links[2] = pv->down[b];
  } else { /* over a's switch to b's partner, then its cross link */
    int mid = pv->partner[D] * pv->server_chips + j;
    links[0] = pv->up[a];
    links[1] = pv->down[mid];
    links[2] = pv->cross[mid];
  }
  return 3;
}

void nsccl_switch_cross_ring(const switch_priv_t *pv, int *chips) {
  if (!pv->partner || pv->leaves != 2 || pv->per_leaf < 2) return;
  /* Switch 0 in index order, then switch 1 from the partner of switch 0's last chip to the partner of
   * its first chip: both switch changes are one cross link, every other step stays on one switch. */
  int P = pv->per_leaf, sc = pv->server_chips;
  int start = pv->partner[(P - 1) / sc] * sc + (P - 1) % sc, end = pv->partner[0] * sc;
  int k = P;
  chips[k++] = start;
  for (int c = 2 * P - 1; c >= P; c--)
    if (c != start && c != end) chips[k++] = c;
  chips[k++] = end;
}
