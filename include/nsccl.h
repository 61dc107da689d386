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

/* Where the scalar of nscclRedOpCreatePreMulSum lives. nsccl's buffers are host memory either way:
 * HostImmediate copies the value when the operator is created; Device keeps the pointer and reads
 * the value each time a collective with the operator runs (it must stay valid until then). */
typedef enum { nscclScalarDevice = 0, nscclScalarHostImmediate = 1 } nscclScalarResidence_t;

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

/* ---- custom reduction operators ---- */
/* A sum whose every input is first multiplied by *scalar (of `datatype`, this rank's own value):
 * result = sum over ranks r of scalar_r * x_r. The operator belongs to comm, may be used only with
 * collectives of `datatype` on it, and lives until nscclRedOpDestroy or the communicator's end. */
nscclResult_t nscclRedOpCreatePreMulSum(nscclRedOp_t *op, void *scalar, nscclDataType_t datatype,
                                        nscclScalarResidence_t residence, nscclComm_t comm);
nscclResult_t nscclRedOpDestroy(nscclRedOp_t op, nscclComm_t comm);

/* ---- rooted collectives and point-to-point ---- */
/* count elements of root's sendbuff land in every rank's recvbuff (sendbuff is read on the root
 * only). In place when sendbuff == recvbuff. */
nscclResult_t nscclBroadcast(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype, int root,
                             nscclComm_t comm, nscclStream_t stream);
/* Legacy in-place form of nscclBroadcast. */
nscclResult_t nscclBcast(void *buff, size_t count, nscclDataType_t datatype, int root, nscclComm_t comm,
                         nscclStream_t stream);
/* Every rank's count elements reduced with op into root's recvbuff (recvbuff is written on the root
 * only and may be NULL elsewhere). In place when sendbuff == recvbuff. */
nscclResult_t nscclReduce(const void *sendbuff, void *recvbuff, size_t count, nscclDataType_t datatype, nscclRedOp_t op,
                          int root, nscclComm_t comm, nscclStream_t stream);
/* Point-to-point: the k-th nscclSend to a peer meets the peer's k-th nscclRecv from this rank, with
 * the same count and datatype. A rank that sends to and receives from the same peer must put both
 * inside one nscclGroupStart/nscclGroupEnd, which posts them together. */
nscclResult_t nscclSend(const void *sendbuff, size_t count, nscclDataType_t datatype, int peer, nscclComm_t comm,
                        nscclStream_t stream);
nscclResult_t nscclRecv(void *recvbuff, size_t count, nscclDataType_t datatype, int peer, nscclComm_t comm,
                        nscclStream_t stream);

/* ---- group calls ----
 * Operations issued between nscclGroupStart and the matching nscclGroupEnd (by the same thread,
 * on any communicators; groups nest) are checked when issued and run at the outermost
 * nscclGroupEnd: each communicator's operations in issue order (consecutive nscclSend/nscclRecv
 * calls posted and progressed together), different communicators concurrently. See
 * docs/compat.md. */
nscclResult_t nscclGroupStart(void);
nscclResult_t nscclGroupEnd(void);

/* ---- streams: ordered host work queues ----
 * A collective given a stream is checked, queued, and returns; a progress thread per stream runs
 * the queue in order. Buffers must stay valid and untouched until the stream is synchronized, as
 * with a GPU stream. Errors of queued work are returned by the next nscclStreamSynchronize (and
 * nscclStreamQuery) and recorded as the communicator's nscclCommGetAsyncError. */
nscclResult_t nscclStreamCreate(nscclStream_t *stream);
/* Wait until everything queued so far has run; returns the first error of queued work since the
 * last synchronize (then clears it), or nscclSuccess. */
nscclResult_t nscclStreamSynchronize(nscclStream_t stream);
/* nscclSuccess when the queue is empty and idle, nscclInProgress while work is pending, or the
 * pending error of queued work (not cleared). */
nscclResult_t nscclStreamQuery(nscclStream_t stream);
/* Waits for queued work, then releases the stream. */
nscclResult_t nscclStreamDestroy(nscclStream_t stream);
/* Queue a host memory copy (memmove of bytes) behind the stream's earlier work; NULL stream: copy
 * now. What cudaMemcpyAsync maps to in the compat headers. */
nscclResult_t nscclMemcpyAsync(void *dst, const void *src, size_t bytes, nscclStream_t stream);
/* Wait until every stream of the process (every device) has run what was queued so far (errors
 * stay with their streams, for their next synchronize). */
nscclResult_t nscclStreamSynchronizeAll(void);

/* ---- virtual devices: CUDA's device model on host memory (docs/compat.md) ----
 * A process has nscclGetDeviceCount virtual devices; each thread has a current device (0 until it
 * calls nscclSetDevice). A stream belongs to the device current when it was created, a
 * communicator to the device current when its init was called (nscclCommInitAll: devlist[i], or i).
 * Streams are blocking unless created with NSCCL_STREAM_NON_BLOCKING: the legacy default stream
 * (nscclDefaultStreamSynchronize, what a synchronous cudaMemcpy does first) waits for the blocking
 * streams of the calling thread's current device only, so threads driving different devices never
 * wait for each other's queued collectives. */
#define NSCCL_STREAM_NON_BLOCKING 0x01u
/* NSCCL_VIRTUAL_DEVICES if set (> 0); else the larger of the launcher's ranks on this host
 * (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS) and one device per online CPU, at most 8. */
nscclResult_t nscclGetDeviceCount(int *count);
nscclResult_t nscclSetDevice(int device); /* the calling thread's current device */
nscclResult_t nscclGetDevice(int *device);
nscclResult_t nscclStreamCreateWithFlags(nscclStream_t *stream, unsigned int flags);
nscclResult_t nscclStreamGetDevice(nscclStream_t stream, int *device);
/* Wait for what was queued so far on every stream of the current device (blocking or not). */
nscclResult_t nscclDeviceSynchronize(void);
/* Wait for what was queued so far on the blocking streams of the current device. */
nscclResult_t nscclDefaultStreamSynchronize(void);
/* The device comm belongs to. */
nscclResult_t nscclCommDevice(const nscclComm_t comm, int *device);

/* ---- communicators ---- */
#define NSCCL_SPLIT_NOCOLOR (-1)
/* Collective over comm: ranks passing the same color form a new communicator, ranked by key (ties
 * by rank in comm). NSCCL_SPLIT_NOCOLOR: no new communicator, *newcomm = NULL. config NULL
 * inherits comm's settings. */
nscclResult_t nscclCommSplit(nscclComm_t comm, int color, int key, nscclComm_t *newcomm, nscclConfig_t *config);
/* Wait until every operation queued on comm (on any stream) has run; comm stays usable and still
 * needs nscclCommDestroy. Errors of that work: nscclCommGetAsyncError. */
nscclResult_t nscclCommFinalize(nscclComm_t comm);
/* ndev ranks of one new communicator, all in this process; rank i belongs to device devlist[i]
 * (devlist NULL: device i). Drive them from one thread with group calls, which run each
 * communicator's operations on a thread of their own; nscclCommDestroy of these comms skips the
 * final barrier. nscclCommInitRank calls for several ranks inside one nscclGroupStart/End from one
 * thread do the same: they run together at the group's end (each on the device current at its
 * call), and the group must hold no other operations. */
nscclResult_t nscclCommInitAll(nscclComm_t *comms, int ndev, const int *devlist);

/* ---- registered buffers (NCCL 2.19+) ----
 * nscclMemAlloc returns host memory (page-aligned, zero-filled) that other ranks on the same host
 * can map; nscclMemFree releases it (NULL is ignored). nscclCommRegister records a buffer with comm
 * (not collective: each rank registers what it likes); collectives whose send or receive data lie
 * inside a registered nscclMemAlloc buffer let same-host peers read that data straight from it,
 * with no intermediate copy. Registering other memory is accepted and changes nothing. A buffer
 * must stay allocated while registered; deregister it before nscclMemFree (memory freed while
 * still registered is released at deregistration or nscclCommDestroy). After nscclCommDeregister
 * no peer reads the buffer again. */
nscclResult_t nscclMemAlloc(void **ptr, size_t size);
nscclResult_t nscclMemFree(void *ptr);
nscclResult_t nscclCommRegister(const nscclComm_t comm, void *buff, size_t size, void **handle);
nscclResult_t nscclCommDeregister(const nscclComm_t comm, void *handle);

#ifdef __cplusplus
}
#endif
#endif /* NSCCL_H */
