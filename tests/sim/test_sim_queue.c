/* The simulator's event queue (engine/sim_queue.h) pops events in (time, push order), checked
 * against a sort of everything pushed, in a workload shaped like a simulation's: every event is
 * pushed at or after the time of the one being handled, with many equal times and times that
 * differ in their last bits only. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
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

/* A queue with a log of what was pushed and what popped, checked against a sort of the log. */
typedef struct {
  simq_t q;
  pushed_t *log;
  uint32_t *popped;
  uint32_t npushed, npopped, total;
} run_t;

static void run_init(run_t *r, uint32_t total) {
  r->log = malloc(total * sizeof(*r->log));
  r->popped = malloc(total * sizeof(*r->popped));
  cr_assert(r->log && r->popped);
  cr_assert(simq_init(&r->q, 16));
  r->npushed = r->npopped = 0;
  r->total = total;
}

/* Push an event at t, its payload its push number; false once the budget is used. */
static bool run_push(run_t *r, double t) {
  if (r->npushed == r->total) return false;
  sim_event_t e = {t, 0, r->npushed, 0, 0, 0};
  cr_assert_eq(simq_push(&r->q, &e), 1);
  r->log[r->npushed] = (pushed_t){t, r->npushed};
  r->npushed++;
  return true;
}

static sim_event_t run_pop(run_t *r) {
  sim_event_t e;
  cr_assert_eq(simq_pop(&r->q, &e), 1);
  r->popped[r->npopped++] = e.a;
  return e;
}

/* Everything pushed came out, in the order of a sort by (time, push order). */
static void run_check(run_t *r) {
  cr_assert_eq(r->npopped, r->npushed);
  qsort(r->log, r->npushed, sizeof(*r->log), by_time_then_order);
  for (uint32_t i = 0; i < r->npushed; i++)
    cr_assert_eq(r->popped[i], r->log[i].order, "pop %u: event %u, expected %u", i, r->popped[i], r->log[i].order);
  simq_free(&r->q);
  free(r->log);
  free(r->popped);
}

Test(sim_queue, pops_in_time_then_push_order) {
  run_t r;
  run_init(&r, 200000);
  uint64_t st = 88172645463325252ull;
  double now = 0;
  while (r.npushed < 1000) run_push(&r, later(0, &st)); /* a first burst at time 0 and just after */
  while (r.q.n > 0) {
    sim_event_t e = run_pop(&r);
    cr_assert(e.time >= now, "popped %.17g after %.17g", e.time, now);
    now = e.time;
    int children = (int)(next_rand(&st) % 3); /* 0, 1 or 2 follow-ups: the queue grows and shrinks */
    for (int c = 0; c < children; c++) run_push(&r, later(now, &st));
  }
  cr_assert_gt(r.npushed, r.total / 2, "the workload should be large (%u events)", r.npushed);
  run_check(&r);
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

/* Events of one future time pushed from many different instants (while the queue moves through
 * the times before it) come out in push order after everything earlier: the FIFO of the current
 * instant is filled from the one bucket that holds all events of a time. */
Test(sim_queue, one_time_from_many_instants_keeps_push_order) {
  static const double targets[3] = {1.0, 1.5, 3.0};
  run_t r;
  run_init(&r, 20000);
  uint64_t st = 2463534242ull;
  uint32_t at_targets = 0;
  run_push(&r, 0.0);
  while (r.q.n > 0) {
    sim_event_t x = run_pop(&r);
    at_targets += x.time == targets[0] || x.time == targets[1] || x.time == targets[2];
    /* a follow-up a little later (walking the clock up to the targets) and, every other time,
     * one at the next target still ahead */
    double t = x.time + 1e-4 * (double)(next_rand(&st) % 7);
    if (t <= 4.0) run_push(&r, t);
    int k = 0;
    while (k < 3 && targets[k] <= x.time) k++;
    if (k < 3 && next_rand(&st) % 2) run_push(&r, targets[k]);
  }
  cr_assert_gt(at_targets, 100, "the workload should put many events on the target times (%u)", at_targets);
  run_check(&r);
}
