/* Obviously-correct references for the reduction tests, written independently of src/reduce:
 * narrow floats are decoded field by field with ldexp and encoded by searching every code for the
 * nearest value (ties to the even code); integer results are wrapped by explicit modular arithmetic. */
#ifndef NSCCL_TESTS_REDUCE_REF_H
#define NSCCL_TESTS_REDUCE_REF_H

#include <stddef.h>
#include <stdint.h>

#include "nsccl.h"

typedef struct {
  const char *name;
  int ebits, mbits, bias;
  int ieee; /* 1: exponent all ones is inf/NaN; 0: E4M3FN (only S.1111.111 is NaN, no inf) */
} ref_fmt_t;

extern const ref_fmt_t ref_half, ref_bf16, ref_e4m3, ref_e5m2;

/* The format of a narrow floating datatype, NULL for the others. */
const ref_fmt_t *ref_fmt_of(nscclDataType_t dt);

double ref_decode(const ref_fmt_t *f, uint32_t code);
/* Round v to the nearest code, ties to even; overflow gives inf (ieee) or NaN (E4M3FN). */
uint32_t ref_encode(const ref_fmt_t *f, double v);
int ref_is_nan_code(const ref_fmt_t *f, uint32_t code);
/* Largest finite magnitude code and the code of +infinity (or of NaN for E4M3FN). */
uint32_t ref_max_finite(const ref_fmt_t *f);
uint32_t ref_overflow_code(const ref_fmt_t *f);
/* Value the magnitude code would have if the exponent range went on (codes past the finite ones). */
double ref_magnitude(const ref_fmt_t *f, uint32_t mag);

/* Bytes of one element, from the NCCL datatype table (independent of nsccl_type_size). */
size_t ref_size(nscclDataType_t dt);

/* Element-wise reference: out = a (op) b for one element of type dt; avg is a sum. */
void ref_combine(nscclDataType_t dt, nscclRedOp_t op, const void *a, const void *b, void *out);
/* One element of buf divided by nranks, the way nscclAvg finishes. */
void ref_avg_div(nscclDataType_t dt, const void *in, void *out, int nranks);
/* Equal bits, or both NaN for floating types. */
int ref_elem_equal(nscclDataType_t dt, const void *x, const void *y);
/* Human-readable element for failure messages. */
void ref_elem_str(nscclDataType_t dt, const void *x, char *buf, size_t len);

/* Deterministic pseudo-random numbers (xorshift64*). */
uint64_t ref_rand(uint64_t *state);
/* Fill n elements with a mix of edge values and random bit patterns for dt. */
void ref_fill(nscclDataType_t dt, void *buf, size_t n, uint64_t *state);

#endif
