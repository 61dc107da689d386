/* Shared by the validator's passes (validate.c, validate_access.c); not an interface. */
#ifndef NSCCL_SCHED_VALIDATE_INTERNAL_H
#define NSCCL_SCHED_VALIDATE_INTERNAL_H

#include "sched/sched.h"

typedef struct {
  char *err; /* never NULL */
  size_t errlen;
} nsccl_vctx_t;

/* Write the message into v->err, record it as the last error, return nscclInvalidUsage. */
nscclResult_t nsccl_vfail(nsccl_vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *nsccl_vkind(const nsccl_step_t *s);

/* Pass 4 on one well-formed program: reads of never-written bytes, races, output completeness. */
nscclResult_t nsccl_validate_accesses(nsccl_vctx_t *v, const nsccl_program_t *p);

#endif
