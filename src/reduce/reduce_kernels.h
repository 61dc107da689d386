/* Internal pieces shared by the reduction kernel files: the kernel signature, the float max/min
 * rules, and the narrow-float kernels that reduce_narrow.c provides to the dispatcher in reduce.c. */
#ifndef NSCCL_REDUCE_REDUCE_KERNELS_H
#define NSCCL_REDUCE_REDUCE_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nsccl.h"

/* dst[i] = a[i] (+) b[i]; dst may equal a or b (elementwise loops are safe under exact aliasing, and
 * gcc's runtime overlap check accepts it, so the vector path is still taken). */
typedef void (*nsccl_reduce_kernel_t)(void *dst, const void *a, const void *b, size_t count);

/* Floating max/min follow IEEE 754-2019 maximum/minimum: a NaN operand gives NaN (a reduction that
 * saw a NaN must say so), and -0 < +0, so the result does not depend on operand order. Equal
 * operands have equal bits except for ±0, where AND of the bits gives +0 (max) and OR gives -0
 * (min). Written as selects and bit operations so loops over them vectorise. */
#define NSCCL_DEFINE_MAXMIN(suffix, T, U)                                                                              \
  static inline T nsccl_max_##suffix(T a, T b) {                                                                       \
    U ua, ub, ur;                                                                                                      \
    T eq;                                                                                                              \
    memcpy(&ua, &a, sizeof a);                                                                                         \
    memcpy(&ub, &b, sizeof b);                                                                                         \
    ur = ua & ub;                                                                                                      \
    memcpy(&eq, &ur, sizeof eq);                                                                                       \
    T r = a > b ? a : b;                                                                                               \
    r = a == b ? eq : r;                                                                                               \
    return a != a ? a : r;                                                                                             \
  }                                                                                                                    \
  static inline T nsccl_min_##suffix(T a, T b) {                                                                       \
    U ua, ub, ur;                                                                                                      \
    T eq;                                                                                                              \
    memcpy(&ua, &a, sizeof a);                                                                                         \
    memcpy(&ub, &b, sizeof b);                                                                                         \
    ur = ua | ub;                                                                                                      \
    memcpy(&eq, &ur, sizeof eq);                                                                                       \
    T r = a < b ? a : b;                                                                                               \
    r = a == b ? eq : r;                                                                                               \
    return a != a ? a : r;                                                                                             \
  }

NSCCL_DEFINE_MAXMIN(f32, float, uint32_t)
NSCCL_DEFINE_MAXMIN(f64, double, uint64_t)

/* The kernel for a narrow floating type (float16, bfloat16, fp8 e4m3/e5m2) and op (avg as sum), or
 * NULL when dtype is not one of them. */
nsccl_reduce_kernel_t nsccl_narrow_kernel(nscclDataType_t dtype, nscclRedOp_t op);

/* buf[i] /= nranks for a narrow floating type; returns 0 when dtype is not one of them. */
int nsccl_narrow_avg_finish(void *buf, size_t count, nscclDataType_t dtype, int nranks);

#endif
