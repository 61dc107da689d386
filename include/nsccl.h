/* nsccl: a collective-communication library with an NCCL-style API.
 *
 * Every NCCL name maps onto nsccl by replacing the prefix "nccl" with "nsccl"; enum values equal
 * NCCL's, so a program ported by renaming keeps its meaning. Buffers are host memory. */
#ifndef NSCCL_H
#define NSCCL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NSCCL_MAJOR            0
#define NSCCL_MINOR            1
#define NSCCL_PATCH            0
#define NSCCL_VERSION(X, Y, Z) ((X)*10000 + (Y)*100 + (Z))
#define NSCCL_VERSION_CODE     NSCCL_VERSION(NSCCL_MAJOR, NSCCL_MINOR, NSCCL_PATCH)

#define NSCCL_UNIQUE_ID_BYTES 128
/* Opaque rendezvous token: rank 0 makes it, every rank receives a copy (e.g. with MPI_Bcast). */
typedef struct {
  char internal[NSCCL_UNIQUE_ID_BYTES];
} nscclUniqueId;

typedef struct nscclComm *nscclComm_t;
/* A host work queue. NULL means "run the call to completion before returning". */
typedef struct nscclStream *nscclStream_t;

typedef enum {
  nscclSuccess = 0,
  nscclUnhandledCudaError = 1, /* kept for NCCL value compatibility; nsccl never returns it */
  nscclSystemError = 2,
  nscclInternalError = 3,
  nscclInvalidArgument = 4,
  nscclInvalidUsage = 5,
  nscclRemoteError = 6,
  nscclInProgress = 7,
  nscclTimeout = 8,
  nscclNumResults = 9
} nscclResult_t;

typedef enum {
  nscclInt8 = 0,
  nscclChar = 0,
  nscclUint8 = 1,
  nscclInt32 = 2,
  nscclInt = 2,
  nscclUint32 = 3,
  nscclInt64 = 4,
  nscclUint64 = 5,
  nscclFloat16 = 6,
  nscclHalf = 6,
  nscclFloat32 = 7,
  nscclFloat = 7,
  nscclFloat64 = 8,
  nscclDouble = 8,
  nscclBfloat16 = 9,
  nscclFloat8e4m3 = 10,
  nscclFloat8e5m2 = 11,
  nscclNumTypes = 12
} nscclDataType_t;

typedef enum {
  nscclSum = 0,
  nscclProd = 1,
  nscclMax = 2,
  nscclMin = 3,
  nscclAvg = 4, /* sum, then divide by the number of ranks */
  nscclNumOps = 5
} nscclRedOp_t;

/* Communicator options. Start from NSCCL_CONFIG_INITIALIZER and set what you need; fields left at
 * their initial value fall back to the environment (NSCCL_TIMEOUT_MS, NSCCL_ALGO, NSCCL_PROVIDER). */
typedef struct {
  size_t size;          /* sizeof(nscclConfig_t), set by the initializer */
  unsigned int magic;   /* NSCCL_CONFIG_MAGIC, set by the initializer */
  unsigned int version; /* NSCCL_VERSION_CODE, set by the initializer */
  int blocking;         /* 1: init blocks until ready (the only mode so far) */
  int timeoutMs;        /* > 0: give up on init and collectives after this long; 0: environment */
  const char *algo;     /* like NSCCL_ALGO: "ring", "tree", "direct" or "allreduce:tree;..." */
  const char *provider; /* like NSCCL_PROVIDER: force one libfabric provider for every peer */
} nscclConfig_t;

#define NSCCL_CONFIG_MAGIC 0x6e73636cu /* "nscl" */
#define NSCCL_CONFIG_INITIALIZER                                                                                       \
  { sizeof(nscclConfig_t), NSCCL_CONFIG_MAGIC, NSCCL_VERSION_CODE, 1, 0, NULL, NULL }

nscclResult_t nscclGetVersion(int *version);
const char *nscclGetErrorString(nscclResult_t result);
/* The last error of the calling thread, in words: which call, which argument, why. */
const char *nscclGetLastError(nscclComm_t comm);

nscclResult_t nscclGetUniqueId(nscclUniqueId *uniqueId);
nscclResult_t nscclCommInitRank(nscclComm_t *comm, int nranks, nscclUniqueId commId, int rank);
nscclResult_t nscclCommInitRankConfig(nscclComm_t *comm, int nranks, nscclUniqueId commId, int rank,
                                      nscclConfig_t *config);
nscclResult_t nscclCommDestroy(nscclComm_t comm);
nscclResult_t nscclCommAbort(nscclComm_t comm);
nscclResult_t nscclCommCount(const nscclComm_t comm, int *count);
nscclResult_t nscclCommUserRank(const nscclComm_t comm, int *rank);
nscclResult_t nscclCommGetAsyncError(nscclComm_t comm, nscclResult_t *asyncError);

/* count: elements of sendbuff and recvbuff. In place when sendbuff == recvbuff. */
nscclResult_t nscclAllReduce(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype,
                             nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream);
/* sendcount: elements each rank contributes; recvbuff holds nranks * sendcount.
 * In place when sendbuff == recvbuff + rank * sendcount (in elements). */
nscclResult_t nscclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, nscclDataType_t datatype,
                             nscclComm_t comm, nscclStream_t stream);
/* recvcount: elements each rank receives; sendbuff holds nranks * recvcount.
 * In place when recvbuff == sendbuff + rank * recvcount (in elements). */
nscclResult_t nscclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, nscclDataType_t datatype,
                                 nscclRedOp_t op, nscclComm_t comm, nscclStream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* NSCCL_H */
