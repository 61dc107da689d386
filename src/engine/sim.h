/* The simulation engine: times a set of programs (one per rank) on the links of a topology with a
 * deterministic discrete-event simulation. It moves no bytes and knows nothing of which algorithm
 * made the programs. Semantics, assumptions and accuracy: docs/simulator.md. */
#ifndef NSCCL_ENGINE_SIM_H
#define NSCCL_ENGINE_SIM_H

#include <stdint.h>

#include "nsccl_model.h" /* nsccl_sim_opts_t, nsccl_sim_result_t: the public "simulation" section */
#include "sched/sched.h"

struct nsccl_topo;

/* Simulate progs[0..nranks) (progs[r].rank == r) on topo, whose first nranks vertices are the
 * ranks. opts may be NULL (defaults). res->rank_time_s, if the caller set it non-NULL, must hold
 * nranks doubles and receives each rank's completion time; everything else in res is written.
 * A set of programs that cannot finish (unmatched message, size mismatch, cycle) returns
 * nscclInvalidUsage naming a stuck rank and step; a route the topology cannot answer returns
 * nscclInvalidArgument. */
nscclResult_t nsccl_sim_run(const struct nsccl_topo *topo, const nsccl_program_t *progs, int nranks,
                            const nsccl_sim_opts_t *opts, nsccl_sim_result_t *res);

/* The packet size the simulator uses for a message of `bytes` in a run whose messages total
 * `total_bytes`, under opts (NULL: defaults): the largest of packet_bytes, ceil(bytes / max_packets)
 * and ceil(total_bytes / packet_budget), at most the message. */
size_t nsccl_sim_packet_bytes(const nsccl_sim_opts_t *opts, size_t bytes, uint64_t total_bytes);

#endif
