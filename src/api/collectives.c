/* The collective calls: check arguments, pick the algorithm (selector, or the override from
 * config->algo / NSCCL_ALGO), get the rank's program (cached per communicator for repeated calls
 * of the same shape), and run it through the fabric engine. Each public call becomes an
 * nsccl_op_t handed to nsccl_op_submit (core/op.c): run now (NULL stream), queued on a stream, or
 * kept for the enclosing group. Broadcast and reduce are priced by the cost model too
 * (model/cost_rooted.c) and built by algo/bcast_reduce.h. */
#include <stdio.h>
#include <string.h>

#include "algo/algo.h"
#include "algo/bcast_reduce.h"
#include "api/args.h"
#include "api/comm.h"
#include "api/mismatch.h"
#include "api/op.h"
#include "base/check.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "model/select.h"
#include "reduce/reduce.h"

/* Every collective, broadcast and reduce included (model/cost_rooted.c), is priced over the
 * communicator's topology unless NSCCL_ALGO / config->algo forces a family for it; answers are
 * remembered per (collective, bytes). */
static nscclResult_t choose(struct nscclComm *c, nsccl_coll_t coll, size_t bytes, nsccl_choice_t *out) {
  size_t slot = (bytes * 31 + (size_t)coll) % NSCCL_CHOICE_CACHE;
  if (c->choices[slot].valid && c->choices[slot].coll == coll && c->choices[slot].bytes == bytes) {
    *out = c->choices[slot].choice;
    return nscclSuccess;
  }
  memset(out, 0, sizeof(*out));
  NSCCL_CHECK(nsccl_select(c->topo, &c->cfg.ovr, coll, bytes, c->nranks, out));
  c->choices[slot].valid = 1;
  c->choices[slot].coll = coll;
  c->choices[slot].bytes = bytes;
  c->choices[slot].choice = *out;
  return nscclSuccess;
}

nscclResult_t nsccl_comm_choice(struct nscclComm *comm, nsccl_coll_t coll, size_t bytes, nsccl_choice_t *out) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nsccl_comm_choice"));
  pthread_mutex_lock(&comm->lock);
  nscclResult_t rc = choose(comm, coll, bytes, out);
  pthread_mutex_unlock(&comm->lock);
  return rc;
}

/* The engine's plan of the program for (args, algo), built or taken from the cache. */
static nscclResult_t get_program(struct nscclComm *c, const nsccl_coll_args_t *args, nsccl_algo_t algo, int variant,
                                 const nsccl_fabric_plan_t **out) {
  for (int i = 0; i < NSCCL_PROG_CACHE; i++) {
    nsccl_cached_prog_t *e = &c->cache[i];
    if (e->valid && e->algo == algo && e->variant == variant && e->prog.args.coll == args->coll &&
        e->prog.args.count == args->count && e->prog.args.dtype == args->dtype &&
        e->prog.args.in_place == args->in_place && e->prog.args.root == args->root) {
      *out = e->plan;
      return nscclSuccess;
    }
  }
  nsccl_cached_prog_t *e = &c->cache[c->cache_next++ % NSCCL_PROG_CACHE];
  c->last_call.valid = 0; /* it may point to the plan freed here */
  nsccl_fabric_plan_free(e->plan);
  e->plan = NULL;
  nsccl_prog_free(&e->prog);
  e->valid = 0;
  NSCCL_CHECK(nsccl_prog_init(&e->prog, c->rank, c->nranks, args));
  nsccl_algo_opts_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.variant = variant;
  opts.chunk_bytes = c->cfg.chunk_bytes;
  nscclResult_t rc = args->coll >= NSCCL_NUM_COLLS ? nsccl_bcast_reduce_build(algo, &opts, &e->prog)
                                                   : nsccl_algo_build(algo, c->topo, &opts, &e->prog);
  if (rc == nscclSuccess) rc = nsccl_fabric_prepare(c->engine, &e->prog, &e->plan);
  if (rc != nscclSuccess) {
    nsccl_prog_free(&e->prog);
    return rc;
  }
  e->valid = 1;
  e->algo = algo;
  e->variant = variant;
  *out = e->plan;
  return nscclSuccess;
}

static nscclResult_t lookup(struct nscclComm *comm, const nsccl_coll_args_t *args, nsccl_algo_t *algo_out,
                            const nsccl_fabric_plan_t **plan_out);

nscclResult_t nsccl_coll_run(const nsccl_op_t *o) {
  struct nscclComm *comm = o->comm;
  const char *call = o->call;
  nsccl_coll_t coll = o->coll;
  nscclRedOp_t op = o->op;
  /* The caller (core/op.c) has checked comm and holds its lock. */
  if (comm->async_error != nscclSuccess)
    NSCCL_FAIL(nscclInvalidUsage, "%s: the communicator failed earlier (%s); call nscclCommAbort", call,
               nscclGetErrorString(comm->async_error));
  nsccl_coll_args_t args;
  memset(&args, 0, sizeof(args));
  args.coll = coll;
  args.count = o->count;
  args.dtype = o->dtype;
  args.in_place = o->in_place;
  args.root = o->root;
  if (coll == NSCCL_COLL_ALLGATHER || coll == NSCCL_COLL_BROADCAST)
    op = nscclSum; /* unused; keeps the engine's checks simple */
  else if ((unsigned)op >= nscclNumOps)
    return nsccl_premul_run(o); /* pre-multiplies, then comes back here as a sum */

  /* NSCCL_CHECK=1: every rank compares its call with everyone's before anything is sent. A
   * mismatch is seen alike by every rank, which all skip this sequence number and stay usable. */
  if (comm->nranks > 1 && nsccl_mismatch_enabled()) {
    nscclResult_t crc = nsccl_mismatch_check(comm, call, &args, op, comm->seq);
    if (crc != nscclSuccess) {
      comm->seq++;
      return crc;
    }
  }

  /* The same shape as the previous call: its plan (selector and program caches skipped). */
  const nsccl_fabric_plan_t *plan = NULL;
  nsccl_algo_t algo;
  if (comm->last_call.valid && comm->last_call.args.coll == coll && comm->last_call.args.count == args.count &&
      comm->last_call.args.dtype == args.dtype && comm->last_call.args.in_place == args.in_place &&
      comm->last_call.args.root == args.root) {
    plan = comm->last_call.plan;
    algo = comm->last_call.algo;
  } else {
    NSCCL_CHECK(lookup(comm, &args, &algo, &plan));
  }
  NSCCL_TRACE(NSCCL_SUBSYS_COLL, "%s #%llu: %zu x %s, op %s, %s, algorithm %s", call, (unsigned long long)comm->seq,
              o->count, nsccl_type_name(o->dtype), nsccl_op_name(op), args.in_place ? "in place" : "out of place",
              nsccl_algo_name(algo));
  uint64_t seq = comm->seq++;
  nscclResult_t rc = nsccl_fabric_run_plan(comm->engine, plan, o->sendbuff, o->recvbuff, op, seq);
  if (rc != nscclSuccess) {
    char why[900];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    if (rc == nscclTimeout || rc == nscclRemoteError || rc == nscclSystemError || rc == nscclInternalError)
      comm->async_error = rc;
    nsccl_set_error(__FILE__, __LINE__, rc, "%s: %s", call, why);
    /* A hang or a lost peer is worth a line even when the caller does not print the error. */
    if (comm->async_error != nscclSuccess) NSCCL_WARN(NSCCL_SUBSYS_COLL, "%s", nsccl_last_error());
  }
  return rc;
}

/* The algorithm and plan for a call of this shape: the selector's choice (cached), then the
 * program (cached), remembered as the last call's. */
static nscclResult_t lookup(struct nscclComm *comm, const nsccl_coll_args_t *args, nsccl_algo_t *algo_out,
                            const nsccl_fabric_plan_t **plan_out) {
  nsccl_coll_t coll = args->coll;
  /* nccl-tests convention for the selector: the whole array. */
  size_t bytes = coll == NSCCL_COLL_ALLGATHER ? nsccl_coll_recv_bytes(args, comm->nranks)
                                              : nsccl_coll_send_bytes(args, comm->nranks);
  nsccl_choice_t choice;
  NSCCL_CHECK(choose(comm, coll, bytes, &choice));
  if (comm->last_algo[coll] != (int)choice.algo) {
    comm->last_algo[coll] = (int)choice.algo;
    NSCCL_INFO(NSCCL_SUBSYS_COLL, "%s of %zu bytes on %d ranks: algorithm %s (%s)", nsccl_coll_name(coll), bytes,
               comm->nranks, nsccl_algo_name(choice.algo), choice.overridden ? "forced" : "selected");
  }
  NSCCL_CHECK(get_program(comm, args, choice.algo, choice.variant[choice.algo], plan_out));
  *algo_out = choice.algo;
  comm->last_call.valid = 1;
  comm->last_call.args = *args;
  comm->last_call.algo = choice.algo;
  comm->last_call.plan = *plan_out;
  return nscclSuccess;
}

static nscclResult_t submit_coll(const char *call, nsccl_coll_t coll, const void *sendbuff, void *recvbuff,
                                 size_t count, nscclDataType_t dtype, nscclRedOp_t op, int root, nscclComm_t comm,
                                 nscclStream_t stream) {
  nsccl_op_t o;
  memset(&o, 0, sizeof(o));
  o.kind = NSCCL_OP_COLL;
  o.call = call;
  o.comm = comm;
  o.stream = stream;
  o.coll = coll;
  o.sendbuff = sendbuff;
  o.recvbuff = recvbuff;
  o.count = count;
  o.dtype = dtype;
  o.op = op;
  o.root = root;
  return nsccl_op_submit(&o);
}

nscclResult_t nscclAllReduce(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype,
                             nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream) {
  return submit_coll("nscclAllReduce", NSCCL_COLL_ALLREDUCE, sendbuff, recvbuff, count, datatype, op, 0, comm, stream);
}

nscclResult_t nscclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, nscclDataType_t datatype,
                             nscclComm_t comm, nscclStream_t stream) {
  return submit_coll("nscclAllGather", NSCCL_COLL_ALLGATHER, sendbuff, recvbuff, sendcount, datatype, nscclSum, 0, comm,
                     stream);
}

nscclResult_t nscclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, nscclDataType_t datatype,
                                 nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream) {
  return submit_coll("nscclReduceScatter", NSCCL_COLL_REDUCESCATTER, sendbuff, recvbuff, recvcount, datatype, op, 0,
                     comm, stream);
}

nscclResult_t nscclBroadcast(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype, int root,
                             nscclComm_t comm, nscclStream_t stream) {
  return submit_coll("nscclBroadcast", NSCCL_COLL_BROADCAST, sendbuff, recvbuff, count, datatype, nscclSum, root, comm,
                     stream);
}

nscclResult_t nscclBcast(void *buff, size_t count, nscclDataType_t datatype, int root, nscclComm_t comm,
                         nscclStream_t stream) {
  return submit_coll("nscclBcast", NSCCL_COLL_BROADCAST, buff, buff, count, datatype, nscclSum, root, comm, stream);
}

nscclResult_t nscclReduce(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype, nscclRedOp_t op,
                          int root, nscclComm_t comm, nscclStream_t stream) {
  return submit_coll("nscclReduce", NSCCL_COLL_REDUCE, sendbuff, recvbuff, count, datatype, op, root, comm, stream);
}

static nscclResult_t submit_p2p(const char *call, nsccl_op_kind_t kind, const void *sendbuff, void *recvbuff,
                                size_t count, nscclDataType_t dtype, int peer, nscclComm_t comm, nscclStream_t stream) {
  nsccl_op_t o;
  memset(&o, 0, sizeof(o));
  o.kind = kind;
  o.call = call;
  o.comm = comm;
  o.stream = stream;
  o.sendbuff = sendbuff;
  o.recvbuff = recvbuff;
  o.count = count;
  o.dtype = dtype;
  o.peer = peer;
  return nsccl_op_submit(&o);
}

nscclResult_t nscclSend(const void *sendbuff, size_t count, nscclDataType_t datatype, int peer, nscclComm_t comm,
                        nscclStream_t stream) {
  return submit_p2p("nscclSend", NSCCL_OP_SEND, sendbuff, NULL, count, datatype, peer, comm, stream);
}

nscclResult_t nscclRecv(void *recvbuff, size_t count, nscclDataType_t datatype, int peer, nscclComm_t comm,
                        nscclStream_t stream) {
  return submit_p2p("nscclRecv", NSCCL_OP_RECV, NULL, recvbuff, count, datatype, peer, comm, stream);
}
