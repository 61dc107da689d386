/* Streams: an ordered host work queue per nscclStream_t, served by its own progress thread.
 *
 * A task is one operation or one group (core/group.c); the thread runs tasks in queue order through
 * nsccl_ops_run, which holds each communicator's lock while its operation runs, so streams sharing
 * a communicator take turns (the order between two streams on one communicator is whichever gets
 * the lock first: as with NCCL, issue operations of one communicator in the same order on every
 * rank, i.e. do not race two streams on one communicator). The first error of queued work is kept
 * with its message and returned by the next nscclStreamSynchronize; the communicator records fatal
 * errors itself (nscclCommGetAsyncError). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/error_detail.h"
#include "api/op.h"

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
  nscclResult_t error;
  char errmsg[1024];
  pthread_t thread;
};

/* Every live stream, for nscclStreamSynchronizeAll. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
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
    if (!s->head) pthread_cond_broadcast(&s->idle);
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

nscclResult_t nscclStreamCreate(nscclStream_t *stream) {
  if (!stream) NSCCL_FAIL(nscclInvalidArgument, "nscclStreamCreate: stream (the output pointer) is NULL");
  *stream = NULL;
  struct nscclStream *s = calloc(1, sizeof(*s));
  if (!s) NSCCL_FAIL(nscclSystemError, "nscclStreamCreate: out of memory");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  pthread_cond_init(&s->idle, NULL);
  s->magic = NSCCL_STREAM_MAGIC;
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
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->mu);
  return nscclSuccess;
}

/* Wait for the queue to drain; returns (and with clear, resets) the pending error. */
static nscclResult_t drain(struct nscclStream *s, const char *call, int clear) {
  pthread_mutex_lock(&s->mu);
  while (s->head || s->busy) pthread_cond_wait(&s->idle, &s->mu);
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
  int pending = stream->head || stream->busy;
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

nscclResult_t nscclStreamSynchronizeAll(void) {
  /* Waiting with all_lock held keeps every listed stream alive; progress threads never take it. */
  pthread_mutex_lock(&all_lock);
  for (size_t i = 0; i < nall; i++) {
    struct nscclStream *s = all[i];
    pthread_mutex_lock(&s->mu);
    while (s->head || s->busy) pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&all_lock);
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
