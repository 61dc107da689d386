/* Captured operations (see op.h): checking, dispatch to group / stream / now, and running a list
 * of them in order with consecutive point-to-point operations posted together. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/args.h"
#include "api/op.h"
#include "base/check.h"
#include "base/error_detail.h"

nscclResult_t nsccl_op_check(nsccl_op_t *op) {
  switch (op->kind) {
  case NSCCL_OP_COLL:
    if (op->coll == NSCCL_COLL_BROADCAST || op->coll == NSCCL_COLL_REDUCE)
      return nsccl_args_check_rooted(op->call, op->coll, op->sendbuff, op->recvbuff, op->count, op->dtype, op->op,
                                     op->root, op->comm, &op->in_place);
    return nsccl_args_check_coll(op->call, op->coll, op->sendbuff, op->recvbuff, op->count, op->dtype, op->op, op->comm,
                                 &op->in_place);
  case NSCCL_OP_SEND: return nsccl_args_check_p2p(op->call, op->sendbuff, op->count, op->dtype, op->peer, op->comm);
  default: return nsccl_args_check_p2p(op->call, op->recvbuff, op->count, op->dtype, op->peer, op->comm);
  }
}

static nscclResult_t run_coll(const nsccl_op_t *op) {
  pthread_mutex_lock(&op->comm->lock);
  nscclResult_t rc = nsccl_coll_run(op);
  pthread_mutex_unlock(&op->comm->lock);
  return rc;
}

nscclResult_t nsccl_op_submit(nsccl_op_t *op) {
  nscclResult_t rc = nsccl_op_check(op);
  if (rc != nscclSuccess) {
    if (nsccl_group_active()) nsccl_group_fail(rc);
    return rc;
  }
  if (nsccl_group_active()) return nsccl_group_add(op);
  if (op->stream) return nsccl_stream_enqueue(op->stream, op, 1);
  /* nsccl_op_check has just looked the communicator up: a collective runs without a second
   * lookup (each takes the registry's lock, a measurable part of an 8-byte all-reduce). */
  if (op->kind == NSCCL_OP_COLL) return run_coll(op);
  return nsccl_ops_run(op, 1);
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
  return x < y ? -1 : x > y;
}

/* ops[0..n) are point-to-point: lock their communicators (each once, in address order so two
 * threads never wait for each other) and run them as one batch. */
static nscclResult_t run_p2p_batch(const nsccl_op_t *ops, int n) {
  struct nscclComm *stack[8], **comms = n <= 8 ? stack : malloc((size_t)n * sizeof(*comms));
  if (!comms) NSCCL_FAIL(nscclSystemError, "%s: out of memory for a batch of %d operations", ops[0].call, n);
  for (int i = 0; i < n; i++) comms[i] = ops[i].comm;
  qsort(comms, (size_t)n, sizeof(*comms), cmp_ptr);
  int m = 0;
  for (int i = 0; i < n; i++)
    if (m == 0 || comms[m - 1] != comms[i]) comms[m++] = comms[i];
  /* The comms were checked when the operations were issued, but a queued batch may find one
   * destroyed since: check before touching its lock. */
  nscclResult_t rc = nscclSuccess;
  for (int i = 0; i < m && rc == nscclSuccess; i++) rc = nsccl_comm_check(comms[i], ops[0].call);
  if (rc == nscclSuccess) {
    for (int i = 0; i < m; i++) pthread_mutex_lock(&comms[i]->lock);
    rc = nsccl_p2p_run(ops, n);
    for (int i = m - 1; i >= 0; i--) pthread_mutex_unlock(&comms[i]->lock);
  }
  if (comms != stack) free(comms);
  return rc;
}

nscclResult_t nsccl_ops_run(const nsccl_op_t *ops, int n) {
  for (int i = 0; i < n;) {
    if (ops[i].kind == NSCCL_OP_COPY) {
      if (ops[i].count) memmove(ops[i].recvbuff, ops[i].sendbuff, ops[i].count);
      i++;
      continue;
    }
    if (ops[i].kind == NSCCL_OP_COLL) {
      /* Queued operations may find their communicator destroyed since they were issued. */
      NSCCL_CHECK(nsccl_comm_check(ops[i].comm, ops[i].call));
      NSCCL_CHECK(run_coll(&ops[i]));
      i++;
      continue;
    }
    int j = i;
    while (j < n && (ops[j].kind == NSCCL_OP_SEND || ops[j].kind == NSCCL_OP_RECV)) j++;
    NSCCL_CHECK(run_p2p_batch(ops + i, j - i));
    i = j;
  }
  return nscclSuccess;
}

/* One communicator's share of a group, run on its own thread. */
typedef struct {
  nsccl_op_t *ops;
  int n;
  nscclResult_t rc;
  char msg[1024];
  pthread_t thread;
  int joinable;
} share_t;

static void *run_share(void *arg) {
  share_t *sh = arg;
  sh->rc = nsccl_ops_run(sh->ops, sh->n);
  if (sh->rc != nscclSuccess) snprintf(sh->msg, sizeof(sh->msg), "%s", nsccl_error_detail());
  return NULL;
}

nscclResult_t nsccl_ops_run_group(const nsccl_op_t *ops, int n) {
  int ncomms = 0;
  for (int i = 0; i < n && ncomms < 2; i++) ncomms = ops[i].comm != ops[0].comm ? 2 : 1;
  if (ncomms < 2) return nsccl_ops_run(ops, n);
  /* Sort a copy by communicator, keeping issue order inside each (stable: by index). */
  nsccl_op_t *sorted = malloc((size_t)n * sizeof(*sorted));
  share_t *sh = calloc((size_t)n, sizeof(*sh));
  char *taken = calloc((size_t)n, 1);
  if (!sorted || !sh || !taken) {
    free(sorted), free(sh), free(taken);
    NSCCL_FAIL(nscclSystemError, "nscclGroupEnd: out of memory for a group of %d operations", n);
  }
  int m = 0, nsh = 0;
  for (int i = 0; i < n; i++) {
    if (taken[i]) continue;
    sh[nsh].ops = sorted + m;
    for (int j = i; j < n; j++)
      if (!taken[j] && ops[j].comm == ops[i].comm) {
        taken[j] = 1;
        sorted[m++] = ops[j];
        sh[nsh].n++;
      }
    nsh++;
  }
  for (int k = 1; k < nsh; k++) {
    sh[k].joinable = pthread_create(&sh[k].thread, NULL, run_share, &sh[k]) == 0;
    if (!sh[k].joinable) {
      sh[k].rc = nscclSystemError;
      snprintf(sh[k].msg, sizeof(sh[k].msg), "cannot start a thread for communicator %d of the group", k);
    }
  }
  run_share(&sh[0]); /* the caller drives the first communicator */
  for (int k = 1; k < nsh; k++)
    if (sh[k].joinable) pthread_join(sh[k].thread, NULL);
  nscclResult_t rc = nscclSuccess;
  char msg[1024] = "";
  for (int k = 0; k < nsh && rc == nscclSuccess; k++)
    if (sh[k].rc != nscclSuccess) rc = sh[k].rc, snprintf(msg, sizeof(msg), "%s", sh[k].msg);
  free(sorted), free(sh), free(taken);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "%s", msg);
  return nscclSuccess;
}
