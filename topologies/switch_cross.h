/* The switch module's private state, and its one-level fabrics of several switches joined by direct
 * chip-to-chip "cross" links (Trn3 Gen1, docs/hardware-facts.md T3-GEN1-LAYOUT; switch_cross.c). */
#ifndef NSCCL_TOPOLOGIES_SWITCH_CROSS_H
#define NSCCL_TOPOLOGIES_SWITCH_CROSS_H

#include "topologies/common.h"

typedef struct {
  int chips;      /* ranks / ranks_per_chip */
  int per_leaf;   /* chips per first-level switch */
  int leaves;     /* first-level switches: leaves (two levels) or separate switches (one level) */
  int spines;     /* second-level switches (two levels), else 0 */
  int *up, *down; /* [chips]: link chip -> its switch, switch -> chip */
  int *trunk;     /* [2 (leaf * spines + spine) (+1)]: leaf -> spine, spine -> leaf */
  /* Cross links (one level, several switches); partner == NULL when there are none. */
  int server_chips; /* chips per server; chip c is index c % server_chips of server c / server_chips */
  int nservers;
  int *partner;   /* [nservers]: server whose same-index chips are linked to this server's, or -1 */
  int *cross;     /* [chips]: link chip -> the same-index chip of the partner server, or -1 */
  int route_dest; /* cross_route = dest: own switch first, the cross link last */
  double cross_latency;
  nsccl_chip_links_t chip_links;
} switch_priv_t;

/* Keys of a one-level fabric: switches, server_chips, cross_links, cross_bandwidth, cross_latency,
 * cross_route, forward (the last four only with cross links). Sets leaves, per_leaf, nswitches. */
nscclResult_t nsccl_switch_read_cross(nsccl_topo_t *t, nsccl_params_t *p, switch_priv_t *pv);
/* Add the cross links (after the switch links). */
nscclResult_t nsccl_switch_add_cross(nsccl_topo_t *t, switch_priv_t *pv);
/* Route between chips a and b on different switches; returns links used or -1 if max is too small. */
int nsccl_switch_cross_route(const nsccl_topo_t *t, const switch_priv_t *pv, int a, int b, int *links, int max);
/* Reorder a ring of chips (given in index order) so that it crosses between two switches over cross
 * links only; other fabrics keep index order. */
void nsccl_switch_cross_ring(const switch_priv_t *pv, int *chips);

#endif
