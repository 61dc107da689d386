/* What the simulator tells an observer while it runs: when each step starts and ends, each busy
 * interval of a link and the bytes it carried, and when each message enters the network and lands.
 * The engine calls these and keeps nothing for them; what to make of them (a trace file, per-link
 * totals) is the observer's business (src/model/sim_trace.c, src/model/sim_links.c). With no observer
 * the simulator does one pointer test per call site and nothing else. Times are simulated seconds. */
#ifndef NSCCL_ENGINE_SIM_OBSERVE_H
#define NSCCL_ENGINE_SIM_OBSERVE_H

#include <stdint.h>

#include "engine/sim.h"

enum { NSCCL_SIM_MSG_LEAVES = 1, NSCCL_SIM_MSG_LANDED = 2 };

typedef struct nsccl_sim_observer {
  void *ctx;
  /* Step `step` of `rank`'s program is ready (its dependencies are done) at t. */
  void (*step_start)(void *ctx, int rank, uint32_t step, double t);
  /* ... and done at t (a SEND: its last byte has left; a receive: its data landed and is reduced). */
  void (*step_end)(void *ctx, int rank, uint32_t step, double t);
  /* Link `link` (index into the topology's links) transmits `bytes` during [start, end). */
  void (*link_busy)(void *ctx, int link, double start, double end, double bytes);
  /* A message of `bytes`, sent by step send_step of rank src and received by step recv_step of rank
   * dst, reaches `phase` at t: LEAVES, its first packet enters the first link (the sender paid its
   * endpoint overhead before); LANDED, its last byte is at dst. A message to oneself leaves and lands
   * at once, crossing no link. */
  void (*message)(void *ctx, int src, uint32_t send_step, int dst, uint32_t recv_step, double bytes, double t,
                  int phase);
} nsccl_sim_observer_t;

/* nsccl_sim_run with an observer (NULL: exactly nsccl_sim_run). */
nscclResult_t nsccl_sim_run_observed(const struct nsccl_topo *topo, const nsccl_program_t *progs, int nranks,
                                     const nsccl_sim_opts_t *opts, const nsccl_sim_observer_t *obs,
                                     nsccl_sim_result_t *res);

#endif
