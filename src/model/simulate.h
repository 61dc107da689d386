/* Simulating a whole collective: the library's builders make every rank's program (the variant the
 * cost model would pick unless told otherwise) and the simulation engine times them. This lives
 * beside the model, not in src/engine, so that the engines know no algorithm. */
#ifndef NSCCL_MODEL_SIMULATE_H
#define NSCCL_MODEL_SIMULATE_H

#include "algo/algo.h"
#include "engine/sim.h"

/* Build every rank's schedule of `coll` moving `bytes` (nccl-tests convention: all-gather output,
 * reduce-scatter input, all-reduce vector; uint8 elements, the per-rank share rounded down, at least
 * one) with family `algo`, variant `variant` (-1: the variant the cost model prices cheapest, i.e.
 * what the library would run), and simulate them on all ranks of topo. */
nscclResult_t nsccl_sim_collective(const struct nsccl_topo *topo, nsccl_coll_t coll, nsccl_algo_t algo, int variant,
                                   size_t bytes, const nsccl_sim_opts_t *opts, nsccl_sim_result_t *res);

#endif
