/* Argument checks of the public calls: every bad argument becomes nscclInvalidArgument or
 * nscclInvalidUsage with a message naming the call, the argument and the reason. */
#ifndef NSCCL_API_ARGS_H
#define NSCCL_API_ARGS_H

#include <stdbool.h>

#include "api/comm.h"

/* Check the arguments of a collective call. op is ignored for all-gather. On success *in_place
 * says whether the buffers alias as NCCL's in-place rule for coll says. */
nscclResult_t nsccl_args_check_coll(const char *call, nsccl_coll_t coll, const void *sendbuff, const void *recvbuff,
                                    size_t count, nscclDataType_t dtype, nscclRedOp_t op, const struct nscclComm *comm,
                                    bool *in_place);

/* Broadcast / reduce: root in range; the root's sendbuff (broadcast) or every rank's (reduce) and
 * every rank's recvbuff (broadcast) or the root's (reduce) non-NULL with count > 0; in place when
 * sendbuff == recvbuff, other overlaps refused. */
nscclResult_t nsccl_args_check_rooted(const char *call, nsccl_coll_t coll, const void *sendbuff, const void *recvbuff,
                                      size_t count, nscclDataType_t dtype, nscclRedOp_t op, int root,
                                      const struct nscclComm *comm, bool *in_place);

/* Send / recv: buffer, count, datatype, peer in range. */
nscclResult_t nsccl_args_check_p2p(const char *call, const void *buf, size_t count, nscclDataType_t dtype, int peer,
                                   const struct nscclComm *comm);

/* nscclCommInitRank*: out pointer, nranks, rank. */
nscclResult_t nsccl_args_check_init(const char *call, nscclComm_t *comm, int nranks, int rank);

#endif
