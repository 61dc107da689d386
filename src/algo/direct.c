/* Direct algorithms: every rank exchanges with every other rank in one step.
 *
 * all-gather:     send the own block to all n-1 peers, receive the n-1 other blocks.
 * reduce-scatter: send block j to rank j, receive the own block from every peer into a scratch
 *                 slot, reduce the n contributions locally.
 * all-reduce:     one-shot (whole vectors to everyone, n-way local reduction) or direct RS + direct
 *                 AG over the vector cut into n blocks (NSCCL_DIRECT_* in direct.h).
 *
 * Local reductions run in ascending source rank, ((x0 (+) x1) (+) x2) ..., the same order on every
 * rank and every run, so floating-point results are reproducible and one-shot all-reduce gives
 * bit-identical vectors on all ranks. Peers are visited in the staggered order rank+1, rank+2, ...
 * so that no rank is everybody's first target. Transfers are cut into chunks; chunk c's reduction
 * waits only for chunk c's messages. */
#include <stdlib.h>

#include "algo/algo.h"
#include "algo/direct.h"
#include "algo/membound.h"
#include "algo/ring.h"
#include "base/check.h"

typedef struct {
  nsccl_program_t *p;
  int n, rank;
  size_t elem, chunk;
  nsccl_region_t *x;     /* [n] operands of one chunk's reduction, by source rank */
  nsccl_step_id_t *xdep; /* [n] the step that delivered each operand (NSCCL_NO_STEP: input) */
  nsccl_step_id_t *sent; /* [n] this chunk's send to each peer */
  nsccl_step_id_t *deps; /* [n + 2] dependency list being assembled */
  nsccl_slots_t slots;   /* reductions: sets of receive slots (+ accumulator), one set per chunk in flight */
  size_t slot_chunk;     /* bytes of one operand slot: a chunk, or the whole block if smaller */
  uint32_t set;          /* the set of the chunk being emitted */
  nsccl_step_id_t wait;  /* the step that released that set's previous content */
} direct_t;

static size_t nchunks(const direct_t *d, size_t bytes) { return nsccl_chunk_count(bytes, d->chunk); }

static nsccl_region_t chunk_of(const direct_t *d, nsccl_region_t whole, size_t c) {
  return nsccl_region_chunk(whole, d->chunk, c);
}

/* Rank j's block: all-reduce's partition of the vector, or the count elements of rank j in
 * reduce-scatter's send buffer and all-gather's receive buffer. */
static nsccl_region_t block(const direct_t *d, nsccl_buf_t buf, int j) {
  const nsccl_coll_args_t *a = &d->p->args;
  if (a->coll == NSCCL_COLL_ALLREDUCE) {
    size_t first, len;
    nsccl_algo_block(a->count, d->n, j, &first, &len);
    return nsccl_region(buf, first * d->elem, len * d->elem);
  }
  return nsccl_region(buf, (size_t)j * a->count * d->elem, a->count * d->elem);
}

static int peer_to(const direct_t *d, int i) { return (d->rank + i) % d->n; }
static int peer_from(const direct_t *d, int i) { return (d->rank - i + d->n) % d->n; }

/* Scratch layout for the reduction of one chunk (a "set", membound.h): n-1 receive slots (source
 * s in slot s, or s-1 above the own rank), then one accumulator used in place. In place the
 * destination aliases the own contribution, which must stay intact until the chain has read it
 * (and, for one-shot, until it has been sent), so partial sums live in the accumulator and only the
 * last reduction writes the destination. NSCCL_ALGO_SLOTS sets rotate over the chunks: chunk c
 * reuses chunk c - NSCCL_ALGO_SLOTS's set once that chunk's final reduction (which depends on every
 * read of the set) is done, so scratch is (n-1 [+1]) x NSCCL_ALGO_SLOTS chunks at most. With one
 * chunk this is the layout of whole blocks, as before. */
static nscclResult_t reduce_slots(direct_t *d, size_t bytes) {
  size_t per = (size_t)(d->n - 1) + (d->p->args.in_place && d->n >= 3 ? 1 : 0);
  size_t nc = nchunks(d, bytes);
  d->slot_chunk = bytes < d->chunk ? bytes : d->chunk;
  return nsccl_slots_init(&d->slots, d->p, 0, per * d->slot_chunk,
                          (uint32_t)(nc < NSCCL_ALGO_SLOTS ? (nc ? nc : 1) : NSCCL_ALGO_SLOTS));
}

/* The set for the next chunk (its receives and accumulator writes wait for d->wait). */
static void take_set(direct_t *d) { d->set = nsccl_slots_take(&d->slots, &d->wait); }

/* Chunk c's region of the accumulator in its set. */
static nsccl_region_t acc_of(const direct_t *d, size_t bytes) {
  return nsccl_slots_region(&d->slots, d->set, (size_t)(d->n - 1) * d->slot_chunk, bytes);
}

/* Receive chunk c of a block of own_in.bytes from every peer into its slot; fill the operands. */
static void gather_operands(direct_t *d, nsccl_region_t own_in, size_t c) {
  nsccl_region_t mine = chunk_of(d, own_in, c);
  for (int i = 1; i < d->n; i++) {
    int s = peer_from(d, i);
    size_t slot = (size_t)(s < d->rank ? s : s - 1);
    nsccl_region_t r = nsccl_slots_region(&d->slots, d->set, slot * d->slot_chunk, mine.bytes);
    d->x[s] = r;
    d->xdep[s] = nsccl_prog_recv(d->p, s, r, NSCCL_DEP1(d->wait));
  }
  d->x[d->rank] = mine;
  d->xdep[d->rank] = NSCCL_NO_STEP;
}

/* dst = x[0] (+) x[1] (+) ... (+) x[n-1], left to right. Partial sums go to acc (which may be dst
 * itself out of place). With wait_sends the final write also waits for this chunk's sends, whose
 * source it overwrites in place. Returns the final step. */
static nsccl_step_id_t reduce_chain(direct_t *d, nsccl_region_t dst, nsccl_region_t acc, bool wait_sends) {
  nsccl_step_id_t prev = d->xdep[0];
  nsccl_region_t cur = d->x[0];
  for (int s = 1; s < d->n; s++) {
    bool final = s == d->n - 1;
    int nd = 0;
    d->deps[nd++] = prev;
    d->deps[nd++] = d->xdep[s];
    if (final && wait_sends)
      for (int j = 0; j < d->n; j++) d->deps[nd++] = d->sent[j];
    nsccl_region_t out = final ? dst : acc;
    prev = nsccl_prog_reduce(d->p, cur, d->x[s], out, d->deps, nd);
    cur = out;
  }
  return prev;
}

static void direct_all_gather(direct_t *d) {
  nsccl_region_t src = nsccl_region(NSCCL_BUF_SEND, 0, d->p->args.count * d->elem);
  if (!d->p->args.in_place) nsccl_prog_copy(d->p, src, block(d, NSCCL_BUF_RECV, d->rank), NSCCL_NODEPS);
  for (size_t c = 0; c < nchunks(d, src.bytes); c++) {
    for (int i = 1; i < d->n; i++) nsccl_prog_send(d->p, peer_to(d, i), chunk_of(d, src, c), NSCCL_NODEPS);
    for (int i = 1; i < d->n; i++) {
      int s = peer_from(d, i);
      nsccl_prog_recv(d->p, s, chunk_of(d, block(d, NSCCL_BUF_RECV, s), c), NSCCL_NODEPS);
    }
  }
}

static nscclResult_t direct_reduce_scatter(direct_t *d) {
  nsccl_region_t own_in = block(d, NSCCL_BUF_SEND, d->rank);
  nsccl_region_t dst = nsccl_region(NSCCL_BUF_RECV, 0, own_in.bytes);
  NSCCL_CHECK(reduce_slots(d, own_in.bytes));
  for (size_t c = 0; c < nchunks(d, own_in.bytes); c++) {
    for (int i = 1; i < d->n; i++) {
      int j = peer_to(d, i);
      nsccl_prog_send(d->p, j, chunk_of(d, block(d, NSCCL_BUF_SEND, j), c), NSCCL_NODEPS);
    }
    take_set(d);
    gather_operands(d, own_in, c);
    nsccl_region_t out = chunk_of(d, dst, c);
    nsccl_step_id_t fin = reduce_chain(d, out, d->p->args.in_place ? acc_of(d, out.bytes) : out, false);
    nsccl_slots_release(&d->slots, d->set, fin);
  }
  return nscclSuccess;
}

/* Direct RS then direct AG, interleaved chunk by chunk. Per peer, messages go RS chunk c, then AG
 * chunk c, on both sides, skipping (on both sides) chunks beyond a block's end. In place, the
 * receive of block s overwrites the input block s, so it waits for the RS send of that chunk. */
static nscclResult_t direct_all_reduce_rsag(direct_t *d) {
  nsccl_region_t own_in = block(d, NSCCL_BUF_SEND, d->rank), own_out = block(d, NSCCL_BUF_RECV, d->rank);
  NSCCL_CHECK(reduce_slots(d, own_in.bytes));
  size_t max_block = (d->p->args.count + (size_t)d->n - 1) / (size_t)d->n;
  for (size_t c = 0; c < nchunks(d, max_block * d->elem); c++) {
    for (int i = 1; i < d->n; i++) {
      int j = peer_to(d, i);
      nsccl_region_t b = block(d, NSCCL_BUF_SEND, j);
      d->sent[j] = c < nchunks(d, b.bytes) ? nsccl_prog_send(d->p, j, chunk_of(d, b, c), NSCCL_NODEPS) : NSCCL_NO_STEP;
    }
    if (c < nchunks(d, own_in.bytes)) {
      take_set(d);
      gather_operands(d, own_in, c);
      nsccl_region_t out = chunk_of(d, own_out, c);
      nsccl_step_id_t fin = reduce_chain(d, out, d->p->args.in_place ? acc_of(d, out.bytes) : out, false);
      nsccl_slots_release(&d->slots, d->set, fin);
      for (int i = 1; i < d->n; i++) nsccl_prog_send(d->p, peer_to(d, i), chunk_of(d, own_out, c), NSCCL_DEP1(fin));
    }
    for (int i = 1; i < d->n; i++) {
      int s = peer_from(d, i);
      nsccl_region_t b = block(d, NSCCL_BUF_RECV, s);
      if (c < nchunks(d, b.bytes))
        nsccl_prog_recv(d->p, s, chunk_of(d, b, c), NSCCL_DEP1(d->p->args.in_place ? d->sent[s] : NSCCL_NO_STEP));
    }
  }
  return nscclSuccess;
}

static nscclResult_t direct_all_reduce_oneshot(direct_t *d) {
  size_t bytes = d->p->args.count * d->elem;
  nsccl_region_t all = nsccl_region(NSCCL_BUF_SEND, 0, bytes), dst = nsccl_region(NSCCL_BUF_RECV, 0, bytes);
  NSCCL_CHECK(reduce_slots(d, bytes));
  d->sent[d->rank] = NSCCL_NO_STEP;
  for (size_t c = 0; c < nchunks(d, bytes); c++) {
    for (int i = 1; i < d->n; i++) {
      int j = peer_to(d, i);
      d->sent[j] = nsccl_prog_send(d->p, j, chunk_of(d, all, c), NSCCL_NODEPS);
    }
    take_set(d);
    gather_operands(d, all, c);
    nsccl_region_t out = chunk_of(d, dst, c);
    nsccl_step_id_t fin = reduce_chain(d, out, d->p->args.in_place ? acc_of(d, out.bytes) : out, d->p->args.in_place);
    nsccl_slots_release(&d->slots, d->set, fin);
  }
  return nscclSuccess;
}

nscclResult_t nsccl_direct_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)topo; /* every rank talks to every rank: on any topology the schedule is the same */
  const nsccl_coll_args_t *a = &prog->args;
  int variant = opts ? opts->variant : NSCCL_DIRECT_AUTO;
  if (a->coll == NSCCL_COLL_ALLREDUCE && variant != NSCCL_DIRECT_AUTO && variant != NSCCL_DIRECT_ONESHOT &&
      variant != NSCCL_DIRECT_RSAG)
    NSCCL_FAIL(nscclInvalidArgument, "direct: unknown all-reduce variant %d (see algo/direct.h)", variant);
  direct_t d = {.p = prog, .n = prog->nranks, .rank = prog->rank};
  d.elem = nsccl_algo_elem_bytes(prog);
  d.chunk = nsccl_algo_chunk_bytes(prog, opts);

  size_t recv_bytes = prog->buf_bytes[NSCCL_BUF_RECV];
  if (d.n == 1 || a->count == 0) {
    if (!a->in_place && recv_bytes > 0)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, recv_bytes), nsccl_region(NSCCL_BUF_RECV, 0, recv_bytes),
                      NSCCL_NODEPS);
    return nscclSuccess;
  }

  d.x = malloc((size_t)d.n * sizeof(nsccl_region_t));
  d.xdep = malloc((size_t)(3 * d.n + 2) * sizeof(nsccl_step_id_t));
  if (!d.x || !d.xdep) {
    free(d.x);
    free(d.xdep);
    NSCCL_FAIL(nscclSystemError, "direct: out of memory for %d peers (rank %d)", d.n, d.rank);
  }
  d.sent = d.xdep + d.n;
  d.deps = d.sent + d.n;
  for (int i = 0; i < d.n; i++) d.sent[i] = NSCCL_NO_STEP;

  nscclResult_t rc = nscclSuccess;
  switch (a->coll) {
  case NSCCL_COLL_ALLGATHER: direct_all_gather(&d); break;
  case NSCCL_COLL_REDUCESCATTER: rc = direct_reduce_scatter(&d); break;
  case NSCCL_COLL_ALLREDUCE:
    if (variant == NSCCL_DIRECT_ONESHOT ||
        (variant == NSCCL_DIRECT_AUTO && a->count * d.elem <= NSCCL_DIRECT_ONESHOT_MAX_BYTES))
      rc = direct_all_reduce_oneshot(&d);
    else
      rc = direct_all_reduce_rsag(&d);
    break;
  default: break;
  }
  nsccl_slots_free(&d.slots);
  free(d.x);
  free(d.xdep);
  NSCCL_CHECK(rc);
  return nsccl_algo_window(prog, d.chunk);
}
