/* Monotonic time and deadlines in nanoseconds: every wait in the runtime has a deadline; and how a
 * waiting poller that finds nothing to do gives the CPU away. */
#ifndef NSCCL_BASE_CLOCK_H
#define NSCCL_BASE_CLOCK_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

static inline int64_t nsccl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The deadline timeout_ms from now. */
static inline int64_t nsccl_deadline_ms(int timeout_ms) { return nsccl_now_ns() + (int64_t)timeout_ms * 1000000; }

/* Milliseconds left until deadline, clamped to [0, INT32_MAX] (a poll() timeout). */
static inline int nsccl_ms_left(int64_t deadline) {
  int64_t left = deadline - nsccl_now_ns();
  if (left <= 0) return 0;
  left = (left + 999999) / 1000000;
  return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* A poller that found nothing to do for the *idle-th time in a row (reset it when something
 * moves): the first 256 times it yields the CPU (cheap while the peers run on other cores), after
 * that it sleeps 20 us each time, so that ranks oversubscribing few cores let the others run. */
static inline void nsccl_idle_pause(unsigned *idle) {
  if (++*idle <= 256) {
    sched_yield();
  } else {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
  }
}

#endif
