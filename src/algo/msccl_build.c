/* One rank's program from an imported MSCCL-IR plan (docs/msccl.md, "Chunks and slices").
 *
 * Chunks: like the MSCCL runtime, the larger of the rank's two buffers (all-gather's output,
 * reduce-scatter's input, all-reduce's vector) is cut into nchunksperloop equal chunks; the count
 * must make them whole elements, else the call is refused with the counts that would do.
 * Slices: the runtime walks each chunk in slices, running every thread block's whole step list
 * once per slice; a message here is at most the builders' chunk size (nsccl_algo_chunk_bytes), so
 * a chunk longer than that is cut into slices the same way, and a thread block's slice l+1 starts
 * after its slice l (its first step waits for its last).
 * Buffers: i -> send, o -> recv, s -> scratch (s_chunks chunks, then one temporary per rrs step).
 * An in-place algorithm (inplace="1") called out of place gets the alias made by copies: its input
 * is copied to where the in-place layout would have it, and for reduce-scatter the result back.
 * An out-of-place one called in place reads a copy of its input in scratch. */
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "algo/msccl_internal.h"
#include "base/check.h"
#include "reduce/reduce.h"

nscclResult_t nsccl_msccl_chunk_bytes(const nsccl_msccl_plan_t *plan, const nsccl_program_t *prog, size_t *chunk) {
  if (prog->nranks != plan->ngpus)
    NSCCL_FAIL(nscclInvalidArgument, "%s: the algorithm is written for ngpus=%d, this call has %d ranks", plan->path,
               plan->ngpus, prog->nranks);
  if (prog->args.coll != plan->coll)
    NSCCL_FAIL(nscclInvalidArgument, "%s: the algorithm is a %s, the call a %s", plan->path,
               nsccl_coll_name(plan->coll), nsccl_coll_name(prog->args.coll));
  size_t elem = nsccl_type_size(prog->args.dtype);
  size_t S = prog->buf_bytes[NSCCL_BUF_SEND], R = prog->buf_bytes[NSCCL_BUF_RECV];
  size_t big = (S > R ? S : R) / elem, K = (size_t)plan->nchunks;
  if (big % K) {
    size_t per = plan->coll == NSCCL_COLL_ALLREDUCE ? K : K / (size_t)plan->ngpus;
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: count %zu does not split into nchunksperloop=%d equal chunks of whole elements (%s on %d ranks: "
               "use a count that is a multiple of %zu)",
               plan->path, prog->args.count, plan->nchunks, nsccl_coll_name(plan->coll), plan->ngpus, per);
  }
  *chunk = big / K * elem;
  return nscclSuccess;
}

typedef struct {
  nsccl_program_t *prog;
  size_t C, slice; /* chunk and slice bytes */
  int L;           /* slices */
  size_t base[4];  /* i, o, s, t: byte offset of chunk 0 in its nsccl buffer */
  uint8_t which[4];
  size_t *tmp_off; /* per temporary: its chunk offset in the 't' area */
  nsccl_step_id_t *deps;
  int ndeps, cap;
} emit_t;

static int buf_index(unsigned char b) { return b == 'i' ? 0 : b == 'o' ? 1 : b == 's' ? 2 : 3; }

/* Piece j of slice l of the part's operand k. */
static nsccl_region_t region(const emit_t *e, const msccl_part_t *p, int k, int l, int j, int pieces) {
  int b = buf_index(p->buf[k]);
  size_t off = (size_t)p->off[k] + (b == 3 ? e->tmp_off[p->tmp] : 0);
  size_t lo = e->base[b] + off * e->C;
  if (pieces == 1 && e->L == 1) return nsccl_region((nsccl_buf_t)e->which[b], lo, (size_t)p->cnt * e->C);
  size_t start = (size_t)l * e->slice, len = e->C - start < e->slice ? e->C - start : e->slice;
  return nsccl_region((nsccl_buf_t)e->which[b], lo + (size_t)j * e->C + start, len);
}

static int push_dep(emit_t *e, nsccl_step_id_t d) {
  if (e->ndeps == e->cap) {
    int cap = e->cap ? 2 * e->cap : 16;
    nsccl_step_id_t *v = realloc(e->deps, sizeof(*v) * (size_t)cap);
    if (!v) return 0;
    e->deps = v, e->cap = cap;
  }
  e->deps[e->ndeps++] = d;
  return 1;
}

static int push_range(emit_t *e, nsccl_step_id_t first, int n) {
  for (int i = 0; i < n; i++)
    if (!push_dep(e, first + i)) return 0;
  return 1;
}

static nsccl_step_id_t add(emit_t *e, const msccl_part_t *p, int l, int j, int pieces) {
  nsccl_program_t *g = e->prog;
  switch (p->kind) {
  case NSCCL_STEP_SEND: return nsccl_prog_send(g, p->peer, region(e, p, 0, l, j, pieces), e->deps, e->ndeps);
  case NSCCL_STEP_RECV: return nsccl_prog_recv(g, p->peer, region(e, p, 2, l, j, pieces), e->deps, e->ndeps);
  case NSCCL_STEP_RECV_REDUCE:
    return nsccl_prog_recv_reduce(g, p->peer, region(e, p, 0, l, j, pieces), region(e, p, 2, l, j, pieces), e->deps,
                                  e->ndeps);
  case NSCCL_STEP_COPY:
    return nsccl_prog_copy(g, region(e, p, 0, l, j, pieces), region(e, p, 2, l, j, pieces), e->deps, e->ndeps);
  default:
    return nsccl_prog_reduce(g, region(e, p, 0, l, j, pieces), region(e, p, 1, l, j, pieces),
                             region(e, p, 2, l, j, pieces), e->deps, e->ndeps);
  }
}

nscclResult_t nsccl_msccl_build_rank(const nsccl_msccl_plan_t *plan, const nsccl_algo_opts_t *opts,
                                     nsccl_program_t *prog) {
  size_t C;
  NSCCL_CHECK(nsccl_msccl_chunk_bytes(plan, prog, &C));
  if (C == 0) return nscclSuccess; /* count 0: nothing moves */
  const msccl_rank_plan_t *R = &plan->ranks[prog->rank];
  emit_t e = {prog, C,    C, 1, {0}, {NSCCL_BUF_SEND, NSCCL_BUF_RECV, NSCCL_BUF_SCRATCH, NSCCL_BUF_SCRATCH},
              NULL, NULL, 0, 0};
  size_t max = nsccl_algo_chunk_bytes(prog, opts);
  if (C > max) e.slice = max, e.L = (int)((C + max - 1) / max);
  /* Scratch: the algorithm's s chunks, the rrs temporaries, then (in-place emulation) the input. */
  e.tmp_off = calloc(R->ntmp ? (size_t)R->ntmp : 1, sizeof(size_t));
  if (!e.tmp_off) NSCCL_FAIL(nscclSystemError, "%s: out of memory", plan->path);
  size_t tmp_chunks = 0;
  for (int t = 0; t < R->ntmp; t++) e.tmp_off[t] = tmp_chunks, tmp_chunks += (size_t)R->tmp_cnt[t];
  e.base[3] = (size_t)R->nscratch * C;
  size_t scratch = ((size_t)R->nscratch + tmp_chunks) * C;
  size_t S = prog->buf_bytes[NSCCL_BUF_SEND], Rb = prog->buf_bytes[NSCCL_BUF_RECV];
  int emulate = plan->inplace && !prog->args.in_place;
  /* An out-of-place algorithm called in place: its input is copied to scratch first, so what it
   * writes into the output cannot overwrite input it still reads. */
  int stage = !plan->inplace && prog->args.in_place;
  nsccl_region_t pre_src = {0}, pre_dst = {0}, post_src = {0}, post_dst = {0};
  if (stage) {
    pre_src = nsccl_region(NSCCL_BUF_SEND, 0, S);
    pre_dst = nsccl_region(NSCCL_BUF_SCRATCH, scratch, S);
    e.which[0] = NSCCL_BUF_SCRATCH, e.base[0] = scratch;
    scratch += S;
  }
  if (emulate) {
    pre_src = nsccl_region(NSCCL_BUF_SEND, 0, S);
    switch (plan->coll) {
    case NSCCL_COLL_ALLGATHER: /* the input is the rank's block of the output */
      e.which[0] = NSCCL_BUF_RECV, e.base[0] = (size_t)prog->rank * S;
      pre_dst = nsccl_region(NSCCL_BUF_RECV, (size_t)prog->rank * S, S);
      break;
    case NSCCL_COLL_ALLREDUCE: /* input and output are one buffer */
      e.which[0] = NSCCL_BUF_RECV;
      pre_dst = nsccl_region(NSCCL_BUF_RECV, 0, S);
      break;
    default: /* reduce-scatter: the whole input in scratch, the output its rank's block */
      e.which[0] = e.which[1] = NSCCL_BUF_SCRATCH;
      e.base[0] = scratch, e.base[1] = scratch + (size_t)prog->rank * Rb;
      pre_dst = nsccl_region(NSCCL_BUF_SCRATCH, scratch, S);
      post_src = nsccl_region(NSCCL_BUF_SCRATCH, scratch + (size_t)prog->rank * Rb, Rb);
      post_dst = nsccl_region(NSCCL_BUF_RECV, 0, Rb);
      scratch += S;
      break;
    }
  }
  nsccl_prog_need_scratch(prog, scratch);
  nsccl_step_id_t pre = NSCCL_NO_STEP;
  if (emulate || stage) pre = nsccl_prog_copy(prog, pre_src, pre_dst, NSCCL_NODEPS);
  /* first[l % 2][part], count: the steps of each part in the current and the previous slice. */
  size_t np = R->nparts ? (size_t)R->nparts : 1;
  nsccl_step_id_t *first[2] = {malloc(sizeof(nsccl_step_id_t) * np), malloc(sizeof(nsccl_step_id_t) * np)};
  int *count[2] = {malloc(sizeof(int) * np), malloc(sizeof(int) * np)};
  nscclResult_t rc = nscclSuccess;
  if (!first[0] || !first[1] || !count[0] || !count[1]) rc = nscclSystemError;
  for (int l = 0; l < e.L && rc == nscclSuccess; l++) {
    nsccl_step_id_t *cf = first[l % 2], *pf = first[(l + 1) % 2];
    int *cc = count[l % 2], *pc = count[(l + 1) % 2];
    for (int i = 0; i < R->nparts; i++) {
      const msccl_part_t *p = &R->parts[i];
      e.ndeps = 0;
      int ok = 1;
      for (int d = 0; d < p->ndeps && ok; d++) ok = push_range(&e, cf[p->deps[d]], cc[p->deps[d]]);
      for (int k = 0; p->first_of_tb && l > 0 && k < R->tb_end_n[p->tb] && ok; k++) {
        int q = R->tb_end[R->tb_end_first[p->tb] + k];
        ok = push_range(&e, pf[q], pc[q]);
      }
      /* Every part waits for the copy that makes the input layout (sends wait for no earlier step). */
      if (pre != NSCCL_NO_STEP) ok = ok && push_dep(&e, pre);
      if (!ok) {
        rc = nscclSystemError;
        break;
      }
      int pieces = e.L == 1 ? 1 : p->cnt;
      cf[i] = NSCCL_NO_STEP;
      for (int j = 0; j < pieces; j++) {
        nsccl_step_id_t id = add(&e, p, l, j, pieces);
        if (j == 0) cf[i] = id;
      }
      cc[i] = pieces;
    }
  }
  if (rc == nscclSuccess && emulate && plan->coll == NSCCL_COLL_REDUCESCATTER) {
    /* The result leaves scratch once every thread block's last slice is done. */
    e.ndeps = 0;
    nsccl_step_id_t *cf = first[(e.L - 1) % 2];
    int *cc = count[(e.L - 1) % 2];
    for (int t = 0; t < R->ntbs && rc == nscclSuccess; t++)
      for (int k = 0; k < R->tb_end_n[t] && rc == nscclSuccess; k++) {
        int q = R->tb_end[R->tb_end_first[t] + k];
        if (!push_range(&e, cf[q], cc[q])) rc = nscclSystemError;
      }
    if (!push_dep(&e, pre)) rc = nscclSystemError;
    if (rc == nscclSuccess) nsccl_prog_copy(prog, post_src, post_dst, e.deps, e.ndeps);
  }
  free(first[0]);
  free(first[1]);
  free(count[0]);
  free(count[1]);
  free(e.deps);
  free(e.tmp_off);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "%s: out of memory building rank %d's program", plan->path, prog->rank);
  return nscclSuccess;
}
