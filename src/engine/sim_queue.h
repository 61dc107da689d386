/* The simulator's event queue: events in (time, push order), the order that makes runs
 * deterministic. It is a radix heap on the time alone plus a FIFO of the current instant:
 *  - A radix heap needs monotone keys, which a discrete-event simulation gives: every event is
 *    pushed at or after the time of the event being handled. A pending event later than the
 *    current instant lives in the bucket named by the highest bit in which its time differs from
 *    the current one (non-negative doubles order as their bit patterns; buckets 1..64); when the
 *    current instant is used up, the lowest non-empty bucket gives the next one (its smallest
 *    time), and its other events move down to lower buckets, each event moving a few times over
 *    its life through arrays read in order.
 *  - Events at the current instant wait in a FIFO, popped in push order. Events of one time are
 *    always in one bucket (the bucket depends on the time alone) and in push order within it
 *    (a push appends the latest; moving a bucket down keeps its order, and no other event of that
 *    time is anywhere else), so the ones that become current enter the FIFO in push order, and
 *    every later push at that instant comes after them.
 * In symmetric collectives almost every event shares its time with the one before (99% in the
 * 144-rank sweep of docs/simulator.md), which a (time, sequence) radix heap sorted by the sequence
 * bits, moving each event a dozen times. The events carry their payload (32 bytes each), so a pop
 * reads arrays in order and nothing else (the payloads once sat in a pool beside the keys: a cache
 * miss per event). A 4-ary heap came before both; all three pop in exactly the same order.
 * (Prefetching the messages of the events next in the FIFO was tried: no difference above the
 * noise, so it is not done.) */
#ifndef NSCCL_ENGINE_SIM_QUEUE_H
#define NSCCL_ENGINE_SIM_QUEUE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  double time; /* when it happens */
  double tail; /* packets: when their last byte is available at the link's input */
  uint32_t a, b;
  uint16_t hop;
  uint8_t kind;
} sim_event_t;

#define SIMQ_BUCKETS 65 /* 1..64: highest bit in which the time differs from the current one */

typedef struct {
  sim_event_t *e;
  uint32_t n, cap;
} simq_bucket_t;

typedef struct {
  simq_bucket_t b[SIMQ_BUCKETS]; /* b[0]: the FIFO of the current instant, popped from `head` */
  uint32_t head;
  uint64_t now;  /* bits of the current instant: every pending event is at or after it */
  uint64_t used; /* bit i - 1: bucket i (1..64) is not empty */
  size_t n;      /* pending events */
} simq_t;

static inline uint64_t simq_bits(double t) {
  uint64_t u;
  memcpy(&u, &t, sizeof(u));
  return u;
}

static inline void simq_free(simq_t *q) {
  for (int i = 0; i < SIMQ_BUCKETS; i++) free(q->b[i].e);
  memset(q, 0, sizeof(*q));
}

/* cap: the pending events expected; the buckets grow as needed. Returns 0 when memory ran out. */
static inline int simq_init(simq_t *q, size_t cap) {
  (void)cap;
  memset(q, 0, sizeof(*q));
  return 1;
}

/* Append e to bucket i. Returns 0 when memory ran out. */
static inline int simq_append(simq_t *q, int i, const sim_event_t *e) {
  simq_bucket_t *b = &q->b[i];
  if (b->n == b->cap) {
    if (i == 0 && q->head > 0) { /* the FIFO: reuse the popped front before growing */
      memmove(b->e, b->e + q->head, (size_t)(b->n - q->head) * sizeof(*b->e));
      b->n -= q->head;
      q->head = 0;
    } else {
      uint32_t ncap = b->cap ? b->cap * 2 : 64;
      if (ncap < b->cap) return 0;
      sim_event_t *ne = realloc(b->e, (size_t)ncap * sizeof(*ne));
      if (!ne) return 0;
      b->e = ne;
      b->cap = ncap;
    }
  }
  b->e[b->n++] = *e;
  return 1;
}

/* File e, at or after the current instant, by its time. Returns 0 when memory ran out. */
static inline int simq_file(simq_t *q, const sim_event_t *e, uint64_t t) {
  uint64_t diff = t ^ q->now;
  if (!diff) return simq_append(q, 0, e);
  int i = 64 - __builtin_clzll(diff);
  q->used |= UINT64_C(1) << (i - 1);
  return simq_append(q, i, e);
}

/* Returns 1, 0 when memory ran out, or -1 when the event is earlier than the current instant (a
 * simulation never schedules into its past; the radix heap could not order it). */
static inline int simq_push(simq_t *q, const sim_event_t *ev) {
  uint64_t t = simq_bits(ev->time);
  if (t < q->now) return -1;
  if (!simq_file(q, ev, t)) return 0;
  q->n++;
  return 1;
}

/* Remove the earliest event into *out. The queue must not be empty. Returns 0 when memory ran out
 * (the queue is then unusable: the simulation fails). */
static inline int simq_pop(simq_t *q, sim_event_t *out) {
  simq_bucket_t *fifo = &q->b[0];
  if (q->head == fifo->n) { /* the current instant is used up: the next one from the lowest bucket */
    q->head = 0;
    fifo->n = 0;
    int i = 1 + __builtin_ctzll(q->used);
    simq_bucket_t *from = &q->b[i];
    uint64_t min = simq_bits(from->e[0].time);
    for (uint32_t j = 1; j < from->n; j++) {
      uint64_t t = simq_bits(from->e[j].time);
      if (t < min) min = t;
    }
    /* Every event of bucket i agrees with the new instant above bit i - 1, so it moves to a lower
     * bucket or, at the new instant, to the FIFO (in the bucket's order: push order). */
    q->now = min;
    uint32_t m = from->n;
    from->n = 0;
    q->used &= ~(UINT64_C(1) << (i - 1));
    for (uint32_t j = 0; j < m; j++)
      if (!simq_file(q, &from->e[j], simq_bits(from->e[j].time))) return 0;
  }
  *out = fifo->e[q->head++];
  q->n--;
  return 1;
}

#endif
