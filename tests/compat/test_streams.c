/* Streams, group calls and the small communicator calls, in one process: single-rank communicators,
 * and two ranks on two threads where a peer is needed (async errors). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nsccl.h"

static nscclComm_t one_rank_comm(void) {
  nscclUniqueId id;
  nscclComm_t c;
  cr_assert_eq(nscclGetUniqueId(&id), nscclSuccess);
  cr_assert_eq(nscclCommInitRank(&c, 1, id, 0), nscclSuccess, "%s", nscclGetLastError(NULL));
  return c;
}

/* Work on a stream runs in issue order: each step reads what the previous one wrote. */
Test(streams, queued_work_runs_in_order) {
  nscclComm_t c = one_rank_comm();
  nscclStream_t s;
  cr_assert_eq(nscclStreamCreate(&s), nscclSuccess);
  enum { N = 100000 };
  float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)), *d = malloc(N * sizeof(float));
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < N; i++) a[i] = (float)(i % 1000 + round), b[i] = d[i] = -1;
    cr_assert_eq(nscclMemcpyAsync(b, a, N * sizeof(float), s), nscclSuccess);
    cr_assert_eq(nscclAllReduce(b, b, N, nscclFloat, nscclSum, c, s), nscclSuccess);
    cr_assert_eq(nscclBroadcast(b, d, N, nscclFloat, 0, c, s), nscclSuccess);
    cr_assert_eq(nscclMemcpyAsync(b, d, N * sizeof(float), s), nscclSuccess);
    cr_assert_eq(nscclReduce(b, d, N, nscclFloat, nscclMax, 0, c, s), nscclSuccess);
    cr_assert_eq(nscclStreamSynchronize(s), nscclSuccess, "%s", nscclGetLastError(NULL));
    cr_assert_eq(nscclStreamQuery(s), nscclSuccess);
    for (int i = 0; i < N; i++) cr_assert_eq(d[i], a[i], "round %d element %d: %f, want %f", round, i, d[i], a[i]);
  }
  cr_assert_eq(nscclStreamDestroy(s), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(c), nscclSuccess);
  free(a);
  free(b);
  free(d);
}

Test(streams, bad_arguments_are_returned_by_the_call) {
  nscclComm_t c = one_rank_comm();
  nscclStream_t s;
  cr_assert_eq(nscclStreamCreate(&s), nscclSuccess);
  cr_assert_eq(nscclAllReduce(NULL, NULL, 4, nscclFloat, nscclSum, c, s), nscclInvalidArgument);
  cr_assert_eq(nscclBroadcast(NULL, NULL, 4, nscclFloat, 1, c, s), nscclInvalidArgument);
  cr_assert_eq(nscclStreamSynchronize(s), nscclSuccess); /* nothing was queued */
  cr_assert_eq(nscclStreamSynchronize(NULL), nscclInvalidArgument);
  cr_assert_eq(nscclStreamCreate(NULL), nscclInvalidArgument);
  cr_assert_eq(nscclStreamDestroy(s), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(c), nscclSuccess);
}

/* A recv queued on a stream whose peer never sends: the stream's synchronize and the communicator's
 * async error both report the timeout. */
typedef struct {
  nscclUniqueId id;
  int rank;
  nscclComm_t comm;
  pthread_barrier_t *bar;
} peer_t;

static void *peer_main(void *arg) {
  peer_t *p = arg;
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = 600;
  nscclResult_t rc = nscclCommInitRankConfig(&p->comm, 2, p->id, p->rank, &cfg);
  pthread_barrier_wait(p->bar); /* both initialised */
  if (rc != nscclSuccess) return NULL;
  pthread_barrier_wait(p->bar); /* rank 0 has seen its error */
  return NULL;
}

Test(streams, errors_of_queued_work_surface_at_synchronize_and_async_error, .timeout = 30) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  peer_t p[2];
  cr_assert_eq(nscclGetUniqueId(&p[0].id), nscclSuccess);
  p[1].id = p[0].id;
  pthread_t t;
  for (int r = 0; r < 2; r++) p[r].rank = r, p[r].bar = &bar, p[r].comm = NULL;
  pthread_create(&t, NULL, peer_main, &p[1]);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = 600;
  cr_assert_eq(nscclCommInitRankConfig(&p[0].comm, 2, p[0].id, 0, &cfg), nscclSuccess, "%s", nscclGetLastError(NULL));
  pthread_barrier_wait(&bar);
  cr_assert_not_null(p[1].comm);
  nscclStream_t s;
  cr_assert_eq(nscclStreamCreate(&s), nscclSuccess);
  float buf[16];
  cr_assert_eq(nscclRecv(buf, 16, nscclFloat, 1, p[0].comm, s), nscclSuccess); /* queued: returns at once */
  cr_assert_eq(nscclRecv(buf, 16, nscclFloat, 1, p[0].comm, s), nscclSuccess); /* will find the comm failed */
  nscclResult_t rc = nscclStreamSynchronize(s);
  cr_assert_eq(rc, nscclTimeout, "synchronize returned %s: %s", nscclGetErrorString(rc), nscclGetLastError(NULL));
  cr_assert(strstr(nscclGetLastError(NULL), "receive from 1") != NULL, "%s", nscclGetLastError(NULL));
  nscclResult_t async;
  cr_assert_eq(nscclCommGetAsyncError(p[0].comm, &async), nscclSuccess);
  cr_assert_eq(async, nscclTimeout);
  cr_assert_eq(nscclStreamSynchronize(s), nscclSuccess, "the error is reported once");
  cr_assert_eq(nscclStreamDestroy(s), nscclSuccess);
  cr_assert_eq(nscclCommAbort(p[0].comm), nscclSuccess);
  pthread_barrier_wait(&bar);
  pthread_join(t, NULL);
  cr_assert_eq(nscclCommAbort(p[1].comm), nscclSuccess);
  pthread_barrier_destroy(&bar);
}

Test(groups, send_and_recv_to_self_and_several_comms_in_one_thread) {
  nscclComm_t c1 = one_rank_comm(), c2 = one_rank_comm();
  int a[5] = {1, 2, 3, 4, 5}, b[5] = {0}, x[5] = {0}, y[5] = {0};
  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  cr_assert_eq(nscclGroupStart(), nscclSuccess); /* nested */
  cr_assert_eq(nscclRecv(b, 5, nscclInt32, 0, c1, NULL), nscclSuccess);
  cr_assert_eq(nscclSend(a, 5, nscclInt32, 0, c1, NULL), nscclSuccess);
  cr_assert_eq(nscclGroupEnd(), nscclSuccess);
  cr_assert_eq(b[4], 0, "nothing runs before the outermost GroupEnd");
  cr_assert_eq(nscclAllReduce(a, x, 5, nscclInt32, nscclSum, c1, NULL), nscclSuccess);
  cr_assert_eq(nscclAllReduce(a, y, 5, nscclInt32, nscclMax, c2, NULL), nscclSuccess);
  cr_assert_eq(nscclGroupEnd(), nscclSuccess, "%s", nscclGetLastError(NULL));
  for (int i = 0; i < 5; i++) cr_assert(b[i] == a[i] && x[i] == a[i] && y[i] == a[i]);
  cr_assert_eq(nscclCommDestroy(c1), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(c2), nscclSuccess);
}

Test(groups, a_bad_operation_cancels_the_group) {
  nscclComm_t c = one_rank_comm();
  int a[3] = {1, 2, 3}, b[3] = {0};
  cr_assert_eq(nscclGroupEnd(), nscclInvalidUsage);
  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  cr_assert_eq(nscclAllReduce(a, b, 3, nscclInt32, nscclSum, c, NULL), nscclSuccess);
  cr_assert_eq(nscclSend(a, 3, nscclInt32, 1, c, NULL), nscclInvalidArgument); /* peer 1 of 1 */
  cr_assert_eq(nscclGroupEnd(), nscclInvalidArgument);
  cr_assert_eq(b[0], 0, "the group ran nothing");
  /* an unmatched self receive fails when the group runs */
  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  cr_assert_eq(nscclRecv(b, 3, nscclInt32, 0, c, NULL), nscclSuccess);
  cr_assert_eq(nscclGroupEnd(), nscclInvalidUsage);
  cr_assert_eq(nscclCommDestroy(c), nscclSuccess);
}

Test(groups, a_group_on_one_stream_is_queued_as_one_task) {
  nscclComm_t c = one_rank_comm();
  nscclStream_t s;
  cr_assert_eq(nscclStreamCreate(&s), nscclSuccess);
  int a[4] = {4, 3, 2, 1}, b[4] = {0}, d[4] = {0};
  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  cr_assert_eq(nscclSend(a, 4, nscclInt32, 0, c, s), nscclSuccess);
  cr_assert_eq(nscclRecv(b, 4, nscclInt32, 0, c, s), nscclSuccess);
  cr_assert_eq(nscclGroupEnd(), nscclSuccess);
  cr_assert_eq(nscclAllReduce(b, d, 4, nscclInt32, nscclSum, c, s), nscclSuccess);
  cr_assert_eq(nscclStreamSynchronize(s), nscclSuccess, "%s", nscclGetLastError(NULL));
  for (int i = 0; i < 4; i++) cr_assert_eq(d[i], a[i]);
  cr_assert_eq(nscclCommFinalize(c), nscclSuccess);
  cr_assert_eq(nscclStreamDestroy(s), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(c), nscclSuccess);
}

Test(comms, init_all_split_and_finalize_on_one_rank) {
  nscclComm_t comms[2];
  cr_assert_eq(nscclCommInitAll(comms, 0, NULL), nscclInvalidArgument);
  cr_assert_eq(nscclCommInitAll(comms, 1, NULL), nscclSuccess, "%s", nscclGetLastError(NULL));
  nscclComm_t sub, none = (nscclComm_t)1;
  cr_assert_eq(nscclCommSplit(comms[0], 5, 0, &sub, NULL), nscclSuccess, "%s", nscclGetLastError(NULL));
  int n, r;
  cr_assert_eq(nscclCommCount(sub, &n), nscclSuccess);
  cr_assert_eq(nscclCommUserRank(sub, &r), nscclSuccess);
  cr_assert(n == 1 && r == 0);
  cr_assert_eq(nscclCommSplit(comms[0], NSCCL_SPLIT_NOCOLOR, 0, &none, NULL), nscclSuccess);
  cr_assert_null(none);
  cr_assert_eq(nscclCommSplit(comms[0], -5, 0, &none, NULL), nscclInvalidArgument);
  cr_assert_eq(nscclCommFinalize(sub), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(sub), nscclSuccess);
  cr_assert_eq(nscclCommDestroy(comms[0]), nscclSuccess);
}

/* Several ranks in one process, driven by one thread through group calls (NCCL's single-process
 * pattern): all-reduce, broadcast and a send/recv ring over every rank at once. */
Test(comms, init_all_driven_from_one_thread, .timeout = 60) {
  enum { R = 3, N = 5000 };
  nscclComm_t comms[R];
  cr_assert_eq(nscclCommInitAll(comms, R, NULL), nscclSuccess, "%s", nscclGetLastError(NULL));
  static float send[R][N], recv[R][N], ring[R][N];
  for (int r = 0; r < R; r++)
    for (int i = 0; i < N; i++) send[r][i] = (float)(r * 10 + i % 13);
  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  for (int r = 0; r < R; r++)
    cr_assert_eq(nscclAllReduce(send[r], recv[r], N, nscclFloat, nscclSum, comms[r], NULL), nscclSuccess);
  cr_assert_eq(nscclGroupEnd(), nscclSuccess, "%s", nscclGetLastError(NULL));
  for (int r = 0; r < R; r++)
    for (int i = 0; i < N; i++) cr_assert_eq(recv[r][i], (float)(30 + 3 * (i % 13)), "rank %d element %d", r, i);

  cr_assert_eq(nscclGroupStart(), nscclSuccess);
  for (int r = 0; r < R; r++) {
    cr_assert_eq(nscclBroadcast(send[r], recv[r], N, nscclFloat, 2, comms[r], NULL), nscclSuccess);
    cr_assert_eq(nscclSend(send[r], N, nscclFloat, (r + 1) % R, comms[r], NULL), nscclSuccess);
    cr_assert_eq(nscclRecv(ring[r], N, nscclFloat, (r + R - 1) % R, comms[r], NULL), nscclSuccess);
  }
  cr_assert_eq(nscclGroupEnd(), nscclSuccess, "%s", nscclGetLastError(NULL));
  for (int r = 0; r < R; r++)
    for (int i = 0; i < N; i++) {
      cr_assert_eq(recv[r][i], send[2][i], "broadcast: rank %d element %d", r, i);
      cr_assert_eq(ring[r][i], send[(r + R - 1) % R][i], "ring: rank %d element %d", r, i);
    }
  for (int r = 0; r < R; r++) cr_assert_eq(nscclCommDestroy(comms[r]), nscclSuccess, "%s", nscclGetLastError(NULL));
}

/* nscclCommAbort while a progress thread is blocked in a receive that will never complete: abort
 * returns at once, the queued work fails, and nothing touches the freed communicator. */
Test(streams, abort_while_queued_work_waits, .timeout = 30) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  peer_t p[2];
  cr_assert_eq(nscclGetUniqueId(&p[0].id), nscclSuccess);
  p[1].id = p[0].id;
  for (int r = 0; r < 2; r++) p[r].rank = r, p[r].bar = &bar, p[r].comm = NULL;
  pthread_t t;
  pthread_create(&t, NULL, peer_main, &p[1]);
  nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
  cfg.timeoutMs = 20000;
  cr_assert_eq(nscclCommInitRankConfig(&p[0].comm, 2, p[0].id, 0, &cfg), nscclSuccess, "%s", nscclGetLastError(NULL));
  pthread_barrier_wait(&bar);
  nscclStream_t s;
  cr_assert_eq(nscclStreamCreate(&s), nscclSuccess);
  float buf[16];
  for (int i = 0; i < 3; i++) cr_assert_eq(nscclRecv(buf, 16, nscclFloat, 1, p[0].comm, s), nscclSuccess);
  cr_assert_eq(nscclStreamQuery(s), nscclInProgress);
  struct timespec ts = {0, 100 * 1000 * 1000};
  nanosleep(&ts, NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(nscclCommAbort(p[0].comm), nscclSuccess);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  cr_assert_lt(secs, 3.0, "abort took %.2f s", secs);
  cr_assert_neq(nscclStreamSynchronize(s), nscclSuccess);
  cr_assert_eq(nscclStreamDestroy(s), nscclSuccess);
  pthread_barrier_wait(&bar);
  pthread_join(t, NULL);
  cr_assert_eq(nscclCommAbort(p[1].comm), nscclSuccess);
  pthread_barrier_destroy(&bar);
}
