/* The peer watcher (liveness.h): the mesh of watch connections and the thread that polls it.
 *
 * Wire: a connecting rank sends {magic, rank, secret} once; afterwards each side sends single bytes,
 * HEARTBEAT (ignored by the reader: it exists so that the sender's kernel has data in flight for
 * TCP_USER_TIMEOUT to time) and BYE (a clean destroy follows; the end-of-file after it is not a
 * death), and at most once GAVE_UP + int32 code + uint16 length + text: the rank failed (a timeout,
 * say) and aborts, and its peers report its cause with its code instead of a bare "gone", so that
 * a hang is still blamed on the rank that went silent rather than on the first rank to give up. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "bootstrap/liveness.h"

#define WATCH_MAGIC          0x48435457u /* "WTCH" */
#define BYTE_HEARTBEAT       'h'
#define BYTE_BYE             'b'
#define BYTE_GAVE_UP         'e'
#define GAVE_UP_HEADER       7 /* byte, int32 code, uint16 length */
#define GAVE_UP_MAX          900
#define DEFAULT_LINK_TIMEOUT 2000
#define HELLO_WAIT_MS        2000 /* a connection that does not present its hello this fast is dropped */

typedef struct {
  uint32_t magic;
  int32_t rank;
  uint8_t secret[16];
} watch_hello_t;

/* A GAVE_UP report being read from one peer (it may come in pieces). */
typedef struct {
  size_t got;
  unsigned char buf[GAVE_UP_HEADER + GAVE_UP_MAX];
} report_t;

struct nsccl_liveness {
  int rank, nranks;
  int *fd;  /* per rank: watch connection, -1 for this rank and peers that left or died */
  int *pid; /* per rank, for messages */
  char (*host)[NSCCL_HOSTNAME_BYTES];
  report_t *report; /* per rank */
  int wake[2];      /* main -> watcher: 'g' stop gracefully, 'a' stop at once, 'e' send give_up */
  unsigned char give_up[GAVE_UP_HEADER + GAVE_UP_MAX];
  size_t give_up_len;
  pthread_t thread;
  int running;
  int heartbeat_ms, link_timeout_ms;
  atomic_int dead; /* first rank found gone, -1 while none; why, code, dead_ns are written before it */
  nscclResult_t code;
  int64_t dead_ns;
  char why[1100];
};

const char *nsccl_liveness_cause(const nsccl_liveness_t *lv) {
  return nsccl_liveness_dead_rank(lv) >= 0 ? lv->why : NULL;
}

int nsccl_liveness_dead_rank(const nsccl_liveness_t *lv) {
  return lv ? atomic_load_explicit(&((nsccl_liveness_t *)lv)->dead, memory_order_acquire) : -1;
}

nscclResult_t nsccl_liveness_check(void *ctx, int record) {
  nsccl_liveness_t *lv = ctx;
  if (!lv || atomic_load_explicit(&lv->dead, memory_order_acquire) < 0) return nscclSuccess;
  if (!record) return lv->code;
  NSCCL_FAIL(lv->code, "%s (noticed %.1f ms ago)", lv->why, (double)(nsccl_now_ns() - lv->dead_ns) / 1e6);
}

/* ---- the watcher thread ---- */

static void drop(nsccl_liveness_t *lv, int r) {
  if (lv->fd[r] >= 0) close(lv->fd[r]);
  lv->fd[r] = -1;
}

static void record(nsccl_liveness_t *lv, int r, nscclResult_t code, const char *what) {
  snprintf(lv->why, sizeof(lv->why), "peer rank %d on host %s (pid %d) %s", r, lv->host[r], lv->pid[r], what);
  lv->code = code;
  lv->dead_ns = nsccl_now_ns();
  atomic_store_explicit(&lv->dead, r, memory_order_release);
  NSCCL_WARN(NSCCL_SUBSYS_NET, "rank %d: %s", lv->rank, lv->why);
}

/* Record rank r as gone (the first one only) and stop watching it. err: errno of the failure, or
 * 0 for an orderly end-of-file without a goodbye. */
static void mark_dead(nsccl_liveness_t *lv, int r, int err) {
  drop(lv, r);
  if (atomic_load_explicit(&lv->dead, memory_order_relaxed) >= 0) return;
  char cause[240];
  if (err == 0)
    snprintf(cause, sizeof(cause), "is gone: it closed its connection without leaving (exited, killed or aborted)");
  else if (err == ECONNRESET || err == EPIPE)
    snprintf(cause, sizeof(cause), "is gone: it reset its connection (killed, or its host restarted)");
  else if (err == ETIMEDOUT)
    snprintf(cause, sizeof(cause),
             "is gone: it stopped acknowledging for %d ms (NSCCL_LINK_TIMEOUT_MS): the link to its host or the host "
             "is down",
             lv->link_timeout_ms);
  else
    snprintf(cause, sizeof(cause), "is gone: it became unreachable (%s)", strerror(err));
  record(lv, r, nscclRemoteError, cause);
}

/* A peer's GAVE_UP report, byte by byte into its buffer; complete: record its code and cause. */
static void take_report(nsccl_liveness_t *lv, int r, const char *p, size_t n) {
  report_t *rp = &lv->report[r];
  for (size_t i = 0; i < n && rp->got < sizeof(rp->buf); i++) rp->buf[rp->got++] = (unsigned char)p[i];
  if (rp->got < GAVE_UP_HEADER) return;
  uint16_t len;
  int32_t code;
  memcpy(&code, rp->buf + 1, sizeof(code));
  memcpy(&len, rp->buf + 5, sizeof(len));
  if (len > GAVE_UP_MAX) len = GAVE_UP_MAX;
  if (rp->got < GAVE_UP_HEADER + (size_t)len) return;
  drop(lv, r);
  if (atomic_load_explicit(&lv->dead, memory_order_relaxed) >= 0) return;
  char what[GAVE_UP_MAX + 64];
  snprintf(what, sizeof(what), "gave up: %.*s", (int)len, (const char *)rp->buf + GAVE_UP_HEADER);
  /* Only the codes a failed collective carries; anything else is a remote error. */
  nscclResult_t c = code == nscclTimeout || code == nscclInvalidUsage ? (nscclResult_t)code : nscclRemoteError;
  record(lv, r, c, what);
}

/* Read what peer r sent: heartbeats are dropped, a goodbye ends the watch quietly, end-of-file or
 * an error without one means the peer is gone. */
static void read_peer(nsccl_liveness_t *lv, int r, short revents) {
  char buf[64];
  for (;;) {
    ssize_t k = recv(lv->fd[r], buf, sizeof(buf), MSG_DONTWAIT);
    if (k > 0) {
      for (ssize_t i = 0; i < k; i++) {
        if (lv->report[r].got || buf[i] == BYTE_GAVE_UP) return take_report(lv, r, buf + i, (size_t)(k - i));
        if (buf[i] == BYTE_BYE) return drop(lv, r);
      }
      continue;
    }
    if (k == 0) return mark_dead(lv, r, 0);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return mark_dead(lv, r, errno);
  }
  if (revents & (POLLERR | POLLHUP)) {
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(lv->fd[r], SOL_SOCKET, SO_ERROR, &err, &el);
    mark_dead(lv, r, err ? err : ECONNRESET);
  }
}

static void send_all_peers(nsccl_liveness_t *lv, char byte) {
  for (int r = 0; r < lv->nranks; r++) {
    if (lv->fd[r] < 0) continue;
    ssize_t k = send(lv->fd[r], &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    /* A full buffer only means the peer is slow to read: its kernel still acknowledges. */
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && byte == BYTE_HEARTBEAT)
      mark_dead(lv, r, errno);
  }
}

static void *watch(void *arg) {
  nsccl_liveness_t *lv = arg;
  struct pollfd *pfd = calloc((size_t)lv->nranks + 1, sizeof(*pfd));
  int *who = calloc((size_t)lv->nranks + 1, sizeof(int));
  int64_t next_beat = nsccl_now_ns();
  char stop = 0;
  while (pfd && who && !stop) {
    int n = 0;
    pfd[n++] = (struct pollfd){lv->wake[0], POLLIN, 0};
    for (int r = 0; r < lv->nranks; r++)
      if (lv->fd[r] >= 0) who[n] = r, pfd[n++] = (struct pollfd){lv->fd[r], POLLIN, 0};
    int rc = poll(pfd, (nfds_t)n, nsccl_ms_left(next_beat));
    if (rc < 0 && errno != EINTR) break;
    if (rc > 0 && (pfd[0].revents & POLLIN) && read(lv->wake[0], &stop, 1) != 1) stop = 'a';
    for (int i = 1; rc > 0 && i < n; i++)
      if (pfd[i].revents) read_peer(lv, who[i], pfd[i].revents);
    if (!stop && nsccl_now_ns() >= next_beat) {
      send_all_peers(lv, BYTE_HEARTBEAT);
      next_beat = nsccl_now_ns() + (int64_t)lv->heartbeat_ms * 1000000;
    }
  }
  if (stop == 'g') send_all_peers(lv, BYTE_BYE);
  if (stop == 'e')
    for (int r = 0; r < lv->nranks; r++)
      if (lv->fd[r] >= 0 && send(lv->fd[r], lv->give_up, lv->give_up_len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        NSCCL_INFO(NSCCL_SUBSYS_NET, "peer watcher: could not tell rank %d why this rank gives up", r);
  free(pfd);
  free(who);
  return NULL;
}

/* ---- building the mesh ---- */

static void tune(nsccl_liveness_t *lv, int fd) {
  unsigned to = (unsigned)lv->link_timeout_ms;
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &to, sizeof(to));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Accept the connections of ranks above this one, dropping anything that does not present this
 * job's secret and an expected rank. */
static nscclResult_t accept_higher(nsccl_liveness_t *lv, int lfd, const uint8_t *secret, int64_t deadline,
                                   int timeout_ms) {
  int want = lv->nranks - 1 - lv->rank;
  while (want > 0) {
    int fd = -1;
    nscclResult_t rc = nsccl_socket_accept(lfd, deadline, &fd);
    if (rc != nscclSuccess) {
      int missing = -1;
      for (int r = lv->nranks - 1; r > lv->rank; r--)
        if (lv->fd[r] < 0) missing = r;
      NSCCL_FAIL(rc == nscclTimeout ? nscclTimeout : nscclSystemError,
                 "init: rank %d: peer rank %d did not open its watch connection within %d ms", lv->rank, missing,
                 timeout_ms);
    }
    watch_hello_t h;
    int64_t d = nsccl_deadline_ms(HELLO_WAIT_MS);
    int ok = nsccl_socket_recv_all(fd, &h, sizeof(h), d < deadline ? d : deadline) == nscclSuccess &&
             h.magic == WATCH_MAGIC && !memcmp(h.secret, secret, sizeof(h.secret)) && h.rank > lv->rank &&
             h.rank < lv->nranks && lv->fd[h.rank] < 0;
    if (!ok) {
      NSCCL_WARN(NSCCL_SUBSYS_INIT, "rank %d: dropped a watch connection that did not present this job's id", lv->rank);
      close(fd);
      continue;
    }
    tune(lv, fd);
    lv->fd[h.rank] = fd;
    want--;
  }
  return nscclSuccess;
}

static nscclResult_t connect_lower(nsccl_liveness_t *lv, const nsccl_sockaddr_t *addrs, const uint8_t *secret,
                                   int64_t deadline) {
  watch_hello_t h = {WATCH_MAGIC, lv->rank, {0}};
  memcpy(h.secret, secret, sizeof(h.secret));
  for (int r = 0; r < lv->rank; r++) {
    char s[80];
    nscclResult_t rc = nsccl_socket_connect(&addrs[r], deadline, &lv->fd[r]);
    if (rc == nscclSuccess) rc = nsccl_socket_send_all(lv->fd[r], &h, sizeof(h), deadline);
    if (rc != nscclSuccess)
      NSCCL_FAIL(rc == nscclTimeout ? nscclTimeout : nscclRemoteError,
                 "init: rank %d could not open its watch connection to rank %d at %s (host %s)", lv->rank, r,
                 nsccl_sockaddr_str(&addrs[r], s, sizeof(s)), lv->host[r]);
    tune(lv, lv->fd[r]);
  }
  return nscclSuccess;
}

static void lv_free(nsccl_liveness_t *lv) {
  for (int r = 0; lv->fd && r < lv->nranks; r++)
    if (lv->fd[r] >= 0) close(lv->fd[r]);
  if (lv->wake[0] >= 0) close(lv->wake[0]);
  if (lv->wake[1] >= 0) close(lv->wake[1]);
  free(lv->fd);
  free(lv->pid);
  free(lv->host);
  free(lv->report);
  free(lv);
}

static nscclResult_t build_mesh(nsccl_liveness_t *lv, nsccl_bootstrap_t *bs, int timeout_ms) {
  nsccl_sockaddr_t mine, *all = calloc((size_t)lv->nranks, sizeof(*all));
  if (!all) NSCCL_FAIL(nscclSystemError, "init: out of memory for %d watch addresses", lv->nranks);
  int lfd = -1;
  nscclResult_t rc = nsccl_bootstrap_local_address(bs, &mine);
  if (rc == nscclSuccess) rc = nsccl_socket_listen(&mine, &lfd);
  /* Every rank listens before any connects: the exchange is the barrier between the two. */
  if (rc == nscclSuccess) rc = nsccl_bootstrap_allgather(bs, &mine, all, sizeof(mine), timeout_ms);
  int64_t deadline = nsccl_deadline_ms(timeout_ms);
  if (rc == nscclSuccess) rc = connect_lower(lv, all, nsccl_bootstrap_secret(bs), deadline);
  if (rc == nscclSuccess) rc = accept_higher(lv, lfd, nsccl_bootstrap_secret(bs), deadline, timeout_ms);
  if (lfd >= 0) close(lfd);
  free(all);
  return rc;
}

nscclResult_t nsccl_liveness_start(nsccl_bootstrap_t *bs, int timeout_ms, int link_timeout_ms, nsccl_liveness_t **out) {
  *out = NULL;
  const char *env = getenv("NSCCL_PEER_WATCH");
  int n = nsccl_bootstrap_nranks(bs);
  if (n < 2 || (env && !strcmp(env, "0"))) return nscclSuccess;
  nsccl_liveness_t *lv = calloc(1, sizeof(*lv));
  if (!lv) NSCCL_FAIL(nscclSystemError, "init: out of memory for the peer watcher");
  lv->rank = nsccl_bootstrap_rank(bs);
  lv->nranks = n;
  lv->wake[0] = lv->wake[1] = -1;
  atomic_init(&lv->dead, -1);
  const char *lt = getenv("NSCCL_LINK_TIMEOUT_MS");
  if (link_timeout_ms <= 0 && lt && atoi(lt) > 0) link_timeout_ms = atoi(lt);
  lv->link_timeout_ms = link_timeout_ms > 0 ? link_timeout_ms : DEFAULT_LINK_TIMEOUT;
  if (timeout_ms > 0 && lv->link_timeout_ms > timeout_ms) lv->link_timeout_ms = timeout_ms;
  /* A few heartbeats per link timeout keep data in flight whenever the link is timed. */
  lv->heartbeat_ms = lv->link_timeout_ms / 4 > 250 ? 250 : lv->link_timeout_ms / 4;
  if (lv->heartbeat_ms < 10) lv->heartbeat_ms = 10;
  lv->fd = malloc((size_t)n * sizeof(int));
  lv->pid = calloc((size_t)n, sizeof(int));
  lv->host = calloc((size_t)n, sizeof(*lv->host));
  lv->report = calloc((size_t)n, sizeof(*lv->report));
  if (!lv->fd || !lv->pid || !lv->host || !lv->report || pipe2(lv->wake, O_CLOEXEC) != 0) {
    if (lv->fd)
      for (int r = 0; r < n; r++) lv->fd[r] = -1;
    lv_free(lv);
    NSCCL_FAIL(nscclSystemError, "init: cannot set up the peer watcher for %d ranks", n);
  }
  for (int r = 0; r < n; r++) {
    lv->fd[r] = -1;
    lv->pid[r] = nsccl_bootstrap_pid(bs, r);
    snprintf(lv->host[r], sizeof(lv->host[r]), "%s", nsccl_bootstrap_hostname(bs, r));
  }
  nscclResult_t rc = build_mesh(lv, bs, timeout_ms);
  if (rc == nscclSuccess) {
    /* Signals stay with the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    lv->running = pthread_create(&lv->thread, NULL, watch, lv) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!lv->running) {
      lv_free(lv);
      NSCCL_FAIL(nscclSystemError, "init: cannot start the peer watcher thread");
    }
  }
  if (rc != nscclSuccess) {
    lv_free(lv);
    return rc;
  }
  NSCCL_INFO(NSCCL_SUBSYS_INIT, "peer watcher: %d connections, link timeout %d ms, heartbeat %d ms", n - 1,
             lv->link_timeout_ms, lv->heartbeat_ms);
  *out = lv;
  return nscclSuccess;
}

void nsccl_liveness_stop(nsccl_liveness_t *lv, int graceful, nscclResult_t code, const char *reason) {
  if (!lv) return;
  if (lv->running) {
    char c = graceful ? 'g' : reason ? 'e' : 'a';
    if (c == 'e') {
      size_t len = strlen(reason) > GAVE_UP_MAX ? GAVE_UP_MAX : strlen(reason);
      uint16_t l16 = (uint16_t)len;
      int32_t c32 = (int32_t)code;
      lv->give_up[0] = BYTE_GAVE_UP;
      memcpy(lv->give_up + 1, &c32, sizeof(c32));
      memcpy(lv->give_up + 5, &l16, sizeof(l16));
      memcpy(lv->give_up + GAVE_UP_HEADER, reason, len);
      lv->give_up_len = GAVE_UP_HEADER + len; /* written before the wake-up, read by the thread after it */
    }
    if (write(lv->wake[1], &c, 1) != 1) NSCCL_WARN(NSCCL_SUBSYS_NET, "peer watcher: cannot wake the thread");
    pthread_join(lv->thread, NULL);
  }
  lv_free(lv);
}
