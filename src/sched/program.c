/* Building schedule programs: growable step and dependency arrays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "reduce/reduce.h"
#include "sched/sched.h"

/* A failed allocation is remembered in cap_steps = UINT32_MAX so later adders refuse quietly and
 * nsccl_prog_failed reports it once at the end of a build. */
#define PROG_FAILED UINT32_MAX

size_t nsccl_coll_send_bytes(const nsccl_coll_args_t *args, int nranks) {
  size_t elem = nsccl_type_size(args->dtype);
  switch (args->coll) {
  case NSCCL_COLL_ALLGATHER: return args->count * elem;
  case NSCCL_COLL_REDUCESCATTER: return args->count * elem * (size_t)nranks;
  case NSCCL_COLL_ALLREDUCE:
  case NSCCL_COLL_BROADCAST:
  case NSCCL_COLL_REDUCE: return args->count * elem;
  default: return 0;
  }
}

size_t nsccl_coll_recv_bytes(const nsccl_coll_args_t *args, int nranks) {
  size_t elem = nsccl_type_size(args->dtype);
  switch (args->coll) {
  case NSCCL_COLL_ALLGATHER: return args->count * elem * (size_t)nranks;
  case NSCCL_COLL_REDUCESCATTER: return args->count * elem;
  case NSCCL_COLL_ALLREDUCE:
  case NSCCL_COLL_BROADCAST:
  case NSCCL_COLL_REDUCE: return args->count * elem;
  default: return 0;
  }
}

void nsccl_prog_layout(const nsccl_program_t *p, size_t base[NSCCL_NUM_BUFS]) {
  size_t S = p->buf_bytes[NSCCL_BUF_SEND], R = p->buf_bytes[NSCCL_BUF_RECV];
  base[NSCCL_BUF_SEND] = 0;
  base[NSCCL_BUF_RECV] = S;
  base[NSCCL_BUF_SCRATCH] = S + R;
  if (!p->args.in_place) return;
  switch (p->args.coll) {
  case NSCCL_COLL_ALLREDUCE:
  case NSCCL_COLL_BROADCAST:
  case NSCCL_COLL_REDUCE: base[NSCCL_BUF_RECV] = 0; break;
  case NSCCL_COLL_ALLGATHER: /* sendbuff = recvbuff + rank * sendcount */
    base[NSCCL_BUF_RECV] = 0;
    base[NSCCL_BUF_SEND] = (size_t)p->rank * S;
    base[NSCCL_BUF_SCRATCH] = R;
    break;
  case NSCCL_COLL_REDUCESCATTER: /* recvbuff = sendbuff + rank * recvcount */
    base[NSCCL_BUF_RECV] = (size_t)p->rank * R;
    base[NSCCL_BUF_SCRATCH] = S;
    break;
  default: break;
  }
}

const char *nsccl_coll_name(nsccl_coll_t coll) {
  static const char *const names[] = {"allgather", "reducescatter", "allreduce", "broadcast", "reduce"};
  return (unsigned)coll < NSCCL_NUM_COLLS_ALL ? names[coll] : "?";
}

bool nsccl_coll_output_reduced(const nsccl_coll_args_t *args, int rank) {
  switch (args->coll) {
  case NSCCL_COLL_ALLREDUCE:
  case NSCCL_COLL_REDUCESCATTER: return true;
  case NSCCL_COLL_REDUCE: return rank == args->root;
  default: return false;
  }
}

const char *nsccl_step_kind_name(nsccl_step_kind_t kind) {
  static const char *const names[] = {"SEND", "RECV", "RECV_REDUCE", "COPY", "REDUCE"};
  return (unsigned)kind < NSCCL_NUM_STEP_KINDS ? names[kind] : "?";
}

const char *nsccl_buf_name(nsccl_buf_t buf) {
  static const char *const names[] = {"send", "recv", "scratch"};
  return (unsigned)buf < NSCCL_NUM_BUFS ? names[buf] : "?";
}

nscclResult_t nsccl_prog_init(nsccl_program_t *p, int rank, int nranks, const nsccl_coll_args_t *args) {
  memset(p, 0, sizeof(*p));
  if (nranks < 1 || rank < 0 || rank >= nranks)
    NSCCL_FAIL(nscclInvalidArgument, "program for rank %d of %d: rank out of range", rank, nranks);
  if ((unsigned)args->coll >= NSCCL_NUM_COLLS_ALL)
    NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)args->coll);
  if ((args->coll == NSCCL_COLL_BROADCAST || args->coll == NSCCL_COLL_REDUCE) &&
      (args->root < 0 || args->root >= nranks))
    NSCCL_FAIL(nscclInvalidArgument, "%s: root %d outside [0, %d)", nsccl_coll_name(args->coll), args->root, nranks);
  if (nsccl_type_size(args->dtype) == 0) NSCCL_FAIL(nscclInvalidArgument, "unknown datatype %d", (int)args->dtype);
  p->rank = rank;
  p->nranks = nranks;
  p->args = *args;
  p->buf_bytes[NSCCL_BUF_SEND] = nsccl_coll_send_bytes(args, nranks);
  p->buf_bytes[NSCCL_BUF_RECV] = nsccl_coll_recv_bytes(args, nranks);
  return nscclSuccess;
}

void nsccl_prog_free(nsccl_program_t *p) {
  free(p->steps);
  free(p->deps);
  p->steps = NULL;
  p->deps = NULL;
  p->nsteps = p->cap_steps = p->ndeps = p->cap_deps = 0;
}

void nsccl_prog_reset(nsccl_program_t *p) {
  if (p->cap_steps == PROG_FAILED) {
    nsccl_prog_free(p);
  }
  p->nsteps = 0;
  p->ndeps = 0;
  p->buf_bytes[NSCCL_BUF_SCRATCH] = 0;
}

bool nsccl_prog_failed(const nsccl_program_t *p) { return p->cap_steps == PROG_FAILED; }

void nsccl_prog_need_scratch(nsccl_program_t *p, size_t bytes) {
  if (bytes > p->buf_bytes[NSCCL_BUF_SCRATCH]) p->buf_bytes[NSCCL_BUF_SCRATCH] = bytes;
}

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return true;
  uint32_t ncap = *cap ? *cap : 16;
  while (ncap < need) {
    if (ncap > UINT32_MAX / 2) return false;
    ncap *= 2;
  }
  void *n = realloc(*arr, (size_t)ncap * elem);
  if (!n) return false;
  *arr = n;
  *cap = ncap;
  return true;
}

static nsccl_step_id_t add_step(nsccl_program_t *p, nsccl_step_kind_t kind, int peer, nsccl_region_t src,
                                nsccl_region_t src2, nsccl_region_t dst, const nsccl_step_id_t *deps, int ndeps) {
  if (p->cap_steps == PROG_FAILED) return NSCCL_NO_STEP;
  uint32_t real = 0;
  for (int i = 0; i < ndeps; i++) real += deps[i] != NSCCL_NO_STEP;
  if (!grow((void **)&p->steps, &p->cap_steps, p->nsteps + 1, sizeof(nsccl_step_t)) ||
      !grow((void **)&p->deps, &p->cap_deps, p->ndeps + real, sizeof(uint32_t))) {
    nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "out of memory building a schedule of %u steps", p->nsteps);
    p->cap_steps = PROG_FAILED;
    return NSCCL_NO_STEP;
  }
  nsccl_step_t *s = &p->steps[p->nsteps];
  s->kind = (uint8_t)kind;
  s->peer = peer;
  s->src = src;
  s->src2 = src2;
  s->dst = dst;
  s->dep_first = p->ndeps;
  s->ndeps = real;
  for (int i = 0; i < ndeps; i++)
    if (deps[i] != NSCCL_NO_STEP) p->deps[p->ndeps++] = (uint32_t)deps[i];
  return (nsccl_step_id_t)p->nsteps++;
}

static const nsccl_region_t NONE = {0, 0, 0};

nsccl_step_id_t nsccl_prog_send(nsccl_program_t *p, int peer, nsccl_region_t src, const nsccl_step_id_t *deps,
                                int ndeps) {
  return add_step(p, NSCCL_STEP_SEND, peer, src, NONE, NONE, deps, ndeps);
}

nsccl_step_id_t nsccl_prog_recv(nsccl_program_t *p, int peer, nsccl_region_t dst, const nsccl_step_id_t *deps,
                                int ndeps) {
  return add_step(p, NSCCL_STEP_RECV, peer, NONE, NONE, dst, deps, ndeps);
}

nsccl_step_id_t nsccl_prog_recv_reduce(nsccl_program_t *p, int peer, nsccl_region_t src, nsccl_region_t dst,
                                       const nsccl_step_id_t *deps, int ndeps) {
  return add_step(p, NSCCL_STEP_RECV_REDUCE, peer, src, NONE, dst, deps, ndeps);
}

nsccl_step_id_t nsccl_prog_copy(nsccl_program_t *p, nsccl_region_t src, nsccl_region_t dst, const nsccl_step_id_t *deps,
                                int ndeps) {
  return add_step(p, NSCCL_STEP_COPY, -1, src, NONE, dst, deps, ndeps);
}

nsccl_step_id_t nsccl_prog_reduce(nsccl_program_t *p, nsccl_region_t src, nsccl_region_t src2, nsccl_region_t dst,
                                  const nsccl_step_id_t *deps, int ndeps) {
  return add_step(p, NSCCL_STEP_REDUCE, -1, src, src2, dst, deps, ndeps);
}

static void print_region(FILE *f, const char *label, nsccl_region_t r) {
  fprintf(f, " %s=%s[%zu+%zu]", label, nsccl_buf_name((nsccl_buf_t)r.buf), r.offset, r.bytes);
}

void nsccl_prog_dump(const nsccl_program_t *p, void *file) {
  FILE *f = file;
  fprintf(f, "rank %d/%d %s count=%zu in_place=%d scratch=%zu steps=%u\n", p->rank, p->nranks,
          nsccl_coll_name(p->args.coll), p->args.count, p->args.in_place, p->buf_bytes[NSCCL_BUF_SCRATCH], p->nsteps);
  for (uint32_t i = 0; i < p->nsteps; i++) {
    const nsccl_step_t *s = &p->steps[i];
    fprintf(f, "  %u %s", i, nsccl_step_kind_name((nsccl_step_kind_t)s->kind));
    if (s->peer >= 0) fprintf(f, " peer=%d", s->peer);
    if (s->kind != NSCCL_STEP_RECV) print_region(f, "src", s->src);
    if (s->kind == NSCCL_STEP_REDUCE) print_region(f, "src2", s->src2);
    if (s->kind != NSCCL_STEP_SEND) print_region(f, "dst", s->dst);
    if (s->ndeps) {
      fprintf(f, " deps=");
      for (uint32_t d = 0; d < s->ndeps; d++) fprintf(f, "%s%u", d ? "," : "", p->deps[s->dep_first + d]);
    }
    fputc('\n', f);
  }
}
