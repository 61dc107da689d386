/* Reduction kernels: every datatype x every operator, loops the compiler vectorises.
 * Narrow floating types (float16, bfloat16, fp8 e4m3, fp8 e5m2) are widened to float, combined,
 * and rounded back with round-to-nearest-even. Signed integer sum/prod wrap like unsigned ones
 * (no undefined behaviour). nscclAvg reduces as a sum; the engine divides once at the end with
 * nsccl_reduce_avg_finish. */
#ifndef NSCCL_REDUCE_REDUCE_H
#define NSCCL_REDUCE_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "nsccl.h"

/* Bytes of one element, 0 for an invalid datatype. */
size_t nsccl_type_size(nscclDataType_t dtype);
const char *nsccl_type_name(nscclDataType_t dtype);
const char *nsccl_op_name(nscclRedOp_t op);

/* dst[i] = a[i] (+) b[i] for i < count. dst may alias a or b exactly (not partially).
 * Returns nscclInvalidArgument for an unknown datatype or op. */
nscclResult_t nsccl_reduce(void *dst, const void *a, const void *b, size_t count, nscclDataType_t dtype,
                           nscclRedOp_t op);

/* buf[i] /= nranks, for nscclAvg (integers: truncating division as C does). */
nscclResult_t nsccl_reduce_avg_finish(void *buf, size_t count, nscclDataType_t dtype, int nranks);

/* dst[i] = src[i] * *scalar (scalar in dtype's format) for i < count; dst may equal src. The
 * pre-multiplication of nscclRedOpCreatePreMulSum's operators (reduce_scale.c). */
nscclResult_t nsccl_reduce_scale(void *dst, const void *src, size_t count, nscclDataType_t dtype, const void *scalar);

/* Scalar conversions, exposed for tests and tools. */
float nsccl_half_to_float(uint16_t h);
uint16_t nsccl_float_to_half(float f);
float nsccl_bf16_to_float(uint16_t h);
uint16_t nsccl_float_to_bf16(float f);
float nsccl_e4m3_to_float(uint8_t v);
uint8_t nsccl_float_to_e4m3(float f);
float nsccl_e5m2_to_float(uint8_t v);
uint8_t nsccl_float_to_e5m2(float f);

#endif
