/* The simulator's event queue: a radix heap of 16-byte keys ordered by (time, insertion sequence),
 * with event payloads in a pool beside it. Ordering by the unique sequence on equal times makes runs
 * deterministic. A radix heap needs monotone keys, which a discrete-event simulation gives: every
 * event is pushed at or after the time of the event being handled, and with a later sequence, so
 * every pushed key is above the last popped one. A key lives in the bucket named by the highest bit
 * in which it differs from the last popped key (0: equal); popping refills bucket 0 from the lowest
 * non-empty bucket by moving its keys down, each key moving a few times over its life, through
 * arrays read in order. That replaced a 4-ary heap whose sift-down missed the cache at every level
 * once hundreds of thousands of events were pending; both pop in exactly the same order. */
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
#define SIMQ_BUCKETS   129 /* equal to the last popped key, or highest differing bit 0..127 */

typedef struct {
  simq_key_t *keys;
  uint32_t n, cap;
} simq_bucket_t;

typedef struct {
  simq_bucket_t b[SIMQ_BUCKETS];
  simq_key_t last;  /* the last popped key: every pending key is above it */
  uint64_t used[3]; /* bit i: bucket i is not empty */
  size_t n;         /* pending events */
  sim_event_t *pool;
  uint32_t *free_slots;
  size_t npool, nfree, cap_pool;
  uint64_t seq;
} simq_t;

static inline int simq_less(simq_key_t x, simq_key_t y) { return x.t < y.t || (x.t == y.t && x.k < y.k); }

/* The bucket of key x relative to the last popped key. */
static inline int simq_bucket_of(const simq_t *q, simq_key_t x) {
  uint64_t hi = x.t ^ q->last.t, lo = x.k ^ q->last.k;
  if (hi) return 128 - __builtin_clzll(hi);
  if (lo) return 64 - __builtin_clzll(lo);
  return 0;
}

static inline void simq_free(simq_t *q) {
  for (int i = 0; i < SIMQ_BUCKETS; i++) free(q->b[i].keys);
  free(q->pool);
  free(q->free_slots);
  memset(q, 0, sizeof(*q));
}

/* Returns 0 when memory ran out. */
static inline int simq_init(simq_t *q, size_t cap) {
  memset(q, 0, sizeof(*q));
  if (cap < 64) cap = 64;
  q->pool = malloc(cap * sizeof(sim_event_t));
  q->free_slots = malloc(cap * sizeof(uint32_t));
  if (!q->pool || !q->free_slots) {
    simq_free(q);
    return 0;
  }
  q->cap_pool = cap;
  return 1;
}

static int simq_grow_pool(simq_t *q) {
  size_t ncap = q->cap_pool * 2;
  if (ncap > SIMQ_SLOT_MASK + 1) return 0;
  sim_event_t *npool = realloc(q->pool, ncap * sizeof(sim_event_t));
  if (npool) q->pool = npool;
  uint32_t *nfree = npool ? realloc(q->free_slots, ncap * sizeof(uint32_t)) : NULL;
  if (nfree) q->free_slots = nfree;
  if (!npool || !nfree) return 0;
  q->cap_pool = ncap;
  return 1;
}

/* File key in its bucket. Returns 0 when memory ran out. */
static inline int simq_put(simq_t *q, simq_key_t key) {
  int i = simq_bucket_of(q, key);
  simq_bucket_t *b = &q->b[i];
  if (b->n == b->cap) {
    uint32_t ncap = b->cap ? b->cap * 2 : 64;
    simq_key_t *nk = realloc(b->keys, (size_t)ncap * sizeof(simq_key_t));
    if (!nk) return 0;
    b->keys = nk;
    b->cap = ncap;
  }
  b->keys[b->n++] = key;
  q->used[i >> 6] |= UINT64_C(1) << (i & 63);
  return 1;
}

/* Returns 1, 0 when memory ran out (or more than 2^26 events are pending), or -1 when the event
 * is earlier than the last one popped (a simulation never schedules into its past; the radix
 * heap could not order it). */
static inline int simq_push(simq_t *q, const sim_event_t *ev) {
  if (q->nfree == 0 && q->npool == q->cap_pool && !simq_grow_pool(q)) return 0;
  uint32_t slot = q->nfree ? q->free_slots[q->nfree - 1] : (uint32_t)q->npool;
  simq_key_t key;
  memcpy(&key.t, &ev->time, sizeof(key.t));
  key.k = q->seq << SIMQ_SLOT_BITS | slot;
  if (simq_less(key, q->last)) return -1;
  if (!simq_put(q, key)) return 0;
  if (q->nfree)
    q->nfree--;
  else
    q->npool++;
  q->pool[slot] = *ev;
  q->seq++;
  q->n++;
  return 1;
}

/* Remove the earliest event into *out. The queue must not be empty. Returns 0 when memory ran out
 * (the queue is then unusable: the simulation fails). */
static inline int simq_pop(simq_t *q, sim_event_t *out) {
  if (q->b[0].n == 0) {
    int i = q->used[0] ? __builtin_ctzll(q->used[0]) : q->used[1] ? 64 + __builtin_ctzll(q->used[1]) : 128;
    simq_bucket_t *from = &q->b[i];
    simq_key_t min = from->keys[0];
    for (uint32_t j = 1; j < from->n; j++)
      if (simq_less(from->keys[j], min)) min = from->keys[j];
    /* Every key of bucket i agrees with the new last above bit i - 1, so it moves to a lower one. */
    q->last = min;
    uint32_t m = from->n;
    from->n = 0;
    q->used[i >> 6] &= ~(UINT64_C(1) << (i & 63));
    for (uint32_t j = 0; j < m; j++)
      if (!simq_put(q, from->keys[j])) return 0;
  }
  simq_key_t key = q->b[0].keys[--q->b[0].n];
  if (q->b[0].n == 0) q->used[0] &= ~UINT64_C(1);
  uint32_t slot = (uint32_t)(key.k & SIMQ_SLOT_MASK);
  *out = q->pool[slot];
  q->free_slots[q->nfree++] = slot;
  q->n--;
  return 1;
}

#endif
