/* The fabric engine's progress loop (see fabric.h): a dependency-driven loop over one rank's plan.
 *
 * A step starts as soon as its last dependency completes. Local steps (COPY, REDUCE) run at once;
 * message steps are posted to the transport and complete when the transport marks their xfer done.
 * The calling thread polls the transport; when nothing moves it yields the CPU (sched_yield, then
 * short sleeps), so that more ranks than cores still progress. A collective that makes no progress
 * for timeout_ms is cancelled and reported. */
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "engine/fabric_internal.h"
#include "reduce/reduce.h"

/* Idle policy: poll, then yield, then sleep. With a core per rank the peer is running: spin a while
 * (tens of microseconds) first, since sched_yield is a system call that costs more than a small
 * message takes to arrive (16 polls made an 8-byte all-reduce on 2 ranks 1.0 us, 4096 made it
 * 0.65), then yield for a long while. When the host runs more ranks than it has cores, sched_yield
 * hands the CPU over poorly under CFS, so a waiting rank yields briefly and sleeps early to let the
 * rank it waits for run (8 ranks on 2 cores: yielding long made small all-reduces 2-3x slower). */
#define SPIN_POLLS         4096
#define SPIN_POLLS_OVERSUB 16
#define YIELDS             1024
#define YIELDS_OVERSUB     16
#define SLEEP_NS           20000
#define SLEEP_NS_OVERSUB   50000
/* A core shared with the peer one waits for (other work on the machine, or "hosts" that are
 * namespaces of one machine): the peer cannot run while this rank spins, so every wait costs the
 * whole spin (4096 polls of the tcp provider are ~1.6 ms: the millisecond rows of
 * docs/performance.md, "Between hosts"). A sched_yield that returns after more than
 * YIELD_CONTENDED_NS shows that something else ran on this core meanwhile (an uncontended one
 * returns in < 0.5 us here, 99.8% of 200,000); from then on, for CONTENDED_HOLD_NS, waits spin only
 * SPIN_POLLS_CONTENDED polls before yielding (a poll of the tcp provider is a system call; 2 polls
 * made the 8 B all-reduce of 2 namespace hosts pinned to one core 12.5-14.3 us against 14.3-18.1
 * with 16, Open MPI 14.7-18.6 alongside). An oversubscribed communicator keeps its own policy. */
#define YIELD_CONTENDED_NS   5000
#define CONTENDED_HOLD_NS    50000000
#define SPIN_POLLS_CONTENDED 2
/* ...but a slow yield says only that something ran on this core, not that it was the peer: on a
 * machine busy with other work, same-host ranks on two cores kept being marked (up to 5 yields
 * per 256 B-4 KiB all-reduce, counted with perf), and each wait then paid a sched_yield (0.3-1 us, or a time slice of
 * the other work) for a message that was a few hundred nanoseconds away. When a poll only reads shared memory
 * (nsccl_transport_polls_memory_only: nanoseconds, not a system call), a contended wait still
 * spins this many polls, a few microseconds, about what the yield itself costs, before yielding. */
#define SPIN_POLLS_CONTENDED_MEM 256

/* Ranks of several hosts on one machine, at most two per PU (2 "hosts" x 2 ranks, 4 x 1 on 2
 * cores: oversubscribed 2): the rank a wait depends on runs on the other core or is the only other
 * rank on this one, so a yield hands the core straight to it, while a sleep costs the timer: a
 * nanosleep of 50 us took 110-125 us (median, 2,000 sleeps at load 12), up to 3 ms at the 99th
 * percentile, and every wait of a message over the network reached it. Yielding without sleeping
 * (as Open MPI's mpi_yield_when_idle does), 2 hosts x 2 ranks, three alternating pairs of
 * latency sweeps against Open MPI: geomean 0.70 / 0.70 / 0.68 against 0.82 / 0.75 / 0.70, rows
 * above 1.0x 3 / 0 / 1 against 7 / 8 / 6, and no row where nsccl alone took milliseconds
 * (docs/performance.md, "Between hosts"). More ranks per PU keep sleeping (8 on 2 cores: yielding
 * long made small all-reduces 2-3x slower, above). */
#define YIELDS_SHARED_HOSTS 0x40000000u

void nsccl_fabric_set_oversubscribed(nsccl_fabric_t *f, int oversubscribed) {
  f->spins = oversubscribed ? SPIN_POLLS_OVERSUB : SPIN_POLLS;
  f->yields = oversubscribed == 2 ? YIELDS_SHARED_HOSTS : oversubscribed ? YIELDS_OVERSUB : YIELDS;
  f->sleep_ns = oversubscribed ? SLEEP_NS_OVERSUB : SLEEP_NS;
}

/* "receives from ranks 1, 3 never arrived; sends to rank 2 never completed" for in-flight steps. */
static void describe_pending(run_t *r, char *buf, size_t len) {
  const nsccl_program_t *p = r->p;
  size_t used = 0;
  buf[0] = '\0';
  for (int dir = 1; dir >= 0; dir--) {
    int shown = 0;
    for (int peer = 0; peer < p->nranks && used < len; peer++) {
      int pending = 0;
      for (uint32_t i = 0; i < r->ninflight && !pending; i++) {
        const nsccl_step_t *st = &r->pl->steps[r->f->inflight[i]];
        pending =
            st->peer == peer && (st->kind == NSCCL_STEP_SEND) == (dir == 0) && !r->f->xfer[r->f->inflight[i]].done;
      }
      if (!pending) continue;
      if (!shown)
        used += (size_t)snprintf(buf + used, len - used, "%s%s rank%s", used ? "; " : "",
                                 dir ? "messages from" : "sends to", "");
      used += (size_t)snprintf(buf + used, len - used, "%s %d", shown ? "," : "", peer);
      shown++;
    }
    if (shown && used < len)
      used += (size_t)snprintf(buf + used, len - used, dir ? " never arrived" : " never completed");
  }
  if (!buf[0]) snprintf(buf, len, "no transfer was pending");
}

/* Cancel what is posted, return staging to the pool, and record the failure. */
static nscclResult_t abandon(run_t *r, nscclResult_t code, const char *why) {
  nsccl_fabric_t *f = r->f;
  char pending[512];
  describe_pending(r, pending, sizeof(pending));
  if (f->tp) nsccl_transport_cancel_all(f->tp, code);
  /* Staging memory is not reused after a failure: a cancelled receive might still be written by a
   * provider that ignores the cancellation, so it is kept until the engine is destroyed (after
   * the transport is closed). */
  NSCCL_FAIL(code, "%s #%llu (rank %d of %d, %zu elements of %s) %s: %s", nsccl_coll_name(r->p->args.coll),
             (unsigned long long)r->seq, r->p->rank, r->p->nranks, r->p->args.count, nsccl_type_name(r->p->args.dtype),
             why, pending);
}

nscclResult_t nsccl_fabric_run(nsccl_fabric_t *f, const nsccl_program_t *p, const void *sendbuff, void *recvbuff,
                               nscclRedOp_t op, uint64_t seq) {
  nsccl_fabric_plan_t *pl = NULL;
  NSCCL_CHECK(nsccl_fabric_prepare(f, p, &pl));
  nscclResult_t rc = nsccl_fabric_run_plan(f, pl, sendbuff, recvbuff, op, seq);
  nsccl_fabric_plan_free(pl);
  return rc;
}

nscclResult_t nsccl_fabric_run_plan(nsccl_fabric_t *f, const nsccl_fabric_plan_t *pl, const void *sendbuff,
                                    void *recvbuff, nscclRedOp_t op, uint64_t seq) {
  const nsccl_program_t *p = pl->p;
  NSCCL_CHECK(fabric_reserve(f, p));
  /* Small programs are a few steps: a loop costs less than a call to memcpy. */
  for (uint32_t s = 0; s < pl->n; s++) f->missing[s] = pl->missing0[s];
  run_t r = {0};
  r.f = f;
  r.pl = pl;
  r.p = p;
  r.base[NSCCL_BUF_SEND] = (unsigned char *)(uintptr_t)sendbuff;
  r.base[NSCCL_BUF_RECV] = recvbuff;
  r.base[NSCCL_BUF_SCRATCH] = f->scratch;
  r.op = op == nscclAvg ? nscclSum : op;
  r.seq = seq;
  for (uint32_t s = 0; s < pl->nroots; s++) f->ready[s] = pl->roots[s];
  r.tail = pl->nroots;

  /* The clock is read only once idle: reading it on every step costs ~20 ns a time on a VM. */
  int64_t idle_since = 0;
  int64_t timeout_ns = (int64_t)f->timeout_ms * 1000000;
  unsigned idle = 0;
  unsigned spins = f->spins;
  if (f->contended_until && spins == SPIN_POLLS) {
    if (nsccl_now_ns() < f->contended_until)
      spins = SPIN_POLLS_CONTENDED;
    else
      f->contended_until = 0;
  }
  nscclResult_t rc = nscclSuccess;
  char why[1024]; /* room for a peer watcher's report inside the transport's error */
  while (r.ndone < p->nsteps) {
    int moved = 0;
    /* Messages first: post every ready transfer before copying or reducing, so that peers can
     * start on what this rank sends (a long local copy would otherwise hold back the send behind
     * it); then one local step, and poll again before the next. */
    while (r.head < r.tail || r.lhead < r.ltail) {
      while (r.head < r.tail) {
        uint32_t s = f->ready[r.head++];
        if (!fabric_is_msg(&pl->steps[s])) {
          f->local[r.ltail++] = s;
          continue;
        }
        rc = fabric_start(&r, s);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "could not post a transfer: %s", nsccl_error_detail());
          return abandon(&r, rc == nscclSystemError ? nscclSystemError : nscclRemoteError, why);
        }
        moved = 1;
        /* Done as it was posted (a send copied into the peer's slot, a receive whose message was
         * already there): finished now, without a round through the transport's progress. */
        if (r.ninflight && f->inflight[r.ninflight - 1] == s && f->xfer[s].done) {
          r.ninflight--;
          rc = fabric_finish(&r, s);
          if (rc != nscclSuccess) {
            snprintf(why, sizeof(why), "%s", nsccl_error_detail());
            return abandon(&r, rc, why);
          }
        }
      }
      if (r.lhead < r.ltail) {
        rc = fabric_start(&r, f->local[r.lhead++]);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "a local step failed: %s", nsccl_error_detail());
          return abandon(&r, rc, why);
        }
        moved = 1;
        if (r.ninflight) break; /* poll before the next local step */
      }
    }
    if (r.ninflight) {
      int n = nsccl_transport_progress(f->tp);
      if (n < 0) {
        snprintf(why, sizeof(why), "the transport failed (%s: %s)", nscclGetErrorString((nscclResult_t)-n),
                 nsccl_error_detail());
        return abandon(&r, -n == nscclTimeout ? nscclTimeout : nscclRemoteError, why);
      }
      for (uint32_t i = 0; i < r.ninflight;) {
        uint32_t s = f->inflight[i];
        if (!f->xfer[s].done) {
          i++;
          continue;
        }
        f->inflight[i] = f->inflight[--r.ninflight];
        rc = fabric_finish(&r, s);
        if (rc != nscclSuccess) {
          snprintf(why, sizeof(why), "%s", nsccl_error_detail());
          return abandon(&r, rc, why);
        }
        moved = 1;
      }
    } else if (r.head == r.tail && r.lhead == r.ltail && r.ndone < p->nsteps) {
      NSCCL_FAIL(nscclInternalError, "%s #%llu: rank %d's schedule is stuck (%u of %u steps done, none runnable)",
                 nsccl_coll_name(p->args.coll), (unsigned long long)seq, p->rank, r.ndone, p->nsteps);
    }
    if (moved) {
      idle = 0;
      continue;
    }
    if (++idle <= spins) continue;
    if (idle == spins + 1 && spins == SPIN_POLLS_CONTENDED && nsccl_transport_polls_memory_only(f->tp)) {
      spins = SPIN_POLLS_CONTENDED_MEM; /* for the rest of this collective */
      continue;
    }
    int64_t now = nsccl_now_ns();
    if (idle == spins + 1)
      idle_since = now;
    else if (now - idle_since > timeout_ns) {
      snprintf(why, sizeof(why), "made no progress for %d ms (NSCCL_TIMEOUT_MS)", f->timeout_ms);
      return abandon(&r, nscclTimeout, why);
    }
    if (idle <= spins + f->yields) {
      sched_yield();
      if (nsccl_now_ns() - now > YIELD_CONTENDED_NS) {
        f->contended_until = now + CONTENDED_HOLD_NS;
        if (spins == SPIN_POLLS) spins = SPIN_POLLS_CONTENDED, idle = spins + 1; /* keep yielding */
      }
    } else {
      struct timespec ts = {0, f->sleep_ns};
      nanosleep(&ts, NULL);
    }
  }
  fabric_stage_trim(f);
  /* Average divides the reduced output once (a non-root's recvbuff of a reduce may be NULL). */
  if (op == nscclAvg && nsccl_coll_output_reduced(&p->args, p->rank) && p->buf_bytes[NSCCL_BUF_RECV]) {
    size_t elem = nsccl_type_size(p->args.dtype);
    NSCCL_CHECK(nsccl_reduce_avg_finish(recvbuff, p->buf_bytes[NSCCL_BUF_RECV] / elem, p->args.dtype, p->nranks));
  }
  return nscclSuccess;
}
