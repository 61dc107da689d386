/* The matrix test's serial reference: its own codecs for every datatype (nothing from src/reduce),
 * input values chosen so that every reduction order gives the same bits, and the expected output.
 *
 * Exactness: integer sum/prod wrap modulo 2^width, which is associative and commutative whatever
 * the order, so inputs use all bits; max/min are exact for any values. Floating types get small
 * integers whose every partial sum stays below the type's exactly-representable limit (2^(m+1)),
 * products of +-1 (and of 2 and 0.5 where the exponent range allows), so the result is exact.
 * avg divides at the end: integers truncate as C does (inputs kept small so sums do not wrap);
 * floats are compared with a tolerance of 2^-mbits relative (one rounding of the quotient). */
#ifndef NSCCL_TESTS_MATRIX_REF_H
#define NSCCL_TESTS_MATRIX_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "nsccl.h"

enum { K_SIGNED, K_UNSIGNED, K_FLOAT };

typedef struct {
  const char *name;
  size_t size;
  int kind;
  int ebits, mbits, bias; /* floats */
  bool has_inf;           /* e4m3 (fn) has none: its top exponent holds normal numbers */
} tinfo_t;

static const tinfo_t tinfo[nscclNumTypes] = {
    [nscclInt8] = {"int8", 1, K_SIGNED, 0, 0, 0, false},
    [nscclUint8] = {"uint8", 1, K_UNSIGNED, 0, 0, 0, false},
    [nscclInt32] = {"int32", 4, K_SIGNED, 0, 0, 0, false},
    [nscclUint32] = {"uint32", 4, K_UNSIGNED, 0, 0, 0, false},
    [nscclInt64] = {"int64", 8, K_SIGNED, 0, 0, 0, false},
    [nscclUint64] = {"uint64", 8, K_UNSIGNED, 0, 0, 0, false},
    [nscclFloat16] = {"float16", 2, K_FLOAT, 5, 10, 15, true},
    [nscclFloat32] = {"float32", 4, K_FLOAT, 8, 23, 127, true},
    [nscclFloat64] = {"float64", 8, K_FLOAT, 11, 52, 1023, true},
    [nscclBfloat16] = {"bfloat16", 2, K_FLOAT, 8, 7, 127, true},
    [nscclFloat8e4m3] = {"fp8e4m3", 1, K_FLOAT, 4, 3, 7, false},
    [nscclFloat8e5m2] = {"fp8e5m2", 1, K_FLOAT, 5, 2, 15, true},
};

static const char *const op_names[nscclNumOps] = {"sum", "prod", "max", "min", "avg"};

/* Bits of an exactly representable value (zero or normal) in a small float format. */
static inline uint64_t ref_encode_small(double x, const tinfo_t *t, bool *exact) {
  uint64_t sign = signbit(x) ? 1 : 0;
  double a = fabs(x);
  *exact = true;
  if (a == 0) return sign << (t->ebits + t->mbits);
  int e;
  double f = frexp(a, &e); /* a = f * 2^e, f in [0.5, 1) */
  long exp_field = (long)e - 1 + t->bias;
  double m = ldexp(2 * f - 1, t->mbits);
  if (exp_field < 1 || exp_field >= (1L << t->ebits) || m != floor(m)) *exact = false;
  return (sign << (t->ebits + t->mbits)) | ((uint64_t)exp_field << t->mbits) | (uint64_t)m;
}

static inline double ref_decode_small(uint64_t bits, const tinfo_t *t) {
  uint64_t mmask = (1ull << t->mbits) - 1, emax = (1ull << t->ebits) - 1;
  uint64_t m = bits & mmask, e = (bits >> t->mbits) & emax;
  double s = (bits >> (t->ebits + t->mbits)) & 1 ? -1.0 : 1.0;
  if (e == emax && t->has_inf) return m ? NAN : s * INFINITY;
  if (e == emax && !t->has_inf && m == mmask) return NAN;
  if (e == 0) return s * ldexp((double)m, 1 - t->bias - t->mbits);
  return s * ldexp(1.0 + ldexp((double)m, -t->mbits), (int)e - t->bias);
}

/* Store value v (integer bits, or a double for floats) as element i of buf. */
static inline bool ref_store(void *buf, size_t i, nscclDataType_t dt, uint64_t ibits, double d) {
  const tinfo_t *t = &tinfo[dt];
  unsigned char *p = (unsigned char *)buf + i * t->size;
  bool exact = true;
  if (t->kind != K_FLOAT) {
    memcpy(p, &ibits, t->size); /* little endian: the low bytes */
  } else if (dt == nscclFloat32) {
    float f = (float)d;
    exact = (double)f == d;
    memcpy(p, &f, 4);
  } else if (dt == nscclFloat64) {
    memcpy(p, &d, 8);
  } else {
    uint64_t b = ref_encode_small(d, t, &exact);
    memcpy(p, &b, t->size);
  }
  return exact;
}

static inline double ref_load_float(const void *buf, size_t i, nscclDataType_t dt) {
  const tinfo_t *t = &tinfo[dt];
  const unsigned char *p = (const unsigned char *)buf + i * t->size;
  if (dt == nscclFloat32) {
    float f;
    memcpy(&f, p, 4);
    return f;
  }
  if (dt == nscclFloat64) {
    double d;
    memcpy(&d, p, 8);
    return d;
  }
  uint64_t b = 0;
  memcpy(&b, p, t->size);
  return ref_decode_small(b, t);
}

/* Largest integer up to which every integer is exact in the float type: 2^(mbits+1). */
static inline double ref_exact_limit(nscclDataType_t dt) { return ldexp(1.0, tinfo[dt].mbits + 1); }

static inline uint64_t ref_mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ull;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 32;
  return x;
}

/* A value generator for one case. */
typedef struct {
  nscclDataType_t dt;
  nscclRedOp_t op;
  int nranks;
  uint64_t seed;
  long frange; /* floats: integers in [-frange, frange] */
} ref_gen_t;

static inline void ref_gen_init(ref_gen_t *g, nscclDataType_t dt, nscclRedOp_t op, int nranks, uint64_t seed) {
  g->dt = dt;
  g->op = op;
  g->nranks = nranks;
  g->seed = seed;
  double lim = ref_exact_limit(dt) / nranks;
  g->frange = lim >= 100 ? 100 : (long)lim;
}

/* Sign-extend (signed) or zero-extend (unsigned) the low size bytes. */
static inline uint64_t ref_extend(uint64_t bits, const tinfo_t *t) {
  if (t->size == 8) return bits;
  int w = (int)t->size * 8;
  bits &= (1ull << w) - 1;
  if (t->kind == K_SIGNED && (bits >> (w - 1)) & 1) bits |= ~0ull << w;
  return bits;
}

/* Input element i of rank r: integer bits in *ib (extended to 64), or a double in *d. */
static inline void ref_value(const ref_gen_t *g, int r, size_t i, uint64_t *ib, double *d) {
  const tinfo_t *t = &tinfo[g->dt];
  uint64_t h = ref_mix(g->seed + (uint64_t)r * 0xd1b54a32d192ed03ull + (uint64_t)i * 0x8cb92ba72f3d8dd7ull);
  if (t->kind != K_FLOAT) {
    if (g->op == nscclAvg) { /* small: the sum must not wrap */
      bool narrow = t->size == 1;
      if (t->kind == K_SIGNED)
        h = (uint64_t)((int64_t)(h % (narrow ? 3 : 2001)) - (narrow ? 1 : 1000));
      else
        h = h % (narrow ? 4 : 1001);
    } else if (g->op == nscclProd) {
      h |= 1; /* odd factors keep products from collapsing to 0 */
    }
    *ib = ref_extend(h, t);
    *d = 0;
    return;
  }
  *ib = 0;
  if (g->op == nscclProd) {
    bool wide = g->dt == nscclFloat32 || g->dt == nscclFloat64 || g->dt == nscclBfloat16;
    static const double f[4] = {1, -1, 2, 0.5};
    *d = f[h % (wide ? 4 : 2)];
    return;
  }
  *d = (double)((long)(h % (uint64_t)(2 * g->frange + 1)) - g->frange);
}

/* Accumulator of one output element. */
typedef union {
  uint64_t u;
  double d;
} ref_acc_t;

static inline void ref_combine(const ref_gen_t *g, ref_acc_t *a, uint64_t ib, double d, bool first) {
  const tinfo_t *t = &tinfo[g->dt];
  if (first) {
    if (t->kind == K_FLOAT)
      a->d = d;
    else
      a->u = ib;
    return;
  }
  if (t->kind == K_FLOAT) {
    switch (g->op) {
    case nscclSum:
    case nscclAvg: a->d += d; break;
    case nscclProd: a->d *= d; break;
    case nscclMax: a->d = d > a->d ? d : a->d; break;
    default: a->d = d < a->d ? d : a->d; break;
    }
    return;
  }
  bool sgn = t->kind == K_SIGNED;
  switch (g->op) {
  case nscclSum:
  case nscclAvg: a->u += ib; break;
  case nscclProd: a->u *= ib; break;
  case nscclMax: a->u = (sgn ? (int64_t)ib > (int64_t)a->u : ib > a->u) ? ib : a->u; break;
  default: a->u = (sgn ? (int64_t)ib < (int64_t)a->u : ib < a->u) ? ib : a->u; break;
  }
}

/* Final value of an accumulated element (applies avg's division). Integer result in *ib. */
static inline void ref_finish(const ref_gen_t *g, const ref_acc_t *a, uint64_t *ib, double *d) {
  const tinfo_t *t = &tinfo[g->dt];
  *ib = a->u;
  *d = t->kind == K_FLOAT ? a->d : 0;
  if (g->op != nscclAvg) return;
  if (t->kind == K_FLOAT)
    *d = a->d / g->nranks;
  else if (t->kind == K_SIGNED)
    *ib = (uint64_t)((int64_t)a->u / g->nranks);
  else
    *ib = a->u / (uint64_t)g->nranks;
}

#endif
