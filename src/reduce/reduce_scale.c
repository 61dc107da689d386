/* dst[i] = src[i] * scalar: the pre-multiplication of nscclRedOpCreatePreMulSum's operators
 * (api/premulsum.c). Integers multiply in the unsigned type of their width (wrapping, as the sum
 * kernels do); narrow floats are widened to float, multiplied and rounded once to nearest-even. The
 * float product of two narrow values is exact (at most 2 x 11 significant bits), so that single
 * rounding gives the correctly rounded narrow product. */
#include <string.h>

#include "base/check.h"
#include "reduce/reduce.h"
#include "reduce/reduce_convert.h"

#define SCALE_INT(T, U)                                                                                                \
  do {                                                                                                                 \
    T *d = dst;                                                                                                        \
    const T *s = src;                                                                                                  \
    T k;                                                                                                               \
    memcpy(&k, scalar, sizeof k);                                                                                      \
    for (size_t i = 0; i < count; i++) d[i] = (T)((U)s[i] * (U)k);                                                     \
  } while (0)

#define SCALE_WIDE(T)                                                                                                  \
  do {                                                                                                                 \
    T *d = dst;                                                                                                        \
    const T *s = src;                                                                                                  \
    T k;                                                                                                               \
    memcpy(&k, scalar, sizeof k);                                                                                      \
    for (size_t i = 0; i < count; i++) d[i] = s[i] * k;                                                                \
  } while (0)

#define SCALE_NARROW(T, TO_FLOAT, FROM_FLOAT)                                                                          \
  do {                                                                                                                 \
    T *d = dst;                                                                                                        \
    const T *s = src;                                                                                                  \
    T kb;                                                                                                              \
    memcpy(&kb, scalar, sizeof kb);                                                                                    \
    float k = TO_FLOAT(kb);                                                                                            \
    for (size_t i = 0; i < count; i++) d[i] = FROM_FLOAT(TO_FLOAT(s[i]) * k);                                          \
  } while (0)

nscclResult_t nsccl_reduce_scale(void *dst, const void *src, size_t count, nscclDataType_t dtype, const void *scalar) {
  if ((unsigned)dtype >= (unsigned)nscclNumTypes)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_scale: datatype %d is not an nscclDataType_t", (int)dtype);
  if (count == 0) return nscclSuccess;
  if (!dst || !src || !scalar)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_scale: %s is NULL with count %zu",
               !dst   ? "dst"
               : !src ? "src"
                      : "scalar",
               count);
  switch (dtype) {
  case nscclInt8: SCALE_INT(int8_t, uint8_t); break;
  case nscclUint8: SCALE_INT(uint8_t, uint8_t); break;
  case nscclInt32: SCALE_INT(int32_t, uint32_t); break;
  case nscclUint32: SCALE_INT(uint32_t, uint32_t); break;
  case nscclInt64: SCALE_INT(int64_t, uint64_t); break;
  case nscclUint64: SCALE_INT(uint64_t, uint64_t); break;
  case nscclFloat32: SCALE_WIDE(float); break;
  case nscclFloat64: SCALE_WIDE(double); break;
  case nscclFloat16: SCALE_NARROW(uint16_t, nsccl_half_to_float_inl, nsccl_float_to_half_inl); break;
  case nscclBfloat16: SCALE_NARROW(uint16_t, nsccl_bf16_to_float_inl, nsccl_float_to_bf16_inl); break;
  case nscclFloat8e4m3: SCALE_NARROW(uint8_t, nsccl_e4m3_to_float_inl, nsccl_float_to_e4m3_inl); break;
  case nscclFloat8e5m2: SCALE_NARROW(uint8_t, nsccl_e5m2_to_float_inl, nsccl_float_to_e5m2_inl); break;
  default: NSCCL_FAIL(nscclInvalidArgument, "nsccl_reduce_scale: datatype %d has no kernel", (int)dtype);
  }
  return nscclSuccess;
}
