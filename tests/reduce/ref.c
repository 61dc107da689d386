#include "ref.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const ref_fmt_t ref_half = {"float16", 5, 10, 15, 1};
const ref_fmt_t ref_bf16 = {"bfloat16", 8, 7, 127, 1};
const ref_fmt_t ref_e4m3 = {"float8e4m3", 4, 3, 7, 0};
const ref_fmt_t ref_e5m2 = {"float8e5m2", 5, 2, 15, 1};

const ref_fmt_t *ref_fmt_of(nscclDataType_t dt) {
  switch (dt) {
  case nscclFloat16: return &ref_half;
  case nscclBfloat16: return &ref_bf16;
  case nscclFloat8e4m3: return &ref_e4m3;
  case nscclFloat8e5m2: return &ref_e5m2;
  default: return NULL;
  }
}

size_t ref_size(nscclDataType_t dt) {
  switch (dt) {
  case nscclInt8:
  case nscclUint8:
  case nscclFloat8e4m3:
  case nscclFloat8e5m2: return 1;
  case nscclFloat16:
  case nscclBfloat16: return 2;
  case nscclInt32:
  case nscclUint32:
  case nscclFloat32: return 4;
  case nscclInt64:
  case nscclUint64:
  case nscclFloat64: return 8;
  default: return 0;
  }
}

static int width(const ref_fmt_t *f) { return 1 + f->ebits + f->mbits; }

double ref_magnitude(const ref_fmt_t *f, uint32_t mag) {
  uint32_t e = mag >> f->mbits;
  uint32_t m = mag & ((1u << f->mbits) - 1);
  if (e == 0) return ldexp((double)m, 1 - f->bias - f->mbits);
  return ldexp((double)((1u << f->mbits) + m), (int)e - f->bias - f->mbits);
}

uint32_t ref_max_finite(const ref_fmt_t *f) {
  uint32_t all = (1u << (f->ebits + f->mbits)) - 1;
  return f->ieee ? all - (1u << f->mbits) : all - 1;
}

uint32_t ref_overflow_code(const ref_fmt_t *f) { return ref_max_finite(f) + 1; }

int ref_is_nan_code(const ref_fmt_t *f, uint32_t code) {
  uint32_t mag = code & ((1u << (f->ebits + f->mbits)) - 1);
  uint32_t e = mag >> f->mbits, m = mag & ((1u << f->mbits) - 1);
  if (f->ieee) return e == (1u << f->ebits) - 1 && m != 0;
  return mag == (1u << (f->ebits + f->mbits)) - 1;
}

double ref_decode(const ref_fmt_t *f, uint32_t code) {
  uint32_t sign = (code >> (f->ebits + f->mbits)) & 1;
  uint32_t mag = code & ((1u << (f->ebits + f->mbits)) - 1);
  double v;
  if (ref_is_nan_code(f, code))
    v = NAN;
  else if (f->ieee && (mag >> f->mbits) == (1u << f->ebits) - 1)
    v = INFINITY;
  else
    v = ref_magnitude(f, mag);
  return sign ? -v : v;
}

/* Of two candidate magnitude codes around a, the nearer one; ties go to the even code. */
static uint32_t nearer(const ref_fmt_t *f, double a, uint32_t lo, uint32_t hi) {
  double dlo = a - ref_magnitude(f, lo), dhi = ref_magnitude(f, hi) - a;
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

uint32_t ref_encode(const ref_fmt_t *f, double v) {
  uint32_t sign = signbit(v) ? 1u << (width(f) - 1) : 0;
  uint32_t top = (1u << (f->ebits + f->mbits)) - 1; /* all ones: NaN in every format here */
  if (isnan(v)) return sign | top;
  uint32_t maxf = ref_max_finite(f);
  /* Candidates go one binade past the largest finite value, as if the exponent range went on; a
   * result landing there overflowed. */
  uint32_t last = maxf + (1u << f->mbits);
  double a = fabs(v);
  uint32_t best;
  if (isinf(a) || a >= ref_magnitude(f, last))
    best = last;
  else if (width(f) <= 8) {
    /* Exhaustive: every candidate code, keep the nearest (ties to even). */
    double mags[256];
    for (uint32_t c = 0; c <= last; c++) mags[c] = ref_magnitude(f, c);
    best = 0;
    for (uint32_t c = 1; c <= last; c++) {
      double dc = fabs(mags[c] - a), db = fabs(mags[best] - a);
      if (dc < db || (dc == db && (c & 1) == 0)) best = c;
    }
  } else {
    /* Magnitude codes are ordered like their values: bisect for the pair around a. */
    uint32_t lo = 0, hi = last; /* mag(lo) <= a < mag(hi) */
    while (hi - lo > 1) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (ref_magnitude(f, mid) <= a)
        lo = mid;
      else
        hi = mid;
    }
    best = nearer(f, a, lo, hi);
  }
  if (best > maxf) return sign | ref_overflow_code(f);
  return sign | best;
}

/* ---- element-wise references ---- */

static double ref_max(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == 0 && b == 0) return (signbit(a) && signbit(b)) ? -0.0 : 0.0;
  return a > b ? a : b;
}

static double ref_min(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  if (a == 0 && b == 0) return (signbit(a) || signbit(b)) ? -0.0 : 0.0;
  return a < b ? a : b;
}

static double combine_real(nscclRedOp_t op, double a, double b) {
  switch (op) {
  case nscclProd: return a * b;
  case nscclMax: return ref_max(a, b);
  case nscclMin: return ref_min(a, b);
  default: return a + b;
  }
}

/* Signed value of v modulo 2^bits, in [-2^(bits-1), 2^(bits-1)). */
static __int128 wrap_signed(__int128 v, int bits) {
  __int128 m = (__int128)1 << bits;
  __int128 r = ((v % m) + m) % m;
  return r >= m / 2 ? r - m : r;
}

/* Unsigned operands of up to 64 bits: exact in 128 bits, then the low `bits` bits. */
static unsigned __int128 uint_combine_wrap(nscclRedOp_t op, unsigned __int128 a, unsigned __int128 b, int bits) {
  unsigned __int128 r;
  switch (op) {
  case nscclProd: r = a * b; break;
  case nscclMax: r = a > b ? a : b; break;
  case nscclMin: r = a < b ? a : b; break;
  default: r = a + b; break;
  }
  return r % ((unsigned __int128)1 << bits);
}

static __int128 int_combine(nscclRedOp_t op, __int128 a, __int128 b) {
  switch (op) {
  case nscclProd: return a * b;
  case nscclMax: return a > b ? a : b;
  case nscclMin: return a < b ? a : b;
  default: return a + b;
  }
}

#define LOAD(T, p)        (*(const T *)(p))
#define STORE(T, p, v)    (*(T *)(p) = (T)(v))
#define SIGNED(T, bits)   STORE(T, out, wrap_signed(int_combine(op, LOAD(T, a), LOAD(T, b)), bits))
#define UNSIGNED(T, bits) STORE(T, out, uint_combine_wrap(op, LOAD(T, a), LOAD(T, b), bits))

void ref_combine(nscclDataType_t dt, nscclRedOp_t op, const void *a, const void *b, void *out) {
  const ref_fmt_t *f = ref_fmt_of(dt);
  if (f) {
    uint32_t ca = 0, cb = 0;
    memcpy(&ca, a, ref_size(dt));
    memcpy(&cb, b, ref_size(dt));
    uint32_t r = ref_encode(f, combine_real(op, ref_decode(f, ca), ref_decode(f, cb)));
    memcpy(out, &r, ref_size(dt));
    return;
  }
  switch (dt) {
  case nscclInt8: SIGNED(int8_t, 8); break;
  case nscclUint8: UNSIGNED(uint8_t, 8); break;
  case nscclInt32: SIGNED(int32_t, 32); break;
  case nscclUint32: UNSIGNED(uint32_t, 32); break;
  case nscclInt64: SIGNED(int64_t, 64); break;
  case nscclUint64: UNSIGNED(uint64_t, 64); break;
  /* Sums and products of two floats are rounded once more from double: harmless, as double has
   * more than twice float's precision. */
  case nscclFloat32: STORE(float, out, combine_real(op, LOAD(float, a), LOAD(float, b))); break;
  case nscclFloat64: STORE(double, out, combine_real(op, LOAD(double, a), LOAD(double, b))); break;
  default: break;
  }
}

/* Truncating division written as magnitude division with the sign put back. */
static __int128 trunc_div(__int128 a, int n) {
  __int128 q = (a < 0 ? -a : a) / n;
  return a < 0 ? -q : q;
}

void ref_avg_div(nscclDataType_t dt, const void *in, void *out, int nranks) {
  const ref_fmt_t *f = ref_fmt_of(dt);
  if (f) {
    uint32_t c = 0;
    memcpy(&c, in, ref_size(dt));
    uint32_t r = ref_encode(f, ref_decode(f, c) / nranks);
    memcpy(out, &r, ref_size(dt));
    return;
  }
  switch (dt) {
  case nscclInt8: STORE(int8_t, out, trunc_div(LOAD(int8_t, in), nranks)); break;
  case nscclUint8: STORE(uint8_t, out, trunc_div(LOAD(uint8_t, in), nranks)); break;
  case nscclInt32: STORE(int32_t, out, trunc_div(LOAD(int32_t, in), nranks)); break;
  case nscclUint32: STORE(uint32_t, out, trunc_div(LOAD(uint32_t, in), nranks)); break;
  case nscclInt64: STORE(int64_t, out, trunc_div(LOAD(int64_t, in), nranks)); break;
  case nscclUint64: STORE(uint64_t, out, trunc_div(LOAD(uint64_t, in), nranks)); break;
  case nscclFloat32: STORE(float, out, (double)LOAD(float, in) / nranks); break;
  case nscclFloat64: STORE(double, out, LOAD(double, in) / nranks); break;
  default: break;
  }
}

int ref_elem_equal(nscclDataType_t dt, const void *x, const void *y) {
  const ref_fmt_t *f = ref_fmt_of(dt);
  if (f) {
    uint32_t cx = 0, cy = 0;
    memcpy(&cx, x, ref_size(dt));
    memcpy(&cy, y, ref_size(dt));
    if (ref_is_nan_code(f, cx) || ref_is_nan_code(f, cy)) return ref_is_nan_code(f, cx) && ref_is_nan_code(f, cy);
    return cx == cy;
  }
  if (dt == nscclFloat32 && (isnan(LOAD(float, x)) || isnan(LOAD(float, y))))
    return isnan(LOAD(float, x)) && isnan(LOAD(float, y));
  if (dt == nscclFloat64 && (isnan(LOAD(double, x)) || isnan(LOAD(double, y))))
    return isnan(LOAD(double, x)) && isnan(LOAD(double, y));
  return memcmp(x, y, ref_size(dt)) == 0;
}

void ref_elem_str(nscclDataType_t dt, const void *x, char *buf, size_t len) {
  const ref_fmt_t *f = ref_fmt_of(dt);
  uint64_t bits = 0;
  memcpy(&bits, x, ref_size(dt));
  double v = 0;
  if (f)
    v = ref_decode(f, (uint32_t)bits);
  else if (dt == nscclFloat32)
    v = LOAD(float, x);
  else if (dt == nscclFloat64)
    v = LOAD(double, x);
  else if (dt == nscclInt8)
    v = LOAD(int8_t, x);
  else if (dt == nscclInt32)
    v = LOAD(int32_t, x);
  else if (dt == nscclInt64)
    v = (double)LOAD(int64_t, x);
  else
    v = (double)bits;
  snprintf(buf, len, "0x%llx (%.17g)", (unsigned long long)bits, v);
}

uint64_t ref_rand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

static void fill_int(nscclDataType_t dt, void *p, uint64_t r, uint64_t pick) {
  size_t sz = ref_size(dt);
  int is_signed = dt == nscclInt8 || dt == nscclInt32 || dt == nscclInt64;
  uint64_t top = 1ULL << (sz * 8 - 1); /* bit pattern of the most negative signed value */
  uint64_t edges[] = {0, 1, ~0ULL, top, top - 1, top + 1, 2, ~1ULL, is_signed ? 3 : top * 2 - 1};
  uint64_t v = pick % 4 == 0 ? edges[(pick / 4) % (sizeof edges / sizeof edges[0])] : r;
  memcpy(p, &v, sz); /* little-endian: the low bytes */
}

void ref_fill(nscclDataType_t dt, void *buf, size_t n, uint64_t *state) {
  size_t sz = ref_size(dt);
  const ref_fmt_t *f = ref_fmt_of(dt);
  for (size_t i = 0; i < n; i++) {
    unsigned char *p = (unsigned char *)buf + i * sz;
    uint64_t r = ref_rand(state), pick = ref_rand(state) % 64;
    if (f) {
      uint32_t s = 1u << (width(f) - 1), maxf = ref_max_finite(f);
      uint32_t edges[] = {0,
                          s,
                          maxf,
                          s | maxf,
                          1,
                          s | 1,
                          (1u << f->mbits) - 1,
                          1u << f->mbits,
                          ref_overflow_code(f),
                          s | ref_overflow_code(f),
                          s - 1,
                          (uint32_t)(f->bias << f->mbits)};
      uint32_t c = pick < 16 ? edges[pick % (sizeof edges / sizeof edges[0])] : (uint32_t)r;
      memcpy(p, &c, sz);
    } else if (dt == nscclFloat32 || dt == nscclFloat64) {
      double edges[] = {0.0,     -0.0,     INFINITY, -INFINITY, NAN,     -NAN,    FLT_MAX,   -FLT_MAX,
                        FLT_MIN, 0x1p-149, 1.0,      -1.0,      DBL_MAX, DBL_MIN, 0x1p-1074, 3.0};
      double v;
      if (pick < 16)
        v = edges[pick];
      else if (pick < 32)
        v = 0;
      else
        v = ldexp((double)(int64_t)r, (int)(ref_rand(state) % 40) - 80); /* ordinary magnitudes */
      if (dt == nscclFloat32) {
        float x = (float)v;
        if (pick >= 16 && pick < 32) {
          uint32_t b = (uint32_t)r; /* any bit pattern: subnormals, NaN payloads */
          memcpy(&x, &b, 4);
        }
        memcpy(p, &x, 4);
      } else {
        if (pick >= 16 && pick < 32) memcpy(&v, &r, 8);
        memcpy(p, &v, 8);
      }
    } else {
      fill_int(dt, p, r, pick);
    }
  }
}
