/* A program checked and turned into the fabric engine's plan (fabric.h): regions inside their
 * buffers, dependencies only on earlier steps, every step's successors, initial dependency counts
 * and message numbers per (direction, peer), made once for programs that run many times. */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/error_detail.h"
#include "engine/fabric_internal.h"

static nscclResult_t check_region(const nsccl_program_t *p, uint32_t s, nsccl_region_t r, const char *which) {
  if (r.bytes == 0) return nscclSuccess;
  if (r.buf >= NSCCL_NUM_BUFS || r.offset > p->buf_bytes[r.buf] || r.bytes > p->buf_bytes[r.buf] - r.offset)
    NSCCL_FAIL(nscclInternalError,
               "%s schedule, rank %d step %u: %s region [%zu, +%zu) lies outside the %s buffer "
               "(%zu bytes)",
               nsccl_coll_name(p->args.coll), p->rank, s, which, r.offset, r.bytes,
               nsccl_buf_name((nsccl_buf_t)(r.buf < NSCCL_NUM_BUFS ? r.buf : 0)),
               r.buf < NSCCL_NUM_BUFS ? p->buf_bytes[r.buf] : 0);
  return nscclSuccess;
}

void nsccl_fabric_plan_free(nsccl_fabric_plan_t *pl) {
  if (!pl) return;
  free(pl->steps);
  free(pl->missing0);
  free(pl->succ_off);
  free(pl->succ);
  free(pl->msg_idx);
  free(pl->roots);
  free(pl->unawaited);
  free(pl);
}

/* Checks every step of p and fills pl's dependency counts, roots, successor counts and message
 * numbers (count: [2 * nranks] zeroed, messages per (direction, peer)). */
static nscclResult_t plan_steps(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t *pl,
                                uint32_t *count) {
  for (uint32_t s = 0; s < p->nsteps; s++) {
    const nsccl_step_t *st = &p->steps[s];
    pl->missing0[s] = st->ndeps;
    if (st->ndeps == 0) pl->roots[pl->nroots++] = s;
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      if (dep >= s)
        NSCCL_FAIL(nscclInternalError, "%s schedule, rank %d: step %u depends on later step %u",
                   nsccl_coll_name(p->args.coll), p->rank, s, dep);
      pl->succ_off[dep + 1]++;
    }
    if (st->kind >= NSCCL_NUM_STEP_KINDS)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: unknown step kind %d", p->rank, s, st->kind);
    NSCCL_CHECK(check_region(p, s, st->src, "source"));
    NSCCL_CHECK(check_region(p, s, st->src2, "second source"));
    NSCCL_CHECK(check_region(p, s, st->dst, "destination"));
    if (!fabric_is_msg(st)) continue;
    if (st->peer < 0 || st->peer >= p->nranks || st->peer == p->rank)
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: message peer %d is not another rank of %d", p->rank, s, st->peer,
                 p->nranks);
    if (!f->tp && (st->kind == NSCCL_STEP_SEND ? st->src.bytes : st->dst.bytes))
      NSCCL_FAIL(nscclInternalError, "rank %d step %u: a message without a transport", p->rank, s);
    pl->msg_idx[s] = count[(st->kind == NSCCL_STEP_SEND ? 0 : 1) * p->nranks + st->peer]++;
  }
  return nscclSuccess;
}

/* A send nothing waits for, of bytes nothing in the program writes, delays nobody when the
 * receiver reads it where it lies: the sender's copy into a ring would be the only work saved or
 * spent. A rendezvous send completes only once the receiver has read it, so an awaited one would
 * hold back its successors; and bytes this run wrote are dirty in this core's cache, where the
 * receiver's single copy has to fetch them line by line after a system call (a 2-rank 64 KiB
 * all-reduce whose all-gather half went by rendezvous took 15 us against 9.5 through the rings).
 * Regions are compared where they lie (nsccl_prog_layout): in place, a write to the receive
 * buffer may cover a send's bytes named through the send buffer, and an in-place all-gather's own
 * block, which nothing writes, is as cold as out of place. Quadratic: small programs only. */
#define UNAWAITED_MAX_STEPS 64
static int writes_over(const nsccl_step_t *q, nsccl_region_t r, const size_t base[NSCCL_NUM_BUFS]) {
  nsccl_region_t d = q->dst;
  size_t dlo = base[d.buf] + d.offset, rlo = base[r.buf] + r.offset;
  return q->kind != NSCCL_STEP_SEND && d.bytes && r.bytes && dlo < rlo + r.bytes && rlo < dlo + d.bytes;
}

static void mark_unawaited(const nsccl_program_t *p, nsccl_fabric_plan_t *pl) {
  if (p->nsteps > UNAWAITED_MAX_STEPS) return;
  size_t base[NSCCL_NUM_BUFS];
  nsccl_prog_layout(p, base);
  for (uint32_t s = 0; s < p->nsteps; s++) {
    const nsccl_step_t *st = &p->steps[s];
    if (st->kind != NSCCL_STEP_SEND || pl->succ_off[s + 1] != pl->succ_off[s]) continue;
    int cold = 1;
    for (uint32_t q = 0; q < p->nsteps && cold; q++) cold = !writes_over(&p->steps[q], st->src, base);
    pl->unawaited[s] = (unsigned char)cold;
  }
}

/* Dependency graph, message numbers and region checks of a program, once. */
nscclResult_t nsccl_fabric_prepare(const nsccl_fabric_t *f, const nsccl_program_t *p, nsccl_fabric_plan_t **out) {
  uint32_t n = p->nsteps;
  nsccl_fabric_plan_t *pl = calloc(1, sizeof(*pl));
  /* count: messages per (direction, peer) while numbering; then a fill cursor per step. */
  uint32_t *count = calloc(2 * (size_t)p->nranks + n + 1, sizeof(uint32_t));
  if (pl) {
    pl->p = p;
    pl->n = n;
    pl->missing0 = malloc((n + 1) * sizeof(uint32_t));
    pl->succ_off = calloc(n + 1, sizeof(uint32_t));
    pl->succ = malloc((p->ndeps + 1) * sizeof(uint32_t));
    pl->msg_idx = malloc((n + 1) * sizeof(uint32_t));
    pl->roots = malloc((n + 1) * sizeof(uint32_t));
    pl->steps = malloc((n + 1) * sizeof(nsccl_step_t));
    pl->unawaited = calloc(n + 1, 1);
  }
  nscclResult_t rc = nscclSystemError;
  if (pl && count && pl->missing0 && pl->succ_off && pl->succ && pl->msg_idx && pl->roots && pl->steps && pl->unawaited)
    rc = plan_steps(f, p, pl, count);
  else
    nsccl_set_error(__FILE__, __LINE__, rc, "fabric engine: out of memory for a program of %u steps", n);
  if (rc != nscclSuccess) {
    free(count);
    nsccl_fabric_plan_free(pl);
    return rc;
  }
  for (uint32_t s = 0; s < n; s++) pl->succ_off[s + 1] += pl->succ_off[s];
  uint32_t *fill = count + 2 * (size_t)p->nranks; /* successors placed so far, per step */
  for (uint32_t s = 0; s < n; s++) {
    const nsccl_step_t *st = &p->steps[s];
    for (uint32_t d = 0; d < st->ndeps; d++) {
      uint32_t dep = p->deps[st->dep_first + d];
      pl->succ[pl->succ_off[dep] + fill[dep]++] = s;
    }
  }
  free(count);
  if (n) memcpy(pl->steps, p->steps, n * sizeof(nsccl_step_t));
  mark_unawaited(p, pl);
  fabric_fuse_receives(f, p, pl);
  *out = pl;
  return nscclSuccess;
}
