/* The schedule validator: checks a set of programs (one per rank) before anything runs.
 *
 * Four passes, cheapest first; the first problem found is reported with the rank and step:
 *  1. form      each program alone: rank/args consistent, kinds known, peers valid, regions in
 *               bounds, operand sizes equal, reductions on whole elements, dependencies earlier.
 *               O(steps + deps).
 *  2. matching  per ordered pair a->b, the k-th SEND of a to b and the k-th RECV/RECV_REDUCE of b
 *               from a exist and carry the same bytes. O(steps + nranks^2).
 *  3. deadlock  a rendezvous simulation (the local engine's semantics without data): a SEND and its
 *               receive complete together once both are ready; local steps once their deps are done.
 *               O(steps + deps).
 *  4. accesses  per program, on one address space per rank in which the in-place aliasing of send
 *               and recv is modelled (validate_access.c): reads of never-written bytes, unordered
 *               conflicting accesses (races), partial self-overlap, and an incomplete output.
 * See docs/schedules.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "reduce/reduce.h"
#include "sched/validate_internal.h"

nscclResult_t nsccl_vfail(nsccl_vctx_t *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->err, v->errlen, fmt, ap);
  va_end(ap);
  NSCCL_FAIL(nscclInvalidUsage, "schedule validation: %s", v->err);
}

const char *nsccl_vkind(const nsccl_step_t *s) { return nsccl_step_kind_name((nsccl_step_kind_t)s->kind); }

static bool is_comm(const nsccl_step_t *s) {
  return s->kind == NSCCL_STEP_SEND || s->kind == NSCCL_STEP_RECV || s->kind == NSCCL_STEP_RECV_REDUCE;
}

/* ---- pass 1: form ---- */

static nscclResult_t check_region(nsccl_vctx_t *v, const nsccl_program_t *p, uint32_t i, const char *role,
                                  nsccl_region_t r) {
  const nsccl_step_t *s = &p->steps[i];
  if (r.buf >= NSCCL_NUM_BUFS)
    return nsccl_vfail(v, "rank %d step %u (%s): %s names unknown buffer %d", p->rank, i, nsccl_vkind(s), role, r.buf);
  size_t size = p->buf_bytes[r.buf];
  if (r.offset > size || r.bytes > size - r.offset)
    return nsccl_vfail(v, "rank %d step %u (%s): %s %s[%zu, %zu) is out of bounds of the %zu-byte %s buffer", p->rank,
                       i, nsccl_vkind(s), role, nsccl_buf_name((nsccl_buf_t)r.buf), r.offset, r.offset + r.bytes, size,
                       nsccl_buf_name((nsccl_buf_t)r.buf));
  return nscclSuccess;
}

static nscclResult_t check_sizes(nsccl_vctx_t *v, const nsccl_program_t *p, uint32_t i, bool reduces) {
  const nsccl_step_t *s = &p->steps[i];
  bool has2 = s->kind == NSCCL_STEP_REDUCE;
  if (s->src.bytes != s->dst.bytes || (has2 && s->src2.bytes != s->dst.bytes))
    return nsccl_vfail(v, "rank %d step %u (%s): operand sizes differ (src %zu, %sdst %zu bytes)", p->rank, i,
                       nsccl_vkind(s), s->src.bytes, has2 ? "src2 " : "", s->dst.bytes);
  size_t elem = nsccl_type_size(p->args.dtype);
  if (reduces && s->dst.bytes % elem)
    return nsccl_vfail(v, "rank %d step %u (%s): reduces %zu bytes, not a whole number of %zu-byte %s elements",
                       p->rank, i, nsccl_vkind(s), s->dst.bytes, elem, nsccl_type_name(p->args.dtype));
  if (reduces && ((s->src.offset | s->dst.offset | (has2 ? s->src2.offset : 0)) % elem))
    return nsccl_vfail(v, "rank %d step %u (%s): reduction operands are not aligned to %zu-byte elements", p->rank, i,
                       nsccl_vkind(s), elem);
  return nscclSuccess;
}

static nscclResult_t check_form(nsccl_vctx_t *v, const nsccl_program_t *progs, int nranks, int r) {
  const nsccl_program_t *p = &progs[r], *p0 = &progs[0];
  if (p->rank != r || p->nranks != nranks)
    return nsccl_vfail(v, "program %d says it is rank %d of %d, expected rank %d of %d", r, p->rank, p->nranks, r,
                       nranks);
  if (nsccl_prog_failed(p)) return nsccl_vfail(v, "rank %d: the program was not fully built (out of memory)", r);
  if ((unsigned)p->args.coll >= NSCCL_NUM_COLLS_ALL || nsccl_type_size(p->args.dtype) == 0)
    return nsccl_vfail(v, "rank %d: unknown collective %d or datatype %d", r, (int)p->args.coll, (int)p->args.dtype);
  if (p->args.coll != p0->args.coll || p->args.count != p0->args.count || p->args.dtype != p0->args.dtype ||
      p->args.in_place != p0->args.in_place || p->args.root != p0->args.root)
    return nsccl_vfail(
        v, "rank %d runs %s count %zu dtype %s in_place %d but rank 0 runs %s count %zu dtype %s in_place %d", r,
        nsccl_coll_name(p->args.coll), p->args.count, nsccl_type_name(p->args.dtype), p->args.in_place,
        nsccl_coll_name(p0->args.coll), p0->args.count, nsccl_type_name(p0->args.dtype), p0->args.in_place);
  size_t sb = nsccl_coll_send_bytes(&p->args, nranks), rb = nsccl_coll_recv_bytes(&p->args, nranks);
  if (p->buf_bytes[NSCCL_BUF_SEND] != sb || p->buf_bytes[NSCCL_BUF_RECV] != rb)
    return nsccl_vfail(v, "rank %d: buffer sizes send %zu recv %zu, but the collective implies %zu and %zu", r,
                       p->buf_bytes[NSCCL_BUF_SEND], p->buf_bytes[NSCCL_BUF_RECV], sb, rb);
  if (p->nsteps && !p->steps) return nsccl_vfail(v, "rank %d: %u steps but no step array", r, p->nsteps);
  for (uint32_t i = 0; i < p->nsteps; i++) {
    const nsccl_step_t *s = &p->steps[i];
    if (s->kind >= NSCCL_NUM_STEP_KINDS) return nsccl_vfail(v, "rank %d step %u: unknown step kind %d", r, i, s->kind);
    if ((uint64_t)s->dep_first + s->ndeps > p->ndeps)
      return nsccl_vfail(v, "rank %d step %u (%s): dependency list [%u, +%u) lies outside the %u listed", r, i,
                         nsccl_vkind(s), s->dep_first, s->ndeps, p->ndeps);
    for (uint32_t d = 0; d < s->ndeps; d++) {
      uint32_t dep = p->deps[s->dep_first + d];
      if (dep >= i)
        return nsccl_vfail(v, "rank %d step %u (%s) depends on step %u, which is not an earlier step", r, i,
                           nsccl_vkind(s), dep);
    }
    if (is_comm(s) && (s->peer < 0 || s->peer >= nranks || s->peer == r))
      return nsccl_vfail(v, "rank %d step %u (%s): peer %d is %s", r, i, nsccl_vkind(s), s->peer,
                         s->peer == r ? "the rank itself" : "out of range");
    switch (s->kind) {
    case NSCCL_STEP_SEND: NSCCL_CHECK(check_region(v, p, i, "src", s->src)); break;
    case NSCCL_STEP_RECV: NSCCL_CHECK(check_region(v, p, i, "dst", s->dst)); break;
    case NSCCL_STEP_RECV_REDUCE:
    case NSCCL_STEP_COPY:
      NSCCL_CHECK(check_region(v, p, i, "src", s->src));
      NSCCL_CHECK(check_region(v, p, i, "dst", s->dst));
      NSCCL_CHECK(check_sizes(v, p, i, s->kind == NSCCL_STEP_RECV_REDUCE));
      break;
    case NSCCL_STEP_REDUCE:
      NSCCL_CHECK(check_region(v, p, i, "src", s->src));
      NSCCL_CHECK(check_region(v, p, i, "src2", s->src2));
      NSCCL_CHECK(check_region(v, p, i, "dst", s->dst));
      NSCCL_CHECK(check_sizes(v, p, i, true));
      break;
    default: break;
    }
  }
  return nscclSuccess;
}

/* ---- pass 2: matching ---- */

/* Per rank, the step ids of its messages grouped by (direction, peer), in program order:
 * slot dir * nranks + peer, dir 0 = sends, 1 = receives. */
typedef struct {
  uint32_t *off; /* 2 * nranks + 1 */
  uint32_t *ids; /* nsteps */
  uint32_t *nth; /* per step: its index within its slot */
} msg_index_t;

static uint32_t slot_of(const nsccl_step_t *s, int nranks) {
  return (uint32_t)((s->kind == NSCCL_STEP_SEND ? 0 : 1) * nranks + s->peer);
}

static bool build_index(msg_index_t *m, const nsccl_program_t *p, int nranks) {
  size_t nslots = (size_t)nranks * 2;
  m->off = calloc(nslots + 1, sizeof(uint32_t));
  m->ids = malloc(((size_t)p->nsteps + 1) * sizeof(uint32_t));
  m->nth = malloc(((size_t)p->nsteps + 1) * sizeof(uint32_t));
  if (!m->off || !m->ids || !m->nth) return false;
  for (uint32_t i = 0; i < p->nsteps; i++)
    if (is_comm(&p->steps[i])) m->nth[i] = m->off[slot_of(&p->steps[i], nranks) + 1]++;
  for (size_t k = 0; k < nslots; k++) m->off[k + 1] += m->off[k];
  for (uint32_t i = 0; i < p->nsteps; i++)
    if (is_comm(&p->steps[i])) m->ids[m->off[slot_of(&p->steps[i], nranks)] + m->nth[i]] = i;
  return true;
}

static void free_index(msg_index_t *m) {
  free(m->off);
  free(m->ids);
  free(m->nth);
}

static nscclResult_t check_matching(nsccl_vctx_t *v, const nsccl_program_t *progs, int nranks, const msg_index_t *idx) {
  for (int a = 0; a < nranks; a++) {
    for (int b = 0; b < nranks; b++) {
      if (a == b) continue;
      const msg_index_t *ma = &idx[a], *mb = &idx[b];
      uint32_t s0 = ma->off[b], ns = ma->off[b + 1] - s0;                   /* a's sends to b */
      uint32_t r0 = mb->off[nranks + a], nr = mb->off[nranks + a + 1] - r0; /* b's receives from a */
      uint32_t n = ns < nr ? ns : nr;
      for (uint32_t k = 0; k < n; k++) {
        uint32_t si = ma->ids[s0 + k], ri = mb->ids[r0 + k];
        const nsccl_step_t *snd = &progs[a].steps[si], *rcv = &progs[b].steps[ri];
        if (snd->src.bytes != rcv->dst.bytes)
          return nsccl_vfail(v,
                             "rank %d step %u sends %zu bytes to rank %d, but the matching receive (message %u of "
                             "the pair) rank %d step %u (%s) takes %zu bytes",
                             a, si, snd->src.bytes, b, k, b, ri, nsccl_vkind(rcv), rcv->dst.bytes);
      }
      if (ns > nr) {
        uint32_t si = ma->ids[s0 + nr];
        return nsccl_vfail(v,
                           "rank %d step %u sends %zu bytes to rank %d which posts no matching receive (rank %d "
                           "sends %u messages to rank %d, which receives %u)",
                           a, si, progs[a].steps[si].src.bytes, b, a, ns, b, nr);
      }
      if (nr > ns) {
        uint32_t ri = mb->ids[r0 + ns];
        return nsccl_vfail(v,
                           "rank %d step %u (%s) receives %zu bytes from rank %d which sends no matching message "
                           "(rank %d sends %u messages to rank %d, which receives %u)",
                           b, ri, nsccl_vkind(&progs[b].steps[ri]), progs[b].steps[ri].dst.bytes, a, a, ns, b, nr);
      }
    }
  }
  return nscclSuccess;
}

/* ---- pass 3: deadlock ---- */

typedef struct {
  uint32_t *missing, *succ_off, *succ;
  unsigned char *posted, *done;
} sim_rank_t;

static bool sim_setup(sim_rank_t *sr, const nsccl_program_t *p) {
  uint32_t n = p->nsteps;
  sr->missing = calloc((size_t)n + 1, sizeof(uint32_t));
  sr->succ_off = calloc((size_t)n + 2, sizeof(uint32_t));
  sr->succ = malloc(((size_t)p->ndeps + 1) * sizeof(uint32_t));
  sr->posted = calloc((size_t)n + 1, 1);
  sr->done = calloc((size_t)n + 1, 1);
  uint32_t *fill = calloc((size_t)n + 1, sizeof(uint32_t));
  bool ok = sr->missing && sr->succ_off && sr->succ && sr->posted && sr->done && fill;
  if (ok) {
    for (uint32_t i = 0; i < n; i++) {
      const nsccl_step_t *s = &p->steps[i];
      sr->missing[i] = s->ndeps;
      for (uint32_t d = 0; d < s->ndeps; d++) sr->succ_off[p->deps[s->dep_first + d] + 1]++;
    }
    for (uint32_t i = 0; i < n; i++) sr->succ_off[i + 1] += sr->succ_off[i];
    for (uint32_t i = 0; i < n; i++) {
      const nsccl_step_t *s = &p->steps[i];
      for (uint32_t d = 0; d < s->ndeps; d++) {
        uint32_t dep = p->deps[s->dep_first + d];
        sr->succ[sr->succ_off[dep] + fill[dep]++] = i;
      }
    }
  }
  free(fill);
  return ok;
}

static void sim_free(sim_rank_t *sr) {
  free(sr->missing);
  free(sr->succ_off);
  free(sr->succ);
  free(sr->posted);
  free(sr->done);
}

static nscclResult_t report_deadlock(nsccl_vctx_t *v, const nsccl_program_t *progs, int nranks, const sim_rank_t *sim,
                                     const msg_index_t *idx, uint64_t stuck) {
  char buf[768];
  size_t used =
      (size_t)snprintf(buf, sizeof(buf), "deadlock: %llu steps can never complete;", (unsigned long long)stuck);
  int shown = 0;
  for (int r = 0; r < nranks && shown < 4; r++) {
    for (uint32_t i = 0; i < progs[r].nsteps && shown < 4; i++) {
      if (!sim[r].posted[i] || sim[r].done[i]) continue;
      /* A posted, unfinished step is a communication step waiting for its partner. */
      const nsccl_step_t *s = &progs[r].steps[i];
      int send = s->kind == NSCCL_STEP_SEND;
      const msg_index_t *m = &idx[s->peer];
      uint32_t partner = m->ids[m->off[(send ? nranks : 0) + r] + idx[r].nth[i]];
      const sim_rank_t *ps = &sim[s->peer];
      if (used < sizeof(buf))
        used += (size_t)snprintf(buf + used, sizeof(buf) - used,
                                 " rank %d step %u (%s %s rank %d) waits for rank %d step %u, which waits for %u "
                                 "unfinished dependencies;",
                                 r, i, nsccl_vkind(s), send ? "to" : "from", s->peer, s->peer, partner,
                                 ps->missing[partner]);
      shown++;
    }
  }
  return nsccl_vfail(v, "%s", buf);
}

static nscclResult_t check_deadlock(nsccl_vctx_t *v, const nsccl_program_t *progs, int nranks, const msg_index_t *idx) {
  sim_rank_t *sim = calloc((size_t)nranks, sizeof(sim_rank_t));
  uint64_t total = 0;
  for (int r = 0; r < nranks; r++) total += progs[r].nsteps;
  uint64_t *queue = malloc((size_t)(total + 1) * sizeof(uint64_t)); /* every step is queued once */
  bool ok = sim && queue;
  for (int r = 0; ok && r < nranks; r++) ok = sim_setup(&sim[r], &progs[r]);
  nscclResult_t rc = nscclSuccess;
  if (!ok) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "schedule validation: out of memory simulating %llu steps",
                    (unsigned long long)total);
    snprintf(v->err, v->errlen, "out of memory simulating %llu steps", (unsigned long long)total);
  }
  size_t head = 0, tail = 0;
  uint64_t ndone = 0;
  for (int r = 0; ok && r < nranks; r++)
    for (uint32_t i = 0; i < progs[r].nsteps; i++)
      if (sim[r].missing[i] == 0) queue[tail++] = ((uint64_t)r << 32) | i;
  while (ok && head < tail) {
    int r = (int)(queue[head] >> 32);
    uint32_t i = (uint32_t)queue[head++];
    const nsccl_step_t *s = &progs[r].steps[i];
    /* Steps that complete now: the step itself, and its partner if that already waits. */
    int done_r[2] = {r, -1};
    uint32_t done_i[2] = {i, 0};
    int ndone_now = 1;
    if (is_comm(s)) {
      sim[r].posted[i] = 1;
      const msg_index_t *m = &idx[s->peer];
      uint32_t partner = m->ids[m->off[(s->kind == NSCCL_STEP_SEND ? nranks : 0) + r] + idx[r].nth[i]];
      if (!sim[s->peer].posted[partner]) continue;
      done_r[1] = s->peer;
      done_i[1] = partner;
      ndone_now = 2;
    }
    for (int k = 0; k < ndone_now; k++) {
      sim_rank_t *sr = &sim[done_r[k]];
      sr->done[done_i[k]] = 1;
      ndone++;
      for (uint32_t e = sr->succ_off[done_i[k]]; e < sr->succ_off[done_i[k] + 1]; e++)
        if (--sr->missing[sr->succ[e]] == 0) queue[tail++] = ((uint64_t)done_r[k] << 32) | sr->succ[e];
    }
  }
  if (ok && ndone != total) rc = report_deadlock(v, progs, nranks, sim, idx, total - ndone);
  for (int r = 0; sim && r < nranks; r++) sim_free(&sim[r]);
  free(sim);
  free(queue);
  return rc;
}

/* ---- entry point ---- */

nscclResult_t nsccl_sched_validate(const nsccl_program_t *progs, int nranks, char *err, size_t errlen) {
  char local[512];
  nsccl_vctx_t v = {err && errlen ? err : local, err && errlen ? errlen : sizeof(local)};
  v.err[0] = '\0';
  if (!progs || nranks < 1) return nsccl_vfail(&v, "no programs (%d ranks)", nranks);
  for (int r = 0; r < nranks; r++) NSCCL_CHECK(check_form(&v, progs, nranks, r));

  msg_index_t *idx = calloc((size_t)nranks, sizeof(msg_index_t));
  bool ok = idx != NULL;
  for (int r = 0; ok && r < nranks; r++) ok = build_index(&idx[r], &progs[r], nranks);
  nscclResult_t rc = nscclSuccess;
  if (!ok) {
    snprintf(v.err, v.errlen, "out of memory indexing messages");
    nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "schedule validation: out of memory indexing messages");
    rc = nscclSystemError;
  }
  if (rc == nscclSuccess) rc = check_matching(&v, progs, nranks, idx);
  if (rc == nscclSuccess) rc = check_deadlock(&v, progs, nranks, idx);
  for (int r = 0; idx && r < nranks; r++) free_index(&idx[r]);
  free(idx);
  for (int r = 0; rc == nscclSuccess && r < nranks; r++) rc = nsccl_validate_accesses(&v, &progs[r]);
  return rc;
}
