/* The cost model's step accumulator: how a variant tells the model what its schedule does
 * (algo/variant.h, `price`). A schedule is told as a sequence of steps; in each step the variant
 * declares its flows (nsccl_model_flow: bytes from a rank to a rank, as how many messages) and its
 * reductions (nsccl_model_reduce), then closes the step (nsccl_model_step_end), which prices it from
 * the routes of its flows on m->t (cost.h states the step formula; docs/model.md derives it).
 * m->chunk is the builders' chunk size (INFINITY: never split), m->p the rank count. */
#ifndef NSCCL_MODEL_PRICE_H
#define NSCCL_MODEL_PRICE_H

#include "model/cost.h"

struct nsccl_model_queue {
  long long key; /* src * p + dst, -1: empty */
  double seconds;
};

typedef struct nsccl_model {
  const nsccl_topo_t *t;
  int p;
  double alpha, gamma, chunk;
  int serial;        /* topology's cpu_copies: a step's chunks pay alpha, wire and reduction one after another */
  double *load;      /* [nlinks] seconds of traffic on each link in this step */
  double *load_msgs; /* [nlinks] messages crossing each link in this step (allocated on first use) */
  int *touched;      /* links with load > 0 */
  int ntouched;
  double *msgs;                     /* [p] messages each rank sends in this step */
  double *sent;                     /* [p] bytes each rank sends in this step */
  double *flows;                    /* [p] flows (distinct peers: one DMA queue each) each rank sends in this step */
  double *red;                      /* [p] bytes each rank reduces in this step */
  double *fwd;                      /* [p] messages each storing chip re-sends in this step */
  double lat;                       /* largest route latency of a flow in this step */
  double lat_sum, lat_min;          /* ring phases: sum and minimum of the route latencies of the flows */
  double hop_sum, hop_min, hop_max; /* ring phases: a message's own time on each flow (slowest link, engines) */
  double queue;                     /* the busiest flow's messages streaming one after another (its DMA queue) */
  double total;                     /* seconds so far */
  const int *map;                   /* virtual rank -> rank (mapped tree), or NULL */
  nscclResult_t rc;
  /* A pipelined phase (nsccl_model_phase_begin / _end): totals over its steps. */
  int in_phase;
  double phase_serial; /* the steps priced one after another */
  double phase_fill;   /* each step's first message: alpha, one chunk on its busiest link, latency */
  /* An all-gather phase (nsccl_model_phase_gather): every step can start at once on the blocks its
   * rank held from the beginning, and only its last message waits for the step before. gather_end
   * is when the last step so far ends under that rule. */
  int phase_gather;
  double gather_end, gather_sent; /* ... and the bytes the busiest rank sent in the step before */
  double *phase_load;             /* [nlinks] seconds of traffic on each link over the phase */
  /* The link window bound (docs/model.md, "Tree phases"): per link the first and last step of the
   * phase that load it and its load in whole steps (one message per flow); per step what it added
   * to the fill and, if whole, to the steps in series. */
  int *link_first, *link_last;
  double *link_whole;
  double *step_fill, *step_whole;
  int nsteps, steps_cap;
  double *phase_red;  /* [p] bytes each rank reduces over the phase */
  double *phase_msgs; /* [p] messages each rank issues over the phase */
  double *phase_sent; /* [p] bytes each rank sends over the phase (its engines stream them) */
  /* DMA queues over a phase: seconds each (src, dst) pair's queue streams (its messages one after
   * another). qstep logs the phase's flows (qstep_n of them; the first qn belong to closed steps and
   * carry their step's repeat); the phase's end sorts them by pair into qtab (qcap entries) and
   * takes the busiest pair's sum (cost_queue.c, nsccl_model_queue_phase_end). */
  struct nsccl_model_queue *qtab, *qstep;
  int qcap, qn, qstep_n, qstep_cap;
  /* The message walk of an all-gather phase (nsccl_model_walk_send): when each pair's queue is
   * free again (seconds: a time), and the last arrival so far (-1: no walk in this phase). */
  struct nsccl_model_queue *wtab;
  int wcap, wn;
  double walk_end;
  double lat_override; /* >= 0: the latency the next step_end charges (several rings at once) */
  /* Per-rank ready times (docs/model.md, "Per-rank ready times"): a plain step's flows arrive one
   * route latency after their sender was ready, and a rank starts its next step when its own inputs
   * have arrived, not when the latest rank's have. lag[r] is how long before the clock (m->total,
   * or the phase's serial sum; lag_fill: the phase's fill) rank r is ready; arrive[r] the latest
   * arrival at r in this step relative to that clock (-INFINITY: none yet). Steps that are not
   * plain (ring repeats, an overridden latency, an all-to-all by symmetry) are a barrier. */
  double *lag, *lag_fill, *arrive, *arrive_fill;
  int barrier; /* the current step cannot be followed rank by rank */
  /* Flows by translation (cost_translate.c): built on the first flow; xlat_off once the topology
   * is found not to allow it. Free with nsccl_model_xlat_free (cost_internal.h). */
  struct nsccl_model_xlat *xlat;
  int xlat_off;
  /* nsccl_model_flow's last (bytes, nmsgs, chunk) and what it derived from them (cost.c) */
  double last_bytes, last_nmsgs, last_chunk, last_per_msg, last_msgs, last_queue;
} nsccl_model_t;

/* A flow of `bytes` from src to dst in the current step, sent as nmsgs messages (0: one per chunk). */
void nsccl_model_flow(nsccl_model_t *m, int src, int dst, double bytes, double nmsgs);
/* A message of `bytes` from src to dst on its own: its time on the route's slowest link or on the
 * engines it takes, whichever is longer (no alpha, no latency). */
double nsccl_model_msg_seconds(const nsccl_model_t *m, int src, int dst, double bytes);
/* rank reduces `bytes` in the current step. */
void nsccl_model_reduce(nsccl_model_t *m, int rank, double bytes);
/* Close the current step, which happens `repeat` times. ring = 1: the flows form one ring whose
 * repeats pipeline chunk by chunk (a block's journey pays every edge's latency but the cheapest's);
 * ring = 2: several identical rings at once (every flow one hop: the journey pays repeat hops).
 * m->lat_override >= 0 replaces the latency. */
void nsccl_model_step_end(nsccl_model_t *m, double repeat, int ring);
/* The steps between these two are chunk-pipelined by their builder (a chunk moves on as soon as what
 * it needs has arrived, as the tree builders' automatic dependencies allow), so steps on different
 * links overlap: the phase costs the smaller of its steps one after another and the fill (each
 * step's first message) plus its busiest resource over the whole phase (a link's total load, a
 * rank's reductions or issues). docs/model.md, "Pipelined phases". Phases do not nest. */
void nsccl_model_phase_begin(nsccl_model_t *m);
void nsccl_model_phase_end(nsccl_model_t *m);
/* Call after nsccl_model_phase_begin: the phase is an all-gather whose steps' first messages carry
 * blocks held before the phase (the builder sends those first), so a step of several messages runs
 * from the start, and only its share of blocks the step before delivered waits for that step's end
 * (docs/model.md, "Tree phases"). */
void nsccl_model_phase_gather(nsccl_model_t *m);

/* The message walk of an all-gather phase, for prices that know which received data each message
 * carries: a message from src to dst of `bytes`, issued once its data is there (`ready`, seconds
 * from the phase's start), pays alpha, streams through the (src, dst) queue after the messages
 * walked into it before (each at its own pace: its engines, or each link of its route at its
 * flow's share of the step's load there; flow_bytes: the flow's bytes in the step, told with
 * nsccl_model_flow before) and arrives one route latency later; returns the arrival. Walk each step's messages in the
 * order they become ready. Links shared by concurrent messages are not in the walk: the phase's link loads bound it
 * (nsccl_model_phase_end takes the walk's last arrival in place of the step chain of
 * nsccl_model_phase_gather). docs/model.md, "All-gather phases". */
double nsccl_model_walk_send(nsccl_model_t *m, int src, int dst, double bytes, double flow_bytes, double ready);

/* Every rank sends `bytes` to every other, as nmsgs messages each (0: one per chunk): the same as
 * nsccl_model_flow for every ordered pair, priced by symmetry where the topology declares one
 * (topo.h, link_orbit: a torus with one rank per chip), which takes p routes instead of p^2. */
void nsccl_model_all_to_all(nsccl_model_t *m, double bytes, double nmsgs);
/* The same with two block sizes: ranks j < nhi own a block of hi bytes, the others of lo (0: none);
 * every flow carries its source's block (by_dst = 0, an all-gather) or its destination's (by_dst =
 * 1, a reduce-scatter), one message per chunk. Priced by the translations (cost_symmetry.c), a
 * barrier as nsccl_model_all_to_all, and 1 returned where the topology's are coordinate additions;
 * else 0 and nothing added (the caller prices flow by flow). */
int nsccl_model_all_to_all_split(nsccl_model_t *m, double lo, double hi, int nhi, int by_dst);

/* Shorthands: a flow sent one message per chunk; a step closed `repeat` times, not a ring. */
static inline void nsccl_model_flow1(nsccl_model_t *m, int src, int dst, double bytes) {
  nsccl_model_flow(m, src, dst, bytes, 0);
}
static inline void nsccl_model_step(nsccl_model_t *m, double repeat) { nsccl_model_step_end(m, repeat, 0); }
/* One step in which every rank sends `bytes` to every other and reduces all it receives (one-shot
 * all-reduce; the direct and mesh variants share it). */
static inline void nsccl_model_oneshot(nsccl_model_t *m, double bytes) {
  nsccl_model_all_to_all(m, bytes, 0);
  for (int r = 0; r < m->p; r++) nsccl_model_reduce(m, r, (m->p - 1) * bytes);
  nsccl_model_step(m, 1);
}
/* Reset the per-step latency trackers (lat, lat_sum, lat_min). */
void nsccl_model_step_reset_latency(nsccl_model_t *m);

/* Hierarchical schedules (algo/hier.h) whose inter-group phase is `inter`; cost_hier.c. */
nscclResult_t nsccl_model_hier(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t inter, double n);
/* The same with a composed chip-level collective (algo/compose.h) in place of the inter-group
 * phase, priced on its own at chip_seconds, and intra (ring or direct) inside the groups. */
nscclResult_t nsccl_model_hier_chips(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t intra, double chip_seconds,
                                     double n);

#endif
