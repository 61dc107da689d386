/* placeholder: being written */
#include "reduce/reduce.h"
size_t nsccl_type_size(nscclDataType_t dtype) {
  static const size_t sizes[nscclNumTypes] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return (unsigned)dtype < nscclNumTypes ? sizes[dtype] : 0;
}
nscclResult_t nsccl_reduce(void *dst, const void *a, const void *b, size_t count, nscclDataType_t dtype,
                           nscclRedOp_t op) {
  (void)dst; (void)a; (void)b; (void)count; (void)dtype; (void)op;
  return nscclInternalError;
}
nscclResult_t nsccl_reduce_avg_finish(void *buf, size_t count, nscclDataType_t dtype, int nranks) {
  (void)buf; (void)count; (void)dtype; (void)nranks;
  return nscclInternalError;
}
