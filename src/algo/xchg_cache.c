/* Shared exchange plans (algo/xchg_plan.h). A plan is a pure function of (p, L, peer), and the
 * builders of every rank of a collective ask for the same few: computing them once instead of
 * p times is what makes Swing and the torus hypercube schedules buildable at thousands of ranks.
 * Entries are reference-counted; unused ones stay until evicted, within a byte budget, so the
 * next size of a sweep finds them too. Sharing is exact: a hit returns what computing would. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "algo/xchg_plan.h"
#include "base/check.h"

#define CACHE_ENTRIES 8
#define CACHE_BYTES   ((size_t)1 << 30) /* the held sets are p^2 (L + 1) bits */

typedef struct {
  nsccl_xchg_plan_t plan;                /* owns the arrays */
  unsigned char key[NSCCL_XCHG_KEY_MAX]; /* the builder's recipe (nsccl_xchg_plan_find), keylen 0: none */
  size_t keylen;
  size_t bytes;
  int refs;
  unsigned long used; /* last use, for eviction */
} entry_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *cache[CACHE_ENTRIES];
static size_t cached_bytes;
static unsigned long clock_uses;

static size_t plan_bytes(const nsccl_xchg_plan_t *pl) {
  size_t p = (size_t)pl->p, L = (size_t)pl->L;
  return (L + 1) * p * (size_t)pl->W * sizeof(uint64_t) + L * p * sizeof(int) + p * sizeof(int) +
         (L + 1) * p * sizeof(*pl->span);
}

static void share(nsccl_xchg_plan_t *out, entry_t *e) {
  *out = e->plan;
  out->shared = e;
  e->refs++;
  e->used = ++clock_uses;
}

/* Make room for `bytes` by dropping unused entries, oldest first; a free slot index or -1. */
static int make_room(size_t bytes) {
  for (;;) {
    int slot = -1, oldest = -1;
    for (int i = 0; i < CACHE_ENTRIES; i++) {
      if (!cache[i] && slot < 0) slot = i;
      if (cache[i] && cache[i]->refs == 0 && (oldest < 0 || cache[i]->used < cache[oldest]->used)) oldest = i;
    }
    if (slot >= 0 && cached_bytes + bytes <= CACHE_BYTES) return slot;
    if (oldest < 0) return -1;
    cached_bytes -= cache[oldest]->bytes;
    nsccl_xchg_plan_release(&cache[oldest]->plan);
    free(cache[oldest]);
    cache[oldest] = NULL;
  }
}

int nsccl_xchg_plan_find(nsccl_xchg_plan_t *pl, const void *key, size_t keylen) {
  int hit = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < CACHE_ENTRIES && !hit && keylen > 0; i++)
    if (cache[i] && cache[i]->keylen == keylen && !memcmp(cache[i]->key, key, keylen)) {
      share(pl, cache[i]);
      hit = 1;
    }
  pthread_mutex_unlock(&lock);
  return hit;
}

nscclResult_t nsccl_xchg_plan_init_key(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer,
                                       const void *key, size_t keylen) {
  if (keylen > NSCCL_XCHG_KEY_MAX) keylen = 0; /* too long to keep: cached by its peers only */
  pthread_mutex_lock(&lock);
  for (int i = 0; i < CACHE_ENTRIES; i++) {
    entry_t *e = cache[i];
    if (e && e->plan.p == p && e->plan.L == L && !memcmp(e->plan.peer, peer, sizeof(int) * (size_t)L * (size_t)p)) {
      if (keylen && !e->keylen) memcpy(e->key, key, keylen), e->keylen = keylen;
      share(pl, e);
      pthread_mutex_unlock(&lock);
      return nscclSuccess;
    }
  }
  pthread_mutex_unlock(&lock);
  /* Compute outside the lock (other builders may compute other plans meanwhile). */
  NSCCL_CHECK(nsccl_xchg_plan_compute(pl, who, p, L, peer));
  entry_t *e = malloc(sizeof(*e));
  if (!e) return nscclSuccess; /* no room to share: the caller owns its plan */
  e->plan = *pl;
  e->bytes = plan_bytes(pl);
  e->refs = 0;
  e->keylen = keylen;
  if (keylen) memcpy(e->key, key, keylen);
  pthread_mutex_lock(&lock);
  int slot = make_room(e->bytes);
  if (slot < 0) {
    free(e);
  } else {
    cache[slot] = e;
    cached_bytes += e->bytes;
    share(pl, e);
  }
  pthread_mutex_unlock(&lock);
  return nscclSuccess;
}

nscclResult_t nsccl_xchg_plan_init(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer) {
  return nsccl_xchg_plan_init_key(pl, who, p, L, peer, NULL, 0);
}

void nsccl_xchg_plan_free(nsccl_xchg_plan_t *pl) {
  if (!pl->shared) {
    nsccl_xchg_plan_release(pl);
    return;
  }
  pthread_mutex_lock(&lock);
  ((entry_t *)pl->shared)->refs--;
  pthread_mutex_unlock(&lock);
  memset(pl, 0, sizeof(*pl));
}
