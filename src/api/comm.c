/* Communicator lifecycle: unique id, init (bootstrap -> transport -> engine), destroy, abort, and
 * the small queries. Init order:
 *   check arguments and config -> read the host (hwloc) -> rendezvous at rank 0 (host table) ->
 *   open the transport with the host of every rank -> allgather transport addresses over the
 *   bootstrap -> connect -> barrier (every endpoint is ready before the first message) -> live. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "api/args.h"
#include "api/comm.h"
#include "api/device.h"
#include "api/op.h"
#include "api/shm_cleanup.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "bootstrap/liveness.h"
#include "topologies/host.h"

/* ---- registry of live communicators ---- */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nscclComm **registry;
static size_t registry_n, registry_cap;

static nscclResult_t registry_add(struct nscclComm *c) {
  pthread_mutex_lock(&registry_lock);
  if (registry_n == registry_cap) {
    size_t ncap = registry_cap ? registry_cap * 2 : 16;
    struct nscclComm **n = realloc(registry, ncap * sizeof(*n));
    if (!n) {
      pthread_mutex_unlock(&registry_lock);
      NSCCL_FAIL(nscclSystemError, "out of memory registering a communicator");
    }
    registry = n;
    registry_cap = ncap;
  }
  registry[registry_n++] = c;
  pthread_mutex_unlock(&registry_lock);
  return nscclSuccess;
}

/* Bumped whenever a communicator leaves the registry: a thread that found comm live at the current
 * generation knows it is still live without taking the registry's lock (a lock and an unlock were
 * a tenth of an 8-byte all-reduce's instructions). */
static uint64_t registry_gen = 1;
static _Thread_local const struct nscclComm *checked_comm;
static _Thread_local uint64_t checked_gen;

static int registry_remove(struct nscclComm *c) {
  int found = 0;
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < registry_n; i++)
    if (registry[i] == c) {
      registry[i] = registry[--registry_n];
      found = 1;
      __atomic_add_fetch(&registry_gen, 1, __ATOMIC_RELEASE);
      break;
    }
  pthread_mutex_unlock(&registry_lock);
  return found;
}

nscclResult_t nsccl_comm_check(const struct nscclComm *comm, const char *call) {
  if (!comm) NSCCL_FAIL(nscclInvalidArgument, "%s: comm is NULL", call);
  if (comm == checked_comm && checked_gen == __atomic_load_n(&registry_gen, __ATOMIC_ACQUIRE)) return nscclSuccess;
  int live = 0;
  pthread_mutex_lock(&registry_lock);
  uint64_t gen = registry_gen;
  for (size_t i = 0; i < registry_n && !live; i++) live = registry[i] == comm;
  pthread_mutex_unlock(&registry_lock);
  if (live && comm->magic == NSCCL_COMM_MAGIC) {
    checked_comm = comm;
    checked_gen = gen;
  }
  if (!live || comm->magic != NSCCL_COMM_MAGIC)
    NSCCL_FAIL(nscclInvalidUsage, "%s: comm %p is not a live communicator (destroyed, aborted, or never initialised)",
               call, (const void *)comm);
  return nscclSuccess;
}

/* ---- teardown ---- */
static void comm_free(struct nscclComm *c) {
  if (!c) return;
  c->magic = 0;
  if (c->tp) nsccl_transport_set_watch(c->tp, NULL, NULL);
  nsccl_liveness_stop(c->lv, 0, nscclSuccess, NULL); /* destroy and abort have stopped it already */
  c->lv = NULL;
  if (c->tp) nsccl_transport_close(c->tp);
  nsccl_fabric_destroy(c->engine); /* after the transport: posted receives may point into staging */
  nsccl_bootstrap_close(c->bs);
  nsccl_comm_free_registrations(c);
  nsccl_premul_free(c);
  for (int i = 0; i < NSCCL_PROG_CACHE; i++) {
    nsccl_fabric_plan_free(c->cache[i].plan);
    nsccl_prog_free(&c->cache[i].prog);
  }
  nsccl_topo_free(c->topo);
  free(c->host_of_rank);
  free(c->p2p_sent);
  free(c->p2p_recvd);
  for (int i = 0; i < c->nstale; i++) free(c->stale[i]); /* the transport is closed by now */
  free(c->stale);
  pthread_mutex_destroy(&c->lock);
  pthread_mutex_destroy(&c->qlock);
  pthread_cond_destroy(&c->qcond);
  free(c);
  /* A peer killed by a signal could not remove its shared memory: the survivors do. */
  nsccl_shm_remove_dead();
}

/* ---- operations queued on streams ---- */
void nsccl_comm_pending_add(struct nscclComm *c, int n) {
  pthread_mutex_lock(&c->qlock);
  c->pending += n;
  pthread_mutex_unlock(&c->qlock);
}

void nsccl_comm_pending_done(struct nscclComm *c, int n) {
  pthread_mutex_lock(&c->qlock);
  c->pending -= n;
  if (c->pending == 0) pthread_cond_broadcast(&c->qcond);
  pthread_mutex_unlock(&c->qlock); /* c may be freed by a waiter from here on */
}

void nsccl_comm_pending_wait(struct nscclComm *c) {
  pthread_mutex_lock(&c->qlock);
  while (c->pending > 0) pthread_cond_wait(&c->qcond, &c->qlock);
  pthread_mutex_unlock(&c->qlock);
}

/* ---- init ---- */

/* A crossbar per host, hosts joined by the network: what the selector prices and what
 * topology-aware algorithms (ring order, hierarchy) follow. Its parameters are the defaults of
 * topologies/host.h, or those of NSCCL_HOST_TOPO, a host file written by `nsccl-perf --calibrate`
 * (only its alpha, bandwidths, latencies and reduce rate are taken: the shape comes from the
 * bootstrap). On an oversubscribed host a message usually waits for its receiver to be scheduled,
 * which the links' latency models; every rank must price alike, hence any_oversubscribed. */
static nscclResult_t build_host_topology(struct nscclComm *c) {
  /* NSCCL_SCHED_TOPO: build and select schedules for a modelled topology (a torus, a switch ...)
   * whose rank count is the communicator's, and run them for real over this machine's transport:
   * how the torus variants are tested end to end (docs/runtime.md). */
  const char *sched = getenv("NSCCL_SCHED_TOPO");
  if (sched && *sched) {
    nscclResult_t rc = nsccl_topo_load(sched, &c->topo);
    if (rc != nscclSuccess)
      NSCCL_FAIL(rc, "init: NSCCL_SCHED_TOPO=%s could not be loaded: %s", sched, nsccl_last_error());
    if (c->topo->nranks != c->nranks) {
      int n = c->topo->nranks;
      nsccl_topo_free(c->topo);
      c->topo = NULL;
      NSCCL_FAIL(nscclInvalidArgument, "init: NSCCL_SCHED_TOPO=%s has %d ranks, the communicator %d", sched, n,
                 c->nranks);
    }
    NSCCL_INFO(NSCCL_SUBSYS_INIT, "schedules built for topology %s (NSCCL_SCHED_TOPO)", c->topo->name);
    return nscclSuccess;
  }
  const char *file = getenv("NSCCL_HOST_TOPO");
  double alpha = 0, link_bw = 0, net_bw = 0, net_lat = 0, reduce_bw = 0;
  double link_lat = c->any_oversubscribed ? NSCCL_HOST_OVERSUB_LATENCY : 0;
  if (file && *file) {
    nsccl_topo_t *cal = NULL;
    nscclResult_t rc = nsccl_topo_load(file, &cal);
    if (rc != nscclSuccess)
      NSCCL_FAIL(rc, "init: NSCCL_HOST_TOPO=%s could not be loaded: %s", file, nsccl_last_error());
    alpha = cal->endpoint_overhead;
    link_bw = cal->link_bandwidth;
    net_bw = cal->nic_bandwidth;
    net_lat = cal->network_latency;
    reduce_bw = cal->reduce_bandwidth;
    /* A calibrated alpha already holds what this host's ranks wait per message, context switches
     * included: the file's own link latency (usually none) replaces the oversubscription term. */
    link_lat = cal->link_latency;
    nsccl_topo_free(cal);
    NSCCL_INFO(NSCCL_SUBSYS_INIT, "host topology from %s: alpha %.3g s, link %.3g B/s, reduce %.3g B/s", file, alpha,
               link_bw, reduce_bw);
  }
  return nsccl_topo_host_build(c->nranks, c->host_of_rank, alpha, link_bw, net_bw, net_lat, reduce_bw, link_lat,
                               &c->topo);
}

/* More ranks on this host than it has PUs? (The binding of one rank says little: mpirun may bind
 * each to one core, so compare with all PUs of the host as well.) Hosts that are one machine to
 * the kernel (network namespaces or containers with their own host names, same boot id) share its
 * PUs: their ranks are counted together, or 4 ranks of 2 "hosts" would spin on 2 cores as if each
 * had its own. Then whether any host is, which every rank learns alike through the bootstrap. */
typedef struct {
  int32_t host_over, cpus;
  char boot[40];
} over_info_t;

static nscclResult_t detect_oversubscription(struct nscclComm *c) {
  int local = 0;
  for (int r = 0; r < c->nranks; r++) local += c->host_of_rank[r] == c->host_of_rank[c->rank];
  int cpus = c->host.bound_pus > 0 ? c->host.bound_pus : c->host.pus;
  int all_pus = c->host.pus > cpus ? c->host.pus : cpus;
  c->oversubscribed = cpus > 0 && local > all_pus;
  c->any_oversubscribed = c->oversubscribed;
  if (c->nranks == 1) return nscclSuccess;
  over_info_t mine = {c->oversubscribed, all_pus, ""}, *all = calloc((size_t)c->nranks, sizeof(over_info_t));
  if (!all) NSCCL_FAIL(nscclSystemError, "init: out of memory for %d flags", c->nranks);
  nsccl_bootstrap_boot_id(mine.boot, sizeof(mine.boot));
  nscclResult_t rc = nsccl_bootstrap_allgather(c->bs, &mine, all, sizeof(mine), c->cfg.timeout_ms);
  for (int r = 0; r < c->nranks && rc == nscclSuccess; r++) {
    int machine = 0;
    for (int q = 0; q < c->nranks && all[r].boot[0]; q++)
      machine += !strncmp(all[q].boot, all[r].boot, sizeof(mine.boot));
    int over = all[r].host_over || (all[r].cpus > 0 && machine > all[r].cpus);
    /* Oversubscribed only because several hosts share the machine, at most two ranks per PU: the
     * engine yields instead of sleeping (engine/fabric_run.c, YIELDS_SHARED_HOSTS). */
    if (over && !all[r].host_over && machine <= 2 * all[r].cpus) over = 2;
    if (r == c->rank) c->oversubscribed = over;
    c->any_oversubscribed |= over != 0;
  }
  free(all);
  return rc;
}

static void log_init_summary(const struct nscclComm *c) {
  if (!nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_INIT)) return;
  char h[160];
  NSCCL_INFO(NSCCL_SUBSYS_INIT,
             "comm rank %d of %d on host %d of %d (%s): %s%s; timeout %d ms, algo '%s', provider '%s'", c->rank,
             c->nranks, c->host_of_rank[c->rank], c->nhosts, nsccl_bootstrap_hostname(c->bs, c->rank),
             nsccl_host_info_str(&c->host, h, sizeof(h)),
             c->oversubscribed == 2 ? ", oversubscribed by hosts sharing the machine (waits yield)"
             : c->oversubscribed    ? ", oversubscribed"
                                    : "",
             c->cfg.timeout_ms, c->cfg.algo_spec[0] ? c->cfg.algo_spec : "auto",
             c->cfg.provider[0] ? c->cfg.provider : "default");
  for (int p = 0; p < c->nranks; p++) {
    if (p == c->rank) continue;
    NSCCL_INFO(NSCCL_SUBSYS_NET, "peer %d (%s, host %d): provider %s", p, nsccl_bootstrap_hostname(c->bs, p),
               c->host_of_rank[p], c->tp ? nsccl_transport_provider_of(c->tp, p) : "none");
  }
}

static nscclResult_t connect_transport(struct nscclComm *c) {
  nsccl_transport_config_t tc = {c->rank, c->nranks, c->host_of_rank, c->cfg.provider[0] ? c->cfg.provider : NULL,
                                 c->cfg.timeout_ms};
  NSCCL_CHECK(nsccl_transport_open(&tc, &c->tp));
  char *blobs = calloc((size_t)c->nranks, NSCCL_TRANSPORT_ADDR_BYTES);
  char mine[NSCCL_TRANSPORT_ADDR_BYTES];
  if (!blobs) NSCCL_FAIL(nscclSystemError, "init: out of memory for %d transport addresses", c->nranks);
  memset(mine, 0, sizeof(mine));
  nscclResult_t rc = nsccl_transport_local_address(c->tp, mine);
  if (rc == nscclSuccess)
    rc = nsccl_bootstrap_allgather(c->bs, mine, blobs, NSCCL_TRANSPORT_ADDR_BYTES, c->cfg.timeout_ms);
  if (rc == nscclSuccess) rc = nsccl_transport_connect(c->tp, blobs);
  free(blobs);
  return rc;
}

static nscclResult_t comm_init(struct nscclComm **out, int nranks, const nscclUniqueId *id, int rank,
                               const nscclConfig_t *config) {
  struct nscclComm *c = calloc(1, sizeof(*c));
  if (!c) NSCCL_FAIL(nscclSystemError, "init: out of memory");
  c->rank = rank;
  c->nranks = nranks;
  c->device = nsccl_device_current();
  pthread_mutex_init(&c->lock, NULL);
  pthread_mutex_init(&c->qlock, NULL);
  pthread_cond_init(&c->qcond, NULL);
  for (int i = 0; i < NSCCL_NUM_COLLS_ALL; i++) c->last_algo[i] = -1;
  int64_t t0 = nsccl_now_ns();
  nscclResult_t rc = nsccl_config_resolve(config, &c->cfg);
  /* An MSCCL-IR file forced for another rank count fails here, on every rank alike (docs/msccl.md). */
  if (rc == nscclSuccess) rc = nsccl_msccl_check_ranks(c->cfg.ovr.variant, NSCCL_NUM_COLLS_ALL, nranks);
  if (rc == nscclSuccess) rc = nsccl_host_info_get(&c->host);
  int64_t t_host = nsccl_now_ns();
  if (rc == nscclSuccess) rc = nsccl_bootstrap_init(id, rank, nranks, c->cfg.timeout_ms, &c->bs);
  int64_t t_boot = nsccl_now_ns();
  if (rc == nscclSuccess) {
    c->nhosts = nsccl_bootstrap_nhosts(c->bs);
    c->host_of_rank = malloc((size_t)nranks * sizeof(int));
    if (!c->host_of_rank)
      rc = nscclSystemError;
    else
      memcpy(c->host_of_rank, nsccl_bootstrap_host_of_rank(c->bs), (size_t)nranks * sizeof(int));
  }
  if (rc == nscclSuccess) rc = detect_oversubscription(c);
  if (rc == nscclSuccess) rc = build_host_topology(c);
  if (rc == nscclSuccess && nranks > 1) rc = connect_transport(c);
  /* From here on a peer that dies is noticed within milliseconds (docs/reliability.md). */
  if (rc == nscclSuccess && nranks > 1) rc = nsccl_liveness_start(c->bs, c->cfg.timeout_ms, 0, &c->lv);
  if (rc == nscclSuccess && c->lv) nsccl_transport_set_watch(c->tp, nsccl_liveness_check, c->lv);
  int64_t t_tp = nsccl_now_ns();
  if (rc == nscclSuccess) rc = nsccl_fabric_create(c->tp, c->cfg.timeout_ms, &c->engine);
  if (rc == nscclSuccess) nsccl_fabric_set_oversubscribed(c->engine, c->oversubscribed);
  if (rc == nscclSuccess && nranks > 1) rc = nsccl_bootstrap_barrier(c->bs, c->cfg.timeout_ms);
  /* Same-host protocol thresholds measured between pairs of ranks (docs/transport.md, "Protocol
   * thresholds"); not with more ranks than cores, where a rank's partner may not be running. */
  if (rc == nscclSuccess && nranks > 1 && !c->oversubscribed) rc = nsccl_transport_calibrate_pairs(c->tp);
  if (rc == nscclSuccess) {
    c->magic = NSCCL_COMM_MAGIC;
    rc = registry_add(c);
  }
  if (rc != nscclSuccess) {
    comm_free(c);
    return rc;
  }
  nsccl_log_set_rank(rank);
  log_init_summary(c);
  NSCCL_INFO(NSCCL_SUBSYS_INIT, "init took %.1f ms: host %.1f, rendezvous %.1f, transport %.1f, barrier %.1f",
             (nsccl_now_ns() - t0) / 1e6, (t_host - t0) / 1e6, (t_boot - t_host) / 1e6, (t_tp - t_boot) / 1e6,
             (nsccl_now_ns() - t_tp) / 1e6);
  *out = c;
  return nscclSuccess;
}

nscclResult_t nscclCommInitRankConfig(nscclComm_t *comm, int nranks, nscclUniqueId commId, int rank,
                                      nscclConfig_t *config) {
  const char *call = config ? "nscclCommInitRankConfig" : "nscclCommInitRank";
  NSCCL_CHECK(nsccl_args_check_init(call, comm, nranks, rank));
  *comm = NULL;
  nsccl_id_info_t info;
  if (nsccl_bootstrap_decode_id(&commId, &info) != nscclSuccess) {
    char why[512];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    NSCCL_FAIL(nscclInvalidArgument, "%s: %s", call, why);
  }
  /* Inside a group (several ranks from one thread): run at the group's end, all together. */
  if (nsccl_group_active()) return nsccl_group_add_init(comm, nranks, &commId, rank, config);
  return nsccl_comm_init_rank(comm, nranks, &commId, rank, config);
}

nscclResult_t nsccl_comm_init_rank(nscclComm_t *comm, int nranks, const nscclUniqueId *commId, int rank,
                                   const nscclConfig_t *config) {
  const char *call = config ? "nscclCommInitRankConfig" : "nscclCommInitRank";
  *comm = NULL;
  nscclResult_t rc = comm_init(comm, nranks, commId, rank, config);
  if (rc != nscclSuccess) {
    char why[900];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    /* Keep the cause's code; only prefix the call so the message says where it came from. */
    nsccl_set_error(__FILE__, __LINE__, rc, "%s (rank %d of %d): %s", call, rank, nranks, why);
  }
  return rc;
}

nscclResult_t nscclCommInitRank(nscclComm_t *comm, int nranks, nscclUniqueId commId, int rank) {
  return nscclCommInitRankConfig(comm, nranks, commId, rank, NULL);
}

nscclResult_t nscclGetUniqueId(nscclUniqueId *uniqueId) {
  if (!uniqueId) NSCCL_FAIL(nscclInvalidArgument, "nscclGetUniqueId: uniqueId is NULL");
  return nsccl_bootstrap_unique_id(uniqueId);
}

/* ---- teardown ---- */

/* Stop the peer watcher: goodbye when the comm is sound (peers must not report this rank); after a
 * failure, this rank's error, so that peers still waiting report its cause (the rank it timed out
 * on) rather than only that this rank left; on a plain abort, nothing (peers see it gone). */
static void stop_watch(struct nscclComm *comm, int graceful) {
  if (comm->tp) nsccl_transport_set_watch(comm->tp, NULL, NULL);
  /* A failure caused by a dead peer passes on the watcher's own words (the dead rank and host),
   * not the whole error of the collective that ran into it. */
  const char *why = nsccl_liveness_cause(comm->lv);
  if (!why) why = nsccl_last_error();
  char reason[900];
  snprintf(reason, sizeof(reason), "%s", why && *why ? why : nscclGetErrorString(comm->async_error));
  int failed = comm->async_error != nscclSuccess;
  nsccl_liveness_stop(comm->lv, graceful, comm->async_error, !graceful && failed ? reason : NULL);
  comm->lv = NULL;
}

nscclResult_t nscclCommDestroy(nscclComm_t comm) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommDestroy"));
  nsccl_comm_pending_wait(comm); /* work queued on streams runs first */
  if (!registry_remove(comm))
    NSCCL_FAIL(nscclInvalidUsage, "nscclCommDestroy: comm is being destroyed by another call");
  nscclResult_t rc = nscclSuccess;
  /* A clean comm waits for every rank so nobody closes endpoints a peer still sends to; a comm that
   * already failed would only wait for the timeout, so it is torn down at once, like abort. */
  if (comm->async_error == nscclSuccess && comm->nranks > 1 && !comm->init_all) {
    rc = nsccl_bootstrap_barrier(comm->bs, comm->cfg.timeout_ms);
    if (rc != nscclSuccess) {
      char why[900];
      snprintf(why, sizeof(why), "%s", nsccl_error_detail());
      nsccl_set_error(__FILE__, __LINE__, rc,
                      "nscclCommDestroy (rank %d): the final barrier failed, resources were "
                      "released anyway: %s",
                      comm->rank, why);
    }
  }
  stop_watch(comm, comm->async_error == nscclSuccess && rc == nscclSuccess);
  comm_free(comm);
  return rc;
}

nscclResult_t nscclCommAbort(nscclComm_t comm) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommAbort"));
  if (!registry_remove(comm)) return nscclSuccess;
  /* No barrier, no waiting on peers: cancel what is posted and close everything. Operations still
   * queued on streams now fail at once (the comm is no longer live); one running on a progress
   * thread is cancelled and returns, and only then is the memory freed. */
  int idle = pthread_mutex_trylock(&comm->lock) == 0;
  if (comm->tp) nsccl_transport_cancel_all(comm->tp, nscclRemoteError);
  if (idle) pthread_mutex_unlock(&comm->lock);
  nsccl_comm_pending_wait(comm);
  pthread_mutex_lock(&comm->lock);
  pthread_mutex_unlock(&comm->lock);
  stop_watch(comm, 0);
  comm_free(comm);
  return nscclSuccess;
}

/* ---- queries ---- */
nscclResult_t nscclCommCount(const nscclComm_t comm, int *count) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommCount"));
  if (!count) NSCCL_FAIL(nscclInvalidArgument, "nscclCommCount: count is NULL");
  *count = comm->nranks;
  return nscclSuccess;
}

nscclResult_t nscclCommUserRank(const nscclComm_t comm, int *rank) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommUserRank"));
  if (!rank) NSCCL_FAIL(nscclInvalidArgument, "nscclCommUserRank: rank is NULL");
  *rank = comm->rank;
  return nscclSuccess;
}

nscclResult_t nscclCommGetAsyncError(nscclComm_t comm, nscclResult_t *asyncError) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommGetAsyncError"));
  if (!asyncError) NSCCL_FAIL(nscclInvalidArgument, "nscclCommGetAsyncError: asyncError is NULL");
  /* A peer found gone between operations shows here before the next call fails on it. */
  if (comm->async_error == nscclSuccess && nsccl_liveness_dead_rank(comm->lv) >= 0)
    comm->async_error = nscclRemoteError;
  *asyncError = comm->async_error;
  return nscclSuccess;
}

const char *nscclGetLastError(nscclComm_t comm) {
  (void)comm; /* errors are kept per thread, whatever the communicator */
  return nsccl_last_error();
}
