/* Argument checks of the public calls (see args.h). */
#include <stdint.h>

#include "api/args.h"
#include "base/check.h"
#include "reduce/reduce.h"

nscclResult_t nsccl_args_check_init(const char *call, nscclComm_t *comm, int nranks, int rank) {
  if (!comm) NSCCL_FAIL(nscclInvalidArgument, "%s: comm (the output pointer) is NULL", call);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "%s: nranks is %d, must be at least 1", call, nranks);
  if (rank < 0 || rank >= nranks)
    NSCCL_FAIL(nscclInvalidArgument, "%s: rank %d is outside [0, %d) (nranks is %d)", call, rank, nranks, nranks);
  return nscclSuccess;
}

nscclResult_t nsccl_args_check_coll(const char *call, nsccl_coll_t coll, const void *sendbuff, const void *recvbuff,
                                    size_t count, nscclDataType_t dtype, nscclRedOp_t op, const struct nscclComm *comm,
                                    bool *in_place) {
  NSCCL_CHECK(nsccl_comm_check(comm, call));
  if ((unsigned)dtype >= nscclNumTypes || nsccl_type_size(dtype) == 0)
    NSCCL_FAIL(nscclInvalidArgument, "%s: datatype %d is not an nscclDataType_t (valid: 0..%d)", call, (int)dtype,
               nscclNumTypes - 1);
  if (coll != NSCCL_COLL_ALLGATHER && (unsigned)op >= nscclNumOps)
    NSCCL_CHECK(nsccl_premul_check(comm, call, op, dtype));
  size_t elem = nsccl_type_size(dtype);
  size_t n = (size_t)comm->nranks;
  const char *cname = coll == NSCCL_COLL_ALLREDUCE ? "count" : coll == NSCCL_COLL_ALLGATHER ? "sendcount" : "recvcount";
  /* The largest buffer is count * elem (all-reduce) or count * nranks * elem (the others). */
  size_t mult = coll == NSCCL_COLL_ALLREDUCE ? elem : elem * n;
  size_t largest;
  if (__builtin_mul_overflow(count, mult, &largest)) /* not count > SIZE_MAX / mult: a division per call */
    NSCCL_FAIL(nscclInvalidArgument, "%s: %s %zu x %zu bytes%s overflows size_t", call, cname, count, elem,
               coll == NSCCL_COLL_ALLREDUCE ? "" : " x nranks");
  if (count > 0 && !sendbuff) NSCCL_FAIL(nscclInvalidArgument, "%s: sendbuff is NULL with %s %zu", call, cname, count);
  if (count > 0 && !recvbuff) NSCCL_FAIL(nscclInvalidArgument, "%s: recvbuff is NULL with %s %zu", call, cname, count);

  uintptr_t s = (uintptr_t)sendbuff, r = (uintptr_t)recvbuff;
  size_t chunk = count * elem, off = (size_t)comm->rank * chunk;
  size_t send_bytes = coll == NSCCL_COLL_REDUCESCATTER ? chunk * n : chunk;
  size_t recv_bytes = coll == NSCCL_COLL_ALLGATHER ? chunk * n : chunk;
  switch (coll) {
  case NSCCL_COLL_ALLREDUCE: *in_place = s == r; break;
  case NSCCL_COLL_ALLGATHER: *in_place = s == r + off; break;
  default: *in_place = r == s + off; break;
  }
  if (count > 0 && !*in_place && s < r + recv_bytes && r < s + send_bytes)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: sendbuff and recvbuff overlap without being in place (in place means %s); use separate buffers",
               call,
               coll == NSCCL_COLL_ALLREDUCE   ? "sendbuff == recvbuff"
               : coll == NSCCL_COLL_ALLGATHER ? "sendbuff == recvbuff + rank * sendcount"
                                              : "recvbuff == sendbuff + rank * recvcount");
  return nscclSuccess;
}

static nscclResult_t check_type_count(const char *call, nscclDataType_t dtype, size_t count) {
  if ((unsigned)dtype >= nscclNumTypes || nsccl_type_size(dtype) == 0)
    NSCCL_FAIL(nscclInvalidArgument, "%s: datatype %d is not an nscclDataType_t (valid: 0..%d)", call, (int)dtype,
               nscclNumTypes - 1);
  if (count > SIZE_MAX / nsccl_type_size(dtype))
    NSCCL_FAIL(nscclInvalidArgument, "%s: count %zu x %zu bytes overflows size_t", call, count, nsccl_type_size(dtype));
  return nscclSuccess;
}

nscclResult_t nsccl_args_check_rooted(const char *call, nsccl_coll_t coll, const void *sendbuff, const void *recvbuff,
                                      size_t count, nscclDataType_t dtype, nscclRedOp_t op, int root,
                                      const struct nscclComm *comm, bool *in_place) {
  NSCCL_CHECK(nsccl_comm_check(comm, call));
  NSCCL_CHECK(check_type_count(call, dtype, count));
  if (coll == NSCCL_COLL_REDUCE && (unsigned)op >= nscclNumOps) NSCCL_CHECK(nsccl_premul_check(comm, call, op, dtype));
  if (root < 0 || root >= comm->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "%s: root %d is outside [0, %d)", call, root, comm->nranks);
  int is_root = comm->rank == root;
  int send_used = coll == NSCCL_COLL_REDUCE || is_root, recv_used = coll == NSCCL_COLL_BROADCAST || is_root;
  if (count > 0 && send_used && !sendbuff)
    NSCCL_FAIL(nscclInvalidArgument, "%s: sendbuff is NULL with count %zu%s", call, count,
               is_root ? " on the root" : "");
  if (count > 0 && recv_used && !recvbuff)
    NSCCL_FAIL(nscclInvalidArgument, "%s: recvbuff is NULL with count %zu%s", call, count,
               is_root ? " on the root" : "");
  *in_place = sendbuff == recvbuff;
  uintptr_t s = (uintptr_t)sendbuff, r = (uintptr_t)recvbuff;
  size_t bytes = count * nsccl_type_size(dtype);
  if (count > 0 && send_used && recv_used && !*in_place && s < r + bytes && r < s + bytes)
    NSCCL_FAIL(nscclInvalidArgument,
               "%s: sendbuff and recvbuff overlap without being in place (sendbuff == recvbuff); use separate buffers",
               call);
  return nscclSuccess;
}

nscclResult_t nsccl_args_check_p2p(const char *call, const void *buf, size_t count, nscclDataType_t dtype, int peer,
                                   const struct nscclComm *comm) {
  NSCCL_CHECK(nsccl_comm_check(comm, call));
  NSCCL_CHECK(check_type_count(call, dtype, count));
  if (peer < 0 || peer >= comm->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "%s: peer %d is outside [0, %d)", call, peer, comm->nranks);
  if (count > 0 && !buf) NSCCL_FAIL(nscclInvalidArgument, "%s: buffer is NULL with count %zu", call, count);
  return nscclSuccess;
}
