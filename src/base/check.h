/* One way to propagate errors and to say why. Every internal function that can fail returns an
 * nscclResult_t; NSCCL_CHECK passes a failure up unchanged, NSCCL_FAIL records a message (kept per
 * thread, returned by nscclGetLastError) and returns the code. */
#ifndef NSCCL_BASE_CHECK_H
#define NSCCL_BASE_CHECK_H

#include "nsccl.h"

/* Record a formatted message as the calling thread's last error. Also logged at WARN. */
void nsccl_set_error(const char *file, int line, nscclResult_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The calling thread's last error message ("" when none). */
const char *nsccl_last_error(void);
void nsccl_clear_error(void);

#define NSCCL_CHECK(call)                                                                                              \
  do {                                                                                                                 \
    nscclResult_t nsccl_check_rc_ = (call);                                                                            \
    if (nsccl_check_rc_ != nscclSuccess) return nsccl_check_rc_;                                                       \
  } while (0)

#define NSCCL_FAIL(code, ...)                                                                                          \
  do {                                                                                                                 \
    nsccl_set_error(__FILE__, __LINE__, (code), __VA_ARGS__);                                                          \
    return (code);                                                                                                     \
  } while (0)

#endif
