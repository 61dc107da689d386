/* Datatype/op facts and the final nscclAvg division against the reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reduce/reduce.h"
#include "ref.h"

Test(types, sizes_and_names) {
  struct {
    nscclDataType_t dt;
    size_t size;
    const char *name;
  } want[] = {
      {nscclInt8, sizeof(int8_t), "int8"},
      {nscclUint8, sizeof(uint8_t), "uint8"},
      {nscclInt32, sizeof(int32_t), "int32"},
      {nscclUint32, sizeof(uint32_t), "uint32"},
      {nscclInt64, sizeof(int64_t), "int64"},
      {nscclUint64, sizeof(uint64_t), "uint64"},
      {nscclFloat16, 2, "float16"},
      {nscclFloat32, sizeof(float), "float32"},
      {nscclFloat64, sizeof(double), "float64"},
      {nscclBfloat16, 2, "bfloat16"},
      {nscclFloat8e4m3, 1, "float8e4m3"},
      {nscclFloat8e5m2, 1, "float8e5m2"},
  };
  cr_assert_eq(sizeof want / sizeof want[0], (size_t)nscclNumTypes);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    cr_assert_eq(nsccl_type_size(want[i].dt), want[i].size, "size of %s", want[i].name);
    cr_assert_str_eq(nsccl_type_name(want[i].dt), want[i].name);
  }
  cr_assert_eq(nsccl_type_size((nscclDataType_t)nscclNumTypes), 0);
  cr_assert_eq(nsccl_type_size((nscclDataType_t)-1), 0);
  cr_assert_str_eq(nsccl_type_name((nscclDataType_t)99), "invalid");
  cr_assert_str_eq(nsccl_op_name(nscclSum), "sum");
  cr_assert_str_eq(nsccl_op_name(nscclProd), "prod");
  cr_assert_str_eq(nsccl_op_name(nscclMax), "max");
  cr_assert_str_eq(nsccl_op_name(nscclMin), "min");
  cr_assert_str_eq(nsccl_op_name(nscclAvg), "avg");
  cr_assert_str_eq(nsccl_op_name((nscclRedOp_t)nscclNumOps), "invalid");
}

Test(avg, every_type_against_reference) {
  static const int nranks[] = {1, 2, 3, 7, 64, 1000};
  static const size_t lengths[] = {0, 1, 5, 255, 256, 257, 3001};
  uint64_t st = 7;
  for (int dt = 0; dt < nscclNumTypes; dt++) {
    size_t sz = ref_size((nscclDataType_t)dt);
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
      for (size_t r = 0; r < sizeof nranks / sizeof nranks[0]; r++) {
        size_t n = lengths[l];
        unsigned char *in = malloc(n * sz + 1), *buf = malloc(n * sz + 1), want[8];
        cr_assert(in && buf);
        ref_fill((nscclDataType_t)dt, in, n, &st);
        memcpy(buf, in, n * sz);
        cr_assert_eq(nsccl_reduce_avg_finish(buf, n, (nscclDataType_t)dt, nranks[r]), nscclSuccess);
        for (size_t i = 0; i < n; i++) {
          ref_avg_div((nscclDataType_t)dt, in + i * sz, want, nranks[r]);
          if (!ref_elem_equal((nscclDataType_t)dt, buf + i * sz, want)) {
            char si[64], sg[64], sw[64];
            ref_elem_str((nscclDataType_t)dt, in + i * sz, si, sizeof si);
            ref_elem_str((nscclDataType_t)dt, buf + i * sz, sg, sizeof sg);
            ref_elem_str((nscclDataType_t)dt, want, sw, sizeof sw);
            cr_assert_fail("%s avg n=%zu i=%zu: %s / %d = %s, want %s", nsccl_type_name((nscclDataType_t)dt), n, i, si,
                           nranks[r], sg, sw);
          }
        }
        free(in);
        free(buf);
      }
  }
}

Test(avg, integer_edges) {
  int8_t b8[] = {-7, 7, -128, 127, -1};
  cr_assert_eq(nsccl_reduce_avg_finish(b8, 5, nscclInt8, 2), nscclSuccess);
  cr_assert(b8[0] == -3 && b8[1] == 3 && b8[2] == -64 && b8[3] == 63 && b8[4] == 0); /* truncation toward zero */
  int32_t b32[] = {INT32_MIN, INT32_MAX, -5};
  cr_assert_eq(nsccl_reduce_avg_finish(b32, 3, nscclInt32, 3), nscclSuccess);
  cr_assert(b32[0] == INT32_MIN / 3 && b32[1] == INT32_MAX / 3 && b32[2] == -1);
  int64_t b64[] = {INT64_MIN, -1};
  cr_assert_eq(nsccl_reduce_avg_finish(b64, 2, nscclInt64, 1), nscclSuccess);
  cr_assert(b64[0] == INT64_MIN && b64[1] == -1); /* nranks 1 leaves values alone */
  cr_assert_eq(nsccl_reduce_avg_finish(b64, 2, nscclInt64, 7), nscclSuccess);
  cr_assert(b64[0] == INT64_MIN / 7 && b64[1] == 0);
  uint8_t u8[] = {255};
  cr_assert_eq(nsccl_reduce_avg_finish(u8, 1, nscclUint8, 2), nscclSuccess);
  cr_assert_eq(u8[0], 127); /* unsigned: never read as -1 */
  uint64_t u64[] = {UINT64_MAX};
  cr_assert_eq(nsccl_reduce_avg_finish(u64, 1, nscclUint64, 3), nscclSuccess);
  cr_assert_eq(u64[0], UINT64_MAX / 3);
}

Test(avg, float_edges) {
  float f[] = {NAN, INFINITY, -0.0f, 0x1p-149f, 3.0f};
  cr_assert_eq(nsccl_reduce_avg_finish(f, 5, nscclFloat32, 2), nscclSuccess);
  cr_assert(isnan(f[0]) && isinf(f[1]) && f[2] == 0 && signbit(f[2]) && f[3] == 0 && f[4] == 1.5f);
  uint16_t h[] = {0x0001, 0x0003, 0x7c00}; /* float16 subnormals: 2^-24 / 2 ties to 0, 3*2^-24 / 2 to 2*2^-24 */
  cr_assert_eq(nsccl_reduce_avg_finish(h, 3, nscclFloat16, 2), nscclSuccess);
  cr_assert(h[0] == 0 && h[1] == 0x0002 && h[2] == 0x7c00);
}

Test(avg, bad_arguments) {
  int32_t x = 5;
  cr_assert_eq(nsccl_reduce_avg_finish(&x, 1, nscclInt32, 0), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce_avg_finish(&x, 1, nscclInt32, -1), nscclInvalidArgument); /* no INT_MIN / -1 */
  cr_assert_eq(nsccl_reduce_avg_finish(&x, 1, (nscclDataType_t)nscclNumTypes, 2), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce_avg_finish(NULL, 1, nscclInt32, 2), nscclInvalidArgument);
  cr_assert_eq(nsccl_reduce_avg_finish(NULL, 0, nscclInt32, 2), nscclSuccess);
  cr_assert_eq(x, 5);
}
