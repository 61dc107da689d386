/* Streams: an ordered host work queue per nscclStream_t, served by its own progress thread.
 *
 * Each stream belongs to the virtual device current when it was created (api/device.c) and is
 * blocking or not (NSCCL_STREAM_NON_BLOCKING); waits over a set of streams (one device's, or
 * all) take a reference on each stream and wait without any global lock, so a thread waiting for
 * its device never holds up another thread creating, using or destroying its own streams.
 * Every wait is for what was queued when it started (a ticket: submitted count), not for the
 * queue to be empty, so a thread that keeps queuing cannot starve a waiter.
 *
 * A task is one operation or one group (api/group.c); the thread runs tasks in queue order through
 * nsccl_ops_run, which holds each communicator's lock while its operation runs, so streams sharing
 * a communicator take turns (the order between two streams on one communicator is whichever gets
 * the lock first: as with NCCL, issue operations of one communicator in the same order on every
 * rank, i.e. do not race two streams on one communicator). The first error of queued work is kept
 * with its message and returned by the next nscclStreamSynchronize; the communicator records fatal
 * errors itself (nscclCommGetAsyncError). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/device.h"
#include "api/op.h"
#include "base/check.h"
#include "base/error_detail.h"

#define NSCCL_STREAM_MAGIC 0x6e73636c7374726dull /* "nsclstrm" */

typedef struct task {
  struct task *next;
  int n;
  nsccl_op_t ops[];
} task_t;

struct nscclStream {
  uint64_t magic;
  pthread_mutex_t mu;
  pthread_cond_t work, idle;
  task_t *head, *tail;
  int busy, stop;
  uint64_t submitted, completed; /* tasks queued / finished so far */
  int device;                    /* the virtual device current at creation */
  unsigned int flags;            /* NSCCL_STREAM_NON_BLOCKING */
  int refs;                      /* waiters of nsccl_streams_wait (under all_lock) */
  nscclResult_t error;
  char errmsg[1024];
  pthread_t thread;
};

/* Every live stream, for the device-wide waits. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_unref = PTHREAD_COND_INITIALIZER;
static struct nscclStream **all;
static size_t nall, capall;

static void *progress(void *arg) {
  struct nscclStream *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->head && !s->stop) pthread_cond_wait(&s->work, &s->mu);
    if (!s->head) break; /* stop, and nothing left */
    task_t *t = s->head;
    s->head = t->next;
    if (!s->head) s->tail = NULL;
    s->busy = 1;
    pthread_mutex_unlock(&s->mu);
    nscclResult_t rc = nsccl_ops_run_group(t->ops, t->n);
    char msg[sizeof(s->errmsg)];
    if (rc != nscclSuccess) snprintf(msg, sizeof(msg), "%s", nsccl_error_detail());
    for (int i = 0; i < t->n; i++)
      if (t->ops[i].comm) nsccl_comm_pending_done(t->ops[i].comm, 1);
    pthread_mutex_lock(&s->mu);
    if (rc != nscclSuccess && s->error == nscclSuccess) {
      s->error = rc;
      snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
    }
    free(t);
    s->busy = 0;
    s->completed++;
    pthread_cond_broadcast(&s->idle);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static nscclResult_t stream_check(nscclStream_t s, const char *call) {
  if (!s) NSCCL_FAIL(nscclInvalidArgument, "%s: stream is NULL", call);
  if (s->magic != NSCCL_STREAM_MAGIC)
    NSCCL_FAIL(nscclInvalidUsage, "%s: stream %p is not a live stream (destroyed or never created)", call, (void *)s);
  return nscclSuccess;
}

nscclResult_t nscclStreamCreate(nscclStream_t *stream) { return nscclStreamCreateWithFlags(stream, 0); }

nscclResult_t nscclStreamCreateWithFlags(nscclStream_t *stream, unsigned int flags) {
  if (!stream) NSCCL_FAIL(nscclInvalidArgument, "nscclStreamCreate: stream (the output pointer) is NULL");
  *stream = NULL;
  if (flags & ~NSCCL_STREAM_NON_BLOCKING)
    NSCCL_FAIL(nscclInvalidArgument, "nscclStreamCreateWithFlags: unknown flags 0x%x (only NSCCL_STREAM_NON_BLOCKING)",
               flags & ~NSCCL_STREAM_NON_BLOCKING);
  struct nscclStream *s = calloc(1, sizeof(*s));
  if (!s) NSCCL_FAIL(nscclSystemError, "nscclStreamCreate: out of memory");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  pthread_cond_init(&s->idle, NULL);
  s->magic = NSCCL_STREAM_MAGIC;
  s->device = nsccl_device_current();
  s->flags = flags;
  int err = pthread_create(&s->thread, NULL, progress, s);
  if (err) {
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
    NSCCL_FAIL(nscclSystemError, "nscclStreamCreate: cannot start the progress thread (%s)", strerror(err));
  }
  pthread_mutex_lock(&all_lock);
  if (nall == capall) {
    size_t ncap = capall ? 2 * capall : 16;
    struct nscclStream **na = realloc(all, ncap * sizeof(*na));
    if (na) all = na, capall = ncap;
  }
  if (nall < capall) all[nall++] = s; /* out of memory: only SynchronizeAll misses this stream */
  pthread_mutex_unlock(&all_lock);
  *stream = s;
  return nscclSuccess;
}

nscclResult_t nsccl_stream_enqueue(nscclStream_t s, const nsccl_op_t *ops, int n) {
  NSCCL_CHECK(stream_check(s, ops[0].call));
  task_t *t = malloc(sizeof(*t) + (size_t)n * sizeof(nsccl_op_t));
  if (!t) NSCCL_FAIL(nscclSystemError, "%s: out of memory queuing %d operations", ops[0].call, n);
  t->next = NULL;
  t->n = n;
  memcpy(t->ops, ops, (size_t)n * sizeof(nsccl_op_t));
  for (int i = 0; i < n; i++)
    if (ops[i].comm) nsccl_comm_pending_add(ops[i].comm, 1);
  pthread_mutex_lock(&s->mu);
  if (s->tail)
    s->tail->next = t;
  else
    s->head = t;
  s->tail = t;
  s->submitted++;
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->mu);
  return nscclSuccess;
}

/* Wait for what was queued when the call started; returns (and with clear, resets) the pending
 * error. */
static nscclResult_t drain(struct nscclStream *s, const char *call, int clear) {
  pthread_mutex_lock(&s->mu);
  uint64_t ticket = s->submitted;
  while (s->completed < ticket) pthread_cond_wait(&s->idle, &s->mu);
  nscclResult_t rc = s->error;
  char msg[sizeof(s->errmsg)];
  snprintf(msg, sizeof(msg), "%s", s->errmsg);
  if (clear) {
    s->error = nscclSuccess;
    s->errmsg[0] = '\0';
  }
  pthread_mutex_unlock(&s->mu);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "%s: queued work failed: %s", call, msg);
  return nscclSuccess;
}

nscclResult_t nscclStreamSynchronize(nscclStream_t stream) {
  NSCCL_CHECK(stream_check(stream, "nscclStreamSynchronize"));
  return drain(stream, "nscclStreamSynchronize", 1);
}

nscclResult_t nscclStreamQuery(nscclStream_t stream) {
  NSCCL_CHECK(stream_check(stream, "nscclStreamQuery"));
  pthread_mutex_lock(&stream->mu);
  nscclResult_t rc = stream->error;
  char msg[sizeof(stream->errmsg)];
  snprintf(msg, sizeof(msg), "%s", stream->errmsg);
  int pending = stream->completed < stream->submitted;
  pthread_mutex_unlock(&stream->mu);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "nscclStreamQuery: queued work failed: %s", msg);
  return pending ? nscclInProgress : nscclSuccess;
}

nscclResult_t nscclStreamDestroy(nscclStream_t stream) {
  NSCCL_CHECK(stream_check(stream, "nscclStreamDestroy"));
  nscclResult_t rc = drain(stream, "nscclStreamDestroy", 1);
  pthread_mutex_lock(&all_lock);
  for (size_t i = 0; i < nall; i++)
    if (all[i] == stream) {
      all[i] = all[--nall];
      break;
    }
  while (stream->refs > 0) pthread_cond_wait(&all_unref, &all_lock); /* a device-wide wait still looks at it */
  pthread_mutex_unlock(&all_lock);
  pthread_mutex_lock(&stream->mu);
  stream->stop = 1;
  stream->magic = 0;
  pthread_cond_signal(&stream->work);
  pthread_mutex_unlock(&stream->mu);
  pthread_join(stream->thread, NULL);
  pthread_cond_destroy(&stream->work);
  pthread_cond_destroy(&stream->idle);
  pthread_mutex_destroy(&stream->mu);
  free(stream);
  return rc;
}

/* Wait for what each selected stream had queued when the call started. device < 0: every device. */
nscclResult_t nsccl_streams_wait(int device, int blocking_only) {
  pthread_mutex_lock(&all_lock);
  size_t n = 0;
  struct nscclStream **sel = malloc((nall ? nall : 1) * sizeof(*sel));
  uint64_t *ticket = malloc((nall ? nall : 1) * sizeof(*ticket));
  if (!sel || !ticket) {
    pthread_mutex_unlock(&all_lock);
    free(sel), free(ticket);
    NSCCL_FAIL(nscclSystemError, "device synchronize: out of memory for %zu streams", nall);
  }
  for (size_t i = 0; i < nall; i++) {
    struct nscclStream *s = all[i];
    if (device >= 0 && s->device != device) continue;
    if (blocking_only && (s->flags & NSCCL_STREAM_NON_BLOCKING)) continue;
    s->refs++;
    pthread_mutex_lock(&s->mu);
    ticket[n] = s->submitted;
    pthread_mutex_unlock(&s->mu);
    sel[n++] = s;
  }
  pthread_mutex_unlock(&all_lock);
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&sel[i]->mu);
    while (sel[i]->completed < ticket[i]) pthread_cond_wait(&sel[i]->idle, &sel[i]->mu);
    pthread_mutex_unlock(&sel[i]->mu);
  }
  pthread_mutex_lock(&all_lock);
  for (size_t i = 0; i < n; i++) sel[i]->refs--;
  if (n) pthread_cond_broadcast(&all_unref);
  pthread_mutex_unlock(&all_lock);
  free(sel), free(ticket);
  return nscclSuccess;
}

nscclResult_t nscclStreamSynchronizeAll(void) { return nsccl_streams_wait(-1, 0); }

nscclResult_t nscclStreamGetDevice(nscclStream_t stream, int *device) {
  NSCCL_CHECK(stream_check(stream, "nscclStreamGetDevice"));
  if (!device) NSCCL_FAIL(nscclInvalidArgument, "nscclStreamGetDevice: device is NULL");
  *device = stream->device;
  return nscclSuccess;
}

nscclResult_t nscclMemcpyAsync(void *dst, const void *src, size_t bytes, nscclStream_t stream) {
  if (bytes && (!dst || !src))
    NSCCL_FAIL(nscclInvalidArgument, "nscclMemcpyAsync: %s is NULL with %zu bytes", dst ? "src" : "dst", bytes);
  if (!stream) {
    if (bytes) memmove(dst, src, bytes);
    return nscclSuccess;
  }
  nsccl_op_t op;
  memset(&op, 0, sizeof(op));
  op.kind = NSCCL_OP_COPY;
  op.call = "nscclMemcpyAsync";
  op.sendbuff = src;
  op.recvbuff = dst;
  op.count = bytes;
  return nsccl_stream_enqueue(stream, &op, 1);
}
