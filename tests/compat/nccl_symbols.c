/* Compile test: every name the compat nccl.h and cuda_runtime.h promise exists, with NCCL's types,
 * and the program links against nsccl. Built with -Wall -Wextra -Werror -pedantic; running it
 * checks the values that must equal NCCL's. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>

#if !defined(NCCL_MAJOR) || !defined(NCCL_MINOR) || !defined(NCCL_PATCH) || !defined(NCCL_VERSION_CODE) ||             \
    !defined(NCCL_VERSION) || !defined(NCCL_UNIQUE_ID_BYTES) || !defined(NCCL_CONFIG_INITIALIZER) ||                   \
    !defined(NCCL_SPLIT_NOCOLOR) || !defined(NCCL_SUFFIX)
#error "a promised NCCL macro is missing"
#endif
#if NCCL_VERSION_CODE != NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH) || NCCL_VERSION(2, 8, 4) != 2804 ||          \
    NCCL_VERSION(2, 18, 3) != 21803
#error "NCCL_VERSION does not follow NCCL's formula"
#endif

/* Every function, through a pointer of NCCL's exact type. */
static ncclResult_t (*const fns_comm[])(void) = {ncclGroupStart, ncclGroupEnd};
static ncclResult_t (*p_version)(int *) = ncclGetVersion;
static const char *(*p_errstr)(ncclResult_t) = ncclGetErrorString;
static const char *(*p_lasterr)(ncclComm_t) = ncclGetLastError;
static ncclResult_t (*p_uid)(ncclUniqueId *) = ncclGetUniqueId;
static ncclResult_t (*p_init)(ncclComm_t *, int, ncclUniqueId, int) = ncclCommInitRank;
static ncclResult_t (*p_initcfg)(ncclComm_t *, int, ncclUniqueId, int, ncclConfig_t *) = ncclCommInitRankConfig;
static ncclResult_t (*p_initall)(ncclComm_t *, int, const int *) = ncclCommInitAll;
static ncclResult_t (*p_split)(ncclComm_t, int, int, ncclComm_t *, ncclConfig_t *) = ncclCommSplit;
static ncclResult_t (*p_fin)(ncclComm_t) = ncclCommFinalize;
static ncclResult_t (*p_destroy)(ncclComm_t) = ncclCommDestroy;
static ncclResult_t (*p_abort)(ncclComm_t) = ncclCommAbort;
static ncclResult_t (*p_async)(ncclComm_t, ncclResult_t *) = ncclCommGetAsyncError;
static ncclResult_t (*p_count)(const ncclComm_t, int *) = ncclCommCount;
static ncclResult_t (*p_dev)(const ncclComm_t, int *) = ncclCommCuDevice;
static ncclResult_t (*p_rank)(const ncclComm_t, int *) = ncclCommUserRank;
static ncclResult_t (*p_memalloc)(void **, size_t) = ncclMemAlloc;
static ncclResult_t (*p_memfree)(void *) = ncclMemFree;
static ncclResult_t (*p_reg)(const ncclComm_t, void *, size_t, void **) = ncclCommRegister;
static ncclResult_t (*p_dereg)(const ncclComm_t, void *) = ncclCommDeregister;
static ncclResult_t (*p_premul)(ncclRedOp_t *, void *, ncclDataType_t, ncclScalarResidence_t,
                                ncclComm_t) = ncclRedOpCreatePreMulSum;
static ncclResult_t (*p_opdestroy)(ncclRedOp_t, ncclComm_t) = ncclRedOpDestroy;
static ncclResult_t (*p_ar)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                            cudaStream_t) = ncclAllReduce;
static ncclResult_t (*p_ag)(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = ncclAllGather;
static ncclResult_t (*p_rs)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                            cudaStream_t) = ncclReduceScatter;
static ncclResult_t (*p_bc)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t,
                            cudaStream_t) = ncclBroadcast;
static ncclResult_t (*p_bcast)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = ncclBcast;
static ncclResult_t (*p_red)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t,
                             cudaStream_t) = ncclReduce;
static ncclResult_t (*p_send)(const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = ncclSend;
static ncclResult_t (*p_recv)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = ncclRecv;
/* CUDA runtime calls around NCCL. */
static cudaError_t (*c_fns[])(void) = {cudaDeviceSynchronize, cudaGetLastError, cudaPeekAtLastError};
static cudaError_t (*c_count)(int *) = cudaGetDeviceCount;
static cudaError_t (*c_set)(int) = cudaSetDevice;
static cudaError_t (*c_get)(int *) = cudaGetDevice;
static cudaError_t (*c_malloc)(void **, size_t) = cudaMalloc;
static cudaError_t (*c_free)(void *) = cudaFree;
static cudaError_t (*c_mallochost)(void **, size_t) = cudaMallocHost;
static cudaError_t (*c_freehost)(void *) = cudaFreeHost;
static cudaError_t (*c_memcpy)(void *, const void *, size_t, enum cudaMemcpyKind) = cudaMemcpy;
static cudaError_t (*c_memcpyasync)(void *, const void *, size_t, enum cudaMemcpyKind, cudaStream_t) = cudaMemcpyAsync;
static cudaError_t (*c_memset)(void *, int, size_t) = cudaMemset;
static cudaError_t (*c_screate)(cudaStream_t *) = cudaStreamCreate;
static cudaError_t (*c_screatef)(cudaStream_t *, unsigned int) = cudaStreamCreateWithFlags;
static cudaError_t (*c_ssync)(cudaStream_t) = cudaStreamSynchronize;
static cudaError_t (*c_squery)(cudaStream_t) = cudaStreamQuery;
static cudaError_t (*c_sdestroy)(cudaStream_t) = cudaStreamDestroy;
static const char *(*c_errstr)(cudaError_t) = cudaGetErrorString;

static int fails;
#define EXPECT(cond)                                                                                                   \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "nccl_symbols: %s is false\n", #cond);                                                           \
      fails++;                                                                                                         \
    }                                                                                                                  \
  } while (0)

int main(void) {
  const void *all[] = {
      (const void *)fns_comm,      (const void *)&p_version,   (const void *)&p_errstr,   (const void *)&p_lasterr,
      (const void *)&p_uid,        (const void *)&p_init,      (const void *)&p_initcfg,  (const void *)&p_initall,
      (const void *)&p_split,      (const void *)&p_fin,       (const void *)&p_destroy,  (const void *)&p_abort,
      (const void *)&p_async,      (const void *)&p_count,     (const void *)&p_dev,      (const void *)&p_rank,
      (const void *)&p_memalloc,   (const void *)&p_memfree,   (const void *)&p_reg,      (const void *)&p_dereg,
      (const void *)&p_premul,     (const void *)&p_opdestroy, (const void *)&p_ar,       (const void *)&p_ag,
      (const void *)&p_rs,         (const void *)&p_bc,        (const void *)&p_bcast,    (const void *)&p_red,
      (const void *)&p_send,       (const void *)&p_recv,      (const void *)c_fns,       (const void *)&c_count,
      (const void *)&c_set,        (const void *)&c_get,       (const void *)&c_malloc,   (const void *)&c_free,
      (const void *)&c_mallochost, (const void *)&c_freehost,  (const void *)&c_memcpy,   (const void *)&c_memcpyasync,
      (const void *)&c_memset,     (const void *)&c_screate,   (const void *)&c_screatef, (const void *)&c_ssync,
      (const void *)&c_squery,     (const void *)&c_sdestroy,  (const void *)&c_errstr};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) EXPECT(all[i] != NULL);

  /* NCCL's enum values. */
  ncclResult_t results[] = {ncclSuccess,         ncclUnhandledCudaError, ncclSystemError, ncclInternalError,
                            ncclInvalidArgument, ncclInvalidUsage,       ncclRemoteError, ncclInProgress};
  for (int i = 0; i < 8; i++) EXPECT((int)results[i] == i);
  EXPECT(ncclNumResults >= 8);
  EXPECT(ncclInt8 == 0 && ncclChar == 0 && ncclUint8 == 1 && ncclInt32 == 2 && ncclInt == 2 && ncclUint32 == 3);
  EXPECT(ncclInt64 == 4 && ncclUint64 == 5 && ncclFloat16 == 6 && ncclHalf == 6 && ncclFloat32 == 7);
  EXPECT(ncclFloat == 7 && ncclFloat64 == 8 && ncclDouble == 8 && ncclBfloat16 == 9);
  EXPECT(ncclFloat8e4m3 == 10 && ncclFloat8e5m2 == 11 && ncclNumTypes == 12);
  EXPECT(ncclSum == 0 && ncclProd == 1 && ncclMax == 2 && ncclMin == 3 && ncclAvg == 4 && ncclNumOps == 5);
  EXPECT((int)ncclMaxRedOp == 0x7fffffff);
  EXPECT(ncclScalarDevice == 0 && ncclScalarHostImmediate == 1);
  EXPECT(NCCL_SPLIT_NOCOLOR == -1 && NCCL_UNIQUE_ID_BYTES == 128 && sizeof(ncclUniqueId) == 128);
  ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
  EXPECT(cfg.size == sizeof(ncclConfig_t) && cfg.blocking == NCCL_CONFIG_UNDEF_INT && cfg.netName == NULL);
  cfg.cgaClusterSize = 2, cfg.minCTAs = 1, cfg.maxCTAs = 4, cfg.splitShare = 1;
  EXPECT(cudaSuccess == 0 && cudaMemcpyHostToDevice == 1 && cudaMemcpyDefault == 4);
  int version = 0;
  EXPECT(ncclGetVersion(&version) == ncclSuccess && version == NCCL_VERSION_CODE);
  if (fails) return 1;
  printf("nccl_symbols: every promised NCCL and CUDA runtime name is present (API level %d.%d.%d)\n", NCCL_MAJOR,
         NCCL_MINOR, NCCL_PATCH);
  return 0;
}
