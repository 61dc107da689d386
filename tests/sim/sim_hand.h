/* Hand-made topologies and schedules for the simulator tests: small graphs built here with their own
 * route functions (independent of topologies/), and all-gather programs written out directly
 * (independent of src/algo/). */
#ifndef NSCCL_TESTS_SIM_HAND_H
#define NSCCL_TESTS_SIM_HAND_H

#include "engine/sim.h"
#include "sched/sched.h"
#include "topologies/topo.h"

typedef enum { HAND_PAIR, HAND_STAR, HAND_TWO_LEVEL, HAND_TORUS } hand_kind_t;

typedef struct {
  nsccl_topo_t t;
  nsccl_topo_module_t mod;
  hand_kind_t kind;
  int group; /* two-level: ranks per leaf switch */
} hand_topo_t;

/* Two ranks joined by one link each way (bandwidth bw, latency lat). */
hand_topo_t *hand_pair(double bw, double lat, double alpha);
/* n ranks on one switch (vertex n): rank i's up link is 2i, its down link 2i + 1. */
hand_topo_t *hand_star(int n, double bw, double lat, double alpha);
/* n ranks, leaves of `group` ranks (vertices n .. n + n/group - 1), one spine (last vertex);
 * rank<->leaf links bw/lat, leaf<->spine links spine_bw/lat. */
hand_topo_t *hand_two_level(int n, int group, double bw, double spine_bw, double lat, double alpha);
/* A torus of dims[0..ndims) with one link per direction per dimension per rank (bw, lat);
 * dimension-order routing along the shorter way (ties go +). forward: store or routed. */
hand_topo_t *hand_torus(int ndims, const int *dims, double bw, double lat, double alpha, nsccl_forward_t forward);
void hand_free(hand_topo_t *h);

/* All-gather of m bytes per rank: ring in rank order, and direct (every rank to every rank at once). */
void hand_ring_allgather(nsccl_program_t *progs, int n, size_t m);
void hand_direct_allgather(nsccl_program_t *progs, int n, size_t m);
void hand_progs_free(nsccl_program_t *progs, int n);

#endif
