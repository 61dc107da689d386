/* nsccl_reduce for every datatype x op against the element-wise reference in ref.c: lengths that
 * hit the vector tail and the narrow-float block boundary, dst aliasing a or b, every pair of fp8
 * codes, and targeted wrap-around / NaN / signed-zero cases. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reduce/reduce.h"
#include "ref.h"

static const nscclDataType_t all_types[] = {nscclInt8,    nscclUint8,    nscclInt32,      nscclUint32,
                                            nscclInt64,   nscclUint64,   nscclFloat16,    nscclFloat32,
                                            nscclFloat64, nscclBfloat16, nscclFloat8e4m3, nscclFloat8e5m2};
static const nscclRedOp_t all_ops[] = {nscclSum, nscclProd, nscclMax, nscclMin, nscclAvg};
#define NTYPES (sizeof all_types / sizeof all_types[0])
#define NOPS   (sizeof all_ops / sizeof all_ops[0])

/* Compare out[i] with ref(a[i], b[i]) for every i; report the first difference. */
static void check_result(nscclDataType_t dt, nscclRedOp_t op, const void *a, const void *b, const void *out, size_t n,
                         const char *mode) {
  size_t sz = ref_size(dt);
  unsigned char want[8];
  for (size_t i = 0; i < n; i++) {
    const unsigned char *pa = (const unsigned char *)a + i * sz, *pb = (const unsigned char *)b + i * sz;
    const unsigned char *po = (const unsigned char *)out + i * sz;
    ref_combine(dt, op, pa, pb, want);
    if (!ref_elem_equal(dt, po, want)) {
      char sa[64], sb[64], so[64], sw[64];
      ref_elem_str(dt, pa, sa, sizeof sa);
      ref_elem_str(dt, pb, sb, sizeof sb);
      ref_elem_str(dt, po, so, sizeof so);
      ref_elem_str(dt, want, sw, sizeof sw);
      cr_assert_fail("%s %s %s n=%zu i=%zu: %s (op) %s = %s, want %s", nsccl_type_name(dt), nsccl_op_name(op), mode, n,
                     i, sa, sb, so, sw);
    }
  }
}

/* Out of place, dst == a, dst == b, and dst == a == b, each against the reference. */
static void run_case(nscclDataType_t dt, nscclRedOp_t op, size_t n, int aliased, uint64_t *st) {
  size_t sz = ref_size(dt), bytes = n * sz + 1;
  unsigned char *a = malloc(bytes), *b = malloc(bytes), *out = malloc(bytes);
  cr_assert(a && b && out);
  ref_fill(dt, a, n, st);
  ref_fill(dt, b, n, st);

  memset(out, 0xa5, bytes);
  cr_assert_eq(nsccl_reduce(out, a, b, n, dt, op), nscclSuccess);
  check_result(dt, op, a, b, out, n, "out-of-place");
  cr_assert_eq(out[n * sz], 0xa5, "%s %s n=%zu wrote past the end", nsccl_type_name(dt), nsccl_op_name(op), n);

  /* In place, the three ways the engines call it. */
  for (int mode = 0; aliased && mode < 3; mode++) {
    static const char *const names[] = {"dst==a", "dst==b", "dst==a==b"};
    memcpy(out, mode == 1 ? b : a, n * sz);
    const void *x = mode == 1 ? (const void *)a : out, *y = mode == 0 ? (const void *)b : out;
    cr_assert_eq(nsccl_reduce(out, x, y, n, dt, op), nscclSuccess);
    check_result(dt, op, a, mode == 2 ? a : b, out, n, names[mode]);
  }
  free(a);
  free(b);
  free(out);
}

/* 0, 1, odd lengths around vector widths, the 256-element block of the narrow kernels. */
static const size_t lengths[] = {0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 255, 256, 257, 511, 513, 1000, 4099};

Test(kernels, every_type_op_length) {
  uint64_t st = 0x1234567887654321ULL;
  for (size_t t = 0; t < NTYPES; t++)
    for (size_t o = 0; o < NOPS; o++) {
      for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
        run_case(all_types[t], all_ops[o], lengths[l], 1, &st);
      run_case(all_types[t], all_ops[o], 65537, 0, &st); /* large: out of place only, to stay fast */
    }
}

/* Every (a, b) pair of fp8 codes, every op: 65536 pairs each. */
Test(kernels, fp8_every_pair) {
  nscclDataType_t types[] = {nscclFloat8e4m3, nscclFloat8e5m2};
  uint8_t *a = malloc(65536), *b = malloc(65536), *out = malloc(65536);
  cr_assert(a && b && out);
  for (uint32_t i = 0; i < 65536; i++) {
    a[i] = (uint8_t)(i >> 8);
    b[i] = (uint8_t)i;
  }
  for (size_t t = 0; t < 2; t++)
    for (size_t o = 0; o < NOPS; o++) {
      cr_assert_eq(nsccl_reduce(out, a, b, 65536, types[t], all_ops[o]), nscclSuccess);
      check_result(types[t], all_ops[o], a, b, out, 65536, "all-pairs");
    }
  free(a);
  free(b);
  free(out);
}

/* Random pairs of 16-bit codes, biased toward nearby exponents so sums really round. */
Test(kernels, half_bf16_random_pairs) {
  nscclDataType_t types[] = {nscclFloat16, nscclBfloat16};
  size_t n = 200000;
  uint16_t *a = malloc(n * 2), *b = malloc(n * 2), *out = malloc(n * 2);
  cr_assert(a && b && out);
  uint64_t st = 42;
  for (size_t t = 0; t < 2; t++) {
    for (size_t i = 0; i < n; i++) {
      uint64_t r = ref_rand(&st);
      a[i] = (uint16_t)r;
      /* Same sign/exponent neighbourhood as a for three quarters of the pairs. */
      b[i] = (i & 3) ? (uint16_t)(a[i] ^ (uint16_t)((r >> 16) & 0x83ff)) : (uint16_t)(r >> 32);
    }
    for (size_t o = 0; o < NOPS; o++) {
      cr_assert_eq(nsccl_reduce(out, a, b, n, types[t], all_ops[o]), nscclSuccess);
      check_result(types[t], all_ops[o], a, b, out, n, "random-pairs");
    }
  }
  free(a);
  free(b);
  free(out);
}

Test(kernels, integer_wraps) {
  uint8_t ua[] = {255, 200, 16}, ub[] = {1, 100, 16}, uo[3];
  cr_assert_eq(nsccl_reduce(uo, ua, ub, 3, nscclUint8, nscclSum), nscclSuccess);
  cr_assert(uo[0] == 0 && uo[1] == 44 && uo[2] == 32);
  cr_assert_eq(nsccl_reduce(uo, ua, ub, 3, nscclUint8, nscclProd), nscclSuccess);
  cr_assert(uo[0] == 255 && uo[1] == (uint8_t)20000 && uo[2] == 0);
  int8_t sa[] = {127, -128, -128}, sb[] = {1, -1, -1}, so[3];
  cr_assert_eq(nsccl_reduce(so, sa, sb, 3, nscclInt8, nscclSum), nscclSuccess);
  cr_assert(so[0] == -128 && so[1] == 127);
  cr_assert_eq(nsccl_reduce(so, sa, sb, 3, nscclInt8, nscclProd), nscclSuccess);
  cr_assert(so[1] == -128); /* INT8_MIN * -1 wraps to itself */
  int32_t ia[] = {INT32_MAX, INT32_MIN, 65536}, ib[] = {1, -1, 65536}, io[3];
  cr_assert_eq(nsccl_reduce(io, ia, ib, 3, nscclInt32, nscclSum), nscclSuccess);
  cr_assert(io[0] == INT32_MIN && io[1] == INT32_MAX);
  cr_assert_eq(nsccl_reduce(io, ia, ib, 3, nscclInt32, nscclProd), nscclSuccess);
  cr_assert(io[0] == INT32_MAX && io[1] == INT32_MIN && io[2] == 0);
  int64_t la[] = {INT64_MAX, INT64_MIN}, lb[] = {1, -1}, lo[2];
  cr_assert_eq(nsccl_reduce(lo, la, lb, 2, nscclInt64, nscclSum), nscclSuccess);
  cr_assert(lo[0] == INT64_MIN && lo[1] == INT64_MAX);
  uint64_t qa[] = {UINT64_MAX, 1ULL << 63}, qb[] = {2, 2}, qo[2];
  cr_assert_eq(nsccl_reduce(qo, qa, qb, 2, nscclUint64, nscclSum), nscclSuccess);
  cr_assert(qo[0] == 1 && qo[1] == (1ULL << 63) + 2);
  cr_assert_eq(nsccl_reduce(qo, qa, qb, 2, nscclUint64, nscclProd), nscclSuccess);
  cr_assert(qo[0] == UINT64_MAX - 1 && qo[1] == 0);
  cr_assert_eq(nsccl_reduce(qo, qa, qb, 2, nscclUint64, nscclMax), nscclSuccess);
  cr_assert(qo[0] == UINT64_MAX && qo[1] == 1ULL << 63); /* unsigned compare, not signed */
}

Test(kernels, float_nan_and_signed_zero) {
  float a[] = {NAN, 1.0f, 0.0f, -0.0f, 0.0f, -0.0f, INFINITY, -INFINITY};
  float b[] = {1.0f, NAN, -0.0f, 0.0f, 0.0f, -0.0f, NAN, 5.0f};
  float mx[8], mn[8];
  cr_assert_eq(nsccl_reduce(mx, a, b, 8, nscclFloat32, nscclMax), nscclSuccess);
  cr_assert_eq(nsccl_reduce(mn, a, b, 8, nscclFloat32, nscclMin), nscclSuccess);
  cr_assert(isnan(mx[0]) && isnan(mx[1]) && isnan(mn[0]) && isnan(mn[1]) && isnan(mx[6]) && isnan(mn[6]));
  cr_assert(mx[2] == 0 && !signbit(mx[2]) && mx[3] == 0 && !signbit(mx[3]));
  cr_assert(mn[2] == 0 && signbit(mn[2]) && mn[3] == 0 && signbit(mn[3]));
  cr_assert(!signbit(mx[4]) && !signbit(mn[4]) && signbit(mx[5]) && signbit(mn[5]));
  cr_assert(mx[7] == 5.0f && mn[7] == -INFINITY);
  double da[] = {0.0, NAN}, db[] = {-0.0, -1.0}, dm[2];
  cr_assert_eq(nsccl_reduce(dm, da, db, 2, nscclFloat64, nscclMin), nscclSuccess);
  cr_assert(signbit(dm[0]) && isnan(dm[1]));
  /* Sums: inf - inf is NaN; overflow goes to inf (float16) or NaN (e4m3). */
  uint16_t ha[] = {0x7c00, 0x7bff}, hb[] = {0xfc00, 0x7bff}, ho[2];
  cr_assert_eq(nsccl_reduce(ho, ha, hb, 2, nscclFloat16, nscclSum), nscclSuccess);
  cr_assert(isnan(nsccl_half_to_float(ho[0])) && ho[1] == 0x7c00);
  uint8_t ea[] = {0x7e}, eb[] = {0x7e}, eo[1];
  cr_assert_eq(nsccl_reduce(eo, ea, eb, 1, nscclFloat8e4m3, nscclSum), nscclSuccess);
  cr_assert_eq(eo[0], 0x7f);
}

Test(kernels, bad_arguments) {
  int x = 1;
  cr_assert_eq(nsccl_reduce(&x, &x, &x, 1, (nscclDataType_t)nscclNumTypes, nscclSum), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce(&x, &x, &x, 1, (nscclDataType_t)-1, nscclSum), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce(&x, &x, &x, 1, nscclInt32, (nscclRedOp_t)nscclNumOps), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce(NULL, &x, &x, 1, nscclInt32, nscclSum), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce(&x, NULL, &x, 1, nscclInt32, nscclSum), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce(NULL, NULL, NULL, 0, nscclInt32, nscclSum), nscclSuccess);
  cr_assert_eq(x, 1);
}
