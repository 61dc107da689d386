/* The local engine: runs every rank's program in one process, moving bytes with memcpy and the
 * reduction kernels. Used to verify algorithms. It knows nothing of which algorithm made the
 * programs. */
#ifndef NSCCL_ENGINE_LOCAL_H
#define NSCCL_ENGINE_LOCAL_H

#include "sched/sched.h"

/* progs[r] is rank r's program; sendbufs[r] / recvbufs[r] its buffers (aliased as the collective's
 * in-place rule says when progs[r].args.in_place). Runs until every step completed. A set of
 * programs that cannot finish (a receive with no sender, a cycle) returns nscclInvalidUsage with a
 * message in err naming the stuck ranks and steps, instead of looping. For nscclAvg the output is
 * divided by nranks at the end. */
nscclResult_t nsccl_local_run(const nsccl_program_t *progs, int nranks, const void *const *sendbufs,
                              void *const *recvbufs, nscclRedOp_t op, char *err, size_t errlen);

#endif
