/* The exact price memo (price_memo.h). A small table searched from the newest entry: the walks a
 * selector sweep repeats come close together (one topology, size after size), so a few dozen
 * entries catch them, and a scan of stored hashes costs nothing beside one walk. */
#include "model/price_memo.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_ENTRIES 64
#define MEMO_BYTES   (16u << 20) /* all keys together */

typedef struct {
  uint64_t hash;
  size_t len;
  unsigned char *key; /* NULL: free slot */
  double seconds;
} entry_t;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t memo[MEMO_ENTRIES];
static int memo_next; /* the slot the next entry takes (the oldest one) */
static size_t memo_bytes;
static int memo_on = 1;
static unsigned long memo_hits;

/* FNV-1a, 64 bits: only to skip unequal keys quickly; equal keys are confirmed with memcmp. */
static uint64_t hash_of(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void drop(entry_t *e) {
  memo_bytes -= e->key ? e->len : 0;
  free(e->key);
  e->key = NULL;
}

int nsccl_price_memo_get(const void *key, size_t len, double *seconds) {
  uint64_t h = hash_of(key, len);
  int found = 0;
  pthread_mutex_lock(&memo_lock);
  for (int k = 1; memo_on && k <= MEMO_ENTRIES && !found; k++) {
    const entry_t *e = &memo[(memo_next - k + MEMO_ENTRIES) % MEMO_ENTRIES];
    if (e->key && e->hash == h && e->len == len && !memcmp(e->key, key, len)) *seconds = e->seconds, found = 1;
  }
  memo_hits += (unsigned long)found;
  pthread_mutex_unlock(&memo_lock);
  return found;
}

unsigned long nsccl_price_memo_hits(void) {
  pthread_mutex_lock(&memo_lock);
  unsigned long h = memo_hits;
  pthread_mutex_unlock(&memo_lock);
  return h;
}

void nsccl_price_memo_put(const void *key, size_t len, double seconds) {
  if (len > NSCCL_PRICE_MEMO_MAX_KEY) return;
  unsigned char *copy = malloc(len ? len : 1);
  if (!copy) return;
  memcpy(copy, key, len);
  uint64_t h = hash_of(key, len);
  pthread_mutex_lock(&memo_lock);
  if (memo_on) {
    /* make room: the oldest entries go first */
    for (int k = 0; k < MEMO_ENTRIES && memo_bytes + len > MEMO_BYTES; k++) drop(&memo[(memo_next + k) % MEMO_ENTRIES]);
    entry_t *e = &memo[memo_next];
    drop(e);
    *e = (entry_t){h, len, copy, seconds};
    memo_bytes += len;
    memo_next = (memo_next + 1) % MEMO_ENTRIES;
    copy = NULL;
  }
  pthread_mutex_unlock(&memo_lock);
  free(copy);
}

int nsccl_price_memo_enable(int on) {
  pthread_mutex_lock(&memo_lock);
  int was = memo_on;
  memo_on = on;
  if (!on)
    for (int k = 0; k < MEMO_ENTRIES; k++) drop(&memo[k]);
  pthread_mutex_unlock(&memo_lock);
  return was;
}

void nsccl_memo_key_add(nsccl_memo_key_t *k, const void *bytes, size_t len) {
  if (!k->ok) return;
  if (k->len + len > NSCCL_PRICE_MEMO_MAX_KEY) {
    k->ok = 0;
    return;
  }
  if (k->len + len > k->cap) {
    size_t cap = k->cap ? 2 * k->cap : 4096;
    while (cap < k->len + len) cap *= 2;
    unsigned char *b = realloc(k->buf, cap);
    if (!b) {
      k->ok = 0;
      return;
    }
    k->buf = b, k->cap = cap;
  }
  memcpy(k->buf + k->len, bytes, len);
  k->len += len;
}

void nsccl_memo_key_free(nsccl_memo_key_t *k) {
  free(k->buf);
  *k = (nsccl_memo_key_t){0};
}
