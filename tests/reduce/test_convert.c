/* Scalar conversions of the narrow floating formats against the bit-field references: every code
 * decoded, every code round-tripped, every rounding boundary encoded, plus random floats. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "reduce/reduce.h"
#include "ref.h"

typedef struct {
  const ref_fmt_t *fmt;
  float (*decode)(uint32_t);
  uint32_t (*encode)(float);
  uint32_t ncodes;
} conv_t;

static float dec_half(uint32_t c) { return nsccl_half_to_float((uint16_t)c); }
static float dec_bf16(uint32_t c) { return nsccl_bf16_to_float((uint16_t)c); }
static float dec_e4m3(uint32_t c) { return nsccl_e4m3_to_float((uint8_t)c); }
static float dec_e5m2(uint32_t c) { return nsccl_e5m2_to_float((uint8_t)c); }
static uint32_t enc_half(float f) { return nsccl_float_to_half(f); }
static uint32_t enc_bf16(float f) { return nsccl_float_to_bf16(f); }
static uint32_t enc_e4m3(float f) { return nsccl_float_to_e4m3(f); }
static uint32_t enc_e5m2(float f) { return nsccl_float_to_e5m2(f); }

static const conv_t convs[] = {
    {&ref_half, dec_half, enc_half, 1u << 16},
    {&ref_bf16, dec_bf16, enc_bf16, 1u << 16},
    {&ref_e4m3, dec_e4m3, enc_e4m3, 1u << 8},
    {&ref_e5m2, dec_e5m2, enc_e5m2, 1u << 8},
};
#define NCONVS (sizeof convs / sizeof convs[0])

static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* The encoder must agree with the reference on f: same code, or both NaN codes. */
static void check_encode(const conv_t *c, float f) {
  uint32_t got = c->encode(f), want = ref_encode(c->fmt, f);
  if (ref_is_nan_code(c->fmt, want)) {
    cr_assert(ref_is_nan_code(c->fmt, got), "%s: encode(%a bits 0x%08x) = 0x%x, want NaN", c->fmt->name, f, fbits(f),
              got);
    return;
  }
  cr_assert_eq(got, want, "%s: encode(%a bits 0x%08x) = 0x%x, want 0x%x", c->fmt->name, f, fbits(f), got, want);
}

Test(convert, decode_every_code) {
  for (size_t k = 0; k < NCONVS; k++) {
    const conv_t *c = &convs[k];
    for (uint32_t code = 0; code < c->ncodes; code++) {
      double want = ref_decode(c->fmt, code);
      float got = c->decode(code);
      if (isnan(want)) {
        cr_assert(isnan(got), "%s: decode(0x%x) = %a, want NaN", c->fmt->name, code, got);
        continue;
      }
      cr_assert((double)got == want && !!signbit(got) == !!signbit(want), "%s: decode(0x%x) = %a, want %a",
                c->fmt->name, code, got, want);
    }
  }
}

Test(convert, round_trip_every_code) {
  for (size_t k = 0; k < NCONVS; k++) {
    const conv_t *c = &convs[k];
    for (uint32_t code = 0; code < c->ncodes; code++) {
      uint32_t back = c->encode(c->decode(code));
      if (ref_is_nan_code(c->fmt, code))
        cr_assert(ref_is_nan_code(c->fmt, back), "%s: NaN 0x%x came back as 0x%x", c->fmt->name, code, back);
      else
        cr_assert_eq(back, code, "%s: 0x%x came back as 0x%x", c->fmt->name, code, back);
    }
  }
}

/* Payload rules documented in docs/reduce.md: float16 and bfloat16 NaNs keep their payload and
 * come back quiet. */
Test(convert, nan_payload_quieted) {
  for (uint32_t code = 0x7c01; code < 0x8000; code++) {
    cr_assert_eq(nsccl_float_to_half(nsccl_half_to_float((uint16_t)code)), code | 0x200u);
    cr_assert_eq(nsccl_float_to_half(nsccl_half_to_float((uint16_t)(code | 0x8000))), code | 0x8200u);
  }
  for (uint32_t code = 0x7f81; code < 0x8000; code++)
    cr_assert_eq(nsccl_float_to_bf16(nsccl_bf16_to_float((uint16_t)code)), code | 0x40u);
  /* A float NaN whose payload sits only in the low bits must not round into infinity. */
  cr_assert_eq(nsccl_float_to_bf16(bits_f(0x7f800001u)), 0x7fc0);
  cr_assert_eq(nsccl_float_to_half(bits_f(0xff800001u)), 0xfe00);
  cr_assert_eq(nsccl_float_to_e5m2(bits_f(0x7f800001u)), 0x7e);
  cr_assert_eq(nsccl_float_to_e4m3(bits_f(0xff800001u)), 0xff);
}

/* Every rounding boundary: for each pair of neighbouring magnitudes (and the first one past the
 * largest finite value), the values themselves, the midpoint, and the floats just either side of
 * it, with both signs. */
Test(convert, every_midpoint) {
  for (size_t k = 0; k < NCONVS; k++) {
    const conv_t *c = &convs[k];
    uint32_t maxf = ref_max_finite(c->fmt);
    for (uint32_t m = 0; m <= maxf + 2; m++) {
      double lo = ref_magnitude(c->fmt, m), hi = ref_magnitude(c->fmt, m + 1);
      float mid = (float)((lo + hi) / 2); /* exact: a narrow midpoint has few bits */
      if (isinf(mid)) continue;           /* bfloat16 past FLT_MAX: covered by the inf tests */
      cr_assert_eq((double)mid, (lo + hi) / 2, "%s: midpoint of 0x%x inexact", c->fmt->name, m);
      float probes[] = {(float)lo, mid, nextafterf(mid, 0), nextafterf(mid, INFINITY)};
      for (size_t p = 0; p < 4; p++) {
        if (isinf(probes[p])) continue;
        check_encode(c, probes[p]);
        check_encode(c, -probes[p]);
      }
    }
  }
}

Test(convert, random_floats) {
  uint64_t st = 0x9e3779b97f4a7c15ULL;
  for (size_t k = 0; k < NCONVS; k++) {
    const conv_t *c = &convs[k];
    for (int i = 0; i < 200000; i++) {
      uint64_t r = ref_rand(&st);
      /* Half of them any bit pattern, half with an exponent near the format's range. */
      uint32_t b = (uint32_t)r;
      if (i & 1) {
        int lo = 127 - c->fmt->bias - c->fmt->mbits - 3, span = (1 << c->fmt->ebits) + c->fmt->mbits + 6;
        int e = lo + (int)((r >> 32) % (uint64_t)span);
        if (e < 0) e = 0;
        if (e > 255) e = 255;
        b = (b & 0x807fffffu) | ((uint32_t)e << 23);
      }
      check_encode(c, bits_f(b));
    }
  }
}

Test(convert, edge_values) {
  /* float16 */
  cr_assert_eq(nsccl_float_to_half(65504.0f), 0x7bff);
  cr_assert_eq(nsccl_float_to_half(65519.996f), 0x7bff);
  cr_assert_eq(nsccl_float_to_half(65520.0f), 0x7c00); /* tie with an odd max: rounds up to inf */
  cr_assert_eq(nsccl_float_to_half(-1e6f), 0xfc00);
  cr_assert_eq(nsccl_float_to_half(INFINITY), 0x7c00);
  cr_assert_eq(nsccl_float_to_half(-INFINITY), 0xfc00);
  cr_assert_eq(nsccl_float_to_half(0.0f), 0x0000);
  cr_assert_eq(nsccl_float_to_half(-0.0f), 0x8000);
  cr_assert_eq(nsccl_float_to_half(0x1p-24f), 0x0001);
  cr_assert_eq(nsccl_float_to_half(0x1p-25f), 0x0000);     /* tie: to even zero */
  cr_assert_eq(nsccl_float_to_half(0x3p-25f), 0x0002);     /* tie: to even 2 */
  cr_assert_eq(nsccl_float_to_half(-0x1p-26f), 0x8000);    /* underflow keeps the sign */
  cr_assert_eq(nsccl_float_to_half(0x1p-149f), 0x0000);    /* float subnormal input */
  cr_assert_eq(nsccl_float_to_half(0x1.ff8p-15f), 0x03ff); /* largest subnormal */
  cr_assert_eq(nsccl_float_to_half(0x1.ffcp-15f), 0x0400); /* tie: rounds up into the normals */
  cr_assert_eq(nsccl_float_to_half(0x1p-14f), 0x0400);
  cr_assert(isnan(nsccl_half_to_float(nsccl_float_to_half(NAN))));
  cr_assert_eq(nsccl_half_to_float(0x3c00), 1.0f);
  cr_assert_eq(nsccl_half_to_float(0x0001), 0x1p-24f);
  cr_assert(isinf(nsccl_half_to_float(0xfc00)) && nsccl_half_to_float(0xfc00) < 0);
  /* bfloat16 */
  cr_assert_eq(nsccl_float_to_bf16(1.0f), 0x3f80);
  cr_assert_eq(nsccl_float_to_bf16(FLT_MAX), 0x7f80); /* rounds past the largest finite bf16 */
  cr_assert_eq(nsccl_float_to_bf16(bits_f(0x7f7f7fffu)), 0x7f7f);
  cr_assert_eq(nsccl_float_to_bf16(bits_f(0x00008000u)), 0x0000); /* subnormal tie to even */
  cr_assert_eq(nsccl_float_to_bf16(bits_f(0x00018000u)), 0x0002);
  cr_assert_eq(nsccl_float_to_bf16(-0.0f), 0x8000);
  cr_assert_eq(nsccl_float_to_bf16(-INFINITY), 0xff80);
  /* fp8 e4m3 (E4M3FN): max 448, no inf, overflow is NaN */
  cr_assert_eq(nsccl_float_to_e4m3(448.0f), 0x7e);
  cr_assert_eq(nsccl_float_to_e4m3(464.0f), 0x7e); /* tie between 448 and (missing) 480: even wins */
  cr_assert_eq(nsccl_float_to_e4m3(nextafterf(464.0f, INFINITY)), 0x7f);
  cr_assert_eq(nsccl_float_to_e4m3(-500.0f), 0xff);
  cr_assert_eq(nsccl_float_to_e4m3(INFINITY), 0x7f);
  cr_assert_eq(nsccl_float_to_e4m3(-INFINITY), 0xff);
  cr_assert_eq(nsccl_float_to_e4m3(NAN), 0x7f);
  cr_assert_eq(nsccl_float_to_e4m3(0x1p-9f), 0x01);
  cr_assert_eq(nsccl_float_to_e4m3(0x1p-10f), 0x00);
  cr_assert_eq(nsccl_float_to_e4m3(0x3p-10f), 0x02);
  cr_assert_eq(nsccl_float_to_e4m3(-0.0f), 0x80);
  cr_assert_eq(nsccl_e4m3_to_float(0x7e), 448.0f);
  cr_assert_eq(nsccl_e4m3_to_float(0x78), 256.0f); /* top exponent is ordinary numbers */
  cr_assert(isnan(nsccl_e4m3_to_float(0x7f)) && isnan(nsccl_e4m3_to_float(0xff)));
  cr_assert_eq(nsccl_e4m3_to_float(0x01), 0x1p-9f);
  /* fp8 e5m2 */
  cr_assert_eq(nsccl_float_to_e5m2(57344.0f), 0x7b);
  cr_assert_eq(nsccl_float_to_e5m2(61439.0f), 0x7b);
  cr_assert_eq(nsccl_float_to_e5m2(61440.0f), 0x7c); /* tie with an odd max: inf */
  cr_assert_eq(nsccl_float_to_e5m2(-INFINITY), 0xfc);
  cr_assert_eq(nsccl_float_to_e5m2(0x1p-16f), 0x01);
  cr_assert_eq(nsccl_float_to_e5m2(0x1p-17f), 0x00);
  cr_assert(isnan(nsccl_e5m2_to_float(0x7d)) && isnan(nsccl_e5m2_to_float(0xff)));
  cr_assert(isinf(nsccl_e5m2_to_float(0x7c)));
}
