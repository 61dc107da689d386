/* Scratch slots and the receive window (membound.h). */
#include <stdlib.h>

#include "algo/membound.h"
#include "base/check.h"

nscclResult_t nsccl_slots_init(nsccl_slots_t *s, nsccl_program_t *p, size_t base, size_t slot_bytes, uint32_t n) {
  s->buf = NSCCL_BUF_SCRATCH;
  s->base = base;
  s->slot_bytes = slot_bytes;
  s->n = n ? n : 1;
  s->next = 0;
  s->release = malloc(s->n * sizeof(*s->release));
  if (!s->release) NSCCL_FAIL(nscclSystemError, "out of memory for %u scratch slots (rank %d)", s->n, p->rank);
  for (uint32_t i = 0; i < s->n; i++) s->release[i] = NSCCL_NO_STEP;
  nsccl_prog_need_scratch(p, base + (size_t)s->n * slot_bytes);
  return nscclSuccess;
}

void nsccl_slots_free(nsccl_slots_t *s) {
  free(s->release);
  s->release = NULL;
}

uint32_t nsccl_slots_take(nsccl_slots_t *s, nsccl_step_id_t *wait) {
  uint32_t i = s->next;
  s->next = (s->next + 1) % s->n;
  *wait = s->release[i];
  return i;
}

nsccl_region_t nsccl_slots_region(const nsccl_slots_t *s, uint32_t i, size_t offset, size_t bytes) {
  return nsccl_region(s->buf, s->base + (size_t)i * s->slot_bytes + offset, bytes);
}

void nsccl_slots_release(nsccl_slots_t *s, uint32_t i, nsccl_step_id_t step) {
  if (step != NSCCL_NO_STEP) s->release[i] = step;
}

bool nsccl_algo_windowed(const nsccl_step_t *s) {
  return s->kind == NSCCL_STEP_RECV_REDUCE || (s->kind == NSCCL_STEP_RECV && s->dst.buf == NSCCL_BUF_SCRATCH);
}

static bool has_dep(const nsccl_program_t *p, const nsccl_step_t *s, uint32_t d) {
  const uint32_t *deps = nsccl_step_deps(p, s);
  for (uint32_t k = 0; k < s->ndeps; k++)
    if (deps[k] == d) return true;
  return false;
}

/* The windowed receives are spread over W lanes, each a chain (every member depends, directly, on
 * the lane's previous member), so at most one receive per lane is posted at a time. A receive that
 * already depends on a lane's tail simply extends that lane (no new dependency: a reduction chain
 * of one chunk stays one lane); any other takes the lane whose tail is oldest and depends on it.
 * Without such continuations this is "receive k waits for receive k - W". */
nscclResult_t nsccl_algo_window(nsccl_program_t *p, size_t chunk_bytes) {
  enum { W = NSCCL_ALGO_WINDOW };
  if (nsccl_prog_failed(p)) return nscclSuccess; /* the builder's caller reports it */
  size_t total = 0;
  uint32_t count = 0;
  for (uint32_t i = 0; i < p->nsteps; i++)
    if (nsccl_algo_windowed(&p->steps[i])) total += p->steps[i].dst.bytes, count++;
  if (count <= W || total <= (size_t)W * chunk_bytes) return nscclSuccess;

  uint32_t tail[W], extra = 0;
  for (int l = 0; l < W; l++) tail[l] = UINT32_MAX;
  uint32_t *target = malloc(p->nsteps * sizeof(*target));
  int8_t *lane = malloc(p->nsteps);
  if (!target || !lane) {
    free(target);
    free(lane);
    NSCCL_FAIL(nscclSystemError, "out of memory adding the receive window (rank %d)", p->rank);
  }
  for (uint32_t i = 0; i < p->nsteps; i++) {
    const nsccl_step_t *s = &p->steps[i];
    target[i] = UINT32_MAX;
    lane[i] = -1;
    if (!nsccl_algo_windowed(s)) continue;
    const uint32_t *deps = nsccl_step_deps(p, s);
    int l = -1;
    for (uint32_t d = 0; d < s->ndeps && l < 0; d++)
      if (lane[deps[d]] >= 0 && tail[lane[deps[d]]] == deps[d]) l = lane[deps[d]];
    if (l < 0) {
      l = 0; /* the lane whose tail is oldest (an empty lane first) */
      for (int k = 1; k < W; k++)
        if (tail[k] == UINT32_MAX ? tail[l] != UINT32_MAX : tail[l] != UINT32_MAX && tail[k] < tail[l]) l = k;
      if (tail[l] != UINT32_MAX && !has_dep(p, s, tail[l])) target[i] = tail[l], extra++;
    }
    lane[i] = (int8_t)l;
    tail[l] = i;
  }
  free(lane);
  if (!extra) {
    free(target);
    return nscclSuccess;
  }
  uint32_t *deps = malloc(((size_t)p->ndeps + extra) * sizeof(*deps));
  if (!deps) {
    free(target);
    NSCCL_FAIL(nscclSystemError, "out of memory adding %u window dependencies (rank %d)", extra, p->rank);
  }
  uint32_t nd = 0;
  for (uint32_t i = 0; i < p->nsteps; i++) {
    nsccl_step_t *s = &p->steps[i];
    const uint32_t *old = nsccl_step_deps(p, s);
    uint32_t first = nd;
    for (uint32_t d = 0; d < s->ndeps; d++) deps[nd++] = old[d];
    if (target[i] != UINT32_MAX) deps[nd++] = target[i];
    s->dep_first = first;
    s->ndeps = nd - first;
  }
  free(p->deps);
  p->deps = deps;
  p->ndeps = p->cap_deps = nd;
  free(target);
  return nscclSuccess;
}
