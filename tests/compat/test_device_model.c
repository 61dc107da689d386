/* The device model of the compat CUDA runtime (C, through nccl.h / cuda_runtime.h only): per-thread
 * current device, streams owned by a device, the legacy default stream waiting for its own
 * device's blocking streams only, cudaDeviceSynchronize per device, the default device count, and
 * several ranks initialised from one thread inside a group.
 *
 * A stream is held busy deterministically by queuing a receive whose send the test posts later; so
 * "does X wait for that stream" is observed directly: X returns before the send (does not wait), or
 * returns only once the received data is there (waits). */
#include <criterion/criterion.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void init_all(ncclComm_t *comms, int n) {
  cr_assert_eq(ncclCommInitAll(comms, n, NULL), ncclSuccess, "%s", ncclGetLastError(NULL));
}

static void destroy_all(ncclComm_t *comms, int n) {
  for (int i = 0; i < n; i++) cr_assert_eq(ncclCommDestroy(comms[i]), ncclSuccess, "%s", ncclGetLastError(NULL));
}

typedef struct {
  int set, seen_before, seen_after;
} dev_arg_t;

static void *set_and_read(void *p) {
  dev_arg_t *a = p;
  cudaGetDevice(&a->seen_before);
  cudaSetDevice(a->set);
  usleep(20000); /* the other thread sets its own meanwhile */
  cudaGetDevice(&a->seen_after);
  return NULL;
}

Test(device_model, current_device_is_per_thread) {
  setenv("NSCCL_VIRTUAL_DEVICES", "4", 1);
  cr_assert_eq(cudaSetDevice(3), cudaSuccess);
  dev_arg_t a = {1, -1, -1}, b = {2, -1, -1};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, set_and_read, &a);
  pthread_create(&tb, NULL, set_and_read, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  cr_expect_eq(a.seen_before, 0, "a new thread starts on device 0, saw %d", a.seen_before);
  cr_expect_eq(b.seen_before, 0);
  cr_expect_eq(a.seen_after, 1, "thread a's device changed under it: %d", a.seen_after);
  cr_expect_eq(b.seen_after, 2);
  int mine = -1;
  cudaGetDevice(&mine);
  cr_expect_eq(mine, 3, "the main thread's device changed to %d", mine);
}

Test(device_model, device_count_default_env_and_range) {
  unsetenv("NSCCL_VIRTUAL_DEVICES");
  unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  unsetenv("MPI_LOCALNRANKS");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus; /* docs/compat.md: one per online CPU, at most 8 */
  int n = -1;
  cr_assert_eq(cudaGetDeviceCount(&n), cudaSuccess);
  cr_expect_eq(n, want, "default device count %d, want %d", n, want);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "12", 1); /* a launcher with 12 ranks on this host */
  cr_assert_eq(cudaGetDeviceCount(&n), cudaSuccess);
  cr_expect_eq(n, 12);
  setenv("NSCCL_VIRTUAL_DEVICES", "5", 1);
  cr_assert_eq(cudaGetDeviceCount(&n), cudaSuccess);
  cr_expect_eq(n, 5);
  cr_expect_eq(cudaSetDevice(4), cudaSuccess);
  cr_expect_eq(cudaSetDevice(5), cudaErrorInvalidDevice);
  cr_expect_eq(cudaSetDevice(-1), cudaErrorInvalidDevice);
  cr_expect_eq(cudaGetLastError(), cudaErrorInvalidDevice);
  cr_expect_eq(cudaGetLastError(), cudaSuccess);
  setenv("NSCCL_VIRTUAL_DEVICES", "lots", 1);
  cr_expect_neq(cudaGetDeviceCount(&n), cudaSuccess, "a malformed NSCCL_VIRTUAL_DEVICES must be an error");
}

Test(device_model, streams_and_comms_belong_to_their_device) {
  setenv("NSCCL_VIRTUAL_DEVICES", "4", 1);
  cudaStream_t s;
  cr_assert_eq(cudaSetDevice(2), cudaSuccess);
  cr_assert_eq(cudaStreamCreate(&s), cudaSuccess);
  cr_assert_eq(cudaSetDevice(0), cudaSuccess);
  int dev = -1;
  cr_assert_eq(nscclStreamGetDevice(s, &dev), nscclSuccess);
  cr_expect_eq(dev, 2);
  ncclComm_t comms[3];
  int devlist[3] = {3, 1, 2};
  cr_assert_eq(ncclCommInitAll(comms, 3, devlist), ncclSuccess, "%s", ncclGetLastError(NULL));
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(ncclCommCuDevice(comms[i], &dev), ncclSuccess);
    cr_expect_eq(dev, devlist[i], "comm %d on device %d, want %d", i, dev, devlist[i]);
  }
  cr_assert_eq(cudaGetDevice(&dev), cudaSuccess);
  cr_expect_eq(dev, 0, "ncclCommInitAll changed the caller's device to %d", dev);
  destroy_all(comms, 3);
  int bad[2] = {0, 4};
  cr_expect_eq(ncclCommInitAll(comms, 2, bad), ncclInvalidArgument);
  cr_assert_eq(cudaStreamDestroy(s), cudaSuccess);
}

enum { N = 4096 };

/* Rank 0 on device 0: a receive from rank 1 queued on stream s0 (flags), which stays busy until
 * the test sends. */
typedef struct {
  ncclComm_t comms[2];
  cudaStream_t s0;
  float *rx, *tx;
} busy_t;

static void busy_start(busy_t *b, unsigned int flags) {
  setenv("NSCCL_VIRTUAL_DEVICES", "2", 1);
  init_all(b->comms, 2);
  b->rx = calloc(N, sizeof(float));
  b->tx = malloc(N * sizeof(float));
  for (int i = 0; i < N; i++) b->tx[i] = (float)(i + 1);
  cr_assert_eq(cudaSetDevice(0), cudaSuccess);
  cr_assert_eq(cudaStreamCreateWithFlags(&b->s0, flags), cudaSuccess);
  cr_assert_eq(ncclRecv(b->rx, N, ncclFloat, 1, b->comms[0], b->s0), ncclSuccess);
  usleep(20000);
  cr_assert_eq(cudaStreamQuery(b->s0), cudaErrorNotReady, "the receive finished without a send");
}

static void busy_send(busy_t *b) {
  cr_assert_eq(ncclSend(b->tx, N, ncclFloat, 0, b->comms[1], NULL), ncclSuccess, "%s", ncclGetLastError(NULL));
}

static int busy_received(const busy_t *b) {
  for (int i = 0; i < N; i++)
    if (b->rx[i] != (float)(i + 1)) return 0;
  return 1;
}

static void busy_end(busy_t *b) {
  cr_assert_eq(cudaStreamSynchronize(b->s0), cudaSuccess);
  cr_expect(busy_received(b));
  cr_assert_eq(cudaStreamDestroy(b->s0), cudaSuccess);
  destroy_all(b->comms, 2);
  free(b->rx);
  free(b->tx);
}

typedef struct {
  busy_t *b;
  int delay_ms;
} sender_t;

static void *send_later(void *p) {
  sender_t *s = p;
  usleep((useconds_t)s->delay_ms * 1000);
  cudaSetDevice(1);
  busy_send(s->b);
  return NULL;
}

/* The hang of issue 16: device 1's synchronous copy must not wait for device 0's queued receive. */
Test(device_model, copy_on_another_device_does_not_wait) {
  busy_t b;
  busy_start(&b, cudaStreamDefault);
  cr_assert_eq(cudaSetDevice(1), cudaSuccess);
  float x = 1, y = 0;
  cr_assert_eq(cudaMemcpy(&y, &x, sizeof(x), cudaMemcpyHostToDevice), cudaSuccess);
  cr_assert_eq(cudaMemset(&y, 0, sizeof(y)), cudaSuccess);
  cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
  cr_expect(!busy_received(&b), "device 1 waited for device 0's stream");
  busy_send(&b);
  busy_end(&b);
}

/* On its own device the synchronous copy waits for the blocking stream, as CUDA's legacy stream. */
Test(device_model, copy_on_the_same_device_waits_for_blocking_streams) {
  busy_t b;
  busy_start(&b, cudaStreamDefault);
  sender_t s = {&b, 100};
  pthread_t t;
  pthread_create(&t, NULL, send_later, &s);
  float x = 1, y = 0;
  cr_assert_eq(cudaSetDevice(0), cudaSuccess);
  cr_assert_eq(cudaMemcpy(&y, &x, sizeof(x), cudaMemcpyDeviceToHost), cudaSuccess);
  cr_expect(busy_received(&b), "cudaMemcpy on device 0 returned before device 0's stream ran");
  pthread_join(t, NULL);
  busy_end(&b);
}

/* A non-blocking stream is not waited for by the legacy stream, but is by cudaDeviceSynchronize. */
Test(device_model, non_blocking_stream_and_device_synchronize) {
  busy_t b;
  busy_start(&b, cudaStreamNonBlocking);
  float x = 1, y = 0;
  cr_assert_eq(cudaSetDevice(0), cudaSuccess);
  cr_assert_eq(cudaMemcpy(&y, &x, sizeof(x), cudaMemcpyHostToDevice), cudaSuccess);
  cr_expect(!busy_received(&b), "the legacy stream waited for a non-blocking stream");
  sender_t s = {&b, 100};
  pthread_t t;
  pthread_create(&t, NULL, send_later, &s);
  cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
  cr_expect(busy_received(&b), "cudaDeviceSynchronize returned before its device's stream ran");
  pthread_join(t, NULL);
  busy_end(&b);
}

/* Several ranks of one communicator initialised from one thread inside a group, each on the
 * device current at its call; then an all-reduce over them checked against a serial sum. */
Test(device_model, grouped_init_from_one_thread) {
  setenv("NSCCL_VIRTUAL_DEVICES", "4", 1);
  enum { R = 3, M = 1000 };
  ncclUniqueId id;
  ncclComm_t comms[R];
  cr_assert_eq(ncclGetUniqueId(&id), ncclSuccess);
  cr_assert_eq(ncclGroupStart(), ncclSuccess);
  for (int r = 0; r < R; r++) {
    cr_assert_eq(cudaSetDevice(r + 1), cudaSuccess);
    cr_assert_eq(ncclCommInitRank(&comms[r], R, id, r), ncclSuccess, "%s", ncclGetLastError(NULL));
  }
  cr_assert_eq(ncclGroupEnd(), ncclSuccess, "%s", ncclGetLastError(NULL));
  int dev = -1;
  cr_assert_eq(cudaGetDevice(&dev), cudaSuccess);
  cr_expect_eq(dev, R, "group end changed the caller's device to %d", dev);
  float *buf[R], want[M];
  cudaStream_t s[R];
  for (int i = 0; i < M; i++) want[i] = 0;
  for (int r = 0; r < R; r++) {
    int rank = -1, count = -1;
    cr_assert_eq(ncclCommUserRank(comms[r], &rank), ncclSuccess);
    cr_assert_eq(ncclCommCount(comms[r], &count), ncclSuccess);
    cr_assert_eq(ncclCommCuDevice(comms[r], &dev), ncclSuccess);
    cr_expect(rank == r && count == R && dev == r + 1, "comm %d: rank %d of %d on device %d", r, rank, count, dev);
    cudaSetDevice(r + 1);
    cr_assert_eq(cudaStreamCreate(&s[r]), cudaSuccess);
    buf[r] = malloc(M * sizeof(float));
    for (int i = 0; i < M; i++) buf[r][i] = (float)(r * 7 + i % 13), want[i] += buf[r][i];
  }
  cr_assert_eq(ncclGroupStart(), ncclSuccess);
  for (int r = 0; r < R; r++) cr_assert_eq(ncclAllReduce(buf[r], buf[r], M, ncclFloat, ncclSum, comms[r], s[r]), 0);
  cr_assert_eq(ncclGroupEnd(), ncclSuccess, "%s", ncclGetLastError(NULL));
  for (int r = 0; r < R; r++) {
    cr_assert_eq(cudaStreamSynchronize(s[r]), cudaSuccess);
    for (int i = 0; i < M; i++)
      cr_assert_eq(buf[r][i], want[i], "rank %d element %d: %f, want %f", r, i, buf[r][i], want[i]);
    cudaStreamDestroy(s[r]);
    free(buf[r]);
  }
  destroy_all(comms, R); /* from one thread: no final barrier to wait for the later ranks */
}

/* A group that initialises may not also hold operations; nothing is left half-made. */
Test(device_model, grouped_init_with_operations_is_refused) {
  ncclComm_t one, fresh = (ncclComm_t)0x1;
  ncclUniqueId id, id2;
  cr_assert_eq(ncclGetUniqueId(&id), ncclSuccess);
  cr_assert_eq(ncclCommInitRank(&one, 1, id, 0), ncclSuccess);
  cr_assert_eq(ncclGetUniqueId(&id2), ncclSuccess);
  float v = 1;
  cr_assert_eq(ncclGroupStart(), ncclSuccess);
  cr_assert_eq(ncclCommInitRank(&fresh, 1, id2, 0), ncclSuccess);
  cr_assert_eq(ncclAllReduce(&v, &v, 1, ncclFloat, ncclSum, one, NULL), ncclSuccess);
  cr_expect_eq(ncclGroupEnd(), ncclInvalidUsage);
  cr_expect_null(fresh);
  cr_expect(strstr(ncclGetLastError(NULL), "initialises") != NULL, "message: %s", ncclGetLastError(NULL));
  cr_assert_eq(ncclCommDestroy(one), ncclSuccess);
}
