/* nscclCommSplit, nscclCommFinalize, nscclCommInitAll.
 *
 * Split: every rank of the parent allgathers (color, key) over the parent's bootstrap; the ranks of
 * one color, ordered by (key, parent rank), form the new communicator, whose rank 0 makes a fresh
 * unique id (its own listening socket); a second allgather over the parent's bootstrap hands that id
 * to the other members, and each color then initialises like any communicator (own bootstrap, own
 * transport endpoints), concurrently with the other colors. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/comm.h"
#include "api/device.h"
#include "api/op.h"
#include "base/check.h"
#include "base/error_detail.h"

typedef struct {
  int color, key, rank, env_id;
} split_entry_t;

typedef struct {
  nscclUniqueId id;
  int ok;
} split_id_t;

static int before(const split_entry_t *a, const split_entry_t *b) {
  return a->key < b->key || (a->key == b->key && a->rank < b->rank);
}

nscclResult_t nscclCommSplit(nscclComm_t comm, int color, int key, nscclComm_t *newcomm, nscclConfig_t *config) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommSplit"));
  if (!newcomm) NSCCL_FAIL(nscclInvalidArgument, "nscclCommSplit: newcomm (the output pointer) is NULL");
  *newcomm = NULL;
  if (color < 0 && color != NSCCL_SPLIT_NOCOLOR)
    NSCCL_FAIL(nscclInvalidArgument, "nscclCommSplit: color %d is negative and not NSCCL_SPLIT_NOCOLOR", color);
  if (comm->async_error != nscclSuccess)
    NSCCL_FAIL(nscclInvalidUsage, "nscclCommSplit: the communicator failed earlier (%s)",
               nscclGetErrorString(comm->async_error));
  int n = comm->nranks;
  split_entry_t mine = {color, key, comm->rank, getenv("NSCCL_COMM_ID") && *getenv("NSCCL_COMM_ID")};
  split_entry_t *all = calloc((size_t)n, sizeof(*all));
  split_id_t *ids = calloc((size_t)n, sizeof(*ids));
  if (!all || !ids) {
    free(all);
    free(ids);
    NSCCL_FAIL(nscclSystemError, "nscclCommSplit: out of memory for %d ranks", n);
  }
  pthread_mutex_lock(&comm->lock);
  nscclResult_t rc = nscclSuccess;
  if (n > 1)
    rc = nsccl_bootstrap_allgather(comm->bs, &mine, all, sizeof(mine), comm->cfg.timeout_ms);
  else
    all[0] = mine;
  int env_id = 0, newrank = 0, size = 0, leader = -1;
  for (int r = 0; r < n; r++) env_id |= all[r].env_id;
  if (rc == nscclSuccess && color != NSCCL_SPLIT_NOCOLOR) {
    for (int r = 0; r < n; r++) {
      if (all[r].color != color) continue;
      size++;
      if (before(&all[r], &mine)) newrank++;
      if (leader < 0 || before(&all[r], &all[leader])) leader = r;
    }
  }
  split_id_t my_id;
  memset(&my_id, 0, sizeof(my_id));
  if (rc == nscclSuccess && !env_id && leader == comm->rank)
    my_id.ok = nsccl_bootstrap_unique_id(&my_id.id) == nscclSuccess;
  if (rc == nscclSuccess && n > 1)
    rc = nsccl_bootstrap_allgather(comm->bs, &my_id, ids, sizeof(my_id), comm->cfg.timeout_ms);
  else if (rc == nscclSuccess)
    ids[0] = my_id;
  pthread_mutex_unlock(&comm->lock);
  nscclUniqueId id;
  int ok = leader >= 0 && ids[leader].ok;
  if (ok) id = ids[leader].id;
  free(all);
  free(ids);
  if (rc != nscclSuccess) {
    char why[900];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    if (rc == nscclTimeout || rc == nscclRemoteError) comm->async_error = rc;
    NSCCL_FAIL(rc, "nscclCommSplit (rank %d): exchanging colors failed: %s", comm->rank, why);
  }
  if (env_id)
    NSCCL_FAIL(nscclInvalidUsage,
               "nscclCommSplit: NSCCL_COMM_ID is set, so every new communicator would rendezvous at the same "
               "address; unset it (pass the id with MPI instead) to split");
  if (color == NSCCL_SPLIT_NOCOLOR) return nscclSuccess;
  if (!ok)
    NSCCL_FAIL(nscclSystemError,
               "nscclCommSplit (rank %d, color %d): the new communicator's rank 0 could not make a "
               "unique id",
               comm->rank, color);
  nscclConfig_t inherit = NSCCL_CONFIG_INITIALIZER;
  if (!config) {
    inherit.timeoutMs = comm->cfg.timeout_ms;
    inherit.algo = comm->cfg.algo_spec[0] ? comm->cfg.algo_spec : NULL;
    inherit.provider = comm->cfg.provider[0] ? comm->cfg.provider : NULL;
    config = &inherit;
  }
  return nscclCommInitRankConfig(newcomm, size, id, newrank, config);
}

nscclResult_t nscclCommFinalize(nscclComm_t comm) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommFinalize"));
  nsccl_comm_pending_wait(comm);
  pthread_mutex_lock(&comm->lock); /* and whatever another thread is running on it */
  pthread_mutex_unlock(&comm->lock);
  return nscclSuccess;
}

typedef struct {
  nscclComm_t *out;
  nscclUniqueId id;
  int rank, nranks, device;
  nscclResult_t rc;
  char msg[1024];
} init_arg_t;

static void *init_one(void *arg) {
  init_arg_t *a = arg;
  int caller_device = nsccl_device_current(); /* rank 0 runs on the caller's thread: restore it */
  nsccl_device_set_current(a->device);
  a->rc = nsccl_comm_init_rank(a->out, a->nranks, &a->id, a->rank, NULL);
  nsccl_device_set_current(caller_device);
  if (a->rc != nscclSuccess) snprintf(a->msg, sizeof(a->msg), "%s", nsccl_error_detail());
  return NULL;
}

/* Every rank's init runs on its own thread (init is collective); the comms are then driven from one
 * thread with group calls, which run each communicator's operations on a thread of their own. */
nscclResult_t nscclCommInitAll(nscclComm_t *comms, int ndev, const int *devlist) {
  if (!comms) NSCCL_FAIL(nscclInvalidArgument, "nscclCommInitAll: comms is NULL");
  if (ndev < 1) NSCCL_FAIL(nscclInvalidArgument, "nscclCommInitAll: ndev is %d, must be at least 1", ndev);
  int ndevices;
  NSCCL_CHECK(nscclGetDeviceCount(&ndevices));
  for (int r = 0; devlist && r < ndev; r++)
    if (devlist[r] < 0 || devlist[r] >= ndevices)
      NSCCL_FAIL(nscclInvalidArgument, "nscclCommInitAll: devlist[%d] = %d is not a device (this process has %d)", r,
                 devlist[r], ndevices);
  for (int r = 0; r < ndev; r++) comms[r] = NULL;
  init_arg_t *a = calloc((size_t)ndev, sizeof(*a));
  pthread_t *t = calloc((size_t)ndev, sizeof(*t));
  char *started = calloc((size_t)ndev, 1);
  nscclResult_t rc = a && t && started ? nscclGetUniqueId(&a[0].id) : nscclSystemError;
  for (int r = 0; r < ndev && rc == nscclSuccess; r++) {
    a[r] = (init_arg_t){&comms[r], a[0].id, r, ndev, devlist ? devlist[r] : r, nscclSuccess, ""};
    if (r > 0 && pthread_create(&t[r], NULL, init_one, &a[r]) == 0)
      started[r] = 1;
    else if (r > 0)
      a[r].rc = nscclSystemError, snprintf(a[r].msg, sizeof(a[r].msg), "cannot start a thread");
  }
  if (rc == nscclSuccess) init_one(&a[0]); /* rank 0 in the thread that made the id */
  for (int r = 1; r < ndev && rc == nscclSuccess; r++)
    if (started[r]) pthread_join(t[r], NULL);
  char msg[1024] = "";
  if (rc != nscclSuccess) snprintf(msg, sizeof(msg), "%s", a && t && started ? nsccl_error_detail() : "out of memory");
  for (int r = 0; r < ndev && rc == nscclSuccess; r++)
    if (a[r].rc != nscclSuccess) rc = a[r].rc, snprintf(msg, sizeof(msg), "rank %d: %s", r, a[r].msg);
  if (rc != nscclSuccess && a && t && started)
    for (int r = 0; r < ndev; r++)
      if (comms[r]) nscclCommAbort(comms[r]), comms[r] = NULL;
  for (int r = 0; r < ndev && rc == nscclSuccess; r++) comms[r]->init_all = 1;
  free(a), free(t), free(started);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "nscclCommInitAll (%d ranks): %s", ndev, msg);
  return nscclSuccess;
}
