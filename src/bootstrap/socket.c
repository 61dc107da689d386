/* TCP helpers for the bootstrap (see socket.h). Sockets stay in blocking mode; every wait goes
 * through poll() with the time left before the caller's deadline, so nothing blocks forever. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "bootstrap/socket.h"

const char *nsccl_sockaddr_str(const nsccl_sockaddr_t *a, char *buf, size_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a->u.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof(host));
    snprintf(buf, len, "%s:%u", host, ntohs(a->u.in4.sin_port));
  } else if (a->u.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof(host));
    snprintf(buf, len, "[%s]:%u", host, ntohs(a->u.in6.sin6_port));
  } else {
    snprintf(buf, len, "(no address)");
  }
  return buf;
}

/* Does interface `name` pass the NSCCL_SOCKET_IFNAME filter `spec`? */
static int ifname_matches(const char *spec, const char *name) {
  int exclude = 0, exact = 0;
  if (*spec == '^') exclude = 1, spec++;
  if (*spec == '=') exact = 1, spec++;
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", spec);
  int hit = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (exact ? !strcmp(name, tok) : !strncmp(name, tok, strlen(tok))) hit = 1;
  }
  return exclude ? !hit : hit;
}

static int usable_family(const struct ifaddrs *ifa) {
  if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP)) return 0;
  if (ifa->ifa_addr->sa_family == AF_INET) return 1;
  if (ifa->ifa_addr->sa_family == AF_INET6) {
    /* Link-local addresses need a scope id the peers cannot guess. */
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ifa->ifa_addr;
    return !IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr);
  }
  return 0;
}

static void set_from_ifa(nsccl_sockaddr_t *out, const struct ifaddrs *ifa) {
  memset(out, 0, sizeof(*out));
  if (ifa->ifa_addr->sa_family == AF_INET) {
    memcpy(&out->u.in4, ifa->ifa_addr, sizeof(struct sockaddr_in));
    out->u.in4.sin_port = 0;
    out->len = sizeof(struct sockaddr_in);
  } else {
    memcpy(&out->u.in6, ifa->ifa_addr, sizeof(struct sockaddr_in6));
    out->u.in6.sin6_port = 0;
    out->len = sizeof(struct sockaddr_in6);
  }
}

nscclResult_t nsccl_socket_pick_address(nsccl_sockaddr_t *out, char *ifname, size_t ifname_len) {
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list) != 0) NSCCL_FAIL(nscclSystemError, "getifaddrs failed: %s", strerror(errno));
  const char *spec = getenv("NSCCL_SOCKET_IFNAME");
  if (spec && !*spec) spec = NULL;
  const struct ifaddrs *best = NULL;
  /* Two passes: IPv4 first (what most clusters route), then IPv6. */
  for (int pass = 0; pass < 2 && !best; pass++) {
    int want = pass == 0 ? AF_INET : AF_INET6;
    for (const struct ifaddrs *ifa = list; ifa && !best; ifa = ifa->ifa_next) {
      if (!usable_family(ifa) || ifa->ifa_addr->sa_family != want) continue;
      if (spec ? ifname_matches(spec, ifa->ifa_name)
               : !(ifa->ifa_flags & IFF_LOOPBACK) && strncmp(ifa->ifa_name, "docker", 6) != 0)
        best = ifa;
    }
  }
  if (!best && !spec) /* nothing but loopback: a single-host run */
    for (const struct ifaddrs *ifa = list; ifa && !best; ifa = ifa->ifa_next)
      if (usable_family(ifa) && ifa->ifa_addr->sa_family == AF_INET) best = ifa;
  if (!best) {
    char avail[512] = "";
    size_t used = 0;
    for (const struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
      if (!usable_family(ifa)) continue;
      nsccl_sockaddr_t a;
      char s[80], host[INET6_ADDRSTRLEN];
      set_from_ifa(&a, ifa);
      nsccl_sockaddr_str(&a, s, sizeof(s));
      snprintf(host, sizeof(host), "%s", s);
      char *colon = strrchr(host, ':'); /* drop the ":0" port */
      if (colon) *colon = '\0';
      if (used < sizeof(avail))
        used +=
            (size_t)snprintf(avail + used, sizeof(avail) - used, "%s%s (%s)", used ? ", " : "", ifa->ifa_name, host);
    }
    freeifaddrs(list);
    if (spec)
      NSCCL_FAIL(nscclInvalidArgument,
                 "NSCCL_SOCKET_IFNAME='%s' matches no interface that is up with an IP address; available: %s", spec,
                 used ? avail : "none");
    NSCCL_FAIL(nscclSystemError, "no network interface with an IP address is up");
  }
  set_from_ifa(out, best);
  if (ifname) snprintf(ifname, ifname_len, "%s", best->ifa_name);
  freeifaddrs(list);
  return nscclSuccess;
}

nscclResult_t nsccl_socket_parse_hostport(const char *spec, nsccl_sockaddr_t *out) {
  char host[256];
  const char *port;
  if (!spec || !*spec) NSCCL_FAIL(nscclInvalidArgument, "NSCCL_COMM_ID is empty (expected host:port)");
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (!close || close[1] != ':') NSCCL_FAIL(nscclInvalidArgument, "NSCCL_COMM_ID='%s': expected [ipv6]:port", spec);
    snprintf(host, sizeof(host), "%.*s", (int)(close - spec - 1), spec + 1);
    port = close + 2;
  } else {
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) NSCCL_FAIL(nscclInvalidArgument, "NSCCL_COMM_ID='%s': expected host:port", spec);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    port = colon + 1;
  }
  char *end = NULL;
  long p = strtol(port, &end, 10);
  if (!*port || *end || p < 1 || p > 65535)
    NSCCL_FAIL(nscclInvalidArgument, "NSCCL_COMM_ID='%s': port '%s' is not a number in 1..65535", spec, port);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int gai = getaddrinfo(host, NULL, &hints, &res);
  if (gai != 0 || !res)
    NSCCL_FAIL(nscclInvalidArgument, "NSCCL_COMM_ID='%s': cannot resolve host '%s': %s", spec, host, gai_strerror(gai));
  memset(out, 0, sizeof(*out));
  memcpy(&out->u, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  if (out->u.sa.sa_family == AF_INET)
    out->u.in4.sin_port = htons((uint16_t)p);
  else
    out->u.in6.sin6_port = htons((uint16_t)p);
  freeaddrinfo(res);
  return nscclSuccess;
}

static void tune(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

nscclResult_t nsccl_socket_listen(nsccl_sockaddr_t *addr, int *fd) {
  char s[80];
  int lfd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) NSCCL_FAIL(nscclSystemError, "socket() for the bootstrap listener failed: %s", strerror(errno));
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(lfd, &addr->u.sa, addr->len) != 0) {
    int e = errno;
    close(lfd);
    NSCCL_FAIL(nscclSystemError, "bootstrap: cannot listen on %s: %s", nsccl_sockaddr_str(addr, s, sizeof(s)),
               strerror(e));
  }
  if (listen(lfd, 1024) != 0) {
    int e = errno;
    close(lfd);
    NSCCL_FAIL(nscclSystemError, "bootstrap: listen() failed: %s", strerror(e));
  }
  socklen_t len = sizeof(addr->u);
  getsockname(lfd, &addr->u.sa, &len);
  addr->len = len;
  *fd = lfd;
  return nscclSuccess;
}

nscclResult_t nsccl_socket_connect(const nsccl_sockaddr_t *addr, int64_t deadline, int *out) {
  char s[80];
  int last = 0;
  int64_t backoff_ms = 10;
  for (;;) {
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) NSCCL_FAIL(nscclSystemError, "socket() failed: %s", strerror(errno));
    int rc = connect(fd, &addr->u.sa, addr->len);
    if (rc != 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int left = nsccl_ms_left(deadline);
      rc = poll(&p, 1, left > 1000 ? 1000 : left);
      if (rc == 1) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        rc = err ? -1 : 0;
        errno = err;
      } else {
        rc = -1;
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      int flags = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      tune(fd);
      *out = fd;
      return nscclSuccess;
    }
    last = errno;
    close(fd);
    if (nsccl_now_ns() >= deadline) break;
    /* The root may not be listening yet (NSCCL_COMM_ID launches): retry with a growing pause. */
    int left = nsccl_ms_left(deadline);
    int pause = (int)(backoff_ms < left ? backoff_ms : left);
    struct timespec ts = {pause / 1000, (long)(pause % 1000) * 1000000};
    nanosleep(&ts, NULL);
    if (backoff_ms < 200) backoff_ms *= 2;
  }
  NSCCL_FAIL(nscclTimeout, "could not connect to %s before the deadline (last error: %s)",
             nsccl_sockaddr_str(addr, s, sizeof(s)), strerror(last));
}

nscclResult_t nsccl_socket_accept(int lfd, int64_t deadline, int *out) {
  for (;;) {
    struct pollfd p = {lfd, POLLIN, 0};
    int rc = poll(&p, 1, nsccl_ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return nscclSystemError;
    if (rc == 0) return nscclTimeout;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      return nscclSystemError;
    }
    tune(fd);
    *out = fd;
    return nscclSuccess;
  }
}

static nscclResult_t wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int rc = poll(&p, 1, nsccl_ms_left(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return nscclSystemError;
    if (rc == 0) return nscclTimeout;
    return nscclSuccess; /* readable, writable, or an error the next call reports */
  }
}

nscclResult_t nsccl_socket_send_all(int fd, const void *buf, size_t len, int64_t deadline) {
  const char *p = buf;
  while (len > 0) {
    nscclResult_t rc = wait_fd(fd, POLLOUT, deadline);
    if (rc != nscclSuccess) return rc;
    /* MSG_NOSIGNAL: a dead peer must give an error, not SIGPIPE the whole process. */
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return errno == EPIPE || errno == ECONNRESET ? nscclRemoteError : nscclSystemError;
    }
    p += n;
    len -= (size_t)n;
  }
  return nscclSuccess;
}

nscclResult_t nsccl_socket_recv_all(int fd, void *buf, size_t len, int64_t deadline) {
  char *p = buf;
  while (len > 0) {
    nscclResult_t rc = wait_fd(fd, POLLIN, deadline);
    if (rc != nscclSuccess) return rc;
    ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
    if (n == 0) return nscclRemoteError;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return errno == ECONNRESET ? nscclRemoteError : nscclSystemError;
    }
    p += n;
    len -= (size_t)n;
  }
  return nscclSuccess;
}
