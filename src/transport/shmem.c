/* Host memory same-host peers can map (see shmem.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/check.h"
#include "transport/shmem.h"

typedef struct shmem_alloc {
  struct shmem_alloc *next;
  unsigned char *base;
  size_t size;
  int fd;
  uint64_t gen;
  int refs;  /* registrations holding it */
  int freed; /* nsccl_shmem_free was called: unmap at the last release */
} shmem_alloc_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static shmem_alloc_t *allocs;
static uint64_t next_gen = 1;

#define NAME_FMT "nsccl-mem-%llu"

nscclResult_t nsccl_shmem_alloc(void **ptr, size_t size) {
  if (!ptr) NSCCL_FAIL(nscclInvalidArgument, "nscclMemAlloc: ptr is NULL");
  *ptr = NULL;
  if (size == 0) NSCCL_FAIL(nscclInvalidArgument, "nscclMemAlloc: size is 0");
  long page = sysconf(_SC_PAGESIZE);
  size_t len = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
  if (len < size) NSCCL_FAIL(nscclInvalidArgument, "nscclMemAlloc: size %zu is too large", size);
  shmem_alloc_t *a = calloc(1, sizeof(*a));
  if (!a) NSCCL_FAIL(nscclSystemError, "nscclMemAlloc: out of memory");
  pthread_mutex_lock(&lock);
  a->gen = next_gen++;
  pthread_mutex_unlock(&lock);
  char name[64];
  snprintf(name, sizeof(name), NAME_FMT, (unsigned long long)a->gen);
  a->fd = memfd_create(name, MFD_CLOEXEC);
  if (a->fd < 0 || ftruncate(a->fd, (off_t)len) != 0) {
    int err = errno;
    if (a->fd >= 0) close(a->fd);
    free(a);
    NSCCL_FAIL(nscclSystemError, "nscclMemAlloc: cannot create %zu bytes of shared memory: %s", len, strerror(err));
  }
  a->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
  if (a->base == MAP_FAILED) {
    int err = errno;
    close(a->fd);
    free(a);
    NSCCL_FAIL(nscclSystemError, "nscclMemAlloc: cannot map %zu bytes: %s", len, strerror(err));
  }
  a->size = len;
  pthread_mutex_lock(&lock);
  a->next = allocs;
  allocs = a;
  pthread_mutex_unlock(&lock);
  *ptr = a->base;
  return nscclSuccess;
}

static void destroy(shmem_alloc_t *a) {
  munmap(a->base, a->size);
  close(a->fd);
  free(a);
}

/* Unlink a from the list (lock held). */
static void unlink_alloc(shmem_alloc_t *a) {
  for (shmem_alloc_t **pa = &allocs; *pa; pa = &(*pa)->next)
    if (*pa == a) {
      *pa = a->next;
      return;
    }
}

nscclResult_t nsccl_shmem_free(void *ptr) {
  if (!ptr) return nscclSuccess; /* like free(NULL) */
  pthread_mutex_lock(&lock);
  shmem_alloc_t *a = allocs;
  while (a && (a->base != ptr || a->freed)) a = a->next;
  if (!a) {
    pthread_mutex_unlock(&lock);
    NSCCL_FAIL(nscclInvalidArgument, "nscclMemFree: %p was not returned by nscclMemAlloc (or is freed already)", ptr);
  }
  a->freed = 1;
  int last = a->refs == 0;
  if (last) unlink_alloc(a);
  pthread_mutex_unlock(&lock);
  if (last) destroy(a);
  return nscclSuccess;
}

int nsccl_shmem_hold(const void *p, size_t len, nsccl_shmem_where_t *where) {
  const unsigned char *c = p;
  int found = 0;
  pthread_mutex_lock(&lock);
  for (shmem_alloc_t *a = allocs; a; a = a->next) {
    if (a->freed || c < a->base || c >= a->base + a->size || len > (size_t)(a->base + a->size - c)) continue;
    a->refs++;
    where->gen = a->gen;
    where->fd = a->fd;
    where->offset = (size_t)(c - a->base);
    where->alloc_size = a->size;
    found = 1;
    break;
  }
  pthread_mutex_unlock(&lock);
  return found;
}

void nsccl_shmem_release(uint64_t gen) {
  shmem_alloc_t *gone = NULL;
  pthread_mutex_lock(&lock);
  for (shmem_alloc_t *a = allocs; a; a = a->next) {
    if (a->gen != gen) continue;
    if (--a->refs == 0 && a->freed) {
      unlink_alloc(a);
      gone = a;
    }
    break;
  }
  pthread_mutex_unlock(&lock);
  if (gone) destroy(gone);
}

void *nsccl_shmem_map_peer(int pid, int fd, uint64_t gen, size_t *len) {
  char path[64], target[128], want[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
  snprintf(want, sizeof(want), "/memfd:" NAME_FMT " ", (unsigned long long)gen);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return NULL;
  target[n] = '\0';
  /* "/memfd:nsccl-mem-<gen> (deleted)": the trailing space keeps gen 1 from matching gen 12. */
  if (strncmp(target, want, strlen(want)) != 0) {
    errno = ESTALE;
    return NULL;
  }
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return NULL;
  off_t size = lseek(f, 0, SEEK_END);
  void *m = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f, 0) : MAP_FAILED;
  int err = errno;
  close(f);
  if (m == MAP_FAILED) {
    errno = size > 0 ? err : EINVAL;
    return NULL;
  }
  *len = (size_t)size;
  return m;
}
