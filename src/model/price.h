/* The cost model's step accumulator: how a variant tells the model what its schedule does
 * (algo/variant.h, `price`). A schedule is told as a sequence of steps; in each step the variant
 * declares its flows (nsccl_model_flow: bytes from a rank to a rank, as how many messages) and its
 * reductions (nsccl_model_reduce), then closes the step (nsccl_model_step_end), which prices it from
 * the routes of its flows on m->t (cost.h states the step formula; docs/model.md derives it).
 * m->chunk is the builders' chunk size (INFINITY: never split), m->p the rank count. */
#ifndef NSCCL_MODEL_PRICE_H
#define NSCCL_MODEL_PRICE_H

#include "model/cost.h"

typedef struct nsccl_model {
  const nsccl_topo_t *t;
  int p;
  double alpha, gamma, chunk;
  int serial;   /* topology's cpu_copies: a step's chunks pay alpha, wire and reduction one after another */
  double *load; /* [nlinks] seconds of traffic on each link in this step */
  int *touched; /* links with load > 0 */
  int ntouched;
  double *msgs;            /* [p] messages each rank sends in this step */
  double *red;             /* [p] bytes each rank reduces in this step */
  double lat;              /* largest route latency of a flow in this step */
  double lat_sum, lat_min; /* ring phases: sum and minimum of the route latencies of the flows */
  double total;            /* seconds so far */
  const int *map;          /* virtual rank -> rank (mapped tree), or NULL */
  nscclResult_t rc;
  double lat_override; /* >= 0: the latency the next step_end charges (several rings at once) */
} nsccl_model_t;

/* A flow of `bytes` from src to dst in the current step, sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(nsccl_model_t *m, int src, int dst, double bytes, double nmsgs);
/* rank reduces `bytes` in the current step. */
void nsccl_model_reduce(nsccl_model_t *m, int rank, double bytes);
/* Close the current step, which happens `repeat` times; ring = 1: the flows form one ring whose
 * repeats pipeline (latency of one block journey). m->lat_override >= 0 replaces the latency. */
void nsccl_model_step_end(nsccl_model_t *m, double repeat, int ring);
/* Shorthands: a flow sent one message per chunk; a step closed `repeat` times, not a ring. */
static inline void nsccl_model_flow1(nsccl_model_t *m, int src, int dst, double bytes) {
  nsccl_model_flow(m, src, dst, bytes, 0);
}
static inline void nsccl_model_step(nsccl_model_t *m, double repeat) { nsccl_model_step_end(m, repeat, 0); }
/* Reset the per-step latency trackers (lat, lat_sum, lat_min). */
void nsccl_model_step_reset_latency(nsccl_model_t *m);

/* Hierarchical schedules (algo/hier.h) whose inter-group phase is `inter`; cost_hier.c. */
nscclResult_t nsccl_model_hier(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t inter, double n);

#endif
