/* Argument checks of the public calls: every bad argument becomes nscclInvalidArgument or
 * nscclInvalidUsage with a message naming the call, the argument and the reason. */
#ifndef NSCCL_CORE_ARGS_H
#define NSCCL_CORE_ARGS_H

#include <stdbool.h>

#include "core/comm.h"

/* Check the arguments of a collective call. op is ignored for all-gather. On success *in_place
 * says whether the buffers alias as NCCL's in-place rule for coll says. */
nscclResult_t nsccl_args_check_coll(const char *call, nsccl_coll_t coll, const void *sendbuff, const void *recvbuff,
                                    size_t count, nscclDataType_t dtype, nscclRedOp_t op, const struct nscclComm *comm,
                                    bool *in_place);

/* nscclCommInitRank*: out pointer, nranks, rank. */
nscclResult_t nsccl_args_check_init(const char *call, nscclComm_t *comm, int nranks, int rank);

#endif
