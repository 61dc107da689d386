/* The calling thread's last error without its "<result string>: " prefix, for wrapping a cause
 * into a message with more context. */
#ifndef NSCCL_BASE_ERROR_DETAIL_H
#define NSCCL_BASE_ERROR_DETAIL_H

#include <string.h>

#include "base/check.h"

static inline const char *nsccl_error_detail(void) {
  const char *msg = nsccl_last_error();
  for (int r = 0; r < nscclNumResults; r++) {
    const char *prefix = nscclGetErrorString((nscclResult_t)r);
    size_t n = strlen(prefix);
    if (!strncmp(msg, prefix, n) && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
  }
  return msg;
}

#endif
