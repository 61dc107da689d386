/* Inline scalar conversions between float and the narrow floating formats (float16, bfloat16,
 * fp8 e4m3, fp8 e5m2). Internal to src/reduce: the kernels inline these into their block loops, so
 * they are written branch-free (selects only) for the vectoriser. The exported nsccl_*_to_* functions
 * in reduce_types.c wrap them.
 *
 * Decoding is exact. Encoding rounds to nearest, ties to even, assuming the default floating-point
 * rounding mode (the subnormal path rounds by one float addition, like every other float operation
 * of the kernels). Decoding float16 and fp8 never goes through a float subnormal, so flush-to-zero /
 * denormals-are-zero modes (set by -ffast-math programs) do not change those values; bfloat16
 * subnormals are float subnormals and behave as float does. */
#ifndef NSCCL_REDUCE_REDUCE_CONVERT_H
#define NSCCL_REDUCE_REDUCE_CONVERT_H

#include <stdint.h>
#include <string.h>

/* cond ? a : b without a branch. gcc (with its default -ftrapping-math) will not if-convert a
 * ternary whose arm is a float operation, and a branch stops vectorisation; a mask blend keeps the
 * float operation unconditional. */
static inline uint32_t nsccl_blend(int cond, uint32_t a, uint32_t b) {
  uint32_t mask = 0u - (uint32_t)(cond != 0);
  return (a & mask) | (b & ~mask);
}

static inline uint32_t nsccl_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float nsccl_f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Decode a format with mantissa bits M and bias B whose magnitude bits are `em` (sign removed).
 * The magnitude is placed in float position and rebiased; subnormals are built as
 * (1.m * 2^emin) - 2^emin, which is exact (zero included) and avoids float subnormals. The caller
 * handles inf/NaN. */
static inline uint32_t nsccl_decode_finite(uint32_t em, int M, int B) {
  uint32_t bits = em << (23 - M);
  uint32_t normal = bits + ((uint32_t)(127 - B) << 23);
  uint32_t emin = (uint32_t)(127 + 1 - B) << 23; /* 2^(1-B), the smallest normal */
  float sub = nsccl_f32_from_bits(normal + (1u << 23)) - nsccl_f32_from_bits(emin);
  return nsccl_blend((bits >> 23) == 0, nsccl_f32_bits(sub), normal);
}

static inline float nsccl_half_to_float_inl(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t em = h & 0x7fffu;
  uint32_t r = nsccl_decode_finite(em, 10, 15);
  /* Exponent all ones: inf or NaN; the payload moves up unchanged (a quiet NaN stays quiet). */
  r = nsccl_blend(em >= 0x7c00u, 0x7f800000u | ((em & 0x3ffu) << 13), r);
  return nsccl_f32_from_bits(r | sign);
}

static inline float nsccl_bf16_to_float_inl(uint16_t h) { return nsccl_f32_from_bits((uint32_t)h << 16); }

static inline float nsccl_e5m2_to_float_inl(uint8_t v) {
  /* e5m2 is the top byte of a float16: same bias, same special values. */
  return nsccl_half_to_float_inl((uint16_t)((uint16_t)v << 8));
}

static inline float nsccl_e4m3_to_float_inl(uint8_t v) {
  uint32_t sign = (uint32_t)(v & 0x80u) << 24;
  uint32_t em = v & 0x7fu;
  uint32_t r = nsccl_decode_finite(em, 3, 7);
  /* E4M3FN has no infinities; S.1111.111 is its only NaN. The top exponent holds normal numbers. */
  r = nsccl_blend(em == 0x7fu, 0x7fc00000u, r);
  return nsccl_f32_from_bits(r | sign);
}

/* Encode the magnitude bits x of a float (sign removed, not NaN) into a format with M mantissa bits
 * and bias B, ties to even. Returns the magnitude code, unclamped: callers map codes past the
 * largest finite one to inf or NaN. */
static inline uint32_t nsccl_encode_magnitude(uint32_t x, int M, int B) {
  int drop = 23 - M;
  /* Normal results: rebias, then add just under half an ulp plus the lowest kept bit, so that a tie
   * rounds up exactly when that bit is odd. A mantissa carry moves into the exponent, as it should. */
  uint32_t odd = (x >> drop) & 1u;
  uint32_t normal = (x + ((uint32_t)(B - 127) << 23) + ((1u << (drop - 1)) - 1u) + odd) >> drop;
  /* Subnormal results: add a power of two whose float ulp is the format's subnormal spacing; the
   * float addition rounds to nearest even, and the low bits of the sum are the code. */
  uint32_t magic = (uint32_t)((127 - B) + drop + 1) << 23;
  uint32_t sub = nsccl_f32_bits(nsccl_f32_from_bits(x) + nsccl_f32_from_bits(magic)) - magic;
  uint32_t min_normal = (uint32_t)(127 + 1 - B) << 23;
  return nsccl_blend(x < min_normal, sub, normal);
}

/* Shared shape of the float16 / e5m2 / e4m3 encoders: `overflow` is the code a too-large finite
 * value or an infinity becomes (inf, or NaN for e4m3), `nan` the code of NaN inputs; both without
 * sign. The sign bit is the format's top bit. */
static inline uint32_t nsccl_encode_narrow(float f, int M, int B, int width, uint32_t max_finite, uint32_t overflow,
                                           uint32_t nan) {
  uint32_t x = nsccl_f32_bits(f);
  uint32_t sign = (x >> 31) << (width - 1);
  x &= 0x7fffffffu;
  uint32_t is_nan = x > 0x7f800000u;
  /* Clamp NaN bits so the arithmetic below stays in range; the NaN result is chosen at the end. */
  uint32_t m = nsccl_encode_magnitude(nsccl_blend(is_nan, 0x7f800000u, x), M, B);
  m = nsccl_blend(m > max_finite, overflow, m);
  m = nsccl_blend(is_nan, nan, m);
  return m | sign;
}

static inline uint16_t nsccl_float_to_half_inl(float f) {
  /* NaN keeps its top payload bits and gets the quiet bit, so it can never turn into inf. */
  uint32_t payload = (nsccl_f32_bits(f) >> 13) & 0x3ffu;
  return (uint16_t)nsccl_encode_narrow(f, 10, 15, 16, 0x7bffu, 0x7c00u, 0x7e00u | payload);
}

static inline uint16_t nsccl_float_to_bf16_inl(float f) {
  uint32_t x = nsccl_f32_bits(f);
  /* bfloat16 keeps float's exponent: rounding the top 16 bits is the whole job, subnormals
   * included, and a carry out of the largest finite value lands exactly on infinity. */
  uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  uint32_t nan = (x >> 16) | 0x40u;
  return (uint16_t)nsccl_blend((x & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

static inline uint8_t nsccl_float_to_e5m2_inl(float f) {
  return (uint8_t)nsccl_encode_narrow(f, 2, 15, 8, 0x7bu, 0x7cu, 0x7eu);
}

/* Overflow (a finite value that rounds past 448, or ±inf) becomes NaN: E4M3FN has no infinity and
 * the OCP FP8 specification's non-saturating conversion maps overflow to NaN. Saturating to ±448
 * would hide the overflow from the user. */
static inline uint8_t nsccl_float_to_e4m3_inl(float f) {
  return (uint8_t)nsccl_encode_narrow(f, 3, 7, 8, 0x7eu, 0x7fu, 0x7fu);
}

#endif
