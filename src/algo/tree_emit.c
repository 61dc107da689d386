/* Chunked step emitters for the tree builders, with dependencies derived from byte-range hazards.
 *
 * Each buffer (after folding in-place aliases onto one address space) is a sorted array of
 * segments; a segment remembers the last step that wrote it and the steps that read it since. A new
 * step depends on the last writer of every byte it touches and, if it writes, on every reader since
 * that write. That orders every conflicting pair of accesses and nothing else, so chunks of later
 * phases wait only for the chunks they actually overlap. */
#include <stdlib.h>
#include <string.h>

#include "algo/tree_internal.h"
#include "base/check.h"

nscclResult_t nsccl_tree_ctx_init(nsccl_tree_ctx_t *c, nsccl_program_t *prog, const nsccl_algo_opts_t *opts) {
  memset(c, 0, sizeof(*c));
  c->prog = prog;
  c->extra_dep = NSCCL_NO_STEP;
  c->elem = nsccl_algo_elem_bytes(prog);
  c->chunk = nsccl_algo_chunk_bytes(prog, opts);
  for (int b = 0; b < NSCCL_NUM_BUFS; b++) {
    nsccl_tree_space_t *sp = &c->space[b];
    sp->segs = calloc(16, sizeof(*sp->segs));
    if (!sp->segs) {
      nsccl_tree_ctx_finish(c);
      NSCCL_FAIL(nscclSystemError, "tree: out of memory for the hazard map of rank %d", prog->rank);
    }
    sp->cap = 16;
    sp->nsegs = 1;
    sp->segs[0].writer = NSCCL_NO_STEP;
  }
  return nscclSuccess;
}

nscclResult_t nsccl_tree_ctx_finish(nsccl_tree_ctx_t *c) {
  for (int b = 0; b < NSCCL_NUM_BUFS; b++) {
    nsccl_tree_space_t *sp = &c->space[b];
    for (uint32_t i = 0; i < sp->nsegs; i++) free(sp->segs[i].readers);
    free(sp->segs);
    sp->segs = NULL;
    sp->nsegs = sp->cap = 0;
  }
  free(c->deps);
  c->deps = NULL;
  if (c->oom)
    NSCCL_FAIL(nscclSystemError, "tree: out of memory building the %s schedule of rank %d",
               nsccl_coll_name(c->prog->args.coll), c->prog->rank);
  return nscclSuccess;
}

/* Map a region onto its hazard space: in place, the aliased buffer's bytes are named in the other
 * buffer's offsets (NCCL's in-place rules), so both names hit the same segments. */
static void canon(const nsccl_tree_ctx_t *c, nsccl_region_t r, int *space, size_t *off) {
  const nsccl_program_t *p = c->prog;
  size_t block = p->args.count * c->elem * (size_t)p->rank;
  *space = r.buf;
  *off = r.offset;
  if (!p->args.in_place) return;
  switch (p->args.coll) {
  case NSCCL_COLL_ALLGATHER:
    if (r.buf == NSCCL_BUF_SEND) *space = NSCCL_BUF_RECV, *off += block;
    break;
  case NSCCL_COLL_ALLREDUCE:
    if (r.buf == NSCCL_BUF_SEND) *space = NSCCL_BUF_RECV;
    break;
  case NSCCL_COLL_REDUCESCATTER:
    if (r.buf == NSCCL_BUF_RECV) *space = NSCCL_BUF_SEND, *off += block;
    break;
  default: break;
  }
}

/* Index of the segment containing byte x. */
static uint32_t find_seg(const nsccl_tree_space_t *sp, size_t x) {
  uint32_t lo = 0, hi = sp->nsegs; /* segs[lo].lo <= x < segs[hi].lo */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (sp->segs[mid].lo <= x)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* Make x a segment boundary; returns the index of the segment starting at x (UINT32_MAX on OOM). */
static uint32_t split_at(nsccl_tree_ctx_t *c, nsccl_tree_space_t *sp, size_t x) {
  uint32_t i = find_seg(sp, x);
  if (sp->segs[i].lo == x) return i;
  if (sp->nsegs == sp->cap) {
    nsccl_tree_seg_t *n = realloc(sp->segs, (size_t)sp->cap * 2 * sizeof(*n));
    if (!n) return c->oom = true, UINT32_MAX;
    sp->segs = n;
    sp->cap *= 2;
  }
  nsccl_tree_seg_t copy = sp->segs[i];
  copy.lo = x;
  copy.cap = copy.nread;
  copy.readers = NULL;
  if (copy.nread) {
    copy.readers = malloc(copy.nread * sizeof(*copy.readers));
    if (!copy.readers) return c->oom = true, UINT32_MAX;
    memcpy(copy.readers, sp->segs[i].readers, copy.nread * sizeof(*copy.readers));
  }
  memmove(&sp->segs[i + 2], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
  sp->segs[i + 1] = copy;
  sp->nsegs++;
  return i + 1;
}

/* Segments [*first, *last) exactly covering the region's bytes; false on OOM. */
static bool span(nsccl_tree_ctx_t *c, nsccl_region_t r, nsccl_tree_space_t **sp, uint32_t *first, uint32_t *last) {
  int s;
  size_t off;
  canon(c, r, &s, &off);
  *sp = &c->space[s];
  *first = split_at(c, *sp, off);
  uint32_t end = split_at(c, *sp, off + r.bytes);
  if (*first == UINT32_MAX || end == UINT32_MAX) return false;
  *first = find_seg(*sp, off); /* the second split may not move it, but stay exact */
  *last = end;
  return true;
}

static void add_dep(nsccl_tree_ctx_t *c, nsccl_step_id_t d) {
  if (d == NSCCL_NO_STEP) return;
  if (c->ndeps == c->cap_deps) {
    uint32_t ncap = c->cap_deps ? c->cap_deps * 2 : 64;
    nsccl_step_id_t *n = realloc(c->deps, ncap * sizeof(*n));
    if (!n) {
      c->oom = true;
      return;
    }
    c->deps = n;
    c->cap_deps = ncap;
  }
  c->deps[c->ndeps++] = d;
}

static void collect(nsccl_tree_ctx_t *c, nsccl_region_t r, bool write) {
  nsccl_tree_space_t *sp;
  uint32_t first, last;
  if (!r.bytes || !span(c, r, &sp, &first, &last)) return;
  for (uint32_t i = first; i < last; i++) {
    add_dep(c, sp->segs[i].writer);
    if (write)
      for (uint32_t k = 0; k < sp->segs[i].nread; k++) add_dep(c, sp->segs[i].readers[k]);
  }
}

static void record(nsccl_tree_ctx_t *c, nsccl_region_t r, bool write, nsccl_step_id_t id) {
  nsccl_tree_space_t *sp;
  uint32_t first, last;
  if (!r.bytes || !span(c, r, &sp, &first, &last)) return;
  for (uint32_t i = first; i < last; i++) {
    nsccl_tree_seg_t *g = &sp->segs[i];
    if (write) {
      g->writer = id;
      g->nread = 0;
      continue;
    }
    if (g->nread == g->cap) {
      uint32_t ncap = g->cap ? g->cap * 2 : 4;
      nsccl_step_id_t *n = realloc(g->readers, ncap * sizeof(*n));
      if (!n) {
        c->oom = true;
        return;
      }
      g->readers = n;
      g->cap = ncap;
    }
    g->readers[g->nread++] = id;
  }
}

static int cmp_step(const void *a, const void *b) {
  nsccl_step_id_t x = *(const nsccl_step_id_t *)a, y = *(const nsccl_step_id_t *)b;
  return (x > y) - (x < y);
}

static const nsccl_region_t NONE = {0, 0, 0};

static void emit_one(nsccl_tree_ctx_t *c, nsccl_step_kind_t kind, int peer, nsccl_region_t src, nsccl_region_t src2,
                     nsccl_region_t dst) {
  nsccl_program_t *p = c->prog;
  const nsccl_region_t *regs[3] = {&src, &src2, &dst};
  for (int i = 0; i < 3; i++)
    if (regs[i]->bytes && regs[i]->buf == NSCCL_BUF_SCRATCH)
      nsccl_prog_need_scratch(p, regs[i]->offset + regs[i]->bytes);
  c->ndeps = 0;
  collect(c, src, false);
  collect(c, src2, false);
  collect(c, dst, true);
  add_dep(c, c->extra_dep);
  for (uint32_t i = 0; i < c->n_extra; i++) add_dep(c, c->extra_deps[i]);
  if (c->oom) return;
  if (c->ndeps) qsort(c->deps, c->ndeps, sizeof(*c->deps), cmp_step); /* deps may be NULL when empty */
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->ndeps; i++)
    if (!n || c->deps[n - 1] != c->deps[i]) c->deps[n++] = c->deps[i];
  nsccl_step_id_t id = NSCCL_NO_STEP;
  switch (kind) {
  case NSCCL_STEP_SEND: id = nsccl_prog_send(p, peer, src, c->deps, (int)n); break;
  case NSCCL_STEP_RECV: id = nsccl_prog_recv(p, peer, dst, c->deps, (int)n); break;
  case NSCCL_STEP_RECV_REDUCE: id = nsccl_prog_recv_reduce(p, peer, src, dst, c->deps, (int)n); break;
  case NSCCL_STEP_COPY: id = nsccl_prog_copy(p, src, dst, c->deps, (int)n); break;
  case NSCCL_STEP_REDUCE: id = nsccl_prog_reduce(p, src, src2, dst, c->deps, (int)n); break;
  default: break;
  }
  if (id == NSCCL_NO_STEP) {
    c->oom = true;
    return;
  }
  /* Reads first: a step that reads and writes the same bytes leaves itself as their writer. */
  record(c, src, false, id);
  record(c, src2, false, id);
  record(c, dst, true, id);
}

static nsccl_region_t sub(nsccl_region_t r, size_t off, size_t len) {
  return r.bytes ? nsccl_region((nsccl_buf_t)r.buf, r.offset + off, len) : r;
}

/* Split into chunks of c->chunk bytes, the same way on both sides of a message. */
static void emit(nsccl_tree_ctx_t *c, nsccl_step_kind_t kind, int peer, nsccl_region_t src, nsccl_region_t src2,
                 nsccl_region_t dst) {
  size_t n = kind == NSCCL_STEP_SEND ? src.bytes : dst.bytes;
  for (size_t off = 0; off < n && !c->oom; off += c->chunk) {
    size_t len = n - off < c->chunk ? n - off : c->chunk;
    emit_one(c, kind, peer, sub(src, off, len), sub(src2, off, len), sub(dst, off, len));
  }
}

void nsccl_tree_send(nsccl_tree_ctx_t *c, int peer, nsccl_region_t src) {
  emit(c, NSCCL_STEP_SEND, peer, src, NONE, NONE);
}

void nsccl_tree_recv(nsccl_tree_ctx_t *c, int peer, nsccl_region_t dst) {
  emit(c, NSCCL_STEP_RECV, peer, NONE, NONE, dst);
}

void nsccl_tree_recv_reduce(nsccl_tree_ctx_t *c, int peer, nsccl_region_t src, nsccl_region_t dst) {
  emit(c, NSCCL_STEP_RECV_REDUCE, peer, src, NONE, dst);
}

void nsccl_tree_copy(nsccl_tree_ctx_t *c, nsccl_region_t src, nsccl_region_t dst) {
  int s1, s2;
  size_t o1, o2;
  canon(c, src, &s1, &o1);
  canon(c, dst, &s2, &o2);
  if (s1 == s2 && o1 == o2) return; /* in place: already there */
  emit(c, NSCCL_STEP_COPY, -1, src, NONE, dst);
}

void nsccl_tree_reduce(nsccl_tree_ctx_t *c, nsccl_region_t a, nsccl_region_t b, nsccl_region_t dst) {
  emit(c, NSCCL_STEP_REDUCE, -1, a, b, dst);
}
