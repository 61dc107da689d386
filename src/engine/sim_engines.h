/* The DMA engines of one issuer (a rank, or a storing chip that re-sends), as the simulator needs
 * them. Engines are interchangeable and a message releases all the engines it took at one instant,
 * so what matters is how many are free now and when the busy ones free up, not which is which: the
 * busy ones are kept as groups (release time, count) sorted by release time, groups of equal time
 * merged. Taking engines retires the groups whose time has come and costs a few groups, where
 * scanning every engine's free time (128 on the Trainium presets) was a tenth of a run's time; the
 * counts and times are those of the per-engine scan, so nothing simulated changes. */
#ifndef NSCCL_ENGINE_SIM_ENGINES_H
#define NSCCL_ENGINE_SIM_ENGINES_H

#include <stdint.h>
#include <string.h>

typedef struct {
  double release; /* when these engines are free again */
  uint32_t count;
} eng_group_t;

/* One issuer's engines: nfree free, the busy ones in groups g[head .. head + n) of an array of
 * `engines` slots (every group holds at least one engine, so they always fit). */
typedef struct {
  uint32_t nfree, head, n;
} eng_pool_t;

/* Free the groups whose release time is at or before now; returns the engines free now. */
static inline uint32_t eng_free_now(eng_pool_t *p, const eng_group_t *g, double now) {
  while (p->n > 0 && g[p->head].release <= now) {
    p->nfree += g[p->head].count;
    p->head++;
    p->n--;
  }
  if (p->n == 0) p->head = 0;
  return p->nfree;
}

/* Take k free engines (k <= nfree) until release. cap: the slots of g (the issuer's engines). */
static inline void eng_take(eng_pool_t *p, eng_group_t *g, uint32_t cap, uint32_t k, double release) {
  p->nfree -= k;
  uint32_t end = p->head + p->n, j = end;
  while (j > p->head && g[j - 1].release > release) j--;
  if (j > p->head && g[j - 1].release == release) {
    g[j - 1].count += k;
    return;
  }
  if (end == cap) { /* no slot past the last group: move the groups to the front */
    memmove(g, g + p->head, (size_t)p->n * sizeof(*g));
    j -= p->head;
    end -= p->head;
    p->head = 0;
  }
  memmove(g + j + 1, g + j, (size_t)(end - j) * sizeof(*g));
  g[j] = (eng_group_t){release, k};
  p->n++;
}

/* When the first busy engine frees (call only when none is free). */
static inline double eng_next_release(const eng_pool_t *p, const eng_group_t *g) { return g[p->head].release; }

#endif
