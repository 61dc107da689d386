/* An operation captured from a public call: what group calls and streams store and run later.
 *
 * Every public collective and point-to-point call builds an nsccl_op_t, checks it at once (bad
 * arguments are returned by the call itself), then nsccl_op_submit either adds it to the calling
 * thread's open group, queues it on its stream, or runs it before returning (NULL stream). */
#ifndef NSCCL_API_OP_H
#define NSCCL_API_OP_H

#include "api/comm.h"

/* NSCCL_OP_COPY: a host copy queued by nscclMemcpyAsync (comm NULL, recvbuff <- sendbuff, count bytes). */
typedef enum { NSCCL_OP_COLL = 0, NSCCL_OP_SEND, NSCCL_OP_RECV, NSCCL_OP_COPY } nsccl_op_kind_t;

typedef struct {
  nsccl_op_kind_t kind;
  const char *call; /* the public name, for messages */
  struct nscclComm *comm;
  nscclStream_t stream;
  nsccl_coll_t coll; /* NSCCL_OP_COLL */
  const void *sendbuff;
  void *recvbuff;
  size_t count;
  nscclDataType_t dtype;
  nscclRedOp_t op;
  int root; /* broadcast / reduce */
  int peer; /* send / recv */
  bool in_place;
} nsccl_op_t;

/* Argument checks (the call's errors), filling in_place. */
nscclResult_t nsccl_op_check(nsccl_op_t *op);
/* Check, then group, stream or now (see above). */
nscclResult_t nsccl_op_submit(nsccl_op_t *op);
/* Run ops in order, consecutive point-to-point operations together; each communicator's lock is
 * held while its operation runs. Used by group end and by stream progress threads. */
nscclResult_t nsccl_ops_run(const nsccl_op_t *ops, int n);

/* A group (or a stream task holding one): the operations of each communicator in issue order
 * through nsccl_ops_run, different communicators concurrently, one thread each, so one thread may
 * drive several ranks of one communicator (nscclCommInitAll). Returns the first error. */
nscclResult_t nsccl_ops_run_group(const nsccl_op_t *ops, int n);

/* premulsum.c: run a collective whose op is a PreMulSum operator (caller holds comm->lock): this
 * rank's input multiplied by its scalar into the communicator's scratch, then the collective as a
 * sum, out of place, from the scratch. */
nscclResult_t nsccl_premul_run(const nsccl_op_t *op);
/* collectives.c: run one checked collective (caller holds comm->lock). */
nscclResult_t nsccl_coll_run(const nsccl_op_t *op);
/* p2p.c: post a batch of sends and receives (across communicators) and progress them together
 * (caller holds every involved comm's lock). */
nscclResult_t nsccl_p2p_run(const nsccl_op_t *ops, int n);

/* group.c: is the calling thread inside nscclGroupStart/End? If so take a copy of op. */
int nsccl_group_active(void);
nscclResult_t nsccl_group_add(const nsccl_op_t *op);
/* nscclCommInitRank(Config) inside the open group: recorded with the calling thread's device and
 * run at the group's end, every rank on a thread of its own (a copy of config is kept). */
nscclResult_t nsccl_group_add_init(nscclComm_t *comm, int nranks, const nscclUniqueId *id, int rank,
                                   const nscclConfig_t *config);
/* An operation of the open group failed its checks: the group will run nothing. */
void nsccl_group_fail(nscclResult_t rc);

/* stream.c: queue a task (a copy of ops[0..n)) on stream; counts it pending on each op's comm. */
nscclResult_t nsccl_stream_enqueue(nscclStream_t stream, const nsccl_op_t *ops, int n);
/* Track operations queued on a communicator (comm.c). */
void nsccl_comm_pending_add(struct nscclComm *c, int n);
void nsccl_comm_pending_done(struct nscclComm *c, int n);
void nsccl_comm_pending_wait(struct nscclComm *c);

#endif
