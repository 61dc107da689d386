/* The bootstrap: unique ids, the TCP rendezvous at rank 0, and an out-of-band star (every rank
 * keeps one TCP connection to rank 0) for small allgathers and barriers.
 *
 * The unique id (128 bytes) holds: magic, version, flags, rank 0's listening address, a random
 * 128-bit secret that every joining rank must present, and a checksum over all of it, so a garbage
 * id is refused before anything connects. Every wait has a deadline; a rank that never arrives
 * makes init fail with nscclTimeout naming it. */
#ifndef NSCCL_BOOTSTRAP_BOOTSTRAP_H
#define NSCCL_BOOTSTRAP_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "bootstrap/socket.h"
#include "nsccl.h"

#define NSCCL_HOSTID_BYTES   128
#define NSCCL_HOSTNAME_BYTES 64

typedef struct nsccl_bootstrap nsccl_bootstrap_t;

/* Decoded unique id. */
typedef struct {
  uint32_t flags; /* NSCCL_ID_FROM_ENV: made from NSCCL_COMM_ID; rank 0 binds the address at init */
  nsccl_sockaddr_t root;
  uint8_t secret[16];
} nsccl_id_info_t;
#define NSCCL_ID_FROM_ENV 1u

/* nscclGetUniqueId: honours NSCCL_COMM_ID, else listens on a fresh port of the interface chosen by
 * NSCCL_SOCKET_IFNAME (the listener is kept for rank 0's init in this process). */
nscclResult_t nsccl_bootstrap_unique_id(nscclUniqueId *id);
/* Check magic and checksum and decode. nscclInvalidArgument with the reason otherwise. */
nscclResult_t nsccl_bootstrap_decode_id(const nscclUniqueId *id, nsccl_id_info_t *info);
/* Rank 0's listening socket for info: the one nscclGetUniqueId opened in this process, or (for
 * NSCCL_COMM_ID ids) a new one bound to the address. Ownership passes to the caller. */
nscclResult_t nsccl_bootstrap_take_listener(const nsccl_id_info_t *info, int *fd);

/* The running kernel's boot id ("" when unreadable): ranks with equal ones share a machine's CPUs
 * even when they are different hosts to the network (namespaces, containers with their own names). */
void nsccl_bootstrap_boot_id(char *boot, size_t len);
/* This host's identity: NSCCL_HOSTID if set, else hostname + kernel boot id. */
void nsccl_bootstrap_host_identity(char id[NSCCL_HOSTID_BYTES], char name[NSCCL_HOSTNAME_BYTES]);

/* Rendezvous: every rank calls this with the same id and nranks. On success every rank knows every
 * rank's host (host index and name). */
nscclResult_t nsccl_bootstrap_init(const nscclUniqueId *id, int rank, int nranks, int timeout_ms,
                                   nsccl_bootstrap_t **out);
int nsccl_bootstrap_nhosts(const nsccl_bootstrap_t *bs);
int nsccl_bootstrap_rank(const nsccl_bootstrap_t *bs);
int nsccl_bootstrap_nranks(const nsccl_bootstrap_t *bs);
/* The pid rank reported in its hello (0 when out of range). */
int nsccl_bootstrap_pid(const nsccl_bootstrap_t *bs, int rank);
/* The job's 16-byte secret from the unique id. */
const uint8_t *nsccl_bootstrap_secret(const nsccl_bootstrap_t *bs);
/* This rank's local address on its connection with rank 0 (port 0): where peers can reach it. */
nscclResult_t nsccl_bootstrap_local_address(const nsccl_bootstrap_t *bs, nsccl_sockaddr_t *out);
/* host index of every rank: ranks with equal index share a host; indices are 0.. in order of the
 * lowest rank on each host. */
const int *nsccl_bootstrap_host_of_rank(const nsccl_bootstrap_t *bs);
const char *nsccl_bootstrap_hostname(const nsccl_bootstrap_t *bs, int rank);

/* all[r * bytes ..] receives rank r's `mine`. Fails within timeout_ms if a rank is gone or silent,
 * naming it. */
nscclResult_t nsccl_bootstrap_allgather(nsccl_bootstrap_t *bs, const void *mine, void *all, size_t bytes,
                                        int timeout_ms);
nscclResult_t nsccl_bootstrap_barrier(nsccl_bootstrap_t *bs, int timeout_ms);
/* Close every socket at once; never waits on peers. */
void nsccl_bootstrap_close(nsccl_bootstrap_t *bs);

#endif
