/* Names of vertices for people (link tables, trace tracks): ranks, chips, and what the modules put
 * after them, read from the layout each module documents (switch.c, tray.c, host.c, efa.c). */
#include <stdio.h>
#include <string.h>

#include "topologies/topo.h"

void nsccl_topo_vertex_name(const nsccl_topo_t *t, int v, char *buf, size_t len) {
  int n = t->nranks, chips = t->ranks_per_chip > 1 ? t->nchips : 0;
  const char *mod = t->module ? t->module->name : "";
  if (v >= 0 && v < n) {
    snprintf(buf, len, "rank %d", v);
  } else if (v >= n && v < n + chips) {
    snprintf(buf, len, "chip %d", v - n);
  } else if (!strcmp(mod, "switch") || !strcmp(mod, "tray")) {
    snprintf(buf, len, "switch %d", v - n - chips); /* leaves, then spines */
  } else if (!strcmp(mod, "host")) {
    if (v < n + t->ngroups)
      snprintf(buf, len, "host %d", v - n);
    else
      snprintf(buf, len, "network");
  } else if (!strcmp(mod, "efa") && t->inner) {
    int extra = t->inner->nvertices - t->inner->nranks, nic0 = n + t->ngroups * extra;
    if (v == t->nvertices - 1) {
      snprintf(buf, len, "network");
    } else if (v >= nic0) {
      snprintf(buf, len, "NIC %d", v - nic0);
    } else if (extra > 0) { /* a server's own switches or chips: named as inside the server */
      char inner[32];
      nsccl_topo_vertex_name(t->inner, t->inner->nranks + (v - n) % extra, inner, sizeof(inner));
      snprintf(buf, len, "server %d %s", (v - n) / extra, inner);
    } else {
      snprintf(buf, len, "vertex %d", v);
    }
  } else {
    snprintf(buf, len, "vertex %d", v);
  }
}
