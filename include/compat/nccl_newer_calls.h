/* The part of the compat nccl.h for the calls NCCL added after 2.18 (scalable init, shrink, grow,
 * revoke, suspend, memory statistics, windows, all-to-all, gather, scatter, one-sided signals, the
 * parameter API) and the pnccl profiling names of every call. Included by nccl.h at its end; not
 * meant to be included alone. What each call does on host memory: docs/compat.md. */
#ifndef NSCCL_COMPAT_NCCL_NEWER_CALLS_H
#define NSCCL_COMPAT_NCCL_NEWER_CALLS_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- communicators ---- */
/* All ranks pass the same nId ids (NCCL spreads its bootstrap over them); one is enough here. */
static inline ncclResult_t ncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank, int nId,
                                                    ncclUniqueId *commIds, ncclConfig_t *config) {
  if (nId < 1 || !commIds) {
    if (newcomm) *newcomm = NULL;
    return nsccl_compat_unsupported("ncclCommInitRankScalable", "nId must be at least 1 and commIds not NULL");
  }
  return ncclCommInitRankConfig(newcomm, nranks, commIds[0], myrank, config);
}
static inline ncclResult_t ncclCommShrink(ncclComm_t comm, int *excludeRanksList, int excludeRanksCount,
                                          ncclComm_t *newcomm, ncclConfig_t *config, int shrinkFlags) {
  (void)comm, (void)excludeRanksList, (void)excludeRanksCount, (void)config, (void)shrinkFlags;
  if (newcomm) *newcomm = NULL;
  return nsccl_compat_unsupported("ncclCommShrink", "not implemented by nsccl; use ncclCommSplit on every rank");
}
static inline ncclResult_t ncclCommGrow(ncclComm_t comm, int nRanks, const ncclUniqueId *uniqueId, int rank,
                                        ncclComm_t *newcomm, ncclConfig_t *config) {
  (void)comm, (void)nRanks, (void)uniqueId, (void)rank, (void)config;
  if (newcomm) *newcomm = NULL;
  return nsccl_compat_unsupported("ncclCommGrow", "not implemented by nsccl; create a new communicator");
}
static inline ncclResult_t ncclCommGetUniqueId(ncclComm_t comm, ncclUniqueId *uniqueId) {
  (void)comm, (void)uniqueId;
  return nsccl_compat_unsupported("ncclCommGetUniqueId", "not implemented by nsccl (it serves ncclCommGrow)");
}
static inline ncclResult_t ncclCommRevoke(ncclComm_t comm, int revokeFlags) {
  (void)comm, (void)revokeFlags;
  return nsccl_compat_unsupported("ncclCommRevoke", "not implemented by nsccl; ncclCommAbort stops a communicator");
}
/* Suspend releases a communicator's dynamic GPU memory; nsccl has none, so there is nothing to do. */
static inline ncclResult_t ncclCommSuspend(ncclComm_t comm, int flags) {
  int n;
  (void)flags;
  return nscclCommCount(comm, &n);
}
static inline ncclResult_t ncclCommResume(ncclComm_t comm) {
  int n;
  return nscclCommCount(comm, &n);
}
/* Every GPU-memory statistic is 0: nsccl allocates no device memory. */
static inline ncclResult_t ncclCommMemStats(ncclComm_t comm, ncclCommMemStat_t stat, uint64_t *value) {
  int n;
  ncclResult_t rc = nscclCommCount(comm, &n);
  if (rc != ncclSuccess) return rc;
  if (!value || (int)stat < 0 || (int)stat > ncclStatGpuMemTotal)
    return nsccl_compat_unsupported("ncclCommMemStats", "value is NULL or stat is not an ncclCommMemStat_t");
  *value = 0;
  return ncclSuccess;
}
#ifdef NCCL_OS_LINUX
__attribute__((deprecated("ncclResetDebugInit is not supported as part of the NCCL API"))) static inline void
ncclResetDebugInit(void) {}
#else
#define ncclResetDebugInit()
#endif

/* ---- windows (symmetric memory): registered buffers ----
 * On host memory every rank's buffer is reachable as it is, so a window is the buffer registered
 * with the communicator (nscclCommRegister): collectives on an ncclMemAlloc buffer inside a window
 * let same-host peers read it directly, as ncclCommRegister does; on other memory registration
 * changes nothing. Either way results are those of an unregistered buffer. */
static inline ncclResult_t ncclCommWindowRegister(ncclComm_t comm, void *buff, size_t size, ncclWindow_t *win,
                                                  int winFlags) {
  int n;
  ncclResult_t rc = nscclCommCount(comm, &n);
  if (rc != ncclSuccess) return rc;
  if (!win) return nsccl_compat_unsupported("ncclCommWindowRegister", "win (the output pointer) is NULL");
  *win = NULL;
  if (!buff || size == 0) return nsccl_compat_unsupported("ncclCommWindowRegister", "buff is NULL or size is 0");
  if (winFlags & ~(NCCL_WIN_COLL_SYMMETRIC | NCCL_WIN_STRICT_ORDERING))
    return nsccl_compat_unsupported("ncclCommWindowRegister", "unknown winFlags");
  ncclWindow_t w = (ncclWindow_t)malloc(sizeof(*w));
  if (!w) return ncclSystemError;
  w->comm = comm, w->buff = buff, w->size = size, w->handle = NULL;
  rc = nscclCommRegister(comm, buff, size, &w->handle);
  if (rc != ncclSuccess) {
    free(w);
    return rc;
  }
  *win = w;
  return ncclSuccess;
}
static inline ncclResult_t ncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win) {
  int n;
  ncclResult_t rc = nscclCommCount(comm, &n);
  if (rc != ncclSuccess) return rc;
  if (!win || win->comm != comm)
    return nsccl_compat_unsupported("ncclCommWindowDeregister",
                                    "win is NULL or was registered on another communicator");
  rc = nscclCommDeregister(comm, win->handle);
  free(win);
  return rc;
}
static inline ncclResult_t ncclWinGetUserPtr(ncclComm_t comm, ncclWindow_t win, void **outUserPtr) {
  int n;
  ncclResult_t rc = nscclCommCount(comm, &n);
  if (rc != ncclSuccess) return rc;
  if (!win || !outUserPtr || win->comm != comm)
    return nsccl_compat_unsupported("ncclWinGetUserPtr",
                                    "win or outUserPtr is NULL, or win belongs to another communicator");
  *outUserPtr = win->buff;
  return ncclSuccess;
}

/* ---- all-to-all, gather, scatter: groups of sends and receives ----
 * nsccl posts a group's point-to-point operations together (a send to oneself is a copy), so each
 * of these is correct and deadlock-free at any rank count; they run on the given stream. */
static inline size_t nsccl_compat_type_size_(ncclDataType_t t) {
  switch ((int)t) {
  case ncclInt8:
  case ncclUint8:
  case ncclFloat8e4m3:
  case ncclFloat8e5m2: return 1;
  case ncclFloat16:
  case ncclBfloat16: return 2;
  case ncclInt32:
  case ncclUint32:
  case ncclFloat32: return 4;
  case ncclInt64:
  case ncclUint64:
  case ncclFloat64: return 8;
  default: return 0;
  }
}
static inline ncclResult_t nsccl_compat_group_end_(ncclResult_t rc) {
  ncclResult_t end = rc == ncclSuccess ? ncclGroupEnd() : nsccl_group_discard();
  return rc != ncclSuccess ? rc : end;
}
/* The checks the three share: *n ranks, this one *me, root a rank (when rooted), a datatype nsccl
 * knows (*bytes: count elements in bytes). */
static inline ncclResult_t nsccl_compat_spread_args_(const char *call, size_t count, ncclDataType_t datatype,
                                                     int rooted, int root, ncclComm_t comm, int *n, int *me,
                                                     size_t *bytes) {
  *bytes = count * nsccl_compat_type_size_(datatype);
  ncclResult_t rc = nscclCommCount(comm, n);
  if (rc == ncclSuccess) rc = nscclCommUserRank(comm, me);
  if (rc != ncclSuccess) return rc;
  if (rooted && (root < 0 || root >= *n))
    return nsccl_compat_unsupported(call, "root is not a rank of the communicator");
  if (*bytes == 0 && count) return nsccl_compat_unsupported(call, "datatype is not an ncclDataType_t");
  return ncclSuccess;
}
static inline ncclResult_t ncclAlltoAll(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                        ncclComm_t comm, cudaStream_t stream) {
  int n = 0, me = 0;
  size_t bytes = 0;
  ncclResult_t rc = nsccl_compat_spread_args_("ncclAlltoAll", count, datatype, 0, 0, comm, &n, &me, &bytes);
  if (rc != ncclSuccess) return rc;
  ncclGroupStart();
  for (int p = 0; p < n && rc == ncclSuccess; p++) {
    rc = ncclSend((const char *)sendbuff + (size_t)p * bytes, count, datatype, p, comm, stream);
    if (rc == ncclSuccess) rc = ncclRecv((char *)recvbuff + (size_t)p * bytes, count, datatype, p, comm, stream);
  }
  return nsccl_compat_group_end_(rc);
}
static inline ncclResult_t ncclGather(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                      int root, ncclComm_t comm, cudaStream_t stream) {
  int n = 0, me = 0;
  size_t bytes = 0;
  ncclResult_t rc = nsccl_compat_spread_args_("ncclGather", count, datatype, 1, root, comm, &n, &me, &bytes);
  if (rc != ncclSuccess) return rc;
  ncclGroupStart();
  rc = ncclSend(sendbuff, count, datatype, root, comm, stream);
  for (int p = 0; me == root && p < n && rc == ncclSuccess; p++)
    rc = ncclRecv((char *)recvbuff + (size_t)p * bytes, count, datatype, p, comm, stream);
  return nsccl_compat_group_end_(rc);
}
static inline ncclResult_t ncclScatter(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                                       int root, ncclComm_t comm, cudaStream_t stream) {
  int n = 0, me = 0;
  size_t bytes = 0;
  ncclResult_t rc = nsccl_compat_spread_args_("ncclScatter", count, datatype, 1, root, comm, &n, &me, &bytes);
  if (rc != ncclSuccess) return rc;
  ncclGroupStart();
  for (int p = 0; me == root && p < n && rc == ncclSuccess; p++)
    rc = ncclSend((const char *)sendbuff + (size_t)p * bytes, count, datatype, p, comm, stream);
  if (rc == ncclSuccess) rc = ncclRecv(recvbuff, count, datatype, root, comm, stream);
  return nsccl_compat_group_end_(rc);
}

/* ---- one-sided signals on windows: need device-initiated RMA, not implemented ---- */
static inline ncclResult_t ncclPutSignal(const void *localbuff, size_t count, ncclDataType_t datatype, int peer,
                                         ncclWindow_t peerWin, size_t peerWinOffset, int sigIdx, int ctx,
                                         unsigned int flags, ncclComm_t comm, cudaStream_t stream) {
  (void)localbuff, (void)count, (void)datatype, (void)peer, (void)peerWin, (void)peerWinOffset, (void)sigIdx;
  (void)ctx, (void)flags, (void)comm, (void)stream;
  return nsccl_compat_unsupported("ncclPutSignal", "one-sided operations are not implemented by nsccl");
}
static inline ncclResult_t ncclSignal(int peer, int sigIdx, int ctx, unsigned int flags, ncclComm_t comm,
                                      cudaStream_t stream) {
  (void)peer, (void)sigIdx, (void)ctx, (void)flags, (void)comm, (void)stream;
  return nsccl_compat_unsupported("ncclSignal", "one-sided operations are not implemented by nsccl");
}
static inline ncclResult_t ncclWaitSignal(int nDesc, ncclWaitSignalDesc_t *signalDescs, ncclComm_t comm,
                                          cudaStream_t stream) {
  (void)nDesc, (void)signalDescs, (void)comm, (void)stream;
  return nsccl_compat_unsupported("ncclWaitSignal", "one-sided operations are not implemented by nsccl");
}

/* ---- the parameter API (NCCL_* settings): not implemented; nsccl reads NSCCL_* variables ---- */
#define NSCCL_COMPAT_PARAM_(name, type)                                                                                \
  static inline ncclResult_t name(ncclParamHandle_t h, type *out) {                                                    \
    (void)h, (void)out;                                                                                                \
    return nsccl_compat_unsupported(#name, "the NCCL parameter API is not implemented by nsccl");                      \
  }
NSCCL_COMPAT_PARAM_(ncclParamGetI8, int8_t)
NSCCL_COMPAT_PARAM_(ncclParamGetI16, int16_t)
NSCCL_COMPAT_PARAM_(ncclParamGetI32, int32_t)
NSCCL_COMPAT_PARAM_(ncclParamGetI64, int64_t)
NSCCL_COMPAT_PARAM_(ncclParamGetU8, uint8_t)
NSCCL_COMPAT_PARAM_(ncclParamGetU16, uint16_t)
NSCCL_COMPAT_PARAM_(ncclParamGetU32, uint32_t)
NSCCL_COMPAT_PARAM_(ncclParamGetU64, uint64_t)
NSCCL_COMPAT_PARAM_(ncclParamGetStr, const char *)
static inline ncclResult_t ncclParamBind(ncclParamHandle_t *out, const char *key) {
  (void)key;
  if (out) *out = NULL;
  return nsccl_compat_unsupported("ncclParamBind", "the NCCL parameter API is not implemented by nsccl");
}
static inline ncclResult_t ncclParamGet(ncclParamHandle_t h, void *out, int maxLen, int *len) {
  (void)h, (void)out, (void)maxLen, (void)len;
  return nsccl_compat_unsupported("ncclParamGet", "the NCCL parameter API is not implemented by nsccl");
}
static inline ncclResult_t ncclParamGetParameter(const char *key, const char **value, int *valueLen) {
  (void)key, (void)value, (void)valueLen;
  return nsccl_compat_unsupported("ncclParamGetParameter", "the NCCL parameter API is not implemented by nsccl");
}
static inline ncclResult_t ncclParamGetAllParameterKeys(const char ***table, int *tableLen) {
  if (table) *table = NULL;
  if (tableLen) *tableLen = 0;
  return nsccl_compat_unsupported("ncclParamGetAllParameterKeys", "the NCCL parameter API is not implemented by nsccl");
}
static inline void ncclParamDumpAll(void) {} /* no NCCL parameters to dump */

/* ---- pnccl*: NCCL's profiling names of every call ---- */
#define pncclMemAlloc                 ncclMemAlloc
#define pncclMemFree                  ncclMemFree
#define pncclGetVersion               ncclGetVersion
#define pncclGetUniqueId              ncclGetUniqueId
#define pncclCommInitRankConfig       ncclCommInitRankConfig
#define pncclCommInitRank             ncclCommInitRank
#define pncclCommInitAll              ncclCommInitAll
#define pncclCommFinalize             ncclCommFinalize
#define pncclCommDestroy              ncclCommDestroy
#define pncclCommAbort                ncclCommAbort
#define pncclCommRevoke               ncclCommRevoke
#define pncclCommSplit                ncclCommSplit
#define pncclCommShrink               ncclCommShrink
#define pncclCommGetUniqueId          ncclCommGetUniqueId
#define pncclCommGrow                 ncclCommGrow
#define pncclCommInitRankScalable     ncclCommInitRankScalable
#define pncclGetErrorString           ncclGetErrorString
#define pncclGetLastError             ncclGetLastError
#define pncclCommGetAsyncError        ncclCommGetAsyncError
#define pncclCommCount                ncclCommCount
#define pncclCommCuDevice             ncclCommCuDevice
#define pncclCommUserRank             ncclCommUserRank
#define pncclCommRegister             ncclCommRegister
#define pncclCommDeregister           ncclCommDeregister
#define pncclCommSuspend              ncclCommSuspend
#define pncclCommResume               ncclCommResume
#define pncclCommMemStats             ncclCommMemStats
#define pncclCommWindowRegister       ncclCommWindowRegister
#define pncclCommWindowDeregister     ncclCommWindowDeregister
#define pncclWinGetUserPtr            ncclWinGetUserPtr
#define pncclRedOpCreatePreMulSum     ncclRedOpCreatePreMulSum
#define pncclRedOpDestroy             ncclRedOpDestroy
#define pncclReduce                   ncclReduce
#define pncclBcast                    ncclBcast
#define pncclBroadcast                ncclBroadcast
#define pncclAllReduce                ncclAllReduce
#define pncclReduceScatter            ncclReduceScatter
#define pncclAllGather                ncclAllGather
#define pncclAlltoAll                 ncclAlltoAll
#define pncclGather                   ncclGather
#define pncclScatter                  ncclScatter
#define pncclSend                     ncclSend
#define pncclRecv                     ncclRecv
#define pncclPutSignal                ncclPutSignal
#define pncclSignal                   ncclSignal
#define pncclWaitSignal               ncclWaitSignal
#define pncclGroupStart               ncclGroupStart
#define pncclGroupEnd                 ncclGroupEnd
#define pncclGroupSimulateEnd         ncclGroupSimulateEnd
#define pncclParamBind                ncclParamBind
#define pncclParamGetI8               ncclParamGetI8
#define pncclParamGetI16              ncclParamGetI16
#define pncclParamGetI32              ncclParamGetI32
#define pncclParamGetI64              ncclParamGetI64
#define pncclParamGetU8               ncclParamGetU8
#define pncclParamGetU16              ncclParamGetU16
#define pncclParamGetU32              ncclParamGetU32
#define pncclParamGetU64              ncclParamGetU64
#define pncclParamGetStr              ncclParamGetStr
#define pncclParamGet                 ncclParamGet
#define pncclParamGetParameter        ncclParamGetParameter
#define pncclParamGetAllParameterKeys ncclParamGetAllParameterKeys
#define pncclParamDumpAll             ncclParamDumpAll
#define pncclResetDebugInit           ncclResetDebugInit

#ifdef __cplusplus
}
#endif
#endif /* NSCCL_COMPAT_NCCL_NEWER_CALLS_H */
