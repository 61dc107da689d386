/* Per-thread last error: what failed, where, and why, in words. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "base/log.h"

static _Thread_local char last_error[1024];

void nsccl_set_error(const char *file, int line, nscclResult_t code, const char *fmt, ...) {
  char msg[sizeof(last_error)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(last_error, sizeof(last_error), "%s: %s", nscclGetErrorString(code), msg);
  if (nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_ALL))
    nsccl_log(NSCCL_LOG_INFO, NSCCL_SUBSYS_ALL, file, line, "%s", last_error);
}

const char *nsccl_last_error(void) { return last_error; }

void nsccl_clear_error(void) { last_error[0] = '\0'; }

const char *nscclGetErrorString(nscclResult_t result) {
  switch (result) {
  case nscclSuccess: return "no error";
  case nscclUnhandledCudaError: return "unhandled cuda error (never raised by nsccl)";
  case nscclSystemError: return "unhandled system error";
  case nscclInternalError: return "internal error";
  case nscclInvalidArgument: return "invalid argument";
  case nscclInvalidUsage: return "invalid usage";
  case nscclRemoteError: return "remote process exited or there was a network error";
  case nscclInProgress: return "operation in progress";
  case nscclTimeout: return "operation timed out";
  default: return "unknown result code";
  }
}

nscclResult_t nscclGetVersion(int *version) {
  if (!version) NSCCL_FAIL(nscclInvalidArgument, "nscclGetVersion: version is NULL");
  *version = NSCCL_VERSION_CODE;
  return nscclSuccess;
}
