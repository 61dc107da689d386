/* Host memory that same-host peers can map (nscclMemAlloc / nscclMemFree; docs/transport.md,
 * "Registered buffers"). Each allocation is an anonymous memory file (memfd) mapped into this
 * process; a peer maps the same pages read-only by opening /proc/<pid>/fd/<fd>, so it can load a
 * registered buffer's bytes itself, with no copy by the owner and no system call per message.
 * Nothing is left behind in /dev/shm when a process dies. Process-wide and thread safe.
 * Internal to src/transport (and src/api/register.c). */
#ifndef NSCCL_TRANSPORT_SHMEM_H
#define NSCCL_TRANSPORT_SHMEM_H

#include <stddef.h>
#include <stdint.h>

#include "nsccl.h"

/* Where an address range lies: which allocation (gen is unique in this process, never reused), its
 * file descriptor, and the range's offset in it. */
typedef struct {
  uint64_t gen;
  int fd;
  size_t offset;     /* of the looked-up address from the allocation's start */
  size_t alloc_size; /* bytes of the whole allocation (a page multiple) */
} nsccl_shmem_where_t;

nscclResult_t nsccl_shmem_alloc(void **ptr, size_t size);
/* Free an allocation made by nsccl_shmem_alloc (ptr its start). While registrations still hold it
 * (nsccl_shmem_hold), the pages stay mapped until the last release. */
nscclResult_t nsccl_shmem_free(void *ptr);
/* If [p, p + len) lies inside one live allocation: take a reference on it (it stays mapped until
 * nsccl_shmem_release), fill *where, return 1. Else 0. */
int nsccl_shmem_hold(const void *p, size_t len, nsccl_shmem_where_t *where);
void nsccl_shmem_release(uint64_t gen);

/* Peer side: map allocation `gen` of process pid, read-only, from its descriptor fd. The name of
 * the file behind /proc/<pid>/fd/<fd> is checked against gen, so a descriptor number reused for
 * another file is refused. NULL (errno set) when it cannot be mapped. */
void *nsccl_shmem_map_peer(int pid, int fd, uint64_t gen, size_t *len);

#endif
