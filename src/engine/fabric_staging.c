/* The fabric engine's staging buffers (fabric.h, "Memory"): a RECV_REDUCE whose destination is its
 * source receives into staging, then reduces. Buffers come from power-of-two size classes and are
 * reused from one collective to the next; beyond NSCCL_FABRIC_STAGING_CACHE they are released. */
#include <stdlib.h>

#include "engine/fabric_internal.h"

static int size_class(size_t bytes) {
  int c = MIN_CLASS;
  while (c < NCLASSES - 1 && ((size_t)1 << c) < bytes) c++;
  return c;
}

void *fabric_stage_get(nsccl_fabric_t *f, size_t bytes) {
  int c = size_class(bytes);
  pool_class_t *pc = &f->pool[c];
  if (pc->n > 0) {
    f->pool_bytes -= (size_t)1 << c;
    return pc->bufs[--pc->n];
  }
  return malloc((size_t)1 << c);
}

void fabric_stage_put(nsccl_fabric_t *f, void *buf, size_t bytes) {
  int c = size_class(bytes);
  pool_class_t *pc = &f->pool[c];
  if (pc->n == pc->cap) {
    int ncap = pc->cap ? pc->cap * 2 : 4;
    void **n = realloc(pc->bufs, (size_t)ncap * sizeof(void *));
    if (!n) {
      free(buf);
      return;
    }
    pc->bufs = n;
    pc->cap = ncap;
  }
  pc->bufs[pc->n++] = buf;
  f->pool_bytes += (size_t)1 << c;
}

/* Release cached staging beyond the cache limit, largest classes first. */
void fabric_stage_trim(nsccl_fabric_t *f) {
  for (int c = NCLASSES - 1; c >= 0 && f->pool_bytes > NSCCL_FABRIC_STAGING_CACHE; c--)
    while (f->pool[c].n > 0 && f->pool_bytes > NSCCL_FABRIC_STAGING_CACHE) {
      free(f->pool[c].bufs[--f->pool[c].n]);
      f->pool_bytes -= (size_t)1 << c;
    }
}
