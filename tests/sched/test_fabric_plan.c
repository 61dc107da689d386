/* The fabric engine's plan on real schedules: which sends it lets the transport move by
 * rendezvous from the lower threshold (unawaited: no step waits for them and no step writes their
 * bytes; src/engine/fabric_plan.c), and the buffer layout it compares regions in
 * (nsccl_prog_layout), in place as well as out of place.
 *
 * References, not the code under test: the buffer offsets come from the pointers NCCL's in-place
 * rule gives a caller (all-gather sendbuff = recvbuff + rank * sendcount, reduce-scatter recvbuff
 * = sendbuff + rank * recvcount, all-reduce sendbuff == recvbuff); which sends are unawaited is
 * stated from what each collective does with its bytes (an all-gather never writes a rank's own
 * block; a reduce-scatter never writes the blocks it sends to peers) or, for a hand-built program,
 * from which step writes what. Each test fails on a rule that skips in-place programs or one that
 * compares regions by buffer name alone. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "algo/algo.h"
#include "engine/fabric_internal.h"
#include "sched/sched.h"

static nsccl_program_t build(nsccl_coll_t coll, int rank, int nranks, size_t count, bool in_place, nsccl_algo_t algo) {
  nsccl_coll_args_t args = {coll, count, nscclInt32, in_place, 0};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, rank, nranks, &args), nscclSuccess);
  nsccl_algo_opts_t opts = {0, 0};
  cr_assert_eq(nsccl_algo_build(algo, NULL, &opts, &p), nscclSuccess, "build %s rank %d", nsccl_coll_name(coll), rank);
  return p;
}

/* Sends without successors, and how many of them the plan marks unawaited. The plan is only
 * derived, never run: the fabric needs a transport pointer to accept message steps, and receive
 * fusion off keeps the transport from being asked anything. */
static void count_unawaited(const nsccl_program_t *p, unsigned *leaf_sends, unsigned *marked) {
  nsccl_transport_t *stand_in = (nsccl_transport_t *)(uintptr_t)1;
  struct nsccl_fabric f = {0};
  f.tp = stand_in;
  f.fuse = 0;
  nsccl_fabric_plan_t *pl = NULL;
  cr_assert_eq(nsccl_fabric_prepare(&f, p, &pl), nscclSuccess);
  *leaf_sends = *marked = 0;
  for (uint32_t s = 0; s < p->nsteps; s++) {
    if (p->steps[s].kind != NSCCL_STEP_SEND || pl->succ_off[s + 1] != pl->succ_off[s]) continue;
    (*leaf_sends)++;
    *marked += pl->unawaited[s];
  }
  nsccl_fabric_plan_free(pl);
}

Test(fabric_plan, layout_follows_the_in_place_pointer_rule) {
  const size_t count = 5, elem = 4;
  const nsccl_coll_t colls[] = {NSCCL_COLL_ALLREDUCE, NSCCL_COLL_ALLGATHER, NSCCL_COLL_REDUCESCATTER};
  for (int c = 0; c < 3; c++)
    for (int rank = 0; rank < 3; rank++) {
      nsccl_coll_args_t args = {colls[c], count, nscclInt32, true, 0};
      nsccl_program_t p;
      cr_assert_eq(nsccl_prog_init(&p, rank, 3, &args), nscclSuccess);
      size_t base[NSCCL_NUM_BUFS];
      nsccl_prog_layout(&p, base);
      /* The caller's pointers into one array, as NCCL's in-place rule places them. */
      static unsigned char mem[4096];
      unsigned char *send = mem, *recv = mem;
      if (colls[c] == NSCCL_COLL_ALLGATHER) send = recv + (size_t)rank * count * elem;
      if (colls[c] == NSCCL_COLL_REDUCESCATTER) recv = send + (size_t)rank * count * elem;
      cr_assert_eq((ptrdiff_t)base[NSCCL_BUF_SEND] - (ptrdiff_t)base[NSCCL_BUF_RECV], send - recv,
                   "%s rank %d: send - recv", nsccl_coll_name(colls[c]), rank);
      /* Scratch lies after both. */
      size_t end = base[NSCCL_BUF_SEND] + p.buf_bytes[NSCCL_BUF_SEND];
      if (base[NSCCL_BUF_RECV] + p.buf_bytes[NSCCL_BUF_RECV] > end)
        end = base[NSCCL_BUF_RECV] + p.buf_bytes[NSCCL_BUF_RECV];
      cr_assert_geq(base[NSCCL_BUF_SCRATCH], end, "%s rank %d: scratch overlaps", nsccl_coll_name(colls[c]), rank);
      nsccl_prog_free(&p);
    }
  /* Out of place the three buffers are disjoint. */
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, count, nscclInt32, false, 0};
  nsccl_program_t p;
  cr_assert_eq(nsccl_prog_init(&p, 1, 3, &args), nscclSuccess);
  size_t base[NSCCL_NUM_BUFS];
  nsccl_prog_layout(&p, base);
  cr_assert_geq(base[NSCCL_BUF_RECV], base[NSCCL_BUF_SEND] + p.buf_bytes[NSCCL_BUF_SEND]);
  cr_assert_geq(base[NSCCL_BUF_SCRATCH], base[NSCCL_BUF_RECV] + p.buf_bytes[NSCCL_BUF_RECV]);
  nsccl_prog_free(&p);
}

/* 2 ranks, 16 KiB blocks: the ring all-gather's one send reads the rank's own block and the ring
 * reduce-scatter's one send reads the peer's block of the input; nothing writes either, in place
 * or not, so both are unawaited. */
Test(fabric_plan, cold_sends_are_unawaited_in_place_too) {
  const nsccl_coll_t colls[] = {NSCCL_COLL_ALLGATHER, NSCCL_COLL_REDUCESCATTER};
  for (int c = 0; c < 2; c++)
    for (int ip = 0; ip < 2; ip++)
      for (int rank = 0; rank < 2; rank++) {
        nsccl_program_t p = build(colls[c], rank, 2, 4096, ip, NSCCL_ALGO_RING);
        unsigned leaves, marked;
        count_unawaited(&p, &leaves, &marked);
        cr_assert_gt(leaves, 0, "%s %s rank %d: no send without successors", nsccl_coll_name(colls[c]),
                     ip ? "in place" : "out of place", rank);
        cr_assert_eq(marked, leaves, "%s %s rank %d: %u of %u cold sends unawaited", nsccl_coll_name(colls[c]),
                     ip ? "in place" : "out of place", rank, marked, leaves);
        nsccl_prog_free(&p);
      }
}

/* A send whose bytes a step wrote through the other name of the same memory is not cold: in an
 * in-place 2-rank all-gather, a COPY from scratch into the receive buffer's own block, then the
 * send of the send buffer (that same block) after it. Compared by buffer name alone the two would
 * look disjoint. */
Test(fabric_plan, bytes_written_through_the_alias_are_not_cold) {
  const size_t count = 1024, S = count * 4;
  for (int rank = 0; rank < 2; rank++) {
    nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, count, nscclInt32, true, 0};
    nsccl_program_t p;
    cr_assert_eq(nsccl_prog_init(&p, rank, 2, &args), nscclSuccess);
    nsccl_prog_need_scratch(&p, S);
    nsccl_step_id_t w = nsccl_prog_copy(&p, nsccl_region(NSCCL_BUF_SCRATCH, 0, S),
                                        nsccl_region(NSCCL_BUF_RECV, (size_t)rank * S, S), NSCCL_NODEPS);
    nsccl_prog_send(&p, 1 - rank, nsccl_region(NSCCL_BUF_SEND, 0, S), NSCCL_DEP1(w));
    nsccl_prog_recv(&p, 1 - rank, nsccl_region(NSCCL_BUF_RECV, (size_t)(1 - rank) * S, S), NSCCL_NODEPS);
    unsigned leaves, marked;
    count_unawaited(&p, &leaves, &marked);
    cr_assert_eq(leaves, 1);
    cr_assert_eq(marked, 0, "rank %d: a send of bytes just written is unawaited", rank);
    nsccl_prog_free(&p);
  }
}
