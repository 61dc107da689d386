/* Reduction kernels for the integer and float32/float64 types, the dispatcher over every
 * (datatype, op), and the final division of nscclAvg. Each kernel is one simple indexed loop over
 * typed pointers, so gcc -O3 vectorises it. */
#include "reduce/reduce.h"

#include <stdint.h>

#include "base/check.h"
#include "reduce/reduce_kernels.h"

/* Each kernel is cloned for AVX-512, AVX2 and the baseline; the loader picks the widest the CPU
 * has (GCC function multiversioning). Wider vectors matter when a staged chunk is still in cache. */
#define KERNEL(name, T, EXPR)                                                                                          \
  __attribute__((target_clones("avx512f", "avx2", "default"))) static void name(void *dst_, const void *a_,            \
                                                                                const void *b_, size_t n) {            \
    T *d = dst_;                                                                                                       \
    const T *a = a_;                                                                                                   \
    const T *b = b_;                                                                                                   \
    for (size_t i = 0; i < n; i++) {                                                                                   \
      T x = a[i], y = b[i];                                                                                            \
      d[i] = (EXPR);                                                                                                   \
    }                                                                                                                  \
  }

/* Integers: sum and product are computed in the unsigned type of the same width, so signed
 * overflow wraps modulo 2^bits instead of being undefined; the conversion back to the signed type
 * is modular on every compiler we build with (gcc and clang document it). */
#define INT_KERNELS(tag, T, U)                                                                                         \
  KERNEL(sum_##tag, T, (T)((U)x + (U)y))                                                                               \
  KERNEL(prod_##tag, T, (T)((U)x * (U)y))                                                                              \
  KERNEL(max_##tag, T, x > y ? x : y)                                                                                  \
  KERNEL(min_##tag, T, x < y ? x : y)

INT_KERNELS(i8, int8_t, uint8_t)
INT_KERNELS(u8, uint8_t, uint8_t)
INT_KERNELS(i32, int32_t, uint32_t)
INT_KERNELS(u32, uint32_t, uint32_t)
INT_KERNELS(i64, int64_t, uint64_t)
INT_KERNELS(u64, uint64_t, uint64_t)

KERNEL(sum_f32, float, x + y)
KERNEL(prod_f32, float, x *y)
KERNEL(max_f32, float, nsccl_max_f32(x, y))
KERNEL(min_f32, float, nsccl_min_f32(x, y))
KERNEL(sum_f64, double, x + y)
KERNEL(prod_f64, double, x *y)
KERNEL(max_f64, double, nsccl_max_f64(x, y))
KERNEL(min_f64, double, nsccl_min_f64(x, y))

#define ROW(tag)                                                                                                       \
  { [nscclSum] = sum_##tag, [nscclProd] = prod_##tag, [nscclMax] = max_##tag, [nscclMin] = min_##tag }

/* Narrow floating types are NULL here: reduce_narrow.c supplies them. nscclAvg reduces as a sum. */
static const nsccl_reduce_kernel_t wide_kernels[nscclNumTypes][nscclNumOps] = {
    [nscclInt8] = ROW(i8),   [nscclUint8] = ROW(u8),   [nscclInt32] = ROW(i32),   [nscclUint32] = ROW(u32),
    [nscclInt64] = ROW(i64), [nscclUint64] = ROW(u64), [nscclFloat32] = ROW(f32), [nscclFloat64] = ROW(f64),
};

nscclResult_t nsccl_reduce(void *dst, const void *a, const void *b, size_t count, nscclDataType_t dtype,
                           nscclRedOp_t op) {
  if ((unsigned)dtype >= (unsigned)nscclNumTypes)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce: datatype %d is not an nscclDataType_t", (int)dtype);
  if ((unsigned)op >= (unsigned)nscclNumOps)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce: op %d is not an nscclRedOp_t", (int)op);
  if (count == 0) return nscclSuccess;
  if (dst == NULL || a == NULL || b == NULL)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce: %s is NULL with count %zu",
               dst == NULL ? "dst" : (a == NULL ? "a" : "b"), count);
  nscclRedOp_t kop = op == nscclAvg ? nscclSum : op;
  nsccl_reduce_kernel_t k = wide_kernels[dtype][kop];
  if (k == NULL) k = nsccl_narrow_kernel(dtype, kop);
  if (k == NULL)
    NSCCL_FAIL(nscclInternalError, "nsccl_reduce: no kernel for %s %s", nsccl_type_name(dtype), nsccl_op_name(op));
  k(dst, a, b, count);
  return nscclSuccess;
}

/* Integer division does not vectorise on x86 anyway; this runs once per collective. */
#define DIV_LOOP(T, D)                                                                                                 \
  do {                                                                                                                 \
    T *p = buf;                                                                                                        \
    D d = (D)nranks;                                                                                                   \
    for (size_t i = 0; i < count; i++) p[i] = (T)(p[i] / d);                                                           \
  } while (0)

nscclResult_t nsccl_reduce_avg_finish(void *buf, size_t count, nscclDataType_t dtype, int nranks) {
  if ((unsigned)dtype >= (unsigned)nscclNumTypes)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_avg_finish: datatype %d is not an nscclDataType_t", (int)dtype);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_avg_finish: nranks %d is not positive", nranks);
  if (count == 0 || nranks == 1) return nscclSuccess;
  if (buf == NULL) NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_avg_finish: buf is NULL with count %zu", count);
  /* Signed types divide by a signed divisor: C truncates toward zero (-7 / 2 == -3). nranks >= 2
   * here, so INT_MIN / nranks cannot overflow. */
  switch (dtype) {
  case nscclInt8: DIV_LOOP(int8_t, int); break;
  case nscclUint8: DIV_LOOP(uint8_t, unsigned); break;
  case nscclInt32: DIV_LOOP(int32_t, int32_t); break;
  case nscclUint32: DIV_LOOP(uint32_t, uint32_t); break;
  case nscclInt64: DIV_LOOP(int64_t, int64_t); break;
  case nscclUint64: DIV_LOOP(uint64_t, uint64_t); break;
  /* Division, not multiplication by 1/nranks: one correctly rounded step. */
  case nscclFloat32: DIV_LOOP(float, float); break;
  case nscclFloat64: DIV_LOOP(double, double); break;
  default:
    if (!nsccl_narrow_avg_finish(buf, count, dtype, nranks))
      NSCCL_FAIL(nscclInternalError, "nsccl_reduce_avg_finish: no division for %s", nsccl_type_name(dtype));
  }
  return nscclSuccess;
}
