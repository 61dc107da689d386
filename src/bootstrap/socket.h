/* TCP helpers for the bootstrap: choosing the interface, listening, connecting with retries, and
 * moving whole messages before a deadline. The I/O helpers (send_all, recv_all, accept) return a
 * code without recording an error message: their callers know which rank was involved and say so. */
#ifndef NSCCL_BOOTSTRAP_SOCKET_H
#define NSCCL_BOOTSTRAP_SOCKET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nsccl.h"

typedef struct {
  socklen_t len; /* 0: unset */
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
} nsccl_sockaddr_t;

/* The address rank 0 listens on: the first interface matching NSCCL_SOCKET_IFNAME (a comma list of
 * name prefixes; "^a,b" excludes, "=name" matches exactly), else the first non-loopback interface
 * that is up, else loopback. Port 0. A value matching nothing is nscclInvalidArgument with the list
 * of available interfaces. ifname receives the chosen interface name. */
nscclResult_t nsccl_socket_pick_address(nsccl_sockaddr_t *out, char *ifname, size_t ifname_len);

/* Parse "host:port", "[v6addr]:port" (NSCCL_COMM_ID). */
nscclResult_t nsccl_socket_parse_hostport(const char *spec, nsccl_sockaddr_t *out);

/* "a.b.c.d:port" / "[v6]:port". */
const char *nsccl_sockaddr_str(const nsccl_sockaddr_t *a, char *buf, size_t len);

/* Bind and listen on addr (port 0 picks one); addr receives the bound address. */
nscclResult_t nsccl_socket_listen(nsccl_sockaddr_t *addr, int *fd);

/* Connect to addr, retrying refused/unreachable attempts until deadline. On failure records an error
 * naming the address and the last reason (nscclTimeout when the deadline passed). */
nscclResult_t nsccl_socket_connect(const nsccl_sockaddr_t *addr, int64_t deadline, int *fd);

/* Accept one connection before deadline: nscclTimeout when none came, silent. */
nscclResult_t nsccl_socket_accept(int lfd, int64_t deadline, int *fd);

/* Whole-buffer transfers. nscclTimeout on deadline, nscclRemoteError when the peer closed or reset
 * the connection, nscclSystemError otherwise. Silent (see above). */
nscclResult_t nsccl_socket_send_all(int fd, const void *buf, size_t len, int64_t deadline);
nscclResult_t nsccl_socket_recv_all(int fd, void *buf, size_t len, int64_t deadline);

#endif
