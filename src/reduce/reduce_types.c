/* Datatype and operator facts (element sizes, names) and the exported scalar conversions. */
#include "reduce/reduce.h"
#include "reduce/reduce_convert.h"

/* Indexed by nscclDataType_t; the sizes follow the NCCL datatypes the enum mirrors. */
static const struct {
  size_t size;
  const char *name;
} type_info[nscclNumTypes] = {
    [nscclInt8] = {1, "int8"},         [nscclUint8] = {1, "uint8"},           [nscclInt32] = {4, "int32"},
    [nscclUint32] = {4, "uint32"},     [nscclInt64] = {8, "int64"},           [nscclUint64] = {8, "uint64"},
    [nscclFloat16] = {2, "float16"},   [nscclFloat32] = {4, "float32"},       [nscclFloat64] = {8, "float64"},
    [nscclBfloat16] = {2, "bfloat16"}, [nscclFloat8e4m3] = {1, "float8e4m3"}, [nscclFloat8e5m2] = {1, "float8e5m2"},
};

static const char *const op_names[nscclNumOps] = {
    [nscclSum] = "sum", [nscclProd] = "prod", [nscclMax] = "max", [nscclMin] = "min", [nscclAvg] = "avg",
};

/* Casting to unsigned makes negative values out of range too. */
size_t nsccl_type_size(nscclDataType_t dtype) {
  return (unsigned)dtype < (unsigned)nscclNumTypes ? type_info[dtype].size : 0;
}

const char *nsccl_type_name(nscclDataType_t dtype) {
  return (unsigned)dtype < (unsigned)nscclNumTypes ? type_info[dtype].name : "invalid";
}

const char *nsccl_op_name(nscclRedOp_t op) { return (unsigned)op < (unsigned)nscclNumOps ? op_names[op] : "invalid"; }

float nsccl_half_to_float(uint16_t h) { return nsccl_half_to_float_inl(h); }
uint16_t nsccl_float_to_half(float f) { return nsccl_float_to_half_inl(f); }
float nsccl_bf16_to_float(uint16_t h) { return nsccl_bf16_to_float_inl(h); }
uint16_t nsccl_float_to_bf16(float f) { return nsccl_float_to_bf16_inl(f); }
float nsccl_e4m3_to_float(uint8_t v) { return nsccl_e4m3_to_float_inl(v); }
uint8_t nsccl_float_to_e4m3(float f) { return nsccl_float_to_e4m3_inl(f); }
float nsccl_e5m2_to_float(uint8_t v) { return nsccl_e5m2_to_float_inl(v); }
uint8_t nsccl_float_to_e5m2(float f) { return nsccl_float_to_e5m2_inl(f); }
