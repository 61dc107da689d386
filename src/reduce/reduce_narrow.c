/* Reduction kernels for the narrow floating types: float16, bfloat16, fp8 e4m3 and fp8 e5m2.
 * Each block of elements is widened to float in a small stack buffer, combined in float and
 * rounded back to nearest even. One float operation then one rounding gives the correctly rounded
 * result of the exact operation: float's 24-bit significand is at least twice the narrow one plus
 * two, so the double rounding is harmless for +, *, / (and max/min return an operand exactly). */
#include <stdint.h>

#include "reduce/reduce_convert.h"
#include "reduce/reduce_kernels.h"

/* Two float buffers of this many elements stay within 2 KiB of stack and L1. */
#define BLOCK 256

#define OP_SUM(x, y)  ((x) + (y))
#define OP_PROD(x, y) ((x) * (y))
#define OP_MAX(x, y)  nsccl_max_f32((x), (y))
#define OP_MIN(x, y)  nsccl_min_f32((x), (y))

/* The block is read completely before it is written, so dst may equal a or b. Separate loops per
 * stage keep each one simple enough for the vectoriser. */
#define NARROW_KERNEL(name, T, DEC, ENC, OP)                                                                           \
  static void name(void *dst_, const void *a_, const void *b_, size_t n) {                                             \
    T *d = dst_;                                                                                                       \
    const T *a = a_;                                                                                                   \
    const T *b = b_;                                                                                                   \
    float fa[BLOCK], fb[BLOCK];                                                                                        \
    for (size_t base = 0; base < n; base += BLOCK) {                                                                   \
      size_t m = n - base < BLOCK ? n - base : BLOCK;                                                                  \
      for (size_t i = 0; i < m; i++) fa[i] = DEC(a[base + i]);                                                         \
      for (size_t i = 0; i < m; i++) fb[i] = DEC(b[base + i]);                                                         \
      for (size_t i = 0; i < m; i++) fa[i] = OP(fa[i], fb[i]);                                                         \
      for (size_t i = 0; i < m; i++) d[base + i] = ENC(fa[i]);                                                         \
    }                                                                                                                  \
  }

#define NARROW_KERNELS(tag, T, DEC, ENC)                                                                               \
  NARROW_KERNEL(sum_##tag, T, DEC, ENC, OP_SUM)                                                                        \
  NARROW_KERNEL(prod_##tag, T, DEC, ENC, OP_PROD)                                                                      \
  NARROW_KERNEL(max_##tag, T, DEC, ENC, OP_MAX)                                                                        \
  NARROW_KERNEL(min_##tag, T, DEC, ENC, OP_MIN)                                                                        \
  static void avg_##tag(void *buf_, size_t n, float div) {                                                             \
    T *p = buf_;                                                                                                       \
    float f[BLOCK];                                                                                                    \
    for (size_t base = 0; base < n; base += BLOCK) {                                                                   \
      size_t m = n - base < BLOCK ? n - base : BLOCK;                                                                  \
      for (size_t i = 0; i < m; i++) f[i] = DEC(p[base + i]) / div;                                                    \
      for (size_t i = 0; i < m; i++) p[base + i] = ENC(f[i]);                                                          \
    }                                                                                                                  \
  }

NARROW_KERNELS(f16, uint16_t, nsccl_half_to_float_inl, nsccl_float_to_half_inl)
NARROW_KERNELS(bf16, uint16_t, nsccl_bf16_to_float_inl, nsccl_float_to_bf16_inl)
NARROW_KERNELS(e4m3, uint8_t, nsccl_e4m3_to_float_inl, nsccl_float_to_e4m3_inl)
NARROW_KERNELS(e5m2, uint8_t, nsccl_e5m2_to_float_inl, nsccl_float_to_e5m2_inl)

#define ROW(tag)                                                                                                       \
  { [nscclSum] = sum_##tag, [nscclProd] = prod_##tag, [nscclMax] = max_##tag, [nscclMin] = min_##tag }

static const nsccl_reduce_kernel_t narrow_kernels[nscclNumTypes][nscclNumOps] = {
    [nscclFloat16] = ROW(f16),
    [nscclBfloat16] = ROW(bf16),
    [nscclFloat8e4m3] = ROW(e4m3),
    [nscclFloat8e5m2] = ROW(e5m2),
};

nsccl_reduce_kernel_t nsccl_narrow_kernel(nscclDataType_t dtype, nscclRedOp_t op) {
  if ((unsigned)dtype >= (unsigned)nscclNumTypes || (unsigned)op >= (unsigned)nscclNumOps) return NULL;
  if (op == nscclAvg) op = nscclSum;
  return narrow_kernels[dtype][op];
}

int nsccl_narrow_avg_finish(void *buf, size_t count, nscclDataType_t dtype, int nranks) {
  /* nranks converts to float exactly below 2^24 ranks. */
  float div = (float)nranks;
  switch (dtype) {
  case nscclFloat16: avg_f16(buf, count, div); return 1;
  case nscclBfloat16: avg_bf16(buf, count, div); return 1;
  case nscclFloat8e4m3: avg_e4m3(buf, count, div); return 1;
  case nscclFloat8e5m2: avg_e5m2(buf, count, div); return 1;
  default: return 0;
  }
}
