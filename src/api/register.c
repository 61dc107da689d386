/* Registered buffers (NCCL 2.19's API): nscclMemAlloc / nscclMemFree give host memory same-host
 * peers can map (transport/shmem.h); nscclCommRegister / nscclCommDeregister record a buffer with
 * a communicator, whose transport then lets same-host receivers load messages from inside it
 * directly (docs/transport.md, "Registered buffers"). Registration is local to the calling rank:
 * ranks may register different buffers, or none. */
#include <stdlib.h>

#include "api/comm.h"
#include "base/check.h"
#include "transport/shmem.h"

/* A registration: the handle is this record, found again in its communicator's list, so a stale or
 * foreign handle is refused rather than read. */
struct nsccl_reg {
  struct nsccl_reg *next;
  void *buff;
  size_t size;
  uint64_t id; /* the transport's (0: nothing recorded there) */
};

nscclResult_t nscclMemAlloc(void **ptr, size_t size) { return nsccl_shmem_alloc(ptr, size); }

nscclResult_t nscclMemFree(void *ptr) { return nsccl_shmem_free(ptr); }

nscclResult_t nscclCommRegister(const nscclComm_t comm, void *buff, size_t size, void **handle) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommRegister"));
  if (!handle) NSCCL_FAIL(nscclInvalidArgument, "nscclCommRegister: handle is NULL");
  *handle = NULL;
  if (!buff || size == 0)
    NSCCL_FAIL(nscclInvalidArgument, "nscclCommRegister: %s", !buff ? "buff is NULL" : "size is 0");
  struct nsccl_reg *g = calloc(1, sizeof(*g));
  if (!g) NSCCL_FAIL(nscclSystemError, "nscclCommRegister: out of memory");
  g->buff = buff;
  g->size = size;
  pthread_mutex_lock(&comm->lock); /* collectives on streams use the transport meanwhile */
  nscclResult_t rc = nsccl_transport_register(comm->tp, buff, size, &g->id);
  if (rc == nscclSuccess) {
    g->next = comm->regs;
    comm->regs = g;
  }
  pthread_mutex_unlock(&comm->lock);
  if (rc != nscclSuccess) {
    free(g);
    return rc;
  }
  *handle = g;
  return nscclSuccess;
}

nscclResult_t nscclCommDeregister(const nscclComm_t comm, void *handle) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommDeregister"));
  pthread_mutex_lock(&comm->lock);
  struct nsccl_reg **pg = &comm->regs;
  while (*pg && *pg != handle) pg = &(*pg)->next;
  struct nsccl_reg *g = *pg;
  if (g) {
    *pg = g->next;
    nsccl_transport_deregister(comm->tp, g->id);
  }
  pthread_mutex_unlock(&comm->lock);
  if (!g)
    NSCCL_FAIL(nscclInvalidArgument, "nscclCommDeregister: handle %p is not a registration of this communicator",
               handle);
  free(g);
  return nscclSuccess;
}

void nsccl_comm_free_registrations(struct nscclComm *c) {
  while (c->regs) {
    struct nsccl_reg *g = c->regs;
    c->regs = g->next;
    free(g); /* the transport, closed already, released its side */
  }
}
