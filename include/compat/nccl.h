/* Drop-in nccl.h for nsccl: a C program written against NCCL builds unchanged with this directory
 * first on the include path (pkg-config nsccl-nccl) and runs on CPU ranks over nsccl.
 *
 * Every nccl* function, type, enum value and macro maps onto its nscclX counterpart; values are equal
 * (nsccl keeps NCCL's numbering). The header presents NCCL's API level 2.18 (NCCL_VERSION_CODE 21803),
 * so feature checks in programs (ncclAvg, bfloat16, ncclCommSplit, ncclConfig_t) see what nsccl
 * provides; nscclGetVersion still reports nsccl's own version. ncclConfig_t has NCCL's fields;
 * the GPU-only ones (CTA counts, cluster size, net name, split share) are accepted and ignored, and
 * initialisation is always blocking (a non-blocking config simply finds the communicator ready).
 * cudaStream_t comes from the compat cuda_runtime.h beside this file: an nscclStream_t. Device
 * pointers are host pointers. Differences and what is missing: docs/compat.md. */
#ifndef NCCL_H_
#define NCCL_H_
#define NSCCL_COMPAT_NCCL_H 1

#include <limits.h>
#include <stddef.h>

#include "cuda_runtime.h"
#include "nsccl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NCCL_MAJOR  2
#define NCCL_MINOR  18
#define NCCL_PATCH  3
#define NCCL_SUFFIX "nsccl"
/* NCCL's formula: versions up to 2.8 used X*1000 + Y*100 + Z. */
#define NCCL_VERSION(X, Y, Z) (((X) <= 2 && (Y) <= 8) ? (X)*1000 + (Y)*100 + (Z) : (X)*10000 + (Y)*100 + (Z))
#define NCCL_VERSION_CODE     NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH)

#define NCCL_UNIQUE_ID_BYTES NSCCL_UNIQUE_ID_BYTES
#define NCCL_SPLIT_NOCOLOR   NSCCL_SPLIT_NOCOLOR

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
#define ncclNumResults         nscclNumResults /* 9: nsccl adds nscclTimeout (8) */

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

/* Where the scalar of ncclRedOpCreatePreMulSum lives (accepted; the call is not supported). */
typedef enum { ncclScalarDevice = 0, ncclScalarHostImmediate = 1 } ncclScalarResidence_t;

/* NCCL's config layout; converted to nscclConfig_t by ncclCommInitRankConfig / ncclCommSplit. */
#define NCCL_CONFIG_UNDEF_INT INT_MIN
#define NCCL_CONFIG_UNDEF_PTR NULL
typedef struct ncclConfig_v21800 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char *netName;
  int splitShare;
} ncclConfig_t;
#define NCCL_CONFIG_INITIALIZER                                                                                        \
  {                                                                                                                    \
    sizeof(ncclConfig_t), 0xcafebeef, NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH), NCCL_CONFIG_UNDEF_INT,         \
        NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_INT, NCCL_CONFIG_UNDEF_PTR,                    \
        NCCL_CONFIG_UNDEF_INT                                                                                          \
  }

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
/* The virtual device the calling thread selected with cudaSetDevice. */
static inline ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
  int n;
  ncclResult_t rc = nscclCommCount(comm, &n);
  if (rc != ncclSuccess) return rc;
  if (!device) return ncclInvalidArgument;
  return cudaGetDevice(device) == cudaSuccess ? ncclSuccess : ncclInvalidArgument;
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

/* ---- custom reduction operators: not supported ---- */
static inline ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t *op, void *scalar, ncclDataType_t datatype,
                                                    ncclScalarResidence_t residence, ncclComm_t comm) {
  (void)op, (void)scalar, (void)datatype, (void)residence, (void)comm;
  return ncclInvalidUsage;
}
static inline ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) {
  (void)op, (void)comm;
  return ncclInvalidArgument; /* only built-in operators exist, and those cannot be destroyed */
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

/* ---- group calls ---- */
static inline ncclResult_t ncclGroupStart(void) { return nscclGroupStart(); }
static inline ncclResult_t ncclGroupEnd(void) { return nscclGroupEnd(); }

#ifdef __cplusplus
}
#endif
#endif /* NCCL_H_ */
