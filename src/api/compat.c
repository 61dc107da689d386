/* What the compat nccl.h needs from the library beyond nsccl.h: a clear error for NCCL calls that
 * nsccl cannot perform on host memory (the message names the call and says why). */
#include "base/check.h"

nscclResult_t nsccl_compat_unsupported(const char *call, const char *why);

nscclResult_t nsccl_compat_unsupported(const char *call, const char *why) {
  NSCCL_FAIL(nscclInvalidUsage, "%s: %s", call ? call : "(NCCL call)", why ? why : "not supported by nsccl");
}
