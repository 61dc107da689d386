/* Ring algorithms: reduce-scatter and all-gather in n-1 neighbour steps; all-reduce = RS + AG.
 *
 * Everything is written over ring positions: position i holds rank order[i]; a rank sends only to
 * the next position and receives only from the previous one. Blocks are named by position too:
 * block j is the block that ends up owned by (reduce-scatter) or originates at (all-gather) the
 * rank at position j.
 *
 * Each block is cut into chunks of nsccl_algo_chunk_bytes. A rank touches each chunk of each block
 * in one chain (receive, then forward), so every step depends on the step before it in the same
 * chunk's chain and nothing else: chunk c of step k+1 waits only for chunk c of step k, and engines
 * can pipeline chunks through the ring. The same chain orders all accesses that alias in place. */
#include <stdlib.h>

#include "algo/algo.h"
#include "algo/membound.h"
#include "algo/ring.h"
#include "base/check.h"

typedef struct {
  nsccl_program_t *p;
  const int *order;
  int n, pos, next, prev;
  size_t elem, chunk, maxch;
  nsccl_step_id_t *last;           /* [n * maxch]: the last step of this rank touching block j, chunk c */
  uint32_t held[NSCCL_ALGO_SLOTS]; /* reduce-scatter: the slot holding chunk c0 + i's partial sum */
} ring_t;

static int wrap(int a, int n) { return ((a % n) + n) % n; }

static size_t nchunks(const ring_t *r, size_t bytes) { return nsccl_chunk_count(bytes, r->chunk); }

/* Chunk c of region whole. */
static nsccl_region_t chunk_of(const ring_t *r, nsccl_region_t whole, size_t c) {
  return nsccl_region_chunk(whole, r->chunk, c);
}

/* Block j in vector coordinates (bytes): all-reduce's partition of the vector, or the count
 * elements of rank order[j] for reduce-scatter's send buffer and all-gather's receive buffer. */
static nsccl_region_t block(const ring_t *r, nsccl_buf_t buf, int j) {
  const nsccl_coll_args_t *a = &r->p->args;
  if (a->coll == NSCCL_COLL_ALLREDUCE) {
    size_t first, len;
    nsccl_algo_block(a->count, r->n, r->order[j], &first, &len);
    return nsccl_region(buf, first * r->elem, len * r->elem);
  }
  return nsccl_region(buf, (size_t)r->order[j] * a->count * r->elem, a->count * r->elem);
}

static nsccl_step_id_t *last_of(ring_t *r, int j, size_t c) { return &r->last[(size_t)j * r->maxch + c]; }

/* Reduce-scatter: at step k, send block pos-k-1 and reduce the incoming block pos-k-2 into place.
 * Step 0 sends original input; later steps forward what the previous step accumulated. After n-1
 * steps this rank holds the full reduction of block pos.
 *
 * to_scratch (reduce-scatter proper): the partial sums of foreign blocks have no home in the
 * receive buffer, so they go to chunk-sized scratch slots (membound.h): the message is processed
 * in rounds of NSCCL_ALGO_SLOTS chunks per block, all n-1 steps of a round before the next round,
 * and a round's partials rotate through 2 x NSCCL_ALGO_SLOTS slots. Refilling a slot waits for the
 * send that forwarded its previous content; that send is at least one step back in program order,
 * because a step takes at most a round's worth of slots. Scratch is therefore bounded by
 * 2 x NSCCL_ALGO_SLOTS chunks whatever the message size. Otherwise (all-reduce) a block accumulates
 * in its own place in the receive buffer, which all-gather then fills with the final values, and
 * the whole block is one round. */
static void ring_reduce_scatter(ring_t *r, bool to_scratch, nsccl_slots_t *slots) {
  nsccl_program_t *p = r->p;
  int n = r->n;
  size_t round = to_scratch ? NSCCL_ALGO_SLOTS : r->maxch;
  for (size_t c0 = 0; c0 < r->maxch; c0 += round) {
    size_t c1 = c0 + round < r->maxch ? c0 + round : r->maxch;
    for (int k = 0; k < n - 1; k++) {
      int js = wrap(r->pos - k - 1, n), jr = wrap(r->pos - k - 2, n);
      bool final = k == n - 2;
      nsccl_region_t sreg = k > 0 && !to_scratch ? block(r, NSCCL_BUF_RECV, js) : block(r, NSCCL_BUF_SEND, js);
      nsccl_region_t in = block(r, NSCCL_BUF_SEND, jr);
      nsccl_region_t acc = to_scratch ? nsccl_region(NSCCL_BUF_RECV, 0, in.bytes) : block(r, NSCCL_BUF_RECV, jr);
      size_t ns = nchunks(r, sreg.bytes), nr = nchunks(r, in.bytes);
      for (size_t c = c0; c < c1; c++) {
        uint32_t *held = &r->held[c - c0];
        if (c < ns) {
          nsccl_region_t src = chunk_of(r, sreg, c);
          if (to_scratch && k > 0) src = nsccl_slots_region(slots, *held, 0, src.bytes);
          nsccl_step_id_t id = nsccl_prog_send(p, r->next, src, NSCCL_DEP1(*last_of(r, js, c)));
          *last_of(r, js, c) = id;
          if (to_scratch && k > 0) nsccl_slots_release(slots, *held, id);
        }
        if (c < nr) {
          nsccl_region_t dst = chunk_of(r, acc, c);
          nsccl_step_id_t wait = NSCCL_NO_STEP;
          if (to_scratch && !final) {
            *held = nsccl_slots_take(slots, &wait);
            dst = nsccl_slots_region(slots, *held, 0, dst.bytes);
          }
          nsccl_step_id_t id =
              nsccl_prog_recv_reduce(p, r->prev, chunk_of(r, in, c), dst, NSCCL_DEP2(*last_of(r, jr, c), wait));
          *last_of(r, jr, c) = id;
        }
      }
    }
  }
}

/* All-gather: at step k, send block pos-k (own_src at step 0, afterwards what step k-1 received)
 * and receive block pos-k-1 into the receive buffer. */
static void ring_all_gather(ring_t *r, nsccl_region_t own_src) {
  nsccl_program_t *p = r->p;
  int n = r->n;
  for (int k = 0; k < n - 1; k++) {
    int js = wrap(r->pos - k, n), jr = wrap(r->pos - k - 1, n);
    nsccl_region_t sreg = k == 0 ? own_src : block(r, NSCCL_BUF_RECV, js);
    nsccl_region_t rreg = block(r, NSCCL_BUF_RECV, jr);
    size_t ns = nchunks(r, sreg.bytes), nr = nchunks(r, rreg.bytes), nc = ns > nr ? ns : nr;
    for (size_t c = 0; c < nc; c++) {
      if (c < ns)
        *last_of(r, js, c) = nsccl_prog_send(p, r->next, chunk_of(r, sreg, c), NSCCL_DEP1(*last_of(r, js, c)));
      if (c < nr)
        *last_of(r, jr, c) = nsccl_prog_recv(p, r->prev, chunk_of(r, rreg, c), NSCCL_DEP1(*last_of(r, jr, c)));
    }
  }
}

nscclResult_t nsccl_ring_build_ordered(const int *order, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  const nsccl_coll_args_t *a = &prog->args;
  ring_t r = {.p = prog, .order = order, .n = prog->nranks, .pos = -1};
  if (!order) NSCCL_FAIL(nscclInvalidArgument, "ring: order is NULL");
  for (int i = 0; i < r.n; i++) {
    if (order[i] < 0 || order[i] >= r.n)
      NSCCL_FAIL(nscclInvalidArgument, "ring: order[%d] = %d is not a rank of %d", i, order[i], r.n);
    if (order[i] == prog->rank) r.pos = i;
  }
  if (r.pos < 0) NSCCL_FAIL(nscclInvalidArgument, "ring: rank %d is missing from the ring order", prog->rank);
  r.elem = nsccl_algo_elem_bytes(prog);
  r.chunk = nsccl_algo_chunk_bytes(prog, opts);
  r.next = order[wrap(r.pos + 1, r.n)];
  r.prev = order[wrap(r.pos - 1, r.n)];

  size_t send_bytes = prog->buf_bytes[NSCCL_BUF_SEND], recv_bytes = prog->buf_bytes[NSCCL_BUF_RECV];
  if (r.n == 1 || a->count == 0) {
    /* Nothing to exchange; out of place the input still has to reach the output. */
    if (!a->in_place && recv_bytes > 0)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, recv_bytes), nsccl_region(NSCCL_BUF_RECV, 0, recv_bytes),
                      NSCCL_NODEPS);
    return nscclSuccess;
  }

  size_t max_block = a->coll == NSCCL_COLL_ALLREDUCE ? (a->count + (size_t)r.n - 1) / (size_t)r.n : a->count;
  r.maxch = nchunks(&r, max_block * r.elem);
  size_t ntrack = (size_t)r.n * r.maxch;
  r.last = malloc(ntrack * sizeof(nsccl_step_id_t));
  if (!r.last) NSCCL_FAIL(nscclSystemError, "ring: out of memory for %zu chunk trackers (rank %d)", ntrack, prog->rank);
  for (size_t i = 0; i < ntrack; i++) r.last[i] = NSCCL_NO_STEP;
  nscclResult_t rc = nscclSuccess;

  switch (a->coll) {
  case NSCCL_COLL_ALLGATHER:
    /* In place the own block already sits in the receive buffer (send aliases it). */
    if (!a->in_place)
      nsccl_prog_copy(prog, nsccl_region(NSCCL_BUF_SEND, 0, send_bytes), block(&r, NSCCL_BUF_RECV, r.pos),
                      NSCCL_NODEPS);
    ring_all_gather(&r, nsccl_region(NSCCL_BUF_SEND, 0, send_bytes));
    break;
  case NSCCL_COLL_REDUCESCATTER: {
    /* Partials of n-2 steps, two steps' worth live at once, one round of chunks per step. */
    size_t per_step = r.maxch < NSCCL_ALGO_SLOTS ? r.maxch : NSCCL_ALGO_SLOTS;
    nsccl_slots_t slots;
    if (r.n == 2) {
      ring_reduce_scatter(&r, true, NULL); /* no partials: step 0 lands in recv */
      break;
    }
    rc = nsccl_slots_init(&slots, prog, 0, recv_bytes < r.chunk ? recv_bytes : r.chunk,
                          (uint32_t)((r.n > 3 ? 2 : 1) * per_step));
    if (rc != nscclSuccess) break;
    ring_reduce_scatter(&r, true, &slots);
    nsccl_slots_free(&slots);
    break;
  }
  case NSCCL_COLL_ALLREDUCE:
    ring_reduce_scatter(&r, false, NULL);
    ring_all_gather(&r, block(&r, NSCCL_BUF_RECV, r.pos));
    break;
  default: break;
  }
  free(r.last);
  NSCCL_CHECK(rc);
  return nsccl_algo_window(prog, r.chunk);
}

nscclResult_t nsccl_ring_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)topo; /* flat: the identity ring; topology-aware rings call nsccl_ring_build_ordered */
  int *order = malloc((size_t)prog->nranks * sizeof(int));
  if (!order) NSCCL_FAIL(nscclSystemError, "ring: out of memory for a ring of %d ranks", prog->nranks);
  for (int i = 0; i < prog->nranks; i++) order[i] = i;
  nscclResult_t rc = nsccl_ring_build_ordered(order, opts, prog);
  free(order);
  return rc;
}
