/* nscclRedOpCreatePreMulSum / nscclRedOpDestroy and the collectives that use such an operator.
 *
 * A PreMulSum operator is "multiply my input by my scalar, then sum". It is kept per communicator
 * as op = nscclNumOps + index. Running one (nsccl_premul_run) multiplies this rank's input into a
 * scratch buffer and runs the same collective as a plain sum from that scratch, out of place: the
 * schedules, engines and transports see an ordinary sum and know nothing of operators. One extra pass
 * over the input (count elements; count x nranks for reduce-scatter) is the price; an in-place call
 * stays correct because the scratch is never the output. */
#include <stdlib.h>
#include <string.h>

#include "api/comm.h"
#include "api/op.h"
#include "base/check.h"
#include "reduce/reduce.h"

struct nsccl_premul {
  int live;
  nscclDataType_t dtype;
  nscclScalarResidence_t residence;
  unsigned char value[8]; /* HostImmediate: the scalar, copied at creation */
  const void *where;      /* Device: read when a collective runs */
};

/* A destroyed slot is reused, so a program that creates and destroys one operator per step never
 * runs out; ids stay below nscclNumOps + the most operators alive at once. */
nscclResult_t nscclRedOpCreatePreMulSum(nscclRedOp_t *op, void *scalar, nscclDataType_t datatype,
                                        nscclScalarResidence_t residence, nscclComm_t comm) {
  const char *call = "nscclRedOpCreatePreMulSum";
  NSCCL_CHECK(nsccl_comm_check(comm, call));
  if (!op) NSCCL_FAIL(nscclInvalidArgument, "%s: op (the output pointer) is NULL", call);
  if (!scalar) NSCCL_FAIL(nscclInvalidArgument, "%s: scalar is NULL", call);
  if ((unsigned)datatype >= nscclNumTypes || nsccl_type_size(datatype) == 0)
    NSCCL_FAIL(nscclInvalidArgument, "%s: datatype %d is not an nscclDataType_t (valid: 0..%d)", call, (int)datatype,
               nscclNumTypes - 1);
  if (residence != nscclScalarDevice && residence != nscclScalarHostImmediate)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: residence %d is neither nscclScalarDevice (0) nor nscclScalarHostImmediate (1)", call,
               (int)residence);
  struct nscclComm *c = comm;
  pthread_mutex_lock(&c->lock);
  int slot = 0;
  while (slot < c->npremul && c->premul[slot].live) slot++;
  if (slot == c->npremul) {
    struct nsccl_premul *grown = realloc(c->premul, (size_t)(c->npremul + 1) * sizeof(*grown));
    if (!grown) {
      pthread_mutex_unlock(&c->lock);
      NSCCL_FAIL(nscclSystemError, "%s: out of memory for operator %d", call, c->npremul);
    }
    c->premul = grown;
    c->npremul++;
  }
  struct nsccl_premul *p = &c->premul[slot];
  memset(p, 0, sizeof(*p));
  p->live = 1;
  p->dtype = datatype;
  p->residence = residence;
  if (residence == nscclScalarHostImmediate)
    memcpy(p->value, scalar, nsccl_type_size(datatype));
  else
    p->where = scalar;
  pthread_mutex_unlock(&c->lock);
  *op = (nscclRedOp_t)(nscclNumOps + slot);
  return nscclSuccess;
}

static struct nsccl_premul *find(const struct nscclComm *c, nscclRedOp_t op) {
  long slot = (long)op - nscclNumOps;
  if (slot < 0 || slot >= c->npremul || !c->premul[slot].live) return NULL;
  return &c->premul[slot];
}

nscclResult_t nscclRedOpDestroy(nscclRedOp_t op, nscclComm_t comm) {
  const char *call = "nscclRedOpDestroy";
  NSCCL_CHECK(nsccl_comm_check(comm, call));
  if ((unsigned)op < nscclNumOps)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: op %d is a built-in operator; only nscclRedOpCreatePreMulSum's can be destroyed", call, (int)op);
  struct nscclComm *c = comm;
  pthread_mutex_lock(&c->lock);
  struct nsccl_premul *p = find(c, op);
  if (p) p->live = 0;
  pthread_mutex_unlock(&c->lock);
  if (!p) NSCCL_FAIL(nscclInvalidArgument, "%s: op %d is not a live operator of this communicator", call, (int)op);
  return nscclSuccess;
}

nscclResult_t nsccl_premul_check(const struct nscclComm *c, const char *call, nscclRedOp_t op, nscclDataType_t dtype) {
  const struct nsccl_premul *p = find(c, op);
  if (!p)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: op %d is neither a built-in nscclRedOp_t (0..%d) nor a live nscclRedOpCreatePreMulSum operator of "
               "this communicator",
               call, (int)op, nscclNumOps - 1);
  if (p->dtype != dtype)
    NSCCL_FAIL(nscclInvalidArgument, "%s: op %d was created for %s, the call's datatype is %s", call, (int)op,
               nsccl_type_name(p->dtype), nsccl_type_name(dtype));
  return nscclSuccess;
}

void nsccl_premul_free(struct nscclComm *c) {
  free(c->premul);
  c->premul = NULL;
  c->npremul = 0;
  free(c->premul_scratch);
  c->premul_scratch = NULL;
  c->premul_scratch_bytes = 0;
}

nscclResult_t nsccl_premul_run(const nsccl_op_t *o) {
  struct nscclComm *c = o->comm;
  /* Checked when the call was made; checked again because a queued or grouped call runs later
   * and its operator may have been destroyed meanwhile. */
  NSCCL_CHECK(nsccl_premul_check(c, o->call, o->op, o->dtype));
  const struct nsccl_premul *p = find(c, o->op);
  size_t elems = o->coll == NSCCL_COLL_REDUCESCATTER ? o->count * (size_t)c->nranks : o->count;
  size_t bytes = elems * nsccl_type_size(o->dtype);
  if (bytes > c->premul_scratch_bytes) {
    void *grown = realloc(c->premul_scratch, bytes);
    if (!grown) NSCCL_FAIL(nscclSystemError, "%s: out of memory for %zu bytes of pre-multiplied input", o->call, bytes);
    c->premul_scratch = grown;
    c->premul_scratch_bytes = bytes;
  }
  const void *scalar = p->residence == nscclScalarHostImmediate ? (const void *)p->value : p->where;
  NSCCL_CHECK(nsccl_reduce_scale(c->premul_scratch, o->sendbuff, elems, o->dtype, scalar));
  nsccl_op_t sum = *o;
  sum.sendbuff = c->premul_scratch;
  sum.op = nscclSum;
  sum.in_place = false;
  return nsccl_coll_run(&sum);
}
