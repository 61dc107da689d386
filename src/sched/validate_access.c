/* Validator pass 4: the bytes each step of one program reads and writes.
 *
 * The rank's three buffers are laid out on one address space in which in-place aliasing is real:
 * in-place all-reduce (and broadcast, reduce) puts recv on send; all-gather puts send inside recv at
 * rank * sendbytes;
 * reduce-scatter puts recv inside send at rank * recvbytes. Every region boundary of the program
 * cuts that space into elementary segments, so a region is a contiguous run of segments and each
 * segment is accessed all-or-nothing. Per segment we keep the last writer and the steps that read it
 * since that write.
 *
 * Steps are visited in index order, which is a topological order of the dependencies (they point
 * backwards). Two accesses to a segment conflict unless the earlier step is an ancestor of the
 * later. Writes are totally ordered per segment (else a write-write race is reported), so checking
 * the last writer and the readers since it suffices: anything older is an ancestor of those.
 *
 * Ancestry: for up to ANC_BITS_MAX steps, each step gets a bitset of its ancestors (triangular,
 * n^2/16 bytes, built in O(deps * n / 64)); beyond that, each step that has something to check runs
 * one backward search over its dependencies pruned below the oldest step it must be ordered after.
 * Total cost: O(n log n) for the segments plus O(sum of segments the steps touch + reader entries)
 * plus ancestry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "sched/validate_internal.h"

#define NONE         UINT32_MAX
#define ANC_BITS_MAX 16384u

enum { SEG_INIT = 1, SEG_FINAL = 2, SEG_OUT = 4, SEG_WRITABLE = 8 };

typedef struct {
  nsccl_vctx_t *v;
  const nsccl_program_t *p;
  size_t base[NSCCL_NUM_BUFS];
  size_t *bound; /* sorted unique segment boundaries; segment k is [bound[k], bound[k+1]) */
  uint32_t nseg;
  unsigned char *flags;
  uint32_t *writer, *readers; /* per segment: last writer, head of the reader list (pool index) */
  uint32_t *pool_step, *pool_next;
  size_t npool, cap_pool;
  uint64_t *bits; /* ancestor bitsets, or NULL for the search fallback */
  size_t *row;
  uint32_t *mark, *stack;
} acc_t;

typedef struct {
  nsccl_region_t r;
  bool write;
  const char *role;
} access_t;

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* Segment index of boundary addr (which is a boundary by construction). */
static uint32_t seg_at(const acc_t *a, size_t addr) {
  uint32_t lo = 0, hi = a->nseg;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (a->bound[mid] < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t addr_of(const acc_t *a, nsccl_region_t r) { return a->base[r.buf] + r.offset; }

static int list_accesses(const nsccl_step_t *s, access_t out[3]) {
  int n = 0;
  if (s->kind != NSCCL_STEP_RECV) out[n++] = (access_t){s->src, false, "src"};
  if (s->kind == NSCCL_STEP_REDUCE) out[n++] = (access_t){s->src2, false, "src2"};
  if (s->kind != NSCCL_STEP_SEND) out[n++] = (access_t){s->dst, true, "dst"};
  int m = 0;
  for (int i = 0; i < n; i++)
    if (out[i].r.bytes) out[m++] = out[i];
  return m;
}

static bool inside(size_t lo, size_t hi, size_t blo, size_t bhi) { return lo >= blo && hi <= bhi; }

static nscclResult_t oom(acc_t *a) {
  snprintf(a->v->err, a->v->errlen, "out of memory checking rank %d's %u steps", a->p->rank, a->p->nsteps);
  NSCCL_FAIL(nscclSystemError, "schedule validation: %s", a->v->err);
}

static nscclResult_t build_segments(acc_t *a) {
  const nsccl_program_t *p = a->p;
  size_t cap = 8 + (size_t)p->nsteps * 6, nb = 0;
  a->bound = malloc(cap * sizeof(size_t));
  if (!a->bound) return oom(a);
  for (int b = 0; b < NSCCL_NUM_BUFS; b++) {
    a->bound[nb++] = a->base[b];
    a->bound[nb++] = a->base[b] + p->buf_bytes[b];
  }
  for (uint32_t i = 0; i < p->nsteps; i++) {
    access_t acc[3];
    int n = list_accesses(&p->steps[i], acc);
    for (int k = 0; k < n; k++) {
      a->bound[nb++] = addr_of(a, acc[k].r);
      a->bound[nb++] = addr_of(a, acc[k].r) + acc[k].r.bytes;
    }
  }
  qsort(a->bound, nb, sizeof(size_t), cmp_size);
  size_t u = 0;
  for (size_t k = 0; k < nb; k++)
    if (u == 0 || a->bound[k] != a->bound[u - 1]) a->bound[u++] = a->bound[k];
  a->nseg = (uint32_t)(u - 1); /* u >= 1: the boundaries include 0 */
  size_t n = (size_t)a->nseg + 1;
  a->flags = calloc(n, 1);
  a->writer = malloc(n * sizeof(uint32_t));
  a->readers = malloc(n * sizeof(uint32_t));
  if (!a->flags || !a->writer || !a->readers) return oom(a);
  size_t S = p->buf_bytes[NSCCL_BUF_SEND], R = p->buf_bytes[NSCCL_BUF_RECV], X = p->buf_bytes[NSCCL_BUF_SCRATCH];
  size_t sb = a->base[NSCCL_BUF_SEND], rb = a->base[NSCCL_BUF_RECV], xb = a->base[NSCCL_BUF_SCRATCH];
  /* What the buffers mean for this rank. Rooted collectives use only the root's send (broadcast)
   * or the root's recv (reduce); the other ranks' are not to be read or written. */
  bool root = p->rank == p->args.root;
  bool send_valid = !(p->args.coll == NSCCL_COLL_BROADCAST && !root);
  bool recv_used = !(p->args.coll == NSCCL_COLL_REDUCE && !root);
  /* In place with nothing to combine (one rank, all-gather's own slot, the broadcast root) the
   * input is the output. */
  bool final = p->args.in_place && (p->nranks == 1 || p->args.coll == NSCCL_COLL_ALLGATHER ||
                                    (p->args.coll == NSCCL_COLL_BROADCAST && root));
  for (uint32_t k = 0; k < a->nseg; k++) {
    size_t lo = a->bound[k], hi = a->bound[k + 1];
    a->writer[k] = NONE;
    a->readers[k] = NONE;
    if (send_valid && inside(lo, hi, sb, sb + S)) a->flags[k] |= SEG_INIT | (final ? SEG_FINAL : 0);
    if (recv_used && inside(lo, hi, rb, rb + R)) a->flags[k] |= SEG_OUT | SEG_WRITABLE;
    if (inside(lo, hi, xb, xb + X)) a->flags[k] |= SEG_WRITABLE;
  }
  return nscclSuccess;
}

static nscclResult_t build_ancestry(acc_t *a) {
  const nsccl_program_t *p = a->p;
  uint32_t n = p->nsteps;
  if (n > ANC_BITS_MAX) {
    a->mark = calloc((size_t)n + 1, sizeof(uint32_t));
    a->stack = malloc(((size_t)n + 1) * sizeof(uint32_t));
    return a->mark && a->stack ? nscclSuccess : oom(a);
  }
  a->row = malloc(((size_t)n + 1) * sizeof(size_t));
  if (!a->row) return oom(a);
  size_t words = 0;
  for (uint32_t j = 0; j <= n; j++) {
    a->row[j] = words;
    words += (j + 63) / 64;
  }
  a->bits = calloc(words + 1, sizeof(uint64_t));
  if (!a->bits) return oom(a);
  for (uint32_t j = 0; j < n; j++) {
    const nsccl_step_t *s = &p->steps[j];
    uint64_t *rj = a->bits + a->row[j];
    for (uint32_t d = 0; d < s->ndeps; d++) {
      uint32_t dep = p->deps[s->dep_first + d];
      const uint64_t *rd = a->bits + a->row[dep];
      for (uint32_t w = 0; w < (dep + 63) / 64; w++) rj[w] |= rd[w];
      rj[dep / 64] |= 1ull << (dep % 64);
    }
  }
  return nscclSuccess;
}

/* Fallback: mark the ancestors of j that are >= lo. */
static void search_ancestors(acc_t *a, uint32_t j, uint32_t lo) {
  const nsccl_program_t *p = a->p;
  uint32_t top = 0, stamp = j + 1;
  a->stack[top++] = j;
  while (top) {
    const nsccl_step_t *s = &p->steps[a->stack[--top]];
    for (uint32_t d = 0; d < s->ndeps; d++) {
      uint32_t dep = p->deps[s->dep_first + d];
      if (dep < lo || a->mark[dep] == stamp) continue;
      a->mark[dep] = stamp;
      a->stack[top++] = dep;
    }
  }
}

static bool is_ancestor(const acc_t *a, uint32_t i, uint32_t j) {
  if (i >= j) return false;
  if (a->bits) return (a->bits[a->row[j] + i / 64] >> (i % 64)) & 1;
  return a->mark[i] == j + 1;
}

/* Collect the steps that step j must be ordered after (the last writers of what it touches and, for
 * its writes, the readers since), and prepare the ancestry answers for them. */
static void prepare_step(acc_t *a, uint32_t j, const access_t *acc, int n) {
  if (a->bits) return;
  uint32_t lo = NONE;
  for (int k = 0; k < n; k++) {
    size_t start = addr_of(a, acc[k].r);
    for (uint32_t g = seg_at(a, start); g < a->nseg && a->bound[g] < start + acc[k].r.bytes; g++) {
      if (a->writer[g] != NONE && a->writer[g] < lo) lo = a->writer[g];
      if (!acc[k].write) continue;
      for (uint32_t e = a->readers[g]; e != NONE; e = a->pool_next[e])
        if (a->pool_step[e] < lo && a->pool_step[e] != j) lo = a->pool_step[e];
    }
  }
  if (lo != NONE) search_ancestors(a, j, lo);
}

/* Offset within acc's buffer of address addr (which lies in acc's region). */
static size_t off_in(const acc_t *a, const access_t *acc, size_t addr) {
  return acc->r.offset + (addr - addr_of(a, acc->r));
}

static nscclResult_t check_step(acc_t *a, uint32_t j) {
  const nsccl_program_t *p = a->p;
  const nsccl_step_t *s = &p->steps[j];
  access_t acc[3];
  int n = list_accesses(s, acc);
  /* Operands of one step must be the same bytes or disjoint: kernels allow exact aliasing only. */
  for (int k = 0; k < n; k++) {
    if (acc[k].write) continue;
    for (int w = 0; w < n; w++) {
      if (!acc[w].write) continue;
      size_t r0 = addr_of(a, acc[k].r), w0 = addr_of(a, acc[w].r);
      bool overlap = r0 < w0 + acc[w].r.bytes && w0 < r0 + acc[k].r.bytes;
      if (overlap && r0 != w0)
        return nsccl_vfail(a->v, "rank %d step %u (%s): %s %s[%zu, %zu) and %s %s[%zu, %zu) overlap partially", p->rank,
                           j, nsccl_vkind(s), acc[k].role, nsccl_buf_name((nsccl_buf_t)acc[k].r.buf), acc[k].r.offset,
                           acc[k].r.offset + acc[k].r.bytes, acc[w].role, nsccl_buf_name((nsccl_buf_t)acc[w].r.buf),
                           acc[w].r.offset, acc[w].r.offset + acc[w].r.bytes);
    }
  }
  prepare_step(a, j, acc, n);
  for (int k = 0; k < n; k++) {
    const access_t *x = &acc[k];
    const char *bname = nsccl_buf_name((nsccl_buf_t)x->r.buf);
    size_t start = addr_of(a, x->r), end = start + x->r.bytes;
    for (uint32_t g = seg_at(a, start); g < a->nseg && a->bound[g] < end; g++) {
      size_t lo = off_in(a, x, a->bound[g]), hi = off_in(a, x, a->bound[g + 1]);
      uint32_t w = a->writer[g];
      if (!x->write) {
        if (w == NONE && !(a->flags[g] & SEG_INIT)) {
          while (g + 1 < a->nseg && a->bound[g + 1] < end && a->writer[g + 1] == NONE && !(a->flags[g + 1] & SEG_INIT))
            hi = off_in(a, x, a->bound[++g + 1]);
          return nsccl_vfail(a->v,
                             "rank %d step %u (%s) reads %s %s[%zu, %zu), which no earlier step wrote and which "
                             "holds no input (read before write)",
                             p->rank, j, nsccl_vkind(s), x->role, bname, lo, hi);
        }
        if (w != NONE && !is_ancestor(a, w, j))
          return nsccl_vfail(a->v,
                             "rank %d step %u (%s) reads %s %s[%zu, %zu) written by step %u (%s), which it does not "
                             "depend on (read-write race)",
                             p->rank, j, nsccl_vkind(s), x->role, bname, lo, hi, w, nsccl_vkind(&p->steps[w]));
        continue;
      }
      if (!(a->flags[g] & SEG_WRITABLE))
        return nsccl_vfail(a->v,
                           "rank %d step %u (%s) writes %s[%zu, %zu), which is the caller's send buffer or an "
                           "unused buffer, not part of the output",
                           p->rank, j, nsccl_vkind(s), bname, lo, hi);
      if (w != NONE && !is_ancestor(a, w, j))
        return nsccl_vfail(a->v,
                           "rank %d step %u (%s) writes %s[%zu, %zu), also written by step %u (%s); neither depends "
                           "on the other (write-write race)",
                           p->rank, j, nsccl_vkind(s), bname, lo, hi, w, nsccl_vkind(&p->steps[w]));
      for (uint32_t e = a->readers[g]; e != NONE; e = a->pool_next[e]) {
        uint32_t rd = a->pool_step[e];
        if (rd != j && !is_ancestor(a, rd, j))
          return nsccl_vfail(a->v,
                             "rank %d step %u (%s) writes %s[%zu, %zu), which step %u (%s) reads; neither depends on "
                             "the other (read-write race%s)",
                             p->rank, j, nsccl_vkind(s), bname, lo, hi, rd, nsccl_vkind(&p->steps[rd]),
                             p->args.in_place ? "; in place, send and recv alias" : "");
      }
    }
  }
  /* Record: reads join the reader lists, then a write replaces writer and readers. */
  for (int k = 0; k < n; k++) {
    size_t start = addr_of(a, acc[k].r), end = start + acc[k].r.bytes;
    for (uint32_t g = seg_at(a, start); g < a->nseg && a->bound[g] < end; g++) {
      if (acc[k].write) {
        a->writer[g] = j;
        a->readers[g] = NONE;
        continue;
      }
      if (a->readers[g] != NONE && a->pool_step[a->readers[g]] == j) continue;
      if (a->npool == a->cap_pool) {
        size_t ncap = a->cap_pool ? a->cap_pool * 2 : 1024;
        uint32_t *ns = realloc(a->pool_step, ncap * sizeof(uint32_t));
        if (ns) a->pool_step = ns;
        uint32_t *nn = ns ? realloc(a->pool_next, ncap * sizeof(uint32_t)) : NULL;
        if (!nn) return oom(a);
        a->pool_next = nn;
        a->cap_pool = ncap;
      }
      a->pool_step[a->npool] = j;
      a->pool_next[a->npool] = a->readers[g];
      a->readers[g] = (uint32_t)a->npool++;
    }
  }
  return nscclSuccess;
}

static nscclResult_t check_output(acc_t *a) {
  size_t rb = a->base[NSCCL_BUF_RECV];
  for (uint32_t g = 0; g < a->nseg; g++) {
    if (!(a->flags[g] & SEG_OUT) || a->writer[g] != NONE || (a->flags[g] & SEG_FINAL)) continue;
    uint32_t h = g;
    while (h + 1 < a->nseg && (a->flags[h + 1] & SEG_OUT) && a->writer[h + 1] == NONE && !(a->flags[h + 1] & SEG_FINAL))
      h++;
    return nsccl_vfail(a->v, "rank %d: recv[%zu, %zu) is never written, so the output is incomplete", a->p->rank,
                       a->bound[g] - rb, a->bound[h + 1] - rb);
  }
  return nscclSuccess;
}

nscclResult_t nsccl_validate_accesses(nsccl_vctx_t *v, const nsccl_program_t *p) {
  acc_t a;
  memset(&a, 0, sizeof(a));
  a.v = v;
  a.p = p;
  nsccl_prog_layout(a.p, a.base);
  nscclResult_t rc = build_segments(&a);
  if (rc == nscclSuccess) rc = build_ancestry(&a);
  for (uint32_t j = 0; rc == nscclSuccess && j < p->nsteps; j++) rc = check_step(&a, j);
  if (rc == nscclSuccess) rc = check_output(&a);
  free(a.bound);
  free(a.flags);
  free(a.writer);
  free(a.readers);
  free(a.pool_step);
  free(a.pool_next);
  free(a.bits);
  free(a.row);
  free(a.mark);
  free(a.stack);
  return rc;
}
