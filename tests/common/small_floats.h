/* Small non-negative integers in float16 and bfloat16, built bit by bit rather than through
 * nsccl's conversions, for the MPI tests whose references are exact integers (values below 2^11
 * are exact in float16, below 2^8 in bfloat16). */
#ifndef NSCCL_TESTS_COMMON_SMALL_FLOATS_H
#define NSCCL_TESTS_COMMON_SMALL_FLOATS_H

#include <stdint.h>
#include <string.h>

static inline uint16_t small_int_to_half(unsigned v) {
  if (v == 0) return 0;
  int e = 31 - __builtin_clz(v);
  return (uint16_t)(((unsigned)(e + 15) << 10) | ((v << (10 - e)) & 0x3ffu));
}

static inline uint16_t small_int_to_bf16(unsigned v) {
  float f = (float)v;
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return (uint16_t)(u >> 16);
}

#endif
