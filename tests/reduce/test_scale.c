/* nsccl_reduce_scale (the pre-multiplication of PreMulSum operators) for every datatype against
 * the independent element-wise product of ref.c: dst[i] must equal ref(src[i] * scalar), out of
 * place and in place, with edge values (NaN, inf, signed zeros, wrap-around) among the inputs and
 * the scalars. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "reduce/reduce.h"
#include "ref.h"

static const nscclDataType_t all_types[] = {nscclInt8,    nscclUint8,    nscclInt32,      nscclUint32,
                                            nscclInt64,   nscclUint64,   nscclFloat16,    nscclFloat32,
                                            nscclFloat64, nscclBfloat16, nscclFloat8e4m3, nscclFloat8e5m2};

static void check_scale(nscclDataType_t dt, size_t n, int in_place, uint64_t *st) {
  size_t sz = ref_size(dt);
  unsigned char *src = malloc(n * sz + 1), *dst = malloc(n * sz + 1), *keep = malloc(n * sz + 1);
  unsigned char scalar[8], want[8];
  cr_assert(src && dst && keep);
  ref_fill(dt, src, n, st);
  ref_fill(dt, scalar, 1, st);
  memcpy(keep, src, n * sz);
  unsigned char *out = in_place ? src : dst;
  cr_assert_eq(nsccl_reduce_scale(out, src, n, dt, scalar), nscclSuccess);
  for (size_t i = 0; i < n; i++) {
    ref_combine(dt, nscclProd, keep + i * sz, scalar, want);
    if (!ref_elem_equal(dt, out + i * sz, want)) {
      char sx[64], sk[64], so[64], sw[64];
      ref_elem_str(dt, keep + i * sz, sx, sizeof sx);
      ref_elem_str(dt, scalar, sk, sizeof sk);
      ref_elem_str(dt, out + i * sz, so, sizeof so);
      ref_elem_str(dt, want, sw, sizeof sw);
      cr_assert_fail("%s n=%zu i=%zu %s: %s * %s = %s, want %s", nsccl_type_name(dt), n, i,
                     in_place ? "in place" : "out of place", sx, sk, so, sw);
    }
  }
  free(src);
  free(dst);
  free(keep);
}

Test(reduce_scale, every_type_against_the_reference_product) {
  uint64_t st = 0x5ca1ab1e;
  for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++)
    for (int rep = 0; rep < 40; rep++) /* 40 scalars per type, edge values among them */
      for (int in_place = 0; in_place < 2; in_place++) check_scale(all_types[t], 1 + (size_t)rep * 7, in_place, &st);
}

Test(reduce_scale, refuses_bad_arguments) {
  float x = 1, k = 2;
  cr_assert_eq(nsccl_reduce_scale(&x, &x, 1, nscclNumTypes, &k), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce_scale(&x, &x, 1, nscclFloat32, NULL), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce_scale(NULL, NULL, 0, nscclFloat32, NULL), nscclSuccess); /* nothing to do */
}
