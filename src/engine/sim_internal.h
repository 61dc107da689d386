/* The simulator's state, shared by sim.c (the event loop) and sim_setup.c (checking the programs,
 * matching messages, routes and packet sizes). Not an interface for anyone else. */
#ifndef NSCCL_ENGINE_SIM_INTERNAL_H
#define NSCCL_ENGINE_SIM_INTERNAL_H

#include "engine/sim.h"
#include "engine/sim_engines.h"
#include "engine/sim_observe.h"
#include "engine/sim_queue.h"
#include "topologies/topo.h"

#ifndef NSCCL_TOPO_MAX_ROUTE
#define NSCCL_TOPO_MAX_ROUTE 256
#endif

enum { EV_PKT = 0, EV_STEP_DONE = 1, EV_MSG_ARRIVE = 2, EV_SEG_ARRIVE = 3, EV_ENGINE = 4 };

#define EV_KIND(e) ((int)(e)->kind)
#define EV_HOP(e)  ((uint32_t)(e)->hop)
#define MAX_HOPS   0xffff

typedef struct {
  double free;   /* when the link finishes its last accepted packet */
  double busy;   /* total seconds it was transmitting */
  double inv_bw; /* seconds per byte */
  double latency;
  int to_rank; /* the link ends at a rank vertex */
} link_state_t;

/* One message: 64 bytes, one cache line (the event loop's first touch of a message is its hottest
 * load; at 4,096 ranks the messages are also most of the simulator's own memory). Its ranks are
 * those of its steps (msg_src, msg_dst). */
typedef struct {
  uint32_t send_g, recv_g; /* global step ids */
  uint32_t route;          /* links: route_pool[route .. route + nhops) */
  uint32_t npkts;
  uint32_t next_queued; /* next in the FIFO it waits in: the rank's issue or feed FIFO, or its pair's queue */
  uint32_t pair;        /* its (src, dst) pair's DMA queue: s->pairs[pair] */
  uint16_t nhops;
  uint16_t queued_hop; /* hop it will start at once issued */
  uint8_t arrived : 1, posted : 1;
  uint8_t turn : 1;                       /* its turn in the pair's DMA queue has come */
  uint8_t fed : 1;                        /* ... and it has engines feeding its bytes (it streams now) */
  uint8_t quiet_send : 1, quiet_recv : 1; /* nothing waits for the send / the plain RECV: no completion event */
  double pkt_bytes, last_bytes;
  double t0;       /* when the segment being injected got its engines and paid alpha */
  double rate_inv; /* seconds per byte its engines need (0: engines unlimited in bandwidth) */
} msg_t;
_Static_assert(sizeof(msg_t) == 64, "a message fills one cache line");

#define NONE UINT32_MAX

/* The DMA queue of one (src, dst) pair: messages stream through it one at a time, in the order they
 * reach it (their engines paid alpha); the others wait in a FIFO through msg_t.next_queued (free
 * again then: a message leaves the rank's issue FIFO before it reaches its pair's queue, and enters
 * the rank's feed FIFO only after its turn here). */
typedef struct {
  double free;         /* when the last message that streamed through it has left */
  uint32_t head, tail; /* waiting messages */
  uint8_t busy;        /* a message is streaming through it */
} pair_queue_t;

typedef struct {
  const nsccl_topo_t *t;
  const nsccl_program_t *progs;
  int n;
  int store;
  double alpha, red_inv, copy_inv;
  /* DMA engines (topo.h): every rank (and storing chip) has `engines` of them; a message takes up
   * to `epm` free ones to pay alpha, and again at its pair queue's turn to stream its bytes at
   * their bandwidth (a storing chip's re-send: once, for both), waiting in the rank's issue or feed
   * FIFO when none is free. unlimited: as many as messages (opts->overlap_overhead). */
  int engines, epm, unlimited;
  double eng_inv_bw; /* seconds per byte of one engine; 0: unlimited */

  link_state_t *links;
  msg_t *msgs;
  uint32_t nmsgs;
  pair_queue_t *pairs; /* one per (src, dst) pair that sends */
  uint32_t npairs;
  int *route_pool;
  size_t nroute, cap_route;

  uint32_t *base;     /* [n + 1]: global id of rank r's step s is base[r] + s */
  int *step_rank;     /* [G] */
  uint32_t *missing;  /* [G]: dependencies not yet done */
  uint32_t *succ_off; /* [G + 1] CSR of successors */
  uint32_t *succ;
  uint32_t *step_msg; /* [G]: message of a SEND / RECV / RECV_REDUCE */
  uint8_t *done;      /* [G] */
  uint32_t ndone, nsteps;
  uint32_t *stack; /* steps completed at the current instant, successors not yet released */
  uint32_t nstack;

  eng_pool_t *eng;        /* [issuers]: each issuer's free engines and busy groups (sim_engines.h) */
  eng_group_t *eng_group; /* [issuers * engines]: the groups */
  uint8_t *wake;          /* [issuers]: an EV_ENGINE is pending for this issuer */
  double *red_free, *copy_free, *rank_time;
  /* Messages waiting for an engine, FIFO per issuer (an intrusive list through msgs). Keeping
   * them out of the event queue until their turn keeps the heap small. */
  uint32_t *issue_head, *issue_tail;
  uint32_t *feed_head, *feed_tail; /* messages whose pair turn came, waiting for engines to feed them (served first) */

  simq_t q;
  uint64_t events, packets;
  const nsccl_sim_observer_t *obs; /* NULL: nobody watches (sim_observe.h) */
} sim_t;

/* A message's sender and receiver: the ranks of its SEND and its receive. */
static inline int msg_src(const sim_t *s, const msg_t *m) { return s->step_rank[m->send_g]; }
static inline int msg_dst(const sim_t *s, const msg_t *m) { return s->step_rank[m->recv_g]; }

/* Tell the observer, if any, that message m reached `phase` (sim_observe.h) at t. */
static inline void sim_observe_msg(const sim_t *s, const msg_t *m, double t, int phase) {
  if (s->obs) {
    int src = msg_src(s, m), dst = msg_dst(s, m);
    s->obs->message(s->obs->ctx, src, m->send_g - s->base[src], dst, m->recv_g - s->base[dst],
                    (double)(m->npkts - 1) * m->pkt_bytes + m->last_bytes, t, phase);
  }
}

/* Tell the observer, if any, fn(args...). */
#define SIM_OBSERVE(s, fn, ...)                                                                                        \
  do {                                                                                                                 \
    if ((s)->obs) (s)->obs->fn((s)->obs->ctx, __VA_ARGS__);                                                            \
  } while (0)

static inline const nsccl_step_t *step_of(const sim_t *s, uint32_t g) {
  int r = s->step_rank[g];
  return &s->progs[r].steps[g - s->base[r]];
}

static inline int no_successors(const sim_t *s, uint32_t g) { return s->succ_off[g] == s->succ_off[g + 1]; }

/* Check the programs' shape (ranks, peers, dependencies on earlier steps). */
nscclResult_t nsccl_sim_check_steps(sim_t *s);
/* Allocate the state, build successor lists, match messages, route them and cut packets. */
nscclResult_t nsccl_sim_setup(sim_t *s, const nsccl_sim_opts_t *opts);
void nsccl_sim_free_state(sim_t *s);
/* Number and match the messages (sim_match.c): the k-th SEND from a to b meets the k-th receive at
 * b from a; messages of one ordered pair get consecutive ids, pairs in (sender, receiver) order. */
nscclResult_t nsccl_sim_match_messages(sim_t *s);

#endif
