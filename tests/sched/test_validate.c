/* The validator accepts correct hand-built schedules and rejects broken ones with a message that
 * names the rank, the step and the problem. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

#include "sched_test_util.h"

TestSuite(validate, .fini = free_progs);

/* ---- accepted ---- */

Test(validate, ring_allgather_many_sizes) {
  for (int n = 1; n <= 9; n++) {
    for (int chunks = 1; chunks <= 3; chunks++) {
      setup_progs(n, NSCCL_COLL_ALLGATHER, 5, nscclInt32, false);
      build_ring_allgather(n, 5, chunks);
      expect_ok();
      free_progs();
    }
  }
}

Test(validate, empty_programs_for_zero_count) {
  /* count 0: nothing to do, nothing to write */
  setup_progs(4, NSCCL_COLL_ALLREDUCE, 0, nscclFloat32, false);
  expect_ok();
}

Test(validate, in_place_single_rank_needs_no_steps) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 10, nscclFloat32, true);
  expect_ok();
  free_progs();
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 10, nscclFloat32, false);
  expect_bad("rank 0: recv[0, 40) is never written");
}

Test(validate, two_rank_allreduce_with_recv_reduce) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_prog_recv_reduce(&progs[r], 1 - r, SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  }
  expect_ok();
}

Test(validate, in_place_allreduce_ordered) {
  /* In place, recv is send: the reduction overwrites what the send reads, so it must wait for it.
   * (Receiving straight into recv after the send would deadlock under rendezvous.) */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, true);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_need_scratch(&progs[r], 16);
    nsccl_step_id_t s = nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], 1 - r, SCR(0, 16), NSCCL_NODEPS);
    nsccl_prog_reduce(&progs[r], RCV(0, 16), SCR(0, 16), RCV(0, 16), NSCCL_DEP2(s, v));
  }
  expect_ok();
}

Test(validate, in_place_allgather_own_slot_is_input) {
  /* In place, rank r's block of recv already holds its input: sending it from recv is fine. */
  setup_progs(3, NSCCL_COLL_ALLGATHER, 2, nscclInt64, true);
  for (int r = 0; r < 3; r++)
    for (int q = 0; q < 3; q++) {
      if (q == r) continue;
      nsccl_prog_send(&progs[r], q, RCV((size_t)r * 16, 16), NSCCL_NODEPS);
      nsccl_prog_recv(&progs[r], q, RCV((size_t)q * 16, 16), NSCCL_NODEPS);
    }
  expect_ok();
}

Test(validate, scratch_written_then_read_with_dependency) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 2, nscclFloat32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t s = nsccl_prog_send(&progs[r], 1 - r, SND(0, 8), NSCCL_NODEPS);
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], 1 - r, SCR(0, 8), NSCCL_NODEPS);
    nsccl_prog_need_scratch(&progs[r], 8);
    nsccl_prog_reduce(&progs[r], SND(0, 8), SCR(0, 8), RCV(0, 8), NSCCL_DEP2(s, v));
  }
  expect_ok();
}

Test(validate, transitive_dependency_orders_accesses) {
  /* step 2 reads what step 0 wrote, through step 1 only. */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 2, nscclFloat32, false);
  nsccl_prog_need_scratch(&progs[0], 16);
  nsccl_step_id_t a = nsccl_prog_copy(&progs[0], SND(0, 8), SCR(0, 8), NSCCL_NODEPS);
  nsccl_step_id_t b = nsccl_prog_copy(&progs[0], SND(0, 8), SCR(8, 8), NSCCL_DEP1(a));
  nsccl_prog_reduce(&progs[0], SCR(0, 8), SCR(8, 8), RCV(0, 8), NSCCL_DEP1(b));
  nsccl_prog_copy(&progs[1], SND(0, 8), RCV(0, 8), NSCCL_NODEPS);
  expect_ok();
}

/* ---- form ---- */

Test(validate, out_of_bounds_region) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_send(&progs[0], 1, SND(8, 16), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, RCV(0, 16), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 (SEND)", "out of bounds", "send[8, 24)");
}

Test(validate, self_peer) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  nsccl_prog_send(&progs[1], 1, SND(0, 16), NSCCL_NODEPS);
  expect_bad("rank 1 step 0 (SEND)", "peer 1 is the rank itself");
}

Test(validate, peer_out_of_range) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_recv(&progs[0], 2, RCV(0, 16), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 (RECV)", "peer 2 is out of range");
}

Test(validate, forward_dependency) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 8), RCV(0, 8), NSCCL_DEP1(1));
  nsccl_prog_copy(&progs[0], SND(8, 8), RCV(8, 8), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 (COPY) depends on step 1", "not an earlier step");
}

Test(validate, self_dependency) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 16), NSCCL_DEP1(0));
  expect_bad("rank 0 step 0 (COPY) depends on step 0");
}

Test(validate, copy_size_mismatch) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 12), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 (COPY)", "operand sizes differ");
}

Test(validate, reduce_of_partial_elements) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_reduce(&progs[0], SND(0, 6), SND(8, 6), RCV(0, 6), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 (REDUCE)", "not a whole number");
}

Test(validate, unknown_step_kind) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  progs[0].steps[0].kind = 42;
  expect_bad("rank 0 step 0: unknown step kind 42");
}

Test(validate, inconsistent_args) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_coll_args_t other = {.coll = NSCCL_COLL_ALLREDUCE, .count = 5, .dtype = nscclInt32, .in_place = false};
  nsccl_prog_free(&progs[1]);
  cr_assert_eq(nsccl_prog_init(&progs[1], 1, 2, &other), nscclSuccess);
  expect_bad("rank 1 runs allreduce count 5");
}

Test(validate, wrong_rank_order) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  progs[1].rank = 0;
  expect_bad("program 1 says it is rank 0");
}

/* ---- matching ---- */

Test(validate, unmatched_send) {
  setup_progs(4, NSCCL_COLL_ALLREDUCE, 16, nscclInt32, false);
  for (int r = 0; r < 4; r++) nsccl_prog_copy(&progs[r], SND(0, 64), RCV(0, 64), NSCCL_NODEPS);
  nsccl_prog_send(&progs[2], 3, SND(0, 64), NSCCL_NODEPS);
  expect_bad("rank 2 step 1 sends 64 bytes to rank 3 which posts no matching receive");
}

Test(validate, unmatched_receive) {
  setup_progs(3, NSCCL_COLL_ALLREDUCE, 16, nscclInt32, false);
  for (int r = 0; r < 3; r++) nsccl_prog_copy(&progs[r], SND(0, 64), RCV(0, 64), NSCCL_NODEPS);
  nsccl_prog_send(&progs[0], 1, SND(0, 32), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, SCR(0, 32), NSCCL_DEP1(0));
  nsccl_prog_recv(&progs[1], 0, SCR(32, 32), NSCCL_DEP1(0));
  nsccl_prog_need_scratch(&progs[1], 64);
  expect_bad("rank 1 step 2 (RECV) receives 32 bytes from rank 0 which sends no matching message");
}

Test(validate, size_mismatch) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 16, nscclInt32, false);
  nsccl_prog_send(&progs[0], 1, SND(0, 64), NSCCL_NODEPS);
  nsccl_prog_copy(&progs[0], SND(0, 64), RCV(0, 64), NSCCL_NODEPS);
  nsccl_prog_recv_reduce(&progs[1], 0, SND(0, 32), RCV(0, 32), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 sends 64 bytes to rank 1", "rank 1 step 0 (RECV_REDUCE) takes 32 bytes");
}

Test(validate, matching_is_per_pair_in_order) {
  /* Same total bytes but in the other order: message 0 is 8 vs 24 bytes. */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 8, nscclInt32, false);
  nsccl_prog_send(&progs[0], 1, SND(0, 8), NSCCL_NODEPS);
  nsccl_prog_send(&progs[0], 1, SND(8, 24), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, RCV(0, 24), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, RCV(24, 8), NSCCL_NODEPS);
  expect_bad("rank 0 step 0 sends 8 bytes to rank 1", "rank 1 step 0 (RECV) takes 24 bytes");
}

/* ---- deadlock ---- */

Test(validate, two_rank_receive_first_cycle) {
  /* Each rank receives first and sends only after: with rendezvous, neither ever starts. */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], 1 - r, RCV(0, 16), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_DEP1(v));
  }
  expect_bad("deadlock", "4 steps can never complete", "rank 0 step 0 (RECV from rank 1) waits for rank 1 step 1");
}

Test(validate, send_send_cycle_needs_buffering) {
  /* Both ranks send first and receive after: fine with buffering, a deadlock with rendezvous. */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t s = nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_prog_recv(&progs[r], 1 - r, RCV(0, 16), NSCCL_DEP1(s));
  }
  expect_bad("deadlock", "rank 0 step 0 (SEND to rank 1) waits for rank 1 step 1");
}

Test(validate, three_rank_cycle_through_order) {
  /* 0 waits for 2, 2 waits for 1, 1 waits for 0. */
  setup_progs(3, NSCCL_COLL_ALLGATHER, 1, nscclInt32, false);
  for (int r = 0; r < 3; r++) {
    int left = (r + 2) % 3, right = (r + 1) % 3;
    nsccl_step_id_t c = nsccl_prog_copy(&progs[r], SND(0, 4), RCV((size_t)r * 4, 4), NSCCL_NODEPS);
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], left, RCV((size_t)left * 4, 4), NSCCL_DEP1(c));
    nsccl_step_id_t w = nsccl_prog_send(&progs[r], right, SND(0, 4), NSCCL_DEP1(v));
    nsccl_step_id_t x = nsccl_prog_send(&progs[r], left, SND(0, 4), NSCCL_DEP1(w));
    nsccl_prog_recv(&progs[r], right, RCV((size_t)right * 4, 4), NSCCL_DEP1(x));
  }
  expect_bad("deadlock", "12 steps can never complete");
}

/* ---- data flow ---- */

Test(validate, read_of_never_written_scratch) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_need_scratch(&progs[r], 32);
    nsccl_prog_copy(&progs[r], SND(0, 16), SCR(0, 16), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, SCR(8, 16), NSCCL_DEP1(0));
    nsccl_prog_recv(&progs[r], 1 - r, RCV(0, 16), NSCCL_NODEPS);
  }
  expect_bad("rank 0 step 1 (SEND) reads src scratch[16, 24)", "read before write");
}

Test(validate, read_of_recv_before_it_is_received) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_prog_recv(&progs[r], 1 - r, SCR(0, 16), NSCCL_NODEPS);
    nsccl_prog_need_scratch(&progs[r], 16);
    nsccl_prog_reduce(&progs[r], SND(0, 16), SCR(0, 16), RCV(0, 16), NSCCL_NODEPS); /* forgot dep on the recv */
  }
  expect_bad("rank 0 step 2 (REDUCE) reads src2 scratch[0, 16) written by step 1 (RECV)", "read-write race");
}

Test(validate, unordered_write_write) {
  setup_progs(2, NSCCL_COLL_ALLGATHER, 2, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_copy(&progs[r], SND(0, 8), RCV(0, 8), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 8), NSCCL_NODEPS);
    nsccl_prog_recv(&progs[r], 1 - r, RCV(4, 8), NSCCL_NODEPS); /* should be RCV(8, 8) */
  }
  expect_bad("rank 0 step 2 (RECV) writes recv[4, 8), also written by step 0 (COPY)", "write-write race");
}

Test(validate, unordered_read_write) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t c = nsccl_prog_copy(&progs[r], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, RCV(0, 16), NSCCL_DEP1(c));
    nsccl_prog_recv_reduce(&progs[r], 1 - r, RCV(0, 16), RCV(0, 16), NSCCL_DEP1(c)); /* not after the send */
  }
  expect_bad("rank 0 step 2 (RECV_REDUCE) writes recv[0, 16), which step 1 (SEND) reads", "read-write race");
}

Test(validate, in_place_allreduce_hazard) {
  /* Out of place this is correct; in place the receive-reduce overwrites what the send reads. */
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, true);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_prog_recv_reduce(&progs[r], 1 - r, SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  }
  expect_bad("rank 0 step 1 (RECV_REDUCE) writes recv[0, 16), which step 0 (SEND) reads", "send and recv alias");
}

Test(validate, in_place_allgather_hazard) {
  /* Rank 1's own block of recv is its send buffer: receiving into it races with sending it. */
  setup_progs(2, NSCCL_COLL_ALLGATHER, 2, nscclInt32, true);
  nsccl_prog_send(&progs[0], 1, SND(0, 8), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[0], 1, RCV(8, 8), NSCCL_NODEPS);
  nsccl_prog_send(&progs[1], 0, SND(0, 8), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, RCV(8, 8), NSCCL_NODEPS); /* should be RCV(0, 8) */
  expect_bad("rank 1 step 1 (RECV) writes recv[8, 16), which step 0 (SEND) reads");
}

Test(validate, in_place_reducescatter_hazard) {
  /* Rank 1's recv is send[8, 16): writing it before the send of that block reads it is a race. */
  setup_progs(2, NSCCL_COLL_REDUCESCATTER, 2, nscclInt32, true);
  for (int r = 0; r < 2; r++) {
    int q = 1 - r;
    nsccl_prog_recv_reduce(&progs[r], q, SND((size_t)r * 8, 8), RCV(0, 8), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], q, SND((size_t)q * 8, 8), NSCCL_NODEPS);
  }
  expect_ok();
  free_progs();
  setup_progs(2, NSCCL_COLL_REDUCESCATTER, 2, nscclInt32, true);
  for (int r = 0; r < 2; r++) {
    int q = 1 - r;
    nsccl_prog_recv_reduce(&progs[r], q, SND((size_t)r * 8, 8), RCV(0, 8), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], q, SND((size_t)r * 8, 8), NSCCL_NODEPS); /* sends its own block */
  }
  expect_bad("rank 0 step 1 (SEND) reads src send[0, 8) written by step 0 (RECV_REDUCE)");
}

Test(validate, write_to_callers_send_buffer) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_need_scratch(&progs[r], 16);
    nsccl_step_id_t s = nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_NODEPS);
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], 1 - r, SCR(0, 16), NSCCL_NODEPS);
    nsccl_step_id_t w = nsccl_prog_reduce(&progs[r], SND(0, 16), SCR(0, 16), SND(0, 16), NSCCL_DEP2(s, v));
    nsccl_prog_copy(&progs[r], SND(0, 16), RCV(0, 16), NSCCL_DEP1(w));
  }
  expect_bad("rank 0 step 2 (REDUCE) writes send[0, 16), which is the caller's send buffer");
}

Test(validate, partial_operand_overlap) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_step_id_t c = nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  nsccl_prog_reduce(&progs[0], RCV(0, 8), RCV(4, 8), RCV(4, 8), NSCCL_DEP1(c));
  expect_bad("rank 0 step 1 (REDUCE): src recv[0, 8) and dst recv[4, 12) overlap partially");
}

Test(validate, incomplete_output) {
  setup_progs(2, NSCCL_COLL_ALLGATHER, 3, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_prog_copy(&progs[r], SND(0, 12), RCV((size_t)r * 12, 12), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 8), NSCCL_NODEPS);
    nsccl_prog_recv(&progs[r], 1 - r, RCV((size_t)(1 - r) * 12, 8), NSCCL_NODEPS);
  }
  expect_bad("rank 0: recv[20, 24) is never written");
}

/* ---- scale ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

Test(validate, large_schedules_are_fast, .timeout = 60) {
  /* 64 ranks, ring all-gather in 40 chunks per block: 5041 steps per rank (bitset ancestry). */
  setup_progs(64, NSCCL_COLL_ALLGATHER, 4000, nscclInt8, false);
  build_ring_allgather(64, 4000, 40);
  double t0 = now();
  expect_ok();
  double t1 = now();
  cr_log_info("64 ranks x %u steps: %.3f s", progs[0].nsteps, t1 - t0);
  cr_expect_lt(t1 - t0, 5.0);
  free_progs();
  /* 8 ranks with 20000+ steps each (search ancestry above the bitset limit). */
  setup_progs(8, NSCCL_COLL_ALLGATHER, 20000, nscclInt8, false);
  build_ring_allgather(8, 20000, 63);
  for (int r = 0; r < 8; r++) /* pad with independent copies to pass the bitset limit */
    for (int k = 0; k < 20000; k++) {
      nsccl_prog_need_scratch(&progs[r], 20000);
      nsccl_prog_copy(&progs[r], SND((size_t)k, 1), SCR((size_t)k, 1), NSCCL_NODEPS);
    }
  t0 = now();
  expect_ok();
  t1 = now();
  cr_log_info("8 ranks x %u steps: %.3f s", progs[0].nsteps, t1 - t0);
  cr_expect_lt(t1 - t0, 5.0);
  /* and a race in the big one is still found */
  nsccl_prog_copy(&progs[5], SND(0, 8), RCV(0, 8), NSCCL_NODEPS);
  expect_bad("rank 5 step", "write-write race");
}

Test(validate, every_dependency_of_the_ring_is_needed) {
  /* In the hand-built ring every dependency orders a write before a read; dropping any one of them
   * must be reported. */
  setup_progs(4, NSCCL_COLL_ALLGATHER, 6, nscclInt32, false);
  build_ring_allgather(4, 6, 2);
  expect_ok();
  int dropped = 0;
  for (int r = 0; r < 4; r++)
    for (uint32_t i = 0; i < progs[r].nsteps; i++) {
      nsccl_step_t *s = &progs[r].steps[i];
      if (!s->ndeps) continue;
      uint32_t keep = s->ndeps;
      s->ndeps = 0;
      cr_expect_eq(validate(), nscclInvalidUsage, "rank %d step %u without its dependency was accepted", r, i);
      cr_expect(strstr(err, "race") != NULL, "rank %d step %u: %s", r, i, err);
      s->ndeps = keep;
      dropped++;
    }
  cr_assert_eq(dropped, 4 * 3 * 2);
  expect_ok();
}

/* ---- rooted collectives: only the root's send (broadcast) / recv (reduce) carry meaning ---- */

static void setup_rooted(int nranks, nsccl_coll_t coll, size_t count, int root, bool in_place) {
  nsccl_coll_args_t args = {.coll = coll, .count = count, .dtype = nscclInt32, .in_place = in_place, .root = root};
  nprogs = nranks;
  for (int r = 0; r < nranks; r++) cr_assert_eq(nsccl_prog_init(&progs[r], r, nranks, &args), nscclSuccess);
}

Test(validate, broadcast_flat_tree) {
  for (int in_place = 0; in_place < 2; in_place++) {
    setup_rooted(3, NSCCL_COLL_BROADCAST, 4, 1, in_place);
    for (int r = 0; r < 3; r++) {
      if (r == 1) {
        if (!in_place) nsccl_prog_copy(&progs[r], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
        nsccl_prog_send(&progs[r], 0, SND(0, 16), NSCCL_NODEPS);
        nsccl_prog_send(&progs[r], 2, SND(0, 16), NSCCL_NODEPS);
      } else {
        nsccl_prog_recv(&progs[r], 1, RCV(0, 16), NSCCL_NODEPS);
      }
    }
    expect_ok();
    free_progs();
  }
}

Test(validate, broadcast_non_root_send_is_not_input) {
  setup_rooted(2, NSCCL_COLL_BROADCAST, 4, 0, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  nsccl_prog_copy(&progs[1], SND(0, 16), RCV(0, 16), NSCCL_NODEPS); /* rank 1's send means nothing */
  expect_bad("rank 1 step 0 (COPY) reads src send[0, 16)", "read before write");
}

Test(validate, reduce_non_root_recv_is_not_output) {
  setup_rooted(2, NSCCL_COLL_REDUCE, 4, 0, false);
  nsccl_prog_recv_reduce(&progs[0], 1, SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  nsccl_prog_send(&progs[1], 0, SND(0, 16), NSCCL_NODEPS);
  expect_ok();
  nsccl_prog_copy(&progs[1], SND(0, 16), RCV(0, 16), NSCCL_NODEPS);
  expect_bad("rank 1 step 1 (COPY) writes recv[0, 16)", "not part of the output");
}
