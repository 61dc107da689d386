/* What the compat headers need from the library beyond nsccl.h: a clear error for NCCL calls that
 * nsccl cannot perform on host memory (the message names the call and says why), and the clock and
 * memory figures of cuda_runtime.h, kept here so that header needs only standard C (a program
 * built with -std=c99 has no POSIX declarations). */
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"

nscclResult_t nsccl_compat_unsupported(const char *call, const char *why);

nscclResult_t nsccl_compat_unsupported(const char *call, const char *why) {
  NSCCL_FAIL(nscclInvalidUsage, "%s: %s", call ? call : "(NCCL call)", why ? why : "not supported by nsccl");
}

double nsccl_compat_now_ms(void);
void nsccl_compat_host_memory(size_t *total_bytes, size_t *available_bytes);

double nsccl_compat_now_ms(void) { return (double)nsccl_now_ns() / 1e6; }

void nsccl_compat_host_memory(size_t *total_bytes, size_t *available_bytes) {
  long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (total_bytes) *total_bytes = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
  if (available_bytes) *available_bytes = avail > 0 && page > 0 ? (size_t)avail * (size_t)page : 0;
}

int *nsccl_compat_cuda_last_error(void);

int *nsccl_compat_cuda_last_error(void) {
  static _Thread_local int last;
  return &last;
}
