/* The schedule validator (being written). */
#include <stdio.h>

#include "core/check.h"
#include "sched/sched.h"

nscclResult_t nsccl_sched_validate(const nsccl_program_t *progs, int nranks, char *err, size_t errlen) {
  (void)progs;
  (void)nranks;
  if (err && errlen) err[0] = '\0';
  return nscclSuccess;
}
