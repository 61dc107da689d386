/* Memory registration cache, for providers whose mr_mode includes FI_MR_LOCAL (efa, verbs): buffers
 * handed to fi_tsend/fi_trecv need a descriptor from fi_mr_reg. Registering is expensive (pinning
 * pages), and collectives reuse the same buffers call after call, so registrations are kept, keyed
 * by address range, and reused for any buffer inside a registered range.
 *
 * Ranges are page-aligned. An entry used by a fragment in flight is never evicted; beyond
 * NSCCL_MR_CACHE_MAX entries the least recently used idle entry goes. Caveat (as in every such
 * cache without memory hooks): if the application unmaps a buffer and maps new memory at the same
 * address, the stale registration is reused; see docs/transport.md. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/tp_internal.h"

#define NSCCL_MR_CACHE_MAX 64

static size_t page_size(void) {
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
}

static void entry_free(nsccl_mr_entry_t *e) {
  if (e->mr) fi_close(&e->mr->fid);
  free(e);
}

static void evict_one(nsccl_mr_cache_t *c) {
  int victim = -1;
  for (int i = 0; i < c->n; i++)
    if (c->entries[i]->inflight == 0 && (victim < 0 || c->entries[i]->last_use < c->entries[victim]->last_use))
      victim = i;
  if (victim < 0) return; /* everything in use: let the cache grow */
  entry_free(c->entries[victim]);
  c->entries[victim] = c->entries[--c->n];
  c->evictions++;
}

nscclResult_t nsccl_mr_cache_get(nsccl_mr_cache_t *c, const void *buf, size_t len, nsccl_mr_entry_t **out) {
  uintptr_t lo = (uintptr_t)buf, hi = lo + (len ? len : 1);
  c->clock++;
  for (int i = 0; i < c->n; i++) {
    nsccl_mr_entry_t *e = c->entries[i];
    if (lo >= e->base && hi <= e->base + e->len) {
      e->last_use = c->clock;
      c->hits++;
      *out = e;
      return nscclSuccess;
    }
  }
  /* A new range that covers older, smaller ones makes them redundant: drop the idle ones. */
  size_t ps = page_size();
  uintptr_t base = lo & ~(uintptr_t)(ps - 1);
  size_t rlen = ((hi - base) + ps - 1) & ~(ps - 1);
  for (int i = 0; i < c->n;) {
    nsccl_mr_entry_t *e = c->entries[i];
    if (e->inflight == 0 && e->base >= base && e->base + e->len <= base + rlen) {
      entry_free(e);
      c->entries[i] = c->entries[--c->n];
    } else {
      i++;
    }
  }
  if (c->n >= NSCCL_MR_CACHE_MAX) evict_one(c);
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 16;
    nsccl_mr_entry_t **ne = realloc(c->entries, (size_t)cap * sizeof(*ne));
    if (!ne) NSCCL_FAIL(nscclSystemError, "transport: out of memory growing the registration cache");
    c->entries = ne;
    c->cap = cap;
  }
  nsccl_mr_entry_t *e = calloc(1, sizeof(*e));
  if (!e) NSCCL_FAIL(nscclSystemError, "transport: out of memory for a registration cache entry");
  e->base = base;
  e->len = rlen;
  /* Keys only matter for remote access, which we never grant; they must still be unique per domain
   * unless the provider picks them (FI_MR_PROV_KEY). */
  uint64_t key = (c->mr_mode & FI_MR_PROV_KEY) ? 0 : ++c->next_key;
  int rc = fi_mr_reg(c->domain, (void *)base, rlen, FI_SEND | FI_RECV, 0, key, 0, &e->mr, NULL);
  if (rc == 0 && (c->mr_mode & FI_MR_ENDPOINT)) {
    rc = fi_mr_bind(e->mr, &c->ep->fid, 0);
    if (rc == 0) rc = fi_mr_enable(e->mr);
  }
  if (rc != 0) {
    entry_free(e);
    NSCCL_FAIL(nscclSystemError, "transport: fi_mr_reg of %zu bytes at %p failed: %s (%d)", rlen, (void *)base,
               fi_strerror(-rc), rc);
  }
  e->desc = fi_mr_desc(e->mr);
  e->last_use = c->clock;
  c->entries[c->n++] = e;
  c->registrations++;
  NSCCL_TRACE(NSCCL_SUBSYS_NET, "transport: registered %zu bytes at %p (%d cached)", rlen, (void *)base, c->n);
  *out = e;
  return nscclSuccess;
}

void nsccl_mr_cache_put(nsccl_mr_entry_t *e) {
  if (e && e->inflight > 0) e->inflight--;
}

void nsccl_mr_cache_destroy(nsccl_mr_cache_t *c) {
  for (int i = 0; i < c->n; i++) entry_free(c->entries[i]);
  free(c->entries);
  c->entries = NULL;
  c->n = c->cap = 0;
}
