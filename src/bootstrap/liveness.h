/* Noticing a dead peer (docs/reliability.md, "Dead peers"): every rank of a communicator keeps one
 * TCP connection to every other rank, watched by one thread that sleeps in poll().
 *
 * - A process that dies (killed, crashed, exited without destroying its communicator) has its
 *   sockets closed by the kernel at once: its peers read end-of-file or a reset within
 *   milliseconds, on this host and across the network alike.
 * - A link or host that goes silent is noticed by the kernel: the watcher sends a one-byte
 *   heartbeat a few times per link timeout, and TCP_USER_TIMEOUT drops a connection whose data
 *   stays unacknowledged for NSCCL_LINK_TIMEOUT_MS. Acknowledgements come from the peer's kernel,
 *   not its process, so a busy or descheduled rank never looks dead; a stopped one (SIGSTOP) does
 *   not either, and is left to NSCCL_TIMEOUT_MS.
 * - A rank that destroys its communicator cleanly says goodbye first, so its peers do not report
 *   it; one that aborts after a failure sends its error (peers fail with its code and cause), and
 *   one that aborts for no failure, or dies, is reported gone.
 * The first peer found gone is recorded once; nsccl_liveness_check (one atomic load while all is
 * well) then fails every later call with nscclRemoteError naming the rank, its host and pid. */
#ifndef NSCCL_BOOTSTRAP_LIVENESS_H
#define NSCCL_BOOTSTRAP_LIVENESS_H

#include "bootstrap/bootstrap.h"

typedef struct nsccl_liveness nsccl_liveness_t;

/* Collective over the bootstrap (every rank calls it): listen, exchange addresses, connect the
 * mesh (each rank connects to the lower ranks and accepts the higher ones, authenticated with the
 * job's secret), then start the watcher. *out is NULL (and nscclSuccess returned) for one rank or
 * when NSCCL_PEER_WATCH=0. link_timeout_ms: see above (<= 0: NSCCL_LINK_TIMEOUT_MS, else 2000 ms),
 * capped at timeout_ms. */
nscclResult_t nsccl_liveness_start(nsccl_bootstrap_t *bs, int timeout_ms, int link_timeout_ms, nsccl_liveness_t **out);

/* nscclSuccess while no peer is known to be gone; otherwise nscclRemoteError, and when `record` is
 * set a recorded message naming the peer, its host and pid, the cause, and how long ago it was
 * noticed. ctx: the liveness (void * so the transport can call it without knowing the bootstrap).
 * Thread-safe. */
nscclResult_t nsccl_liveness_check(void *ctx, int record);

/* What the watcher recorded about the first peer found gone ("peer rank 2 on host h (pid 7) is
 * gone: ..."), or NULL while none is. */
const char *nsccl_liveness_cause(const nsccl_liveness_t *lv);
/* The rank found gone first, or -1. */
int nsccl_liveness_dead_rank(const nsccl_liveness_t *lv);

/* Stop the watcher and close every connection. graceful: say goodbye first (a clean destroy), so
 * peers do not take this rank for dead. Otherwise, with a reason (this rank's failure: a timeout
 * naming the rank it waited for, say), tell the peers why this rank gives up: they fail with `code`
 * and that text instead of "gone"; without one they only see the connection close. NULL: no-op. */
void nsccl_liveness_stop(nsccl_liveness_t *lv, int graceful, nscclResult_t code, const char *reason);

#endif
