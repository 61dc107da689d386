/* Mismatched-call detection (NSCCL_CHECK=1, off by default): before a collective runs, every rank
 * sends a small signature of its call (collective, count, datatype, op, root, in-place flag,
 * sequence number) to every other rank, and every rank compares all of them. When they differ,
 * every rank sees the same signatures and so every rank returns nscclInvalidUsage with the same
 * message naming the ranks and the fields that differ, instead of hanging or corrupting memory.
 *
 * The signatures travel through the transport on the collective's own sequence number with the
 * reserved message index NSCCL_MISMATCH_MSG_INDEX in the low 32 bits of the tag (see
 * engine/fabric.h: a program's k-th message to a peer uses index k, and no program sends 2^32 - 1
 * messages to one peer), so they never meet the collective's own messages nor nscclSend/nscclRecv
 * (which set the top tag bit). Cost: one direct all-to-all of 32-byte messages per collective
 * (docs/reliability.md, "Mismatched calls, hangs and lost peers"). */
#ifndef NSCCL_API_MISMATCH_H
#define NSCCL_API_MISMATCH_H

#include <stdint.h>

#include "api/comm.h"

#define NSCCL_MISMATCH_MSG_INDEX 0xffffffffu

/* Is the check on for this process (NSCCL_CHECK set to a nonzero number)? Read once. */
int nsccl_mismatch_enabled(void);

/* Exchange and compare the signature of collective number `seq` (args: the call's shape; op: the
 * reduction, ignored for all-gather and broadcast). Returns nscclSuccess when every rank made the
 * same call; nscclInvalidUsage naming ranks and fields when they differ (the communicator stays
 * usable: every rank saw the same signatures); nscclTimeout / nscclRemoteError naming the ranks whose
 * signature never arrived when a peer is silent or gone (the communicator is then failed). The
 * caller holds comm->lock and advances comm->seq whatever the result. */
nscclResult_t nsccl_mismatch_check(struct nscclComm *comm, const char *call, const nsccl_coll_args_t *args,
                                   nscclRedOp_t op, uint64_t seq);

#endif
