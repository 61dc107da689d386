/* The local engine on hand-built schedules: moves the right bytes, reports a deadlock instead of
 * looping, and rejects a size mismatch. Only SEND/RECV/COPY here, so no reduction kernel is
 * involved (those are covered by tests/algo). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/local.h"
#include "sched_test_util.h"

TestSuite(local_engine, .fini = free_progs);

static void *sendb[MAXR], *recvb[MAXR];

static void alloc_bufs(void) {
  for (int r = 0; r < nprogs; r++) {
    size_t s = progs[r].buf_bytes[NSCCL_BUF_SEND], q = progs[r].buf_bytes[NSCCL_BUF_RECV];
    sendb[r] = malloc(s ? s : 1);
    recvb[r] = calloc(q ? q : 1, 1);
    for (size_t i = 0; i < s; i++) ((unsigned char *)sendb[r])[i] = (unsigned char)(r * 31 + i);
  }
}

static void free_bufs(void) {
  for (int r = 0; r < nprogs; r++) {
    free(sendb[r]);
    free(recvb[r]);
  }
}

static nscclResult_t run(void) {
  return nsccl_local_run(progs, nprogs, (const void *const *)sendb, recvb, nscclSum, err, sizeof(err));
}

Test(local_engine, ring_allgather_moves_every_block) {
  for (int n = 1; n <= 7; n++) {
    setup_progs(n, NSCCL_COLL_ALLGATHER, 9, nscclUint8, false);
    build_ring_allgather(n, 9, 3);
    alloc_bufs();
    cr_assert_eq(run(), nscclSuccess, "%d ranks: %s", n, err);
    for (int r = 0; r < n; r++)
      for (int q = 0; q < n; q++)
        for (size_t i = 0; i < 9; i++)
          cr_assert_eq(((unsigned char *)recvb[r])[(size_t)q * 9 + i], (unsigned char)(q * 31 + i),
                       "%d ranks: rank %d block %d byte %zu", n, r, q, i);
    free_bufs();
    free_progs();
  }
}

Test(local_engine, reports_deadlock_instead_of_looping, .timeout = 10) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t v = nsccl_prog_recv(&progs[r], 1 - r, RCV(0, 16), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, SND(0, 16), NSCCL_DEP1(v));
  }
  alloc_bufs();
  cr_assert_eq(run(), nscclInvalidUsage);
  cr_assert(strstr(err, "deadlock") != NULL, "message: %s", err);
  cr_assert(strstr(err, "rank 0 step 0") != NULL, "message: %s", err);
  free_bufs();
}

Test(local_engine, reports_missing_sender, .timeout = 10) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_recv(&progs[1], 0, RCV(0, 16), NSCCL_NODEPS);
  alloc_bufs();
  cr_assert_eq(run(), nscclInvalidUsage);
  cr_assert(strstr(err, "deadlock") != NULL, "message: %s", err);
  free_bufs();
}

Test(local_engine, rejects_size_mismatch) {
  setup_progs(2, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_send(&progs[0], 1, SND(0, 16), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, RCV(0, 8), NSCCL_NODEPS);
  alloc_bufs();
  cr_assert_eq(run(), nscclInvalidUsage);
  cr_assert(strstr(err, "size") != NULL, "message: %s", err);
  free_bufs();
}

Test(local_engine, rejects_out_of_bounds_region) {
  setup_progs(1, NSCCL_COLL_ALLREDUCE, 4, nscclInt32, false);
  nsccl_prog_copy(&progs[0], SND(0, 16), RCV(8, 16), NSCCL_NODEPS);
  alloc_bufs();
  cr_assert_eq(run(), nscclInvalidUsage);
  cr_assert(strstr(err, "out of bounds") != NULL, "message: %s", err);
  free_bufs();
}

Test(local_engine, in_place_allgather_uses_one_buffer) {
  /* In place: send is recv + rank * sendbytes; the engine sees exactly those pointers. */
  setup_progs(3, NSCCL_COLL_ALLGATHER, 4, nscclUint8, true);
  for (int r = 0; r < 3; r++)
    for (int q = 0; q < 3; q++) {
      if (q == r) continue;
      nsccl_prog_send(&progs[r], q, SND(0, 4), NSCCL_NODEPS);
      nsccl_prog_recv(&progs[r], q, RCV((size_t)q * 4, 4), NSCCL_NODEPS);
    }
  cr_assert_eq(validate(), nscclSuccess, "%s", err);
  unsigned char *bufs[3];
  for (int r = 0; r < 3; r++) {
    bufs[r] = calloc(12, 1);
    for (int i = 0; i < 4; i++) bufs[r][r * 4 + i] = (unsigned char)(100 + r * 10 + i);
    recvb[r] = bufs[r];
    sendb[r] = bufs[r] + r * 4;
  }
  cr_assert_eq(run(), nscclSuccess, "%s", err);
  for (int r = 0; r < 3; r++)
    for (int q = 0; q < 3; q++)
      for (int i = 0; i < 4; i++) cr_assert_eq(bufs[r][q * 4 + i], 100 + q * 10 + i);
  for (int r = 0; r < 3; r++) free(bufs[r]);
}
