/* Drop-in nccl.h for nsccl: a C or C++ program written against NCCL builds unchanged with this
 * directory first on the include path (pkg-config nsccl-nccl) and runs on CPU ranks over nsccl.
 *
 * The surface is NCCL 2.30's nccl.h: every public call (and its pnccl profiling name), type and
 * macro. Each nccl* name maps onto its nscclX counterpart, with NCCL's values (nsccl keeps NCCL's
 * numbering); NCCL_VERSION_CODE is 2.30.7, so feature checks in programs see the calls below.
 * What has no meaning on host memory, or is not implemented, compiles and returns a clear error at
 * run time (ncclInvalidUsage; ncclGetLastError says which call and why): one-sided signals, comm
 * shrink/grow/revoke, pre-multiplied sums, the parameter API. Windows (symmetric memory) are
 * registered buffers (nscclCommRegister): same-host peers read ncclMemAlloc buffers directly.
 * ncclConfig_t has NCCL's fields; the GPU ones are accepted and ignored, and initialisation always
 * blocks (a non-blocking config finds the communicator ready). cudaStream_t comes from the compat cuda_runtime.h beside
 * this file. Device pointers are host pointers. Per call: docs/compat.md. */
#ifndef NCCL_H_
#define NCCL_H_
#define NSCCL_COMPAT_NCCL_H 1

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cuda_runtime.h"
#include "nsccl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NCCL_MAJOR  2
#define NCCL_MINOR  30
#define NCCL_PATCH  7
#define NCCL_SUFFIX "nsccl"
/* NCCL's formula: versions up to 2.8 used X*1000 + Y*100 + Z. */
#define NCCL_VERSION(X, Y, Z) (((X) <= 2 && (Y) <= 8) ? (X)*1000 + (Y)*100 + (Z) : (X)*10000 + (Y)*100 + (Z))
#define NCCL_VERSION_CODE     NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH)

#define NCCL_UNIQUE_ID_BYTES NSCCL_UNIQUE_ID_BYTES
#define NCCL_SPLIT_NOCOLOR   NSCCL_SPLIT_NOCOLOR
#define NCCL_COMM_NULL       NULL
#define NCCL_UNDEF_FLOAT     -1.0f
#define NCCL_API_MAGIC       0xcafebeef

/* Windows, CTA policies, shrink / revoke / suspend flags: NCCL's values. */
#define NCCL_WIN_DEFAULT            0x00
#define NCCL_WIN_COLL_SYMMETRIC     0x01
#define NCCL_WIN_STRICT_ORDERING    0x02
#define NCCL_WIN_REQUIRED_ALIGNMENT 4096
#define NCCL_CTA_POLICY_DEFAULT     0x00
#define NCCL_CTA_POLICY_EFFICIENCY  0x01
#define NCCL_CTA_POLICY_ZERO        0x02
#define NCCL_SHRINK_DEFAULT         0x00
#define NCCL_SHRINK_ABORT           0x01
#define NCCL_REVOKE_DEFAULT         0x00
#define NCCL_SUSPEND_MEM            0x01

typedef nscclComm_t ncclComm_t;
typedef nscclUniqueId ncclUniqueId;
typedef nscclResult_t ncclResult_t;
typedef nscclDataType_t ncclDataType_t;
typedef nscclRedOp_t ncclRedOp_t;

/* ncclResult_t */
#define ncclSuccess            nscclSuccess
#define ncclUnhandledCudaError nscclUnhandledCudaError
#define ncclSystemError        nscclSystemError
#define ncclInternalError      nscclInternalError
#define ncclInvalidArgument    nscclInvalidArgument
#define ncclInvalidUsage       nscclInvalidUsage
#define ncclRemoteError        nscclRemoteError
#define ncclInProgress         nscclInProgress
#define ncclTimeout            nscclTimeout
#define ncclNumResults         nscclNumResults

/* ncclDataType_t */
#define ncclInt8       nscclInt8
#define ncclChar       nscclChar
#define ncclUint8      nscclUint8
#define ncclInt32      nscclInt32
#define ncclInt        nscclInt
#define ncclUint32     nscclUint32
#define ncclInt64      nscclInt64
#define ncclUint64     nscclUint64
#define ncclFloat16    nscclFloat16
#define ncclHalf       nscclHalf
#define ncclFloat32    nscclFloat32
#define ncclFloat      nscclFloat
#define ncclFloat64    nscclFloat64
#define ncclDouble     nscclDouble
#define ncclBfloat16   nscclBfloat16
#define ncclFloat8e4m3 nscclFloat8e4m3
#define ncclFloat8e5m2 nscclFloat8e5m2
#define ncclNumTypes   nscclNumTypes

/* ncclRedOp_t */
#define ncclSum      nscclSum
#define ncclProd     nscclProd
#define ncclMax      nscclMax
#define ncclMin      nscclMin
#define ncclAvg      nscclAvg
#define ncclNumOps   nscclNumOps
#define ncclMaxRedOp ((ncclRedOp_t)0x7fffffff)
typedef enum { ncclNumOps_dummy = 5 } ncclRedOp_dummy_t;

/* Where the scalar of ncclRedOpCreatePreMulSum lives (nsccl.h: host memory either way; Device is read
 * when the collective runs, HostImmediate when the operator is made). */
typedef enum { ncclScalarDevice = 0, ncclScalarHostImmediate = 1 } ncclScalarResidence_t;

/* NCCL 2.30's config layout; converted to nscclConfig_t by ncclCommInitRankConfig / ncclCommSplit. */
#define NCCL_CONFIG_UNDEF_INT INT_MIN
#define NCCL_CONFIG_UNDEF_PTR NULL
typedef struct ncclConfig_v23000 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char *netName;
  int splitShare;
  int trafficClass;
  const char *commName;
  int collnetEnable;
  int CTAPolicy;
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
  int graphUsageMode;
  int numRmaCtx;
  int maxP2pPeers;
  int graphStreamOrdering;
} ncclConfig_t;
#define NCCL_CONFIG_INITIALIZER                                                                                        \
  {                                                                                                                    \
    sizeof(ncclConfig_t), NCCL_API_MAGIC, NCCL_VERSION_CODE, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT,             \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_PTR, NCCL_CONFIG_UNDEF_INT,                    \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_PTR, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT,                    \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT,                    \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT                     \
  }

/* What ncclGroupSimulateEnd would fill (nsccl does not simulate groups: the call fails). */
typedef struct ncclSimInfo_v22200 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  float estimatedTime;
} ncclSimInfo_t;
#define NCCL_SIM_INFO_INITIALIZER                                                                                      \
  { sizeof(ncclSimInfo_t), 0x74685283, NCCL_VERSION_CODE, NCCL_UNDEF_FLOAT }

typedef enum {
  ncclStatGpuMemSuspend = 0,
  ncclStatGpuMemSuspended = 1,
  ncclStatGpuMemPersist = 2,
  ncclStatGpuMemTotal = 3
} ncclCommMemStat_t;

typedef struct {
  int opCnt;
  int peer;
  int sigIdx;
  int ctx;
} ncclWaitSignalDesc_t;

typedef struct ncclParamHandle *ncclParamHandle_t;

/* A window: the buffer and its registration with the communicator (nscclCommRegister). */
struct ncclWindow_vidmem {
  ncclComm_t comm;
  void *buff;
  size_t size;
  void *handle;
};
typedef struct ncclWindow_vidmem *ncclWindow_t;

/* Records "call: why" as the thread's last error (ncclGetLastError) and returns ncclInvalidUsage:
 * how the calls nsccl cannot perform on host memory fail. In libnsccl (src/api/compat.c). */
ncclResult_t nsccl_compat_unsupported(const char *call, const char *why);
/* Close the calling thread's open group without running what it holds (src/api/group.c). */
ncclResult_t nsccl_group_discard(void);

/* NULL stays NULL (defaults); otherwise every field nsccl understands is taken from the
 * environment, since NCCL's config has no counterpart to timeoutMs, algo or provider. */
static inline nscclConfig_t *nsccl_compat_config_(const ncclConfig_t *in, nscclConfig_t *out) {
  nscclConfig_t init = NSCCL_CONFIG_INITIALIZER;
  if (!in) return NULL;
  *out = init;
  return out;
}

/* ---- versions and errors ---- */
static inline ncclResult_t ncclGetVersion(int *version) {
  if (!version) return ncclInvalidArgument;
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}
static inline const char *ncclGetErrorString(ncclResult_t result) { return nscclGetErrorString(result); }
static inline const char *ncclGetLastError(ncclComm_t comm) { return nscclGetLastError(comm); }

/* ---- communicators ---- */
static inline ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId) { return nscclGetUniqueId(uniqueId); }
static inline ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank) {
  return nscclCommInitRank(comm, nranks, commId, rank);
}
static inline ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank,
                                                  ncclConfig_t *config) {
  nscclConfig_t c;
  return nscclCommInitRankConfig(comm, nranks, commId, rank, nsccl_compat_config_(config, &c));
}
static inline ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  return nscclCommInitAll(comms, ndev, devlist);
}
static inline ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
                                         ncclConfig_t *config) {
  nscclConfig_t c;
  return nscclCommSplit(comm, color, key, newcomm, nsccl_compat_config_(config, &c));
}
static inline ncclResult_t ncclCommFinalize(ncclComm_t comm) { return nscclCommFinalize(comm); }
static inline ncclResult_t ncclCommDestroy(ncclComm_t comm) { return nscclCommDestroy(comm); }
static inline ncclResult_t ncclCommAbort(ncclComm_t comm) { return nscclCommAbort(comm); }
static inline ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError) {
  return nscclCommGetAsyncError(comm, asyncError);
}
static inline ncclResult_t ncclCommCount(const ncclComm_t comm, int *count) { return nscclCommCount(comm, count); }
static inline ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank) { return nscclCommUserRank(comm, rank); }
/* The virtual device the communicator was created on (the thread's current device at init). */
static inline ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
  return nscclCommDevice(comm, device);
}

/* ---- memory: host memory same-host peers can map; registration enables direct reads ---- */
static inline ncclResult_t ncclMemAlloc(void **ptr, size_t size) { return nscclMemAlloc(ptr, size); }
static inline ncclResult_t ncclMemFree(void *ptr) { return nscclMemFree(ptr); }
static inline ncclResult_t ncclCommRegister(const ncclComm_t comm, void *buff, size_t size, void **handle) {
  return nscclCommRegister(comm, buff, size, handle);
}
static inline ncclResult_t ncclCommDeregister(const ncclComm_t comm, void *handle) {
  return nscclCommDeregister(comm, handle);
}

/* ---- custom reduction operators: PreMulSum (a sum of inputs each multiplied by its rank's scalar) ---- */
static inline ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                                    ncclScalarResidence_t residence, ncclComm_t comm) {
  return nscclRedOpCreatePreMulSum(op, scalar, datatype, (nscclScalarResidence_t)residence, comm);
}
static inline ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) { return nscclRedOpDestroy(op, comm); }

/* ---- group calls ---- */
static inline ncclResult_t ncclGroupStart(void) { return nscclGroupStart(); }
static inline ncclResult_t ncclGroupEnd(void) { return nscclGroupEnd(); }
/* The group is closed without running: nsccl has no simulator of GPU groups (its own cost model is
 * nsccl_model.h). */
static inline ncclResult_t ncclGroupSimulateEnd(ncclSimInfo_t *simInfo) {
  (void)simInfo;
  nsccl_group_discard();
  return nsccl_compat_unsupported("ncclGroupSimulateEnd", "not implemented by nsccl; the group was closed unrun");
}

/* ---- collectives and point-to-point ---- */
static inline ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                         ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  return nscclAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream);
}
static inline ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                                         ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream) {
  return nscclAllGather(sendbuff, recvbuff, sendcount, datatype, comm, stream);
}
static inline ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                             ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                             cudaStream_t stream) {
  return nscclReduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm, stream);
}
static inline ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                         int root, ncclComm_t comm, cudaStream_t stream) {
  return nscclBroadcast(sendbuff, recvbuff, count, datatype, root, comm, stream);
}
static inline ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                                     cudaStream_t stream) {
  return nscclBcast(buff, count, datatype, root, comm, stream);
}
static inline ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                      ncclRedOp_t op, int root, ncclComm_t comm, cudaStream_t stream) {
  return nscclReduce(sendbuff, recvbuff, count, datatype, op, root, comm, stream);
}
static inline ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                                    ncclComm_t comm, cudaStream_t stream) {
  return nscclSend(sendbuff, count, datatype, peer, comm, stream);
}
static inline ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                                    cudaStream_t stream) {
  return nscclRecv(recvbuff, count, datatype, peer, comm, stream);
}

#ifdef __cplusplus
}
#endif

#include "nccl_newer_calls.h"
#endif /* NCCL_H_ */
