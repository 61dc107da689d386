/* nscclGroupStart / nscclGroupEnd. A thread's open group collects checked operations (on any
 * communicators and streams) and runs them at the outermost nscclGroupEnd: each communicator's
 * operations in issue order with consecutive send/recv operations posted together, different
 * communicators concurrently on a thread each (nsccl_ops_run_group in api/op.c).
 *
 * Initialisation: nscclCommInitRank(Config) calls inside the group are recorded and run at the
 * outermost nscclGroupEnd, every rank on a thread of its own (init is collective, so one thread
 * cannot run them one after another), each with the device that was current at its call. When the
 * group holds every rank of a communicator, those ranks are driven from one thread like
 * nscclCommInitAll's, so their destroy skips the final barrier. A group that initialises cannot
 * also hold operations (their communicators do not exist yet when they are issued).
 *
 * Streams: if every operation of the group names the same stream, the whole group is queued on it
 * as one task and GroupEnd returns at once; if none names a stream, GroupEnd runs the group before
 * returning; if they name different streams, GroupEnd first synchronizes those streams and then runs
 * the group before returning (correct, not concurrent with them). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/device.h"
#include "api/op.h"
#include "base/check.h"
#include "base/error_detail.h"

typedef struct {
  nscclComm_t *out;
  nscclUniqueId id;
  int nranks, rank, device, has_config;
  nscclConfig_t config;
  nscclResult_t rc;
  char msg[1024];
} group_init_t;

typedef struct {
  int depth;
  nsccl_op_t *ops;
  int n, cap;
  group_init_t *inits;
  int ninit, capinit;
  nscclResult_t error; /* first failure while the group was open: the group then runs nothing */
} group_t;

static _Thread_local group_t group;

/* The arrays are kept between groups for reuse; a thread that exits frees them (pthread key
 * destructor, registered on the thread's first allocation). */
static pthread_key_t group_key;
static pthread_once_t group_key_once = PTHREAD_ONCE_INIT;

static void group_free(void *arg) {
  group_t *g = arg;
  free(g->ops);
  free(g->inits);
  g->ops = NULL, g->inits = NULL;
  g->cap = g->capinit = g->n = g->ninit = 0;
}

static void group_key_make(void) { pthread_key_create(&group_key, group_free); }

static void group_track(void) {
  pthread_once(&group_key_once, group_key_make);
  if (!pthread_getspecific(group_key)) pthread_setspecific(group_key, &group);
}

int nsccl_group_active(void) { return group.depth > 0; }

nscclResult_t nsccl_group_add(const nsccl_op_t *op) {
  if (group.n == group.cap) {
    int ncap = group.cap ? group.cap * 2 : 16;
    nsccl_op_t *n = realloc(group.ops, (size_t)ncap * sizeof(*n));
    if (!n) {
      group.error = nscclSystemError;
      NSCCL_FAIL(nscclSystemError, "%s: out of memory adding operation %d to the group", op->call, group.n + 1);
    }
    group.ops = n;
    group.cap = ncap;
    group_track();
  }
  group.ops[group.n++] = *op;
  return nscclSuccess;
}

nscclResult_t nsccl_group_add_init(nscclComm_t *comm, int nranks, const nscclUniqueId *id, int rank,
                                   const nscclConfig_t *config) {
  if (group.ninit == group.capinit) {
    int ncap = group.capinit ? group.capinit * 2 : 8;
    group_init_t *n = realloc(group.inits, (size_t)ncap * sizeof(*n));
    if (!n) {
      group.error = nscclSystemError;
      NSCCL_FAIL(nscclSystemError, "nscclCommInitRank: out of memory adding rank %d to the group", rank);
    }
    group.inits = n;
    group.capinit = ncap;
    group_track();
  }
  group_init_t *g = &group.inits[group.ninit++];
  memset(g, 0, sizeof(*g));
  g->out = comm;
  g->id = *id;
  g->nranks = nranks;
  g->rank = rank;
  g->device = nsccl_device_current();
  g->has_config = config != NULL;
  if (config) g->config = *config;
  return nscclSuccess;
}

void nsccl_group_fail(nscclResult_t rc) {
  if (group.error == nscclSuccess) group.error = rc;
}

nscclResult_t nscclGroupStart(void) {
  group.depth++;
  return nscclSuccess;
}

static void *init_one(void *arg) {
  group_init_t *g = arg;
  nsccl_device_set_current(g->device);
  g->rc = nsccl_comm_init_rank(g->out, g->nranks, &g->id, g->rank, g->has_config ? &g->config : NULL);
  if (g->rc != nscclSuccess) snprintf(g->msg, sizeof(g->msg), "%s", nsccl_error_detail());
  return NULL;
}

/* Run the recorded inits together: the last on this thread (its device restored afterwards), the
 * others on threads of their own. On any failure every communicator made is aborted. */
static nscclResult_t run_inits(group_init_t *g, int n) {
  pthread_t *t = calloc((size_t)n, sizeof(*t));
  char *started = calloc((size_t)n, 1);
  if (!t || !started) {
    free(t), free(started);
    NSCCL_FAIL(nscclSystemError, "nscclGroupEnd: out of memory starting %d initialisations", n);
  }
  for (int i = 0; i < n - 1; i++)
    if (pthread_create(&t[i], NULL, init_one, &g[i]) == 0)
      started[i] = 1;
    else
      g[i].rc = nscclSystemError, snprintf(g[i].msg, sizeof(g[i].msg), "cannot start a thread");
  int caller_device = nsccl_device_current();
  init_one(&g[n - 1]);
  nsccl_device_set_current(caller_device);
  for (int i = 0; i < n - 1; i++)
    if (started[i]) pthread_join(t[i], NULL);
  free(t), free(started);
  int bad = -1;
  for (int i = 0; i < n && bad < 0; i++)
    if (g[i].rc != nscclSuccess) bad = i;
  if (bad >= 0) {
    for (int i = 0; i < n; i++)
      if (*g[i].out) nscclCommAbort(*g[i].out), *g[i].out = NULL;
    NSCCL_FAIL(g[bad].rc, "nscclGroupEnd: initialising rank %d of %d failed: %s", g[bad].rank, g[bad].nranks,
               g[bad].msg);
  }
  /* Every rank of a communicator initialised here: one thread drives them all. */
  for (int i = 0; i < n; i++) {
    int members = 0;
    for (int j = 0; j < n; j++) members += !memcmp(&g[j].id, &g[i].id, sizeof(g[i].id));
    if (members == g[i].nranks) (*g[i].out)->init_all = 1;
  }
  return nscclSuccess;
}

static void group_reset(void) {
  group.ninit = 0;
  group.n = 0;
  group.error = nscclSuccess;
  if (group.cap > 1024) { /* do not keep a huge array after one large group */
    free(group.ops);
    group.ops = NULL;
    group.cap = 0;
  }
}

/* For the compat nccl.h (ncclGroupSimulateEnd, and its helpers when an operation fails to issue):
 * close one level; the outermost drops what the group holds without running it. */
nscclResult_t nsccl_group_discard(void);
nscclResult_t nsccl_group_discard(void) {
  if (group.depth == 0) NSCCL_FAIL(nscclInvalidUsage, "group end: no group is open on this thread");
  if (--group.depth == 0) group_reset();
  return nscclSuccess;
}

nscclResult_t nscclGroupEnd(void) {
  if (group.depth == 0) NSCCL_FAIL(nscclInvalidUsage, "nscclGroupEnd: no nscclGroupStart is open on this thread");
  if (--group.depth > 0) return nscclSuccess;
  nscclResult_t rc = group.error;
  if (rc != nscclSuccess) {
    group_reset();
    NSCCL_FAIL(rc, "nscclGroupEnd: an operation of the group failed when issued; the group ran nothing");
  }
  if (group.ninit > 0) {
    int ninit = group.ninit, nops = group.n;
    if (nops == 0) rc = run_inits(group.inits, ninit);
    group_reset();
    if (nops > 0)
      NSCCL_FAIL(nscclInvalidUsage,
                 "nscclGroupEnd: the group initialises %d communicator(s) and also holds %d operation(s); issue "
                 "operations after the group that initialises",
                 ninit, nops);
    return rc;
  }
  if (group.n == 0) return nscclSuccess;
  nscclStream_t stream = group.ops[0].stream;
  int same = 1;
  for (int i = 1; i < group.n; i++) same &= group.ops[i].stream == stream;
  if (same && stream) {
    rc = nsccl_stream_enqueue(stream, group.ops, group.n);
  } else {
    if (!same) /* different streams: let their earlier work finish, then run here */
      for (int i = 0; i < group.n && rc == nscclSuccess; i++) {
        int seen = !group.ops[i].stream;
        for (int j = 0; j < i && !seen; j++) seen = group.ops[j].stream == group.ops[i].stream;
        if (!seen) rc = nscclStreamSynchronize(group.ops[i].stream);
      }
    if (rc == nscclSuccess) rc = nsccl_ops_run_group(group.ops, group.n);
  }
  group_reset();
  return rc;
}
