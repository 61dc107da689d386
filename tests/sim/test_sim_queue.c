/* The simulator's event queue (engine/sim_queue.h) pops events in (time, push order), checked
 * against a sort of everything pushed, in a workload shaped like a simulation's: every event is
 * pushed at or after the time of the one being handled, with many equal times and times that
 * differ in their last bits only. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/sim_queue.h"

typedef struct {
  double time;
  uint32_t order; /* push order */
} pushed_t;

static int by_time_then_order(const void *x, const void *y) {
  const pushed_t *a = x, *b = y;
  if (a->time != b->time) return a->time < b->time ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* A small deterministic generator (xorshift64), so that a failure repeats. */
static uint64_t next_rand(uint64_t *st) {
  *st ^= *st << 13;
  *st ^= *st >> 7;
  *st ^= *st << 17;
  return *st;
}

static double later(double now, uint64_t *st) {
  switch (next_rand(st) % 4) {
  case 0: return now;                 /* the same instant */
  case 1: return nextafter(now, 1.0); /* one ulp later */
  case 2: return now + 1e-9 * (double)(next_rand(st) % 1000);
  default: return now + 1e-6 * (double)(next_rand(st) % 100);
  }
}

Test(sim_queue, pops_in_time_then_push_order) {
  enum { TOTAL = 200000 };
  pushed_t *log = malloc(TOTAL * sizeof(*log));
  uint32_t *popped = malloc(TOTAL * sizeof(*popped));
  cr_assert(log && popped);
  simq_t q;
  cr_assert(simq_init(&q, 16));
  uint64_t st = 88172645463325252ull;
  uint32_t npushed = 0, npopped = 0;
  double now = 0;
  while (npushed < 1000) { /* a first burst at time 0 and just after */
    sim_event_t e = {later(0, &st), 0, npushed, 0, 0, 0};
    cr_assert_eq(simq_push(&q, &e), 1);
    log[npushed] = (pushed_t){e.time, npushed};
    npushed++;
  }
  while (q.n > 0) {
    sim_event_t e;
    cr_assert_eq(simq_pop(&q, &e), 1);
    cr_assert(e.time >= now, "popped %.17g after %.17g", e.time, now);
    now = e.time;
    popped[npopped++] = e.a;
    int children = (int)(next_rand(&st) % 3); /* 0, 1 or 2 follow-ups: the queue grows and shrinks */
    for (int c = 0; c < children && npushed < TOTAL; c++) {
      sim_event_t f = {later(now, &st), 0, npushed, 0, 0, 0};
      cr_assert_eq(simq_push(&q, &f), 1);
      log[npushed] = (pushed_t){f.time, npushed};
      npushed++;
    }
  }
  cr_assert_eq(npopped, npushed);
  cr_assert_gt(npushed, TOTAL / 2, "the workload should be large (%u events)", npushed);
  qsort(log, npushed, sizeof(*log), by_time_then_order);
  for (uint32_t i = 0; i < npushed; i++)
    cr_assert_eq(popped[i], log[i].order, "pop %u: event %u, expected %u", i, popped[i], log[i].order);
  simq_free(&q);
  free(log);
  free(popped);
}

Test(sim_queue, refuses_an_event_in_the_past) {
  simq_t q;
  cr_assert(simq_init(&q, 16));
  sim_event_t e = {2.0, 0, 0, 0, 0, 0}, out;
  cr_assert_eq(simq_push(&q, &e), 1);
  cr_assert_eq(simq_pop(&q, &out), 1);
  e.time = 1.0;
  cr_assert_eq(simq_push(&q, &e), -1);
  e.time = 2.0;
  cr_assert_eq(simq_push(&q, &e), 1);
  simq_free(&q);
}
