/* Unique ids: layout, checksum, the root listeners this process opened, and host identity.
 *
 * Layout of nscclUniqueId.internal (128 bytes, fields little-endian as the host writes them; ids
 * only travel between processes of one job):
 *   [0..4)    magic "NSID"        [4..8)   layout version   [8..12)  flags   [12..16) address length
 *   [16..44)  sockaddr_in/in6 of rank 0's listener
 *   [44..60)  secret: 128 random bits (from getrandom), presented by every joining rank
 *   [60..124) zero
 *   [124..128) FNV-1a checksum of bytes [0..124)
 * Ids made from NSCCL_COMM_ID have to be equal on every rank without communication, so their secret
 * is a hash of the address string: it then only guards against mixing up jobs, not against
 * intruders. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/check.h"
#include "base/log.h"
#include "bootstrap/bootstrap.h"

#define ID_MAGIC   0x4449534eu /* "NSID" */
#define ID_VERSION 1u

typedef struct {
  uint32_t magic, version, flags, addr_len;
  uint8_t addr[28];
  uint8_t secret[16];
  uint8_t zero[64];
  uint32_t checksum;
} id_layout_t;
_Static_assert(sizeof(id_layout_t) == NSCCL_UNIQUE_ID_BYTES, "unique id layout must fill 128 bytes");
_Static_assert(sizeof(struct sockaddr_in6) <= 28, "sockaddr_in6 must fit the id");

static uint32_t fnv1a(const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void encode(const nsccl_id_info_t *info, nscclUniqueId *id) {
  id_layout_t l;
  memset(&l, 0, sizeof(l));
  l.magic = ID_MAGIC;
  l.version = ID_VERSION;
  l.flags = info->flags;
  l.addr_len = info->root.len;
  memcpy(l.addr, &info->root.u, info->root.len);
  memcpy(l.secret, info->secret, sizeof(l.secret));
  l.checksum = fnv1a(&l, offsetof(id_layout_t, checksum));
  memcpy(id->internal, &l, sizeof(l));
}

nscclResult_t nsccl_bootstrap_decode_id(const nscclUniqueId *id, nsccl_id_info_t *info) {
  id_layout_t l;
  memcpy(&l, id->internal, sizeof(l));
  if (l.magic != ID_MAGIC)
    NSCCL_FAIL(nscclInvalidArgument, "commId is not a unique id made by nscclGetUniqueId (bad magic 0x%08x)", l.magic);
  if (l.checksum != fnv1a(&l, offsetof(id_layout_t, checksum)))
    NSCCL_FAIL(nscclInvalidArgument, "commId is corrupted (checksum mismatch): pass the id nscclGetUniqueId made, "
                                     "byte for byte");
  if (l.version != ID_VERSION)
    NSCCL_FAIL(nscclInvalidArgument, "commId has layout version %u, this library reads version %u", l.version,
               ID_VERSION);
  if (l.addr_len != sizeof(struct sockaddr_in) && l.addr_len != sizeof(struct sockaddr_in6))
    NSCCL_FAIL(nscclInvalidArgument, "commId holds an address of %u bytes, neither IPv4 nor IPv6", l.addr_len);
  memset(info, 0, sizeof(*info));
  info->flags = l.flags;
  info->root.len = l.addr_len;
  memcpy(&info->root.u, l.addr, l.addr_len);
  memcpy(info->secret, l.secret, sizeof(info->secret));
  return nscclSuccess;
}

/* Listeners opened by nscclGetUniqueId in this process, waiting for rank 0's init. */
typedef struct listener {
  uint8_t secret[16];
  int fd;
  struct listener *next;
} listener_t;
static pthread_mutex_t listeners_lock = PTHREAD_MUTEX_INITIALIZER;
static listener_t *listeners;

nscclResult_t nsccl_bootstrap_unique_id(nscclUniqueId *id) {
  nsccl_id_info_t info;
  memset(&info, 0, sizeof(info));
  const char *env = getenv("NSCCL_COMM_ID");
  if (env && *env) {
    NSCCL_CHECK(nsccl_socket_parse_hostport(env, &info.root));
    info.flags = NSCCL_ID_FROM_ENV;
    uint32_t h1 = fnv1a(env, strlen(env)), h2 = fnv1a(&h1, sizeof(h1));
    uint32_t words[4] = {h1, h2, h1 ^ 0x9e3779b9u, h2 ^ 0x7f4a7c15u};
    memcpy(info.secret, words, sizeof(words));
    encode(&info, id);
    return nscclSuccess;
  }
  char ifname[64], s[80];
  NSCCL_CHECK(nsccl_socket_pick_address(&info.root, ifname, sizeof(ifname)));
  size_t got = 0;
  while (got < sizeof(info.secret)) {
    ssize_t n = getrandom(info.secret + got, sizeof(info.secret) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) NSCCL_FAIL(nscclSystemError, "getrandom failed: %s", strerror(errno));
    got += (size_t)n;
  }
  listener_t *l = calloc(1, sizeof(*l));
  if (!l) NSCCL_FAIL(nscclSystemError, "nscclGetUniqueId: out of memory");
  nscclResult_t rc = nsccl_socket_listen(&info.root, &l->fd);
  if (rc != nscclSuccess) {
    free(l);
    return rc;
  }
  memcpy(l->secret, info.secret, sizeof(l->secret));
  pthread_mutex_lock(&listeners_lock);
  l->next = listeners;
  listeners = l;
  pthread_mutex_unlock(&listeners_lock);
  NSCCL_INFO(NSCCL_SUBSYS_INIT, "unique id: rank 0 listens on %s (%s)", nsccl_sockaddr_str(&info.root, s, sizeof(s)),
             ifname);
  encode(&info, id);
  return nscclSuccess;
}

nscclResult_t nsccl_bootstrap_take_listener(const nsccl_id_info_t *info, int *fd) {
  pthread_mutex_lock(&listeners_lock);
  for (listener_t **pp = &listeners; *pp; pp = &(*pp)->next) {
    if (memcmp((*pp)->secret, info->secret, sizeof(info->secret)) != 0) continue;
    listener_t *l = *pp;
    *pp = l->next;
    pthread_mutex_unlock(&listeners_lock);
    *fd = l->fd;
    free(l);
    return nscclSuccess;
  }
  pthread_mutex_unlock(&listeners_lock);
  if (info->flags & NSCCL_ID_FROM_ENV) {
    nsccl_sockaddr_t a = info->root;
    return nsccl_socket_listen(&a, fd);
  }
  NSCCL_FAIL(nscclInvalidUsage, "rank 0 must initialise in the process that called nscclGetUniqueId (its listening "
                                "socket is not in this process), and each id serves one communicator");
}

void nsccl_bootstrap_boot_id(char *boot, size_t len) {
  boot[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f) {
    if (!fgets(boot, (int)len, f)) boot[0] = '\0';
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
  }
}

void nsccl_bootstrap_host_identity(char id[NSCCL_HOSTID_BYTES], char name[NSCCL_HOSTNAME_BYTES]) {
  if (gethostname(name, NSCCL_HOSTNAME_BYTES) != 0) snprintf(name, NSCCL_HOSTNAME_BYTES, "unknown");
  name[NSCCL_HOSTNAME_BYTES - 1] = '\0';
  const char *env = getenv("NSCCL_HOSTID");
  if (env && *env) {
    snprintf(id, NSCCL_HOSTID_BYTES, "%s", env);
    return;
  }
  /* The boot id tells apart containers that share a hostname on different machines. */
  char boot[64];
  nsccl_bootstrap_boot_id(boot, sizeof(boot));
  snprintf(id, NSCCL_HOSTID_BYTES, "%s/%s", name, boot);
}
