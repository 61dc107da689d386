/* The rendezvous and the out-of-band star.
 *
 * Init: rank 0 accepts connections on its listener; every other rank connects (retrying until the
 * deadline, since rank 0 may start later), sends a hello {magic, secret, rank, nranks, host id,
 * host name}. Rank 0 checks the secret (a stranger is dropped), the rank (in range, not twice) and
 * nranks (equal everywhere), then sends every rank the table of hosts. If a rank never arrives,
 * rank 0 fails with nscclTimeout naming the missing ranks and tells the ranks that did arrive.
 *
 * After init each rank keeps its connection to rank 0. Every later message is a frame
 * {magic, kind, bytes} + payload; kind ERROR carries a code and a text that rank 0 forwards when a
 * collective operation of the star fails, so every rank reports the same cause. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "bootstrap/bootstrap.h"
#include "bootstrap/wire.h"

/* A connection that has not presented a full hello this long after accept() is dropped, so a silent
 * stranger cannot hold up the rendezvous; at most MAX_PENDING such connections are read at once
 * (further ones wait in the listen backlog, where the real ranks' hellos wait too). */
#define HELLO_TIMEOUT_MS 2000
#define MAX_PENDING      64

typedef nsccl_hello_t hello_t;
typedef nsccl_frame_t frame_t;
typedef nsccl_host_entry_t host_entry_t;
#define FRAME_MAGIC NSCCL_FRAME_MAGIC
#define FRAME_DATA  NSCCL_FRAME_DATA
#define FRAME_ERROR NSCCL_FRAME_ERROR

struct nsccl_bootstrap {
  int rank, nranks, nhosts;
  int *fds; /* rank 0: connection to every rank (fds[0] unused); others: fds[0] is rank 0 */
  int *host_of_rank;
  host_entry_t *table;
  nsccl_sockaddr_t root;
  uint8_t secret[16]; /* the job's secret: later meshes (liveness.c) authenticate with it too */
};

int nsccl_bootstrap_nhosts(const nsccl_bootstrap_t *bs) { return bs->nhosts; }
int nsccl_bootstrap_rank(const nsccl_bootstrap_t *bs) { return bs->rank; }
int nsccl_bootstrap_nranks(const nsccl_bootstrap_t *bs) { return bs->nranks; }
int nsccl_bootstrap_pid(const nsccl_bootstrap_t *bs, int rank) {
  return rank >= 0 && rank < bs->nranks ? bs->table[rank].pid : 0;
}
const uint8_t *nsccl_bootstrap_secret(const nsccl_bootstrap_t *bs) { return bs->secret; }

/* The address this rank's end of the star has: the interface that reached (or was reached by)
 * rank 0, so the one other ranks can reach it on. */
nscclResult_t nsccl_bootstrap_local_address(const nsccl_bootstrap_t *bs, nsccl_sockaddr_t *out) {
  int fd = bs->rank == 0 ? (bs->nranks > 1 ? bs->fds[1] : -1) : bs->fds[0];
  memset(out, 0, sizeof(*out));
  socklen_t len = sizeof(out->u);
  if (fd < 0 || getsockname(fd, &out->u.sa, &len) != 0)
    NSCCL_FAIL(nscclSystemError, "bootstrap: rank %d cannot read the address of its connection to rank 0: %s", bs->rank,
               fd < 0 ? "no connection" : strerror(errno));
  out->len = len;
  if (out->u.sa.sa_family == AF_INET)
    out->u.in4.sin_port = 0;
  else if (out->u.sa.sa_family == AF_INET6)
    out->u.in6.sin6_port = 0;
  return nscclSuccess;
}
const int *nsccl_bootstrap_host_of_rank(const nsccl_bootstrap_t *bs) { return bs->host_of_rank; }
const char *nsccl_bootstrap_hostname(const nsccl_bootstrap_t *bs, int rank) {
  return rank >= 0 && rank < bs->nranks ? bs->table[rank].hostname : "?";
}

void nsccl_bootstrap_close(nsccl_bootstrap_t *bs) {
  if (!bs) return;
  for (int r = 0; bs->fds && r < bs->nranks; r++)
    if (bs->fds[r] >= 0) close(bs->fds[r]);
  free(bs->fds);
  free(bs->host_of_rank);
  free(bs->table);
  free(bs);
}

static const char *io_reason(nscclResult_t rc) {
  return rc == nscclTimeout ? "timed out" : rc == nscclRemoteError ? "connection closed" : "socket error";
}

/* Rank 0: tell rank r what went wrong (best effort, short deadline: it may be gone). */
static void send_error(int fd, nscclResult_t code, const char *msg) {
  if (fd < 0) return;
  size_t len = strlen(msg) + 1;
  if (len > NSCCL_WIRE_ERROR_MAX) len = NSCCL_WIRE_ERROR_MAX; /* the receiver refuses longer reports */
  frame_t f = {FRAME_MAGIC, FRAME_ERROR, sizeof(int32_t) + len};
  int32_t c = (int32_t)code;
  int64_t deadline = nsccl_deadline_ms(100);
  if (nsccl_socket_send_all(fd, &f, sizeof(f), deadline) == nscclSuccess &&
      nsccl_socket_send_all(fd, &c, sizeof(c), deadline) == nscclSuccess)
    nsccl_socket_send_all(fd, msg, len, deadline);
}

/* Rank 0 fails: forward the message to every connected rank, then record it here. */
static nscclResult_t root_fail(nsccl_bootstrap_t *bs, nscclResult_t code, const char *msg) {
  for (int r = 1; r < bs->nranks; r++) send_error(bs->fds[r], code, msg);
  NSCCL_FAIL(code, "%s", msg);
}

/* Non-root: read a frame header from rank 0; an ERROR frame becomes this rank's error. */
static nscclResult_t recv_frame(nsccl_bootstrap_t *bs, uint64_t want_bytes, int64_t deadline, const char *what,
                                int timeout_ms) {
  frame_t f;
  nscclResult_t rc = nsccl_socket_recv_all(bs->fds[0], &f, sizeof(f), deadline);
  if (rc == nscclTimeout)
    NSCCL_FAIL(nscclTimeout, "bootstrap %s: rank %d heard nothing from rank 0 within %d ms", what, bs->rank,
               timeout_ms);
  if (rc != nscclSuccess)
    NSCCL_FAIL(nscclRemoteError, "bootstrap %s: rank %d lost its connection to rank 0 (%s)", what, bs->rank,
               io_reason(rc));
  char why[160];
  if (nsccl_wire_parse_frame(&f, sizeof(f), want_bytes, &f, why, sizeof(why)) != NSCCL_WIRE_OK)
    NSCCL_FAIL(nscclRemoteError, "bootstrap %s: rank 0 sent a malformed message: %s", what, why);
  if (f.kind == FRAME_ERROR) {
    /* bytes is bounded by the parser (at most 4 + NSCCL_WIRE_ERROR_MAX). */
    char payload[sizeof(int32_t) + NSCCL_WIRE_ERROR_MAX], msg[768];
    nscclResult_t code = nscclRemoteError;
    size_t len = (size_t)f.bytes;
    if (nsccl_socket_recv_all(bs->fds[0], payload, len, deadline) != nscclSuccess) len = 0;
    nsccl_wire_parse_error(payload, len, &code, msg, sizeof(msg));
    NSCCL_FAIL(code, "bootstrap %s: rank 0 reports: %s", what, msg);
  }
  return nscclSuccess;
}

/* Append "a, b, c" of ranks with missing[r] set to buf. */
static void list_ranks(char *buf, size_t len, const unsigned char *missing, int nranks) {
  size_t used = 0;
  int shown = 0;
  buf[0] = '\0';
  for (int r = 0; r < nranks && used < len; r++) {
    if (!missing[r]) continue;
    if (shown == 16) {
      snprintf(buf + used, len - used, ", ...");
      break;
    }
    used += (size_t)snprintf(buf + used, len - used, "%s%d", shown ? ", " : "", r);
    shown++;
  }
}

/* A connection accepted by rank 0 that has not yet presented a whole hello. */
typedef struct {
  int fd;
  size_t got;
  int64_t deadline;
  char peer[80];
  hello_t hello;
} pending_t;

/* Rank 0: a well-formed hello with this job's secret. A rank out of range, a rank given twice or a
 * different nranks come from a process of this job that was started wrongly: the whole job fails
 * with the same message (a stranger could not have presented the secret). */
static nscclResult_t admit(nsccl_bootstrap_t *bs, pending_t *c, hello_t *hellos, unsigned char *missing, int *arrived,
                           char *msg, size_t msg_len) {
  hello_t *h = &c->hello;
  const char *bad = NULL;
  if (h->nranks != bs->nranks)
    bad = "a different nranks";
  else if (h->rank <= 0 || h->rank >= bs->nranks)
    bad = "a rank out of range";
  else if (!missing[h->rank])
    bad = "a rank that already joined";
  if (bad) {
    snprintf(msg, msg_len,
             "init: a process on %s (pid %d) joined with rank %d and nranks %d: %s (rank 0 has "
             "nranks %d); every rank must pass the same nranks and a distinct rank",
             h->hostname, (int)h->pid, (int)h->rank, (int)h->nranks, bad, bs->nranks);
    send_error(c->fd, nscclInvalidUsage, msg);
    close(c->fd);
    return root_fail(bs, nscclInvalidUsage, msg);
  }
  bs->fds[h->rank] = c->fd;
  hellos[h->rank] = *h;
  missing[h->rank] = 0;
  (*arrived)++;
  return nscclSuccess;
}

static nscclResult_t root_rendezvous(nsccl_bootstrap_t *bs, const nsccl_id_info_t *info, const hello_t *mine,
                                     int64_t deadline, int timeout_ms) {
  int lfd = -1;
  NSCCL_CHECK(nsccl_bootstrap_take_listener(info, &lfd));
  hello_t *hellos = calloc((size_t)bs->nranks, sizeof(hello_t));
  unsigned char *missing = calloc((size_t)bs->nranks, 1);
  if (!hellos || !missing) {
    free(hellos);
    free(missing);
    close(lfd);
    NSCCL_FAIL(nscclSystemError, "bootstrap: out of memory");
  }
  hellos[0] = *mine;
  for (int r = 1; r < bs->nranks; r++) missing[r] = 1;
  int arrived = 1;
  char msg[768], s[80];
  nscclResult_t rc = nscclSuccess;
  pending_t pend[MAX_PENDING];
  int npend = 0, dropped = 0;
  /* The listener is only polled; accepting without blocking copes with a connection that was reset
   * between poll() and accept(). */
  fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
  while (arrived < bs->nranks) {
    struct pollfd pfd[1 + MAX_PENDING];
    int64_t wake = deadline;
    for (int i = 0; i < npend; i++) {
      pfd[i] = (struct pollfd){pend[i].fd, POLLIN, 0};
      if (pend[i].deadline < wake) wake = pend[i].deadline;
    }
    int np = npend;
    if (npend < MAX_PENDING) pfd[np++] = (struct pollfd){lfd, POLLIN, 0};
    int prc = poll(pfd, (nfds_t)np, nsccl_ms_left(wake));
    if (prc < 0 && errno != EINTR) {
      rc = root_fail(bs, nscclSystemError, "bootstrap: poll() failed at rank 0");
      break;
    }
    int64_t now = nsccl_now_ns();
    /* Read what each pending connection sent; walk backwards so dropping one keeps the indices of
     * those not yet visited. */
    for (int i = npend - 1; i >= 0 && rc == nscclSuccess; i--) {
      pending_t *c = &pend[i];
      const char *why = NULL;
      char reason[200];
      nsccl_wire_status_t st = NSCCL_WIRE_MORE;
      if (prc > 0 && pfd[i].revents) {
        ssize_t k = recv(c->fd, (char *)&c->hello + c->got, sizeof(c->hello) - c->got, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
          snprintf(reason, sizeof(reason), "closed the connection after %zu of %zu bytes of a hello", c->got,
                   sizeof(c->hello));
          why = reason;
        } else if (k > 0) {
          c->got += (size_t)k;
          st = nsccl_wire_parse_hello(&c->hello, c->got, info->secret, &c->hello, reason, sizeof(reason));
          if (st == NSCCL_WIRE_BAD) why = reason;
        }
      }
      if (!why && st == NSCCL_WIRE_MORE && now >= c->deadline) {
        snprintf(reason, sizeof(reason), "sent %zu of %zu bytes of a hello within %d ms", c->got, sizeof(c->hello),
                 HELLO_TIMEOUT_MS);
        why = reason;
      }
      if (why || st == NSCCL_WIRE_OK) {
        pending_t done = *c;
        *c = pend[--npend];
        if (why) {
          /* A flood of strangers must not flood the log: the first few are named, the rest counted. */
          if (++dropped <= 8)
            NSCCL_WARN(NSCCL_SUBSYS_INIT, "bootstrap: rank 0 dropped a connection from %s: %s", done.peer, why);
          close(done.fd);
        } else {
          rc = admit(bs, &done, hellos, missing, &arrived, msg, sizeof(msg));
        }
      }
    }
    if (rc != nscclSuccess) break;
    if (npend < MAX_PENDING && prc > 0 && (pfd[np - 1].revents & POLLIN) && pfd[np - 1].fd == lfd) {
      /* Take every waiting connection there is room for. */
      while (npend < MAX_PENDING) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            NSCCL_WARN(NSCCL_SUBSYS_INIT, "bootstrap: accept() at rank 0 failed: %s", strerror(errno));
          break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pending_t *c = &pend[npend++];
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        int64_t d = nsccl_deadline_ms(HELLO_TIMEOUT_MS);
        c->deadline = d < deadline ? d : deadline;
        nsccl_sockaddr_t a = {0};
        if (plen <= sizeof(a.u)) memcpy(&a.u, &peer, plen), a.len = plen;
        nsccl_sockaddr_str(&a, c->peer, sizeof(c->peer));
      }
    }
    if (arrived < bs->nranks && nsccl_now_ns() >= deadline) {
      char list[256];
      list_ranks(list, sizeof(list), missing, bs->nranks);
      snprintf(msg, sizeof(msg), "init timed out after %d ms: rank(s) %s of %d never arrived at rank 0 (%s)",
               timeout_ms, list, bs->nranks, nsccl_sockaddr_str(&bs->root, s, sizeof(s)));
      rc = root_fail(bs, nscclTimeout, msg);
      break;
    }
  }
  for (int i = 0; i < npend; i++) close(pend[i].fd);
  if (dropped > 8)
    NSCCL_WARN(NSCCL_SUBSYS_INIT, "bootstrap: rank 0 dropped %d connections that did not present this job's id",
               dropped);
  close(lfd);
  if (rc == nscclSuccess) {
    /* Host indices in order of each host's lowest rank. */
    bs->nhosts = 0;
    for (int r = 0; r < bs->nranks; r++) {
      int host = -1;
      for (int q = 0; q < r && host < 0; q++)
        if (!strcmp(hellos[q].hostid, hellos[r].hostid)) host = bs->table[q].host;
      bs->table[r].host = host >= 0 ? host : bs->nhosts++;
      bs->table[r].pid = hellos[r].pid;
      memcpy(bs->table[r].hostname, hellos[r].hostname, NSCCL_HOSTNAME_BYTES);
    }
    size_t bytes = (size_t)bs->nranks * sizeof(host_entry_t);
    frame_t f = {FRAME_MAGIC, FRAME_DATA, bytes};
    for (int r = 1; r < bs->nranks && rc == nscclSuccess; r++) {
      rc = nsccl_socket_send_all(bs->fds[r], &f, sizeof(f), deadline);
      if (rc == nscclSuccess) rc = nsccl_socket_send_all(bs->fds[r], bs->table, bytes, deadline);
      if (rc != nscclSuccess) {
        snprintf(msg, sizeof(msg), "init: rank 0 could not send the host table to rank %d (%s)", r, io_reason(rc));
        rc = root_fail(bs, nscclRemoteError, msg);
      }
    }
  }
  free(hellos);
  free(missing);
  return rc;
}

static nscclResult_t join_rendezvous(nsccl_bootstrap_t *bs, const hello_t *mine, int64_t deadline, int timeout_ms) {
  char s[80];
  nscclResult_t rc = nsccl_socket_connect(&bs->root, deadline, &bs->fds[0]);
  if (rc != nscclSuccess)
    NSCCL_FAIL(rc, "init: rank %d could not reach rank 0 at %s within %d ms: %s", bs->rank,
               nsccl_sockaddr_str(&bs->root, s, sizeof(s)), timeout_ms, nsccl_error_detail());
  rc = nsccl_socket_send_all(bs->fds[0], mine, sizeof(*mine), deadline);
  if (rc != nscclSuccess)
    NSCCL_FAIL(nscclRemoteError, "init: rank %d could not send its hello to rank 0 (%s)", bs->rank, io_reason(rc));
  size_t bytes = (size_t)bs->nranks * sizeof(host_entry_t);
  NSCCL_CHECK(recv_frame(bs, bytes, deadline, "init (waiting for all ranks to arrive)", timeout_ms));
  rc = nsccl_socket_recv_all(bs->fds[0], bs->table, bytes, deadline);
  if (rc != nscclSuccess)
    NSCCL_FAIL(nscclRemoteError, "init: rank %d lost rank 0 while reading the host table (%s)", bs->rank,
               io_reason(rc));
  char why[160];
  if (nsccl_wire_check_host_table(bs->table, bs->nranks, &bs->nhosts, why, sizeof(why)) != NSCCL_WIRE_OK)
    NSCCL_FAIL(nscclRemoteError, "init: rank %d got a malformed host table from rank 0: %s", bs->rank, why);
  return nscclSuccess;
}

nscclResult_t nsccl_bootstrap_init(const nscclUniqueId *id, int rank, int nranks, int timeout_ms,
                                   nsccl_bootstrap_t **out) {
  nsccl_id_info_t info;
  NSCCL_CHECK(nsccl_bootstrap_decode_id(id, &info));
  nsccl_bootstrap_t *bs = calloc(1, sizeof(*bs));
  if (!bs) NSCCL_FAIL(nscclSystemError, "bootstrap: out of memory");
  bs->rank = rank;
  bs->nranks = nranks;
  bs->root = info.root;
  memcpy(bs->secret, info.secret, sizeof(bs->secret));
  bs->fds = malloc((size_t)nranks * sizeof(int));
  bs->host_of_rank = calloc((size_t)nranks, sizeof(int));
  bs->table = calloc((size_t)nranks, sizeof(host_entry_t));
  if (!bs->fds || !bs->host_of_rank || !bs->table) {
    nsccl_bootstrap_close(bs);
    NSCCL_FAIL(nscclSystemError, "bootstrap: out of memory for %d ranks", nranks);
  }
  for (int r = 0; r < nranks; r++) bs->fds[r] = -1;
  hello_t mine;
  char hostid[NSCCL_HOSTID_BYTES], hostname[NSCCL_HOSTNAME_BYTES];
  nsccl_bootstrap_host_identity(hostid, hostname);
  nsccl_wire_make_hello(&mine, info.secret, rank, nranks, (int)getpid(), hostid, hostname);
  int64_t deadline = nsccl_deadline_ms(timeout_ms);
  nscclResult_t rc = rank == 0 ? root_rendezvous(bs, &info, &mine, deadline, timeout_ms)
                               : join_rendezvous(bs, &mine, deadline, timeout_ms);
  if (rc != nscclSuccess) {
    nsccl_bootstrap_close(bs);
    return rc;
  }
  for (int r = 0; r < nranks; r++) bs->host_of_rank[r] = bs->table[r].host;
  *out = bs;
  return nscclSuccess;
}

/* Rank 0: receive `bytes` from every other rank into all[r * bytes], in whatever order they come. */
static nscclResult_t root_gather(nsccl_bootstrap_t *bs, char *all, size_t bytes, int timeout_ms) {
  int n = bs->nranks;
  int64_t deadline = nsccl_deadline_ms(timeout_ms);
  size_t *got = calloc((size_t)n, sizeof(size_t)); /* header bytes, then payload bytes */
  struct pollfd *pfd = calloc((size_t)n, sizeof(struct pollfd));
  frame_t *hdr = calloc((size_t)n, sizeof(frame_t));
  unsigned char *pending = calloc((size_t)n, 1);
  nscclResult_t rc = nscclSuccess;
  char msg[768];
  if (!got || !pfd || !hdr || !pending) {
    rc = nscclSystemError;
    snprintf(msg, sizeof(msg), "bootstrap: out of memory");
  }
  int left = n - 1;
  for (int r = 1; r < n; r++) pending[r] = 1;
  while (rc == nscclSuccess && left > 0) {
    int np = 0;
    for (int r = 1; r < n; r++)
      if (pending[r]) pfd[np++] = (struct pollfd){bs->fds[r], POLLIN, 0};
    int prc = poll(pfd, (nfds_t)np, nsccl_ms_left(deadline));
    if (prc < 0 && errno == EINTR) continue;
    if (prc == 0) {
      char list[256];
      list_ranks(list, sizeof(list), pending, n);
      snprintf(msg, sizeof(msg), "out-of-band exchange timed out after %d ms: rank(s) %s never sent their part",
               timeout_ms, list);
      rc = nscclTimeout;
      break;
    }
    for (int i = 0, r = 1; r < n && rc == nscclSuccess; r++) {
      if (!pending[r]) continue;
      struct pollfd *p = &pfd[i++];
      if (!p->revents) continue;
      /* Read what is there without blocking: header first, then the payload. */
      size_t hsz = sizeof(frame_t), need = hsz + bytes;
      char *dst = got[r] < hsz ? (char *)&hdr[r] + got[r] : all + (size_t)r * bytes + (got[r] - hsz);
      size_t want = got[r] < hsz ? hsz - got[r] : need - got[r];
      ssize_t k = recv(bs->fds[r], dst, want, MSG_DONTWAIT);
      if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (k <= 0) {
        snprintf(msg, sizeof(msg), "rank %d closed its out-of-band connection (the process exited or aborted)", r);
        rc = nscclRemoteError;
        break;
      }
      got[r] += (size_t)k;
      char why[160] = "an error report where data was expected";
      if (got[r] == hsz && (nsccl_wire_parse_frame(&hdr[r], hsz, bytes, &hdr[r], why, sizeof(why)) != NSCCL_WIRE_OK ||
                            hdr[r].kind != FRAME_DATA)) {
        snprintf(msg, sizeof(msg), "rank %d sent a mismatched out-of-band message: %s", r, why);
        rc = nscclInvalidUsage;
        break;
      }
      if (got[r] == need) pending[r] = 0, left--;
    }
  }
  free(got);
  free(pfd);
  free(hdr);
  free(pending);
  if (rc != nscclSuccess) return root_fail(bs, rc, msg);
  return nscclSuccess;
}

nscclResult_t nsccl_bootstrap_allgather(nsccl_bootstrap_t *bs, const void *mine, void *all, size_t bytes,
                                        int timeout_ms) {
  char *out = all;
  if (bs->rank == 0) {
    if (bytes) memmove(out, mine, bytes);
    if (bs->nranks == 1) return nscclSuccess;
    NSCCL_CHECK(root_gather(bs, out, bytes, timeout_ms));
    size_t total = (size_t)bs->nranks * bytes;
    frame_t f = {FRAME_MAGIC, FRAME_DATA, total};
    int64_t deadline = nsccl_deadline_ms(timeout_ms);
    for (int r = 1; r < bs->nranks; r++) {
      nscclResult_t rc = nsccl_socket_send_all(bs->fds[r], &f, sizeof(f), deadline);
      if (rc == nscclSuccess) rc = nsccl_socket_send_all(bs->fds[r], out, total, deadline);
      if (rc != nscclSuccess) {
        char msg[256];
        snprintf(msg, sizeof(msg), "out-of-band exchange: rank 0 could not reach rank %d (%s)", r, io_reason(rc));
        return root_fail(bs, rc == nscclTimeout ? nscclTimeout : nscclRemoteError, msg);
      }
    }
    return nscclSuccess;
  }
  int64_t deadline = nsccl_deadline_ms(timeout_ms);
  frame_t f = {FRAME_MAGIC, FRAME_DATA, bytes};
  nscclResult_t rc = nsccl_socket_send_all(bs->fds[0], &f, sizeof(f), deadline);
  if (rc == nscclSuccess && bytes) rc = nsccl_socket_send_all(bs->fds[0], mine, bytes, deadline);
  if (rc != nscclSuccess)
    NSCCL_FAIL(rc == nscclTimeout ? nscclTimeout : nscclRemoteError,
               "out-of-band exchange: rank %d could not send to rank 0 (%s)", bs->rank, io_reason(rc));
  size_t total = (size_t)bs->nranks * bytes;
  NSCCL_CHECK(recv_frame(bs, total, deadline, "exchange", timeout_ms));
  rc = nsccl_socket_recv_all(bs->fds[0], out, total, deadline);
  if (rc != nscclSuccess)
    NSCCL_FAIL(rc == nscclTimeout ? nscclTimeout : nscclRemoteError,
               "out-of-band exchange: rank %d lost rank 0 mid-message (%s)", bs->rank, io_reason(rc));
  return nscclSuccess;
}

nscclResult_t nsccl_bootstrap_barrier(nsccl_bootstrap_t *bs, int timeout_ms) {
  /* An allgather of nothing: nobody leaves before everyone arrived. */
  char dummy[1] = {0};
  return nsccl_bootstrap_allgather(bs, dummy, dummy, 0, timeout_ms);
}
