/* The communicator. Public calls receive an nscclComm_t that may be NULL, destroyed, or garbage;
 * nsccl_comm_check looks it up in the registry of live communicators before touching it, so a
 * destroyed pointer is recognised without reading freed memory (best effort: if the allocator
 * hands the same address to a newer communicator, the stale pointer reaches that one). */
#ifndef NSCCL_API_COMM_H
#define NSCCL_API_COMM_H

#include <pthread.h>
#include <stdint.h>

#include "api/config.h"
#include "api/host_info.h"
#include "bootstrap/bootstrap.h"
#include "engine/fabric.h"
#include "sched/sched.h"
#include "transport/transport.h"

#define NSCCL_COMM_MAGIC 0x6e7363636c636f6dull /* "nscclcom" */
#define NSCCL_PROG_CACHE 4

typedef struct {
  int valid;
  nsccl_algo_t algo;
  int variant;
  nsccl_program_t prog;
  nsccl_fabric_plan_t *plan; /* the engine's setup of prog, made once (engine/fabric.h) */
} nsccl_cached_prog_t;

#define NSCCL_CHOICE_CACHE 64

struct nscclComm {
  uint64_t magic; /* NSCCL_COMM_MAGIC while alive, 0 once destroyed */
  int rank, nranks;
  int device; /* the virtual device current when init was called (api/device.c) */
  nsccl_comm_config_t cfg;
  nsccl_host_info_t host;
  int nhosts;
  int *host_of_rank;
  struct nsccl_topo *topo; /* the host topology the selector and the algorithms see */
  int oversubscribed;      /* more ranks on this host than PUs: the engine sleeps sooner when idle (1); 2: only
                            * because hosts share one machine, at most two ranks per PU: it yields, never sleeps */
  int any_oversubscribed;  /* some host of the communicator is: the host topology prices context switches */
  nsccl_bootstrap_t *bs;
  struct nsccl_liveness *lv; /* watches every peer (bootstrap/liveness.h); NULL for one rank */
  nsccl_transport_t *tp;     /* NULL for a single rank */
  nsccl_fabric_t *engine;
  uint64_t seq;                       /* collectives started so far */
  nscclResult_t async_error;          /* first failure of a collective; the comm is unusable after one */
  int last_algo[NSCCL_NUM_COLLS_ALL]; /* for logging choices when they change */
  nsccl_cached_prog_t cache[NSCCL_PROG_CACHE];
  unsigned cache_next;
  /* The previous collective's shape and plan: a loop of identical calls (the common case) skips the
   * selector and program caches (api/collectives.c). Cleared when a cached program is replaced. */
  struct {
    int valid;
    nsccl_coll_args_t args;
    nsccl_algo_t algo;
    const nsccl_fabric_plan_t *plan;
  } last_call;
  /* The selector's answers by (collective, bytes): pricing every candidate costs microseconds,
   * too much to pay on every small collective. Direct-mapped; the topology and overrides are fixed
   * for the communicator's life, so an entry never goes stale. */
  struct {
    int valid;
    nsccl_coll_t coll;
    size_t bytes;
    nsccl_choice_t choice;
  } choices[NSCCL_CHOICE_CACHE];
  /* One operation at a time on the engine, whichever thread or stream issues it (core/op.c). */
  pthread_mutex_t lock;
  /* Operations queued on streams and not yet finished: finalize, destroy and abort wait for them,
   * so a progress thread never touches a freed communicator. */
  pthread_mutex_t qlock;
  pthread_cond_t qcond;
  int pending;
  uint32_t *p2p_sent, *p2p_recvd; /* per peer: nscclSend / nscclRecv messages so far (their tags) */
  /* Made by nscclCommInitAll: every rank lives in this process and one thread drives them, so
   * destroy skips its barrier (it would wait for ranks the same thread destroys later). */
  int init_all;
  /* Transfer records of failed point-to-point batches: a provider that ignores cancellation may
   * still write them, so they are freed only after the transport is closed. */
  void **stale;
  int nstale;
  struct nsccl_reg *regs; /* nscclCommRegister's records (register.c) */
  /* nscclRedOpCreatePreMulSum's operators, op = nscclNumOps + index (premulsum.c), and the scratch
   * buffer that holds a collective's pre-multiplied input. */
  struct nsccl_premul *premul;
  int npremul;
  void *premul_scratch;
  size_t premul_scratch_bytes;
};

/* premulsum.c: is op one of comm's live PreMulSum operators, made for dtype? nscclInvalidArgument
 * naming the call otherwise. nsccl_premul_free: the operators and the scratch, at teardown. */
nscclResult_t nsccl_premul_check(const struct nscclComm *c, const char *call, nscclRedOp_t op, nscclDataType_t dtype);
void nsccl_premul_free(struct nscclComm *c);

/* register.c: free the registration records (after the transport is closed). */
void nsccl_comm_free_registrations(struct nscclComm *c);

/* Is comm a live communicator? nscclInvalidArgument (NULL) or nscclInvalidUsage (not live),
 * naming the call. */
nscclResult_t nsccl_comm_check(const struct nscclComm *comm, const char *call);

/* Initialise one rank now, on the calling thread (arguments already checked); the message of a
 * failure names the call and the rank. What nscclCommInitRankConfig runs outside a group, and what
 * group end and nscclCommInitAll run on a thread per rank. */
nscclResult_t nsccl_comm_init_rank(nscclComm_t *comm, int nranks, const nscclUniqueId *commId, int rank,
                                   const nscclConfig_t *config);

/* The algorithm comm runs for a collective of `bytes` (nccl-tests' size: the whole array), as a
 * call would choose it (config->algo / NSCCL_ALGO, else the selector over comm's topology). For
 * tools that report the choice (nsccl-perf); collectives.c. */
nscclResult_t nsccl_comm_choice(struct nscclComm *comm, nsccl_coll_t coll, size_t bytes, nsccl_choice_t *out);

#endif
