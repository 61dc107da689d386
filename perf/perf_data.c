/* Check patterns and exact expected results, nccl-tests shapes and bus factors, MPI mappings.
 *
 * Rank r's element at global index g holds a small integer v(r, g) chosen so that every partial
 * sum or product any algorithm forms is exact in the datatype (fewer distinct values for the narrow
 * floats). The expected result is then a function of g that does not depend on reduction order,
 * and it repeats with period PERIOD, so fill and check work from a table of PERIOD values. */
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "perf/perf.h"
#include "reduce/reduce.h"

#define PERIOD 30 /* a multiple of 2, 3 and 5: the pattern's residues */

static int is_float(nscclDataType_t t) {
  return t == nscclFloat16 || t == nscclBfloat16 || t == nscclFloat32 || t == nscclFloat64 || t == nscclFloat8e4m3 ||
         t == nscclFloat8e5m2;
}

static double pattern(int rank, size_t g, nscclDataType_t t, nscclRedOp_t op) {
  if (op == nscclProd) return ((size_t)rank + g) % 3 == 0 ? 2.0 : 1.0;
  unsigned k = (t == nscclFloat8e4m3 || t == nscclFloat8e5m2) ? 2 : (t == nscclFloat16 || t == nscclBfloat16) ? 3 : 5;
  return (double)(1 + ((unsigned)(rank % (int)k) * 7 + (unsigned)(g % k) * 3 + 1) % k);
}

/* Store v in the datatype's representation (integers wrap, floats round to nearest even). */
static void put(void *p, nscclDataType_t t, double v) {
  switch (t) {
  case nscclInt8: *(int8_t *)p = (int8_t)(int64_t)v; break;
  case nscclUint8: *(uint8_t *)p = (uint8_t)(uint64_t)v; break;
  case nscclInt32: *(int32_t *)p = (int32_t)(int64_t)v; break;
  case nscclUint32: *(uint32_t *)p = (uint32_t)(uint64_t)v; break;
  case nscclInt64: *(int64_t *)p = (int64_t)v; break;
  case nscclUint64: *(uint64_t *)p = (uint64_t)v; break;
  case nscclFloat16: *(uint16_t *)p = nsccl_float_to_half((float)v); break;
  case nscclBfloat16: *(uint16_t *)p = nsccl_float_to_bf16((float)v); break;
  case nscclFloat32: *(float *)p = (float)v; break;
  case nscclFloat64: *(double *)p = v; break;
  case nscclFloat8e4m3: *(uint8_t *)p = nsccl_float_to_e4m3((float)v); break;
  case nscclFloat8e5m2: *(uint8_t *)p = nsccl_float_to_e5m2((float)v); break;
  default: break;
  }
}

static double get(const void *p, nscclDataType_t t) {
  switch (t) {
  case nscclInt8: return *(const int8_t *)p;
  case nscclUint8: return *(const uint8_t *)p;
  case nscclInt32: return *(const int32_t *)p;
  case nscclUint32: return *(const uint32_t *)p;
  case nscclInt64: return (double)*(const int64_t *)p;
  case nscclUint64: return (double)*(const uint64_t *)p;
  case nscclFloat16: return nsccl_half_to_float(*(const uint16_t *)p);
  case nscclBfloat16: return nsccl_bf16_to_float(*(const uint16_t *)p);
  case nscclFloat32: return *(const float *)p;
  case nscclFloat64: return *(const double *)p;
  case nscclFloat8e4m3: return nsccl_e4m3_to_float(*(const uint8_t *)p);
  case nscclFloat8e5m2: return nsccl_e5m2_to_float(*(const uint8_t *)p);
  default: return 0;
  }
}

static double roundtrip(nscclDataType_t t, double v) {
  uint64_t slot = 0;
  put(&slot, t, v);
  return get(&slot, t);
}

/* The exact reduction over all ranks of the pattern at global index g, in the datatype. */
static double reduced(size_t g, int nranks, nscclDataType_t t, nscclRedOp_t op) {
  double acc = pattern(0, g, t, op);
  for (int r = 1; r < nranks; r++) {
    double v = pattern(r, g, t, op);
    switch (op) {
    case nscclProd: acc *= v; break;
    case nscclMax: acc = v > acc ? v : acc; break;
    case nscclMin: acc = v < acc ? v : acc; break;
    default: acc += v; break;
    }
  }
  acc = roundtrip(t, acc);
  if (op == nscclAvg) acc = is_float(t) ? roundtrip(t, acc / nranks) : trunc(acc / nranks);
  return acc;
}

void perf_fill(void *buf, size_t elems, size_t base, int rank, nscclDataType_t t, nscclRedOp_t op) {
  size_t esz = nsccl_type_size(t);
  unsigned char table[PERIOD][8];
  for (size_t j = 0; j < PERIOD; j++) put(table[j], t, pattern(rank, j, t, op));
  unsigned char *p = buf;
  for (size_t i = 0; i < elems; i++) memcpy(p + i * esz, table[(base + i) % PERIOD], esz);
}

size_t perf_check(const perf_shape_t *s, const void *out, size_t elems, size_t base, int rank, int nranks,
                  nscclDataType_t t, nscclRedOp_t op) {
  (void)rank;
  size_t esz = nsccl_type_size(t);
  const unsigned char *p = out;
  size_t wrong = 0;
  if (s->coll == NSCCL_COLL_ALLGATHER) {
    /* Element j of the output is element j % count of rank j / count's input. */
    for (int owner = 0; owner < nranks; owner++) {
      size_t first = (size_t)owner * s->call_count;
      if (first >= base + elems) break;
      unsigned char table[PERIOD][8];
      for (size_t j = 0; j < PERIOD; j++) put(table[j], t, pattern(owner, j, t, op));
      for (size_t i = 0; i < s->call_count; i++) {
        size_t g = first + i;
        if (g < base || g >= base + elems) continue;
        wrong += memcmp(p + (g - base) * esz, table[i % PERIOD], esz) != 0;
      }
    }
    return wrong;
  }
  unsigned char table[PERIOD][8];
  double want[PERIOD];
  for (size_t j = 0; j < PERIOD; j++) {
    want[j] = reduced(j, nranks, t, op);
    put(table[j], t, want[j]);
  }
  /* Averages of floats divide once at the end; allow one rounding of slack there. */
  double tol = 0;
  if (op == nscclAvg && is_float(t))
    tol = t == nscclFloat64 ? 1e-15 : t == nscclFloat32 ? 1e-6 : t == nscclFloat16 || t == nscclBfloat16 ? 1e-2 : 0.2;
  for (size_t i = 0; i < elems; i++) {
    size_t j = (base + i) % PERIOD;
    if (memcmp(p + i * esz, table[j], esz) == 0) continue;
    double got = get(p + i * esz, t);
    wrong += !(tol > 0 && fabs(got - want[j]) <= tol * fabs(want[j]));
  }
  return wrong;
}

void perf_shape(nsccl_coll_t coll, size_t bytes, size_t esz, int nranks, perf_shape_t *s) {
  memset(s, 0, sizeof(*s));
  s->coll = coll;
  size_t n = (size_t)nranks;
  if (coll == NSCCL_COLL_ALLREDUCE) {
    s->call_count = bytes / esz;
    if (bytes > 0 && s->call_count == 0) s->call_count = 1;
    s->count = s->call_count;
    s->send_bytes = s->recv_bytes = s->count * esz;
  } else {
    s->call_count = bytes / (esz * n);
    if (bytes > 0 && s->call_count == 0) s->call_count = 1;
    s->count = s->call_count * n;
    s->send_bytes = (coll == NSCCL_COLL_ALLGATHER ? s->call_count : s->count) * esz;
    s->recv_bytes = (coll == NSCCL_COLL_ALLGATHER ? s->count : s->call_count) * esz;
  }
  s->bytes = s->count * esz;
}

double perf_bus_factor(nsccl_coll_t coll, int nranks) {
  if (nranks <= 1) return coll == NSCCL_COLL_ALLREDUCE ? 0.0 : 0.0;
  if (coll == NSCCL_COLL_ALLREDUCE) return 2.0 * (nranks - 1) / nranks;
  return (double)(nranks - 1) / nranks;
}

MPI_Datatype perf_mpi_type(nscclDataType_t t) {
  switch (t) {
  case nscclInt8: return MPI_INT8_T;
  case nscclUint8: return MPI_UINT8_T;
  case nscclInt32: return MPI_INT32_T;
  case nscclUint32: return MPI_UINT32_T;
  case nscclInt64: return MPI_INT64_T;
  case nscclUint64: return MPI_UINT64_T;
  case nscclFloat32: return MPI_FLOAT;
  case nscclFloat64: return MPI_DOUBLE;
  default: return MPI_DATATYPE_NULL;
  }
}

MPI_Op perf_mpi_op(nscclRedOp_t op) {
  switch (op) {
  case nscclProd: return MPI_PROD;
  case nscclMax: return MPI_MAX;
  case nscclMin: return MPI_MIN;
  default: return MPI_SUM; /* avg: MPI has none; the sum costs the same */
  }
}

size_t perf_peak_rss(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}
