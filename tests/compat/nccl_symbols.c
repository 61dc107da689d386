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
    NCCL_VERSION(2, 18, 3) != 21803 || NCCL_VERSION(2, 30, 7) != 23007
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

/* NCCL 2.19-2.30 calls, with NCCL 2.30's exact types. */
static ncclResult_t (*n_scalable)(ncclComm_t *, int, int, int, ncclUniqueId *,
                                  ncclConfig_t *) = ncclCommInitRankScalable;
static ncclResult_t (*n_revoke)(ncclComm_t, int) = ncclCommRevoke;
static ncclResult_t (*n_shrink)(ncclComm_t, int *, int, ncclComm_t *, ncclConfig_t *, int) = ncclCommShrink;
static ncclResult_t (*n_cuid)(ncclComm_t, ncclUniqueId *) = ncclCommGetUniqueId;
static ncclResult_t (*n_grow)(ncclComm_t, int, const ncclUniqueId *, int, ncclComm_t *, ncclConfig_t *) = ncclCommGrow;
static ncclResult_t (*n_suspend)(ncclComm_t, int) = ncclCommSuspend;
static ncclResult_t (*n_resume)(ncclComm_t) = ncclCommResume;
static ncclResult_t (*n_memstats)(ncclComm_t, ncclCommMemStat_t, uint64_t *) = ncclCommMemStats;
static ncclResult_t (*n_winreg)(ncclComm_t, void *, size_t, ncclWindow_t *, int) = ncclCommWindowRegister;
static ncclResult_t (*n_windereg)(ncclComm_t, ncclWindow_t) = ncclCommWindowDeregister;
static ncclResult_t (*n_winptr)(ncclComm_t, ncclWindow_t, void **) = ncclWinGetUserPtr;
static ncclResult_t (*n_a2a)(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = ncclAlltoAll;
static ncclResult_t (*n_gather)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t,
                                cudaStream_t) = ncclGather;
static ncclResult_t (*n_scatter)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t,
                                 cudaStream_t) = ncclScatter;
static ncclResult_t (*n_put)(const void *, size_t, ncclDataType_t, int, ncclWindow_t, size_t, int, int, unsigned int,
                             ncclComm_t, cudaStream_t) = ncclPutSignal;
static ncclResult_t (*n_signal)(int, int, int, unsigned int, ncclComm_t, cudaStream_t) = ncclSignal;
static ncclResult_t (*n_wait)(int, ncclWaitSignalDesc_t *, ncclComm_t, cudaStream_t) = ncclWaitSignal;
static ncclResult_t (*n_sim)(ncclSimInfo_t *) = ncclGroupSimulateEnd;
static ncclResult_t (*n_pbind)(ncclParamHandle_t *, const char *) = ncclParamBind;
static ncclResult_t (*n_pi8)(ncclParamHandle_t, int8_t *) = ncclParamGetI8;
static ncclResult_t (*n_pi16)(ncclParamHandle_t, int16_t *) = ncclParamGetI16;
static ncclResult_t (*n_pi32)(ncclParamHandle_t, int32_t *) = ncclParamGetI32;
static ncclResult_t (*n_pi64)(ncclParamHandle_t, int64_t *) = ncclParamGetI64;
static ncclResult_t (*n_pu8)(ncclParamHandle_t, uint8_t *) = ncclParamGetU8;
static ncclResult_t (*n_pu16)(ncclParamHandle_t, uint16_t *) = ncclParamGetU16;
static ncclResult_t (*n_pu32)(ncclParamHandle_t, uint32_t *) = ncclParamGetU32;
static ncclResult_t (*n_pu64)(ncclParamHandle_t, uint64_t *) = ncclParamGetU64;
static ncclResult_t (*n_pstr)(ncclParamHandle_t, const char **) = ncclParamGetStr;
static ncclResult_t (*n_pget)(ncclParamHandle_t, void *, int, int *) = ncclParamGet;
static ncclResult_t (*n_pparam)(const char *, const char **, int *) = ncclParamGetParameter;
static ncclResult_t (*n_pkeys)(const char ***, int *) = ncclParamGetAllParameterKeys;
static void (*n_pdump)(void) = ncclParamDumpAll;
/* The profiling names, a few through exact types (all are aliases of the nccl* calls). */
static ncclResult_t (*n_par)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                             cudaStream_t) = pncclAllReduce;
static ncclResult_t (*n_pinit)(ncclComm_t *, int, ncclUniqueId, int) = pncclCommInitRank;
static ncclResult_t (*n_pgs)(void) = pncclGroupStart;
static ncclResult_t (*n_pwin)(ncclComm_t, void *, size_t, ncclWindow_t *, int) = pncclCommWindowRegister;
/* More of the CUDA runtime. */
static cudaError_t (*c_props)(struct cudaDeviceProp *, int) = cudaGetDeviceProperties;
static const char *(*c_errname)(cudaError_t) = cudaGetErrorName;
static cudaError_t (*c_hostalloc)(void **, size_t, unsigned int) = cudaHostAlloc;
static cudaError_t (*c_managed)(void **, size_t, unsigned int) = cudaMallocManaged;
static cudaError_t (*c_memsetasync)(void *, int, size_t, cudaStream_t) = cudaMemsetAsync;
static cudaError_t (*c_ecreate)(cudaEvent_t *) = cudaEventCreate;
static cudaError_t (*c_erecord)(cudaEvent_t, cudaStream_t) = cudaEventRecord;
static cudaError_t (*c_esync)(cudaEvent_t) = cudaEventSynchronize;
static cudaError_t (*c_elapsed)(float *, cudaEvent_t, cudaEvent_t) = cudaEventElapsedTime;
static cudaError_t (*c_edestroy)(cudaEvent_t) = cudaEventDestroy;
static cudaError_t (*c_swait)(cudaStream_t, cudaEvent_t, unsigned int) = cudaStreamWaitEvent;
static cudaError_t (*c_peer)(int *, int, int) = cudaDeviceCanAccessPeer;
static cudaError_t (*c_meminfo)(size_t *, size_t *) = cudaMemGetInfo;

#if !defined(NCCL_COMM_NULL) || !defined(NCCL_WIN_COLL_SYMMETRIC) || !defined(NCCL_WIN_DEFAULT) ||                     \
    !defined(NCCL_WIN_STRICT_ORDERING) || !defined(NCCL_WIN_REQUIRED_ALIGNMENT) ||                                     \
    !defined(NCCL_CTA_POLICY_DEFAULT) || !defined(NCCL_CTA_POLICY_EFFICIENCY) || !defined(NCCL_CTA_POLICY_ZERO) ||     \
    !defined(NCCL_SHRINK_DEFAULT) || !defined(NCCL_SHRINK_ABORT) || !defined(NCCL_REVOKE_DEFAULT) ||                   \
    !defined(NCCL_SUSPEND_MEM) || !defined(NCCL_UNDEF_FLOAT) || !defined(NCCL_API_MAGIC) ||                            \
    !defined(NCCL_SIM_INFO_INITIALIZER)
#error "a promised NCCL 2.30 macro is missing"
#endif

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
  const void *newer[] = {
      (const void *)&n_scalable,    (const void *)&n_revoke,   (const void *)&n_shrink,    (const void *)&n_cuid,
      (const void *)&n_grow,        (const void *)&n_suspend,  (const void *)&n_resume,    (const void *)&n_memstats,
      (const void *)&n_winreg,      (const void *)&n_windereg, (const void *)&n_winptr,    (const void *)&n_a2a,
      (const void *)&n_gather,      (const void *)&n_scatter,  (const void *)&n_put,       (const void *)&n_signal,
      (const void *)&n_wait,        (const void *)&n_sim,      (const void *)&n_pbind,     (const void *)&n_pi8,
      (const void *)&n_pi16,        (const void *)&n_pi32,     (const void *)&n_pi64,      (const void *)&n_pu8,
      (const void *)&n_pu16,        (const void *)&n_pu32,     (const void *)&n_pu64,      (const void *)&n_pstr,
      (const void *)&n_pget,        (const void *)&n_pparam,   (const void *)&n_pkeys,     (const void *)&n_pdump,
      (const void *)&n_par,         (const void *)&n_pinit,    (const void *)&n_pgs,       (const void *)&n_pwin,
      (const void *)&c_props,       (const void *)&c_errname,  (const void *)&c_hostalloc, (const void *)&c_managed,
      (const void *)&c_memsetasync, (const void *)&c_ecreate,  (const void *)&c_erecord,   (const void *)&c_esync,
      (const void *)&c_elapsed,     (const void *)&c_edestroy, (const void *)&c_swait,     (const void *)&c_peer,
      (const void *)&c_meminfo};
  for (size_t i = 0; i < sizeof(newer) / sizeof(newer[0]); i++) EXPECT(newer[i] != NULL);

  /* NCCL's enum values. */
  ncclResult_t results[] = {ncclSuccess,         ncclUnhandledCudaError, ncclSystemError, ncclInternalError,
                            ncclInvalidArgument, ncclInvalidUsage,       ncclRemoteError, ncclInProgress};
  for (int i = 0; i < 8; i++) EXPECT((int)results[i] == i);
  EXPECT(ncclTimeout == 8 && ncclNumResults == 9);
  EXPECT(NCCL_WIN_DEFAULT == 0 && NCCL_WIN_COLL_SYMMETRIC == 1 && NCCL_WIN_STRICT_ORDERING == 2);
  EXPECT(NCCL_WIN_REQUIRED_ALIGNMENT == 4096 && NCCL_CTA_POLICY_EFFICIENCY == 1 && NCCL_CTA_POLICY_ZERO == 2);
  EXPECT(NCCL_SHRINK_ABORT == 1 && NCCL_SUSPEND_MEM == 1 && NCCL_API_MAGIC == 0xcafebeef);
  EXPECT(ncclStatGpuMemSuspend == 0 && ncclStatGpuMemSuspended == 1 && ncclStatGpuMemPersist == 2 &&
         ncclStatGpuMemTotal == 3);
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
  EXPECT(cfg.magic == NCCL_API_MAGIC && cfg.version == NCCL_VERSION_CODE && cfg.commName == NULL);
  EXPECT(cfg.CTAPolicy == NCCL_CONFIG_UNDEF_INT && cfg.graphStreamOrdering == NCCL_CONFIG_UNDEF_INT);
  cfg.cgaClusterSize = 2, cfg.minCTAs = 1, cfg.maxCTAs = 4, cfg.splitShare = 1, cfg.CTAPolicy = NCCL_CTA_POLICY_ZERO;
  cfg.trafficClass = 0, cfg.collnetEnable = 0, cfg.shrinkShare = 0, cfg.nvlsCTAs = 0, cfg.nChannelsPerNetPeer = 0;
  cfg.nvlinkCentricSched = 0, cfg.graphUsageMode = 0, cfg.numRmaCtx = 0, cfg.maxP2pPeers = 0;
  ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  EXPECT(sim.size == sizeof(sim) && sim.estimatedTime == NCCL_UNDEF_FLOAT);
  EXPECT(NCCL_VERSION_CODE == 23007 && NCCL_VERSION_CODE >= NCCL_VERSION(2, 30, 0));
  EXPECT(cudaSuccess == 0 && cudaMemcpyHostToDevice == 1 && cudaMemcpyDefault == 4);
  int version = 0;
  EXPECT(ncclGetVersion(&version) == ncclSuccess && version == NCCL_VERSION_CODE);
  if (fails) return 1;
  printf("nccl_symbols: every promised NCCL and CUDA runtime name is present (API level %d.%d.%d)\n", NCCL_MAJOR,
         NCCL_MINOR, NCCL_PATCH);
  return 0;
}
