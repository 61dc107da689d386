/* CHECK(call) for the test programs that run as one rank each: a failed nscclResult_t prints the
 * rank (a variable `rank` in scope), the call and nsccl's last error, and returns 1 from the
 * enclosing function. */
#ifndef NSCCL_TESTS_COMMON_RANK_CHECK_H
#define NSCCL_TESTS_COMMON_RANK_CHECK_H

#include <stdio.h>

#include "nsccl.h"

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    nscclResult_t rc_ = (call);                                                                                        \
    if (rc_ != nscclSuccess) {                                                                                         \
      fprintf(stderr, "rank %d: %s failed: %s\n", rank, #call, nscclGetLastError(NULL));                               \
      return 1;                                                                                                        \
    }                                                                                                                  \
  } while (0)

#endif
