/* The collective calls: check arguments, pick the algorithm (selector, or the override from
 * config->algo / NSCCL_ALGO), get the rank's program (cached per communicator for repeated calls
 * of the same shape), and run it through the fabric engine. Streams: every call runs to completion
 * before it returns, whatever stream is passed. */
#include <stdio.h>
#include <string.h>

#include "algo/algo.h"
#include "core/args.h"
#include "core/check.h"
#include "core/comm.h"
#include "core/error_detail.h"
#include "core/log.h"
#include "model/select.h"
#include "reduce/reduce.h"

/* The program for (args, algo), built or taken from the cache. */
static nscclResult_t get_program(struct nscclComm *c, const nsccl_coll_args_t *args, nsccl_algo_t algo, int variant,
                                 const nsccl_program_t **out) {
  for (int i = 0; i < NSCCL_PROG_CACHE; i++) {
    nsccl_cached_prog_t *e = &c->cache[i];
    if (e->valid && e->algo == algo && e->variant == variant && e->prog.args.coll == args->coll &&
        e->prog.args.count == args->count && e->prog.args.dtype == args->dtype &&
        e->prog.args.in_place == args->in_place) {
      *out = &e->prog;
      return nscclSuccess;
    }
  }
  nsccl_cached_prog_t *e = &c->cache[c->cache_next++ % NSCCL_PROG_CACHE];
  nsccl_prog_free(&e->prog);
  e->valid = 0;
  NSCCL_CHECK(nsccl_prog_init(&e->prog, c->rank, c->nranks, args));
  nsccl_algo_opts_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.variant = variant;
  nscclResult_t rc = nsccl_algo_build(algo, c->topo, &opts, &e->prog);
  if (rc != nscclSuccess) {
    nsccl_prog_free(&e->prog);
    return rc;
  }
  e->valid = 1;
  e->algo = algo;
  e->variant = variant;
  *out = &e->prog;
  return nscclSuccess;
}

static nscclResult_t run(const char *call, nsccl_coll_t coll, const void *sendbuff, void *recvbuff, size_t count,
                         nscclDataType_t dtype, nscclRedOp_t op, nscclComm_t comm) {
  nsccl_coll_args_t args;
  memset(&args, 0, sizeof(args));
  NSCCL_CHECK(nsccl_args_check_coll(call, coll, sendbuff, recvbuff, count, dtype, op, comm, &args.in_place));
  if (comm->async_error != nscclSuccess)
    NSCCL_FAIL(nscclInvalidUsage, "%s: the communicator failed earlier (%s); call nscclCommAbort", call,
               nscclGetErrorString(comm->async_error));
  args.coll = coll;
  args.count = count;
  args.dtype = dtype;
  if (coll == NSCCL_COLL_ALLGATHER) op = nscclSum; /* unused; keeps the engine's checks simple */

  /* nccl-tests convention for the selector: the whole array. */
  size_t bytes = coll == NSCCL_COLL_ALLREDUCE   ? nsccl_coll_send_bytes(&args, comm->nranks)
                 : coll == NSCCL_COLL_ALLGATHER ? nsccl_coll_recv_bytes(&args, comm->nranks)
                                                : nsccl_coll_send_bytes(&args, comm->nranks);
  nsccl_choice_t choice;
  NSCCL_CHECK(nsccl_select(comm->topo, &comm->cfg.ovr, coll, bytes, comm->nranks, &choice));
  if (comm->last_algo[coll] != (int)choice.algo) {
    comm->last_algo[coll] = (int)choice.algo;
    NSCCL_INFO(NSCCL_SUBSYS_COLL, "%s of %zu bytes on %d ranks: algorithm %s (%s)", nsccl_coll_name(coll), bytes,
               comm->nranks, nsccl_algo_name(choice.algo), choice.overridden ? "forced" : "selected");
  }
  NSCCL_TRACE(NSCCL_SUBSYS_COLL, "%s #%llu: %zu x %s, op %s, %s, algorithm %s", call, (unsigned long long)comm->seq,
              count, nsccl_type_name(dtype), nsccl_op_name(op), args.in_place ? "in place" : "out of place",
              nsccl_algo_name(choice.algo));

  const nsccl_program_t *prog = NULL;
  NSCCL_CHECK(get_program(comm, &args, choice.algo, choice.variant[choice.algo], &prog));
  uint64_t seq = comm->seq++;
  nscclResult_t rc = nsccl_fabric_run(comm->engine, prog, sendbuff, recvbuff, op, seq);
  if (rc != nscclSuccess) {
    char why[900];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    if (rc == nscclTimeout || rc == nscclRemoteError || rc == nscclSystemError || rc == nscclInternalError)
      comm->async_error = rc;
    nsccl_set_error(__FILE__, __LINE__, rc, "%s: %s", call, why);
  }
  return rc;
}

nscclResult_t nscclAllReduce(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype,
                             nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream) {
  (void)stream;
  return run("nscclAllReduce", NSCCL_COLL_ALLREDUCE, sendbuff, recvbuff, count, datatype, op, comm);
}

nscclResult_t nscclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, nscclDataType_t datatype,
                             nscclComm_t comm, nscclStream_t stream) {
  (void)stream;
  return run("nscclAllGather", NSCCL_COLL_ALLGATHER, sendbuff, recvbuff, sendcount, datatype, nscclSum, comm);
}

nscclResult_t nscclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, nscclDataType_t datatype,
                                 nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream) {
  (void)stream;
  return run("nscclReduceScatter", NSCCL_COLL_REDUCESCATTER, sendbuff, recvbuff, recvcount, datatype, op, comm);
}
