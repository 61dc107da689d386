/* nscclGroupStart / nscclGroupEnd. A thread's open group collects checked operations (on any
 * communicators and streams) and runs them at the outermost nscclGroupEnd: each communicator's
 * operations in issue order with consecutive send/recv operations posted together, different
 * communicators concurrently on a thread each (nsccl_ops_run_group in core/op.c).
 *
 * Streams: if every operation of the group names the same stream, the whole group is queued on it
 * as one task and GroupEnd returns at once; if none names a stream, GroupEnd runs the group before
 * returning; if they name different streams, GroupEnd first synchronizes those streams and then runs
 * the group before returning (correct, not concurrent with them). */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "api/op.h"

typedef struct {
  int depth;
  nsccl_op_t *ops;
  int n, cap;
  nscclResult_t error; /* first failure while the group was open: the group then runs nothing */
} group_t;

static _Thread_local group_t group;

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
  }
  group.ops[group.n++] = *op;
  return nscclSuccess;
}

void nsccl_group_fail(nscclResult_t rc) {
  if (group.error == nscclSuccess) group.error = rc;
}

nscclResult_t nscclGroupStart(void) {
  group.depth++;
  return nscclSuccess;
}

static void group_reset(void) {
  group.n = 0;
  group.error = nscclSuccess;
  if (group.cap > 1024) { /* do not keep a huge array after one large group */
    free(group.ops);
    group.ops = NULL;
    group.cap = 0;
  }
}

nscclResult_t nscclGroupEnd(void) {
  if (group.depth == 0) NSCCL_FAIL(nscclInvalidUsage, "nscclGroupEnd: no nscclGroupStart is open on this thread");
  if (--group.depth > 0) return nscclSuccess;
  nscclResult_t rc = group.error;
  if (rc != nscclSuccess) {
    group_reset();
    NSCCL_FAIL(rc, "nscclGroupEnd: an operation of the group failed when issued; the group ran nothing");
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
