/* The simulator's event queue: a 4-ary min-heap of 16-byte keys ordered by (time, insertion
 * sequence), with event payloads in a pool beside it. Ordering by the unique sequence on equal times
 * makes runs deterministic. Small keys and sibling groups aligned to a 64-byte cache line keep a
 * queue of hundreds of thousands of pending events fast (the heap is the simulator's hot loop). */
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

typedef struct {
  uint64_t t; /* bits of the time (non-negative doubles order as their bit patterns) */
  uint64_t k; /* sequence << SIMQ_SLOT_BITS | pool slot */
} simq_key_t;

#define SIMQ_SLOT_BITS 26
#define SIMQ_SLOT_MASK ((UINT64_C(1) << SIMQ_SLOT_BITS) - 1)

typedef struct {
  simq_key_t *raw, *heap; /* heap = raw + 3, so that every group of 4 siblings fills one cache line */
  size_t n, cap;
  sim_event_t *pool;
  uint32_t *free_slots;
  size_t npool, nfree, cap_pool;
  uint64_t seq;
} simq_t;

static inline int simq_less(simq_key_t x, simq_key_t y) { return x.t < y.t || (x.t == y.t && x.k < y.k); }

static inline void simq_free(simq_t *q) {
  free(q->raw);
  free(q->pool);
  free(q->free_slots);
  memset(q, 0, sizeof(*q));
}

/* Returns 0 when memory ran out. */
static inline int simq_init(simq_t *q, size_t cap) {
  memset(q, 0, sizeof(*q));
  if (cap < 64) cap = 64;
  q->raw = aligned_alloc(64, ((cap + 4) * sizeof(simq_key_t) + 63) / 64 * 64);
  q->pool = malloc(cap * sizeof(sim_event_t));
  q->free_slots = malloc(cap * sizeof(uint32_t));
  if (!q->raw || !q->pool || !q->free_slots) {
    simq_free(q);
    return 0;
  }
  q->heap = q->raw + 3;
  q->cap = q->cap_pool = cap;
  return 1;
}

static int simq_grow(simq_t *q) {
  size_t ncap = q->cap * 2;
  if (ncap > SIMQ_SLOT_MASK) return 0;
  simq_key_t *nraw = aligned_alloc(64, ((ncap + 4) * sizeof(simq_key_t) + 63) / 64 * 64);
  sim_event_t *npool = realloc(q->pool, ncap * sizeof(sim_event_t));
  if (npool) q->pool = npool;
  uint32_t *nfree = npool ? realloc(q->free_slots, ncap * sizeof(uint32_t)) : NULL;
  if (nfree) q->free_slots = nfree;
  if (!nraw || !npool || !nfree) {
    free(nraw);
    return 0;
  }
  memcpy(nraw + 3, q->heap, q->n * sizeof(simq_key_t));
  free(q->raw);
  q->raw = nraw;
  q->heap = nraw + 3;
  q->cap = q->cap_pool = ncap;
  return 1;
}

/* Returns 0 when memory ran out (or more than 2^26 events are pending). */
static inline int simq_push(simq_t *q, const sim_event_t *ev) {
  if (q->n == q->cap && !simq_grow(q)) return 0;
  uint32_t slot = q->nfree ? q->free_slots[--q->nfree] : (uint32_t)q->npool++;
  q->pool[slot] = *ev;
  simq_key_t key;
  memcpy(&key.t, &ev->time, sizeof(key.t));
  key.k = q->seq++ << SIMQ_SLOT_BITS | slot;
  size_t i = q->n++;
  while (i > 0) {
    size_t p = (i - 1) / 4;
    if (!simq_less(key, q->heap[p])) break;
    q->heap[i] = q->heap[p];
    i = p;
  }
  q->heap[i] = key;
  return 1;
}

/* Remove the earliest event into *out. The queue must not be empty. */
static inline void simq_pop(simq_t *q, sim_event_t *out) {
  simq_key_t *h = q->heap;
  uint32_t slot = (uint32_t)(h[0].k & SIMQ_SLOT_MASK);
  *out = q->pool[slot];
  q->free_slots[q->nfree++] = slot;
  simq_key_t last = h[--q->n];
  size_t n = q->n, i = 0;
  for (;;) {
    size_t c = 4 * i + 1;
    if (c >= n) break;
    size_t best = c, end = c + 4 < n ? c + 4 : n;
    for (size_t j = c + 1; j < end; j++)
      if (simq_less(h[j], h[best])) best = j;
    if (!simq_less(h[best], last)) break;
    h[i] = h[best];
    i = best;
  }
  if (n > 0) h[i] = last;
}

#endif
