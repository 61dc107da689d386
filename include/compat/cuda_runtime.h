/* Host-memory stand-in for the parts of the CUDA runtime that NCCL programs call around NCCL, so a
 * program written for GPUs builds unchanged (C or C++) against nsccl and runs on CPU ranks.
 *
 * "Device" memory is host memory (cudaMalloc is malloc, every cudaMemcpy kind is a memmove).
 * Devices are nsccl's virtual devices and follow CUDA's model (nsccl.h, "virtual devices"): the
 * current device is per thread (cudaSetDevice), a stream belongs to the device current at its
 * creation, the legacy default stream (the synchronous cudaMemcpy / cudaMemset, and the NULL stream
 * of cudaMemcpyAsync) waits for the blocking streams of the current device only, and
 * cudaDeviceSynchronize waits for the current device's streams. cudaGetDeviceCount: see
 * nscclGetDeviceCount (NSCCL_VIRTUAL_DEVICES overrides). cudaStream_t is nscclStream_t: an ordered
 * host work queue with its own progress thread; cudaMemcpyAsync is queued behind the work already on
 * the stream. Events complete when recorded (recording waits for the stream). No kernels, graphs or
 * device-side calls. The last CUDA error is kept per thread. Everything is static inline over
 * libnsccl and needs only standard C (C99 and later) or C++98 and later. What each call does:
 * docs/compat.md. */
#ifndef NSCCL_COMPAT_CUDA_RUNTIME_H
#define NSCCL_COMPAT_CUDA_RUNTIME_H

#include <stdlib.h>
#include <string.h>

#include "nsccl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999
} cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

typedef nscclStream_t cudaStream_t;
#define cudaStreamLegacy       ((cudaStream_t)0)
#define cudaStreamDefault      0x00
#define cudaStreamNonBlocking  0x01 /* = NSCCL_STREAM_NON_BLOCKING */
#define cudaHostAllocDefault   0x00
#define cudaHostAllocPortable  0x01
#define cudaHostAllocMapped    0x02
#define cudaMemAttachGlobal    0x01
#define cudaEventDefault       0x00
#define cudaEventBlockingSync  0x01
#define cudaEventDisableTiming 0x02

/* The fields NCCL programs read, with CUDA's names; nsccl fills them for a virtual device. */
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem; /* the host's physical memory */
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int clockRate;
  size_t totalConstMem;
  int major; /* 0.0: no compute capability (no GPU) */
  int minor;
  int multiProcessorCount;
  int integrated;
  int canMapHostMemory;
  int concurrentKernels;
  int pciBusID;
  int pciDeviceID;
  int pciDomainID;
  int unifiedAddressing;
  int managedMemory;
  int isMultiGpuBoard;
  int multiGpuBoardGroupID;
};
typedef struct cudaDeviceProp cudaDeviceProp;

/* Events: a host timestamp taken when the stream's earlier work has run. */
typedef struct nsccl_cuda_event_ {
  double when_ms;
  int recorded;
} * cudaEvent_t;

/* From libnsccl (src/api/compat.c), so this header needs nothing beyond standard C: a monotonic
 * clock in milliseconds, and the host's physical and available memory in bytes. */
double nsccl_compat_now_ms(void);
void nsccl_compat_host_memory(size_t *total_bytes, size_t *available_bytes);

/* The calling thread's last CUDA error (cudaGetLastError), kept in libnsccl so that every
 * translation unit of a program sees the same one. */
int *nsccl_compat_cuda_last_error(void);

static inline cudaError_t nsccl_cuda_ret_(cudaError_t e) {
  if (e != cudaSuccess) *nsccl_compat_cuda_last_error() = (int)e;
  return e;
}

static inline cudaError_t nsccl_cuda_from_(nscclResult_t r) {
  return nsccl_cuda_ret_(r == nscclSuccess                                     ? cudaSuccess
                         : r == nscclInProgress                                ? cudaErrorNotReady
                         : r == nscclInvalidArgument || r == nscclInvalidUsage ? cudaErrorInvalidValue
                                                                               : cudaErrorLaunchFailure);
}

/* ---- devices ---- */
static inline cudaError_t cudaGetDeviceCount(int *count) {
  if (!count) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  return nsccl_cuda_from_(nscclGetDeviceCount(count));
}

static inline cudaError_t cudaSetDevice(int device) {
  return nscclSetDevice(device) == nscclSuccess ? cudaSuccess : nsccl_cuda_ret_(cudaErrorInvalidDevice);
}

static inline cudaError_t cudaGetDevice(int *device) {
  if (!device) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  return nsccl_cuda_from_(nscclGetDevice(device));
}

static inline cudaError_t cudaSetDeviceFlags(unsigned int flags) {
  (void)flags; /* scheduling flags: the host schedules the progress threads */
  return cudaSuccess;
}

static inline cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device) {
  int n = 0;
  if (!prop) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  if (cudaGetDeviceCount(&n) != cudaSuccess || device < 0 || device >= n)
    return nsccl_cuda_ret_(cudaErrorInvalidDevice);
  memset(prop, 0, sizeof(*prop));
  /* name[256] holds any int; the bound keeps -Wformat-truncation quiet. */
  const char *base = "nsccl virtual device ";
  size_t len = strlen(base);
  memcpy(prop->name, base, len);
  char digits[16];
  int nd = 0;
  for (unsigned v = (unsigned)device; nd == 0 || v; v /= 10) digits[nd++] = (char)('0' + v % 10);
  while (nd) prop->name[len++] = digits[--nd];
  memcpy(prop->name + len, " (host memory)", sizeof(" (host memory)"));
  size_t avail;
  nsccl_compat_host_memory(&prop->totalGlobalMem, &avail);
  prop->warpSize = 1;
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerBlock = 1;
  prop->integrated = 1;
  prop->canMapHostMemory = 1;
  prop->unifiedAddressing = 1;
  prop->managedMemory = 1;
  prop->pciDeviceID = device;
  return cudaSuccess;
}

static inline cudaError_t cudaDeviceCanAccessPeer(int *canAccessPeer, int device, int peerDevice) {
  int n = 0;
  if (!canAccessPeer) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  cudaGetDeviceCount(&n);
  if (device < 0 || device >= n || peerDevice < 0 || peerDevice >= n) return nsccl_cuda_ret_(cudaErrorInvalidDevice);
  *canAccessPeer = 1; /* one address space */
  return cudaSuccess;
}
static inline cudaError_t cudaDeviceEnablePeerAccess(int peerDevice, unsigned int flags) {
  (void)peerDevice, (void)flags;
  return cudaSuccess;
}

static inline cudaError_t cudaDeviceSynchronize(void) { return nsccl_cuda_from_(nscclDeviceSynchronize()); }
/* Waits for the device's work; nothing else to release. */
static inline cudaError_t cudaDeviceReset(void) { return cudaDeviceSynchronize(); }

static inline cudaError_t cudaDriverGetVersion(int *version) {
  if (!version) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  *version = 0; /* no CUDA driver */
  return cudaSuccess;
}
static inline cudaError_t cudaRuntimeGetVersion(int *version) {
  if (!version) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  *version = 0; /* not a CUDA runtime */
  return cudaSuccess;
}

/* ---- memory: host memory ---- */
static inline cudaError_t cudaMalloc(void **ptr, size_t size) {
  if (!ptr) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  *ptr = malloc(size ? size : 1);
  return *ptr ? cudaSuccess : nsccl_cuda_ret_(cudaErrorMemoryAllocation);
}
static inline cudaError_t cudaFree(void *ptr) {
  free(ptr);
  return cudaSuccess;
}
static inline cudaError_t cudaMallocHost(void **ptr, size_t size) { return cudaMalloc(ptr, size); }
static inline cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags) {
  (void)flags;
  return cudaMalloc(ptr, size);
}
static inline cudaError_t cudaFreeHost(void *ptr) { return cudaFree(ptr); }
static inline cudaError_t cudaMallocManaged(void **ptr, size_t size, unsigned int flags) {
  (void)flags;
  return cudaMalloc(ptr, size);
}
/* Allocation in stream order: the memory is usable at once, so the stream has nothing to wait for. */
static inline cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t stream) {
  (void)stream;
  return cudaMalloc(ptr, size);
}
/* Freed after the stream's earlier work, which may still read it. */
static inline cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream) {
  if (stream && nscclStreamSynchronize(stream) != nscclSuccess) return nsccl_cuda_ret_(cudaErrorLaunchFailure);
  return cudaFree(ptr);
}
static inline cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags) {
  (void)ptr, (void)size, (void)flags; /* host memory is already usable by every device */
  return cudaSuccess;
}
static inline cudaError_t cudaHostUnregister(void *ptr) {
  (void)ptr;
  return cudaSuccess;
}
static inline cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  if (!free_bytes || !total_bytes) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  nsccl_compat_host_memory(total_bytes, free_bytes);
  return cudaSuccess;
}

/* The synchronous copy and set run on the legacy default stream: after the current device's
 * blocking streams have run what they hold. */
static inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  (void)kind;
  if (count && (!dst || !src)) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  nscclDefaultStreamSynchronize();
  if (count) memmove(dst, src, count);
  return cudaSuccess;
}
static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                                          cudaStream_t stream) {
  if (!stream) return cudaMemcpy(dst, src, count, kind);
  return nsccl_cuda_from_(nscclMemcpyAsync(dst, src, count, stream));
}
static inline cudaError_t cudaMemcpyPeer(void *dst, int dstDevice, const void *src, int srcDevice, size_t count) {
  (void)dstDevice, (void)srcDevice;
  return cudaMemcpy(dst, src, count, cudaMemcpyDefault);
}
static inline cudaError_t cudaMemset(void *ptr, int value, size_t count) {
  if (count && !ptr) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  nscclDefaultStreamSynchronize();
  if (count) memset(ptr, value, count);
  return cudaSuccess;
}
/* Ordered on the stream by waiting for its earlier work, then setting (later work is queued after). */
static inline cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream) {
  if (!stream) return cudaMemset(ptr, value, count);
  if (count && !ptr) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  if (nscclStreamSynchronize(stream) != nscclSuccess) return nsccl_cuda_ret_(cudaErrorLaunchFailure);
  if (count) memset(ptr, value, count);
  return cudaSuccess;
}

/* ---- streams ---- */
static inline cudaError_t cudaStreamCreate(cudaStream_t *stream) {
  if (!stream) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  return nsccl_cuda_from_(nscclStreamCreate(stream));
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  if (!stream) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  return nsccl_cuda_from_(nscclStreamCreateWithFlags(stream, flags & NSCCL_STREAM_NON_BLOCKING));
}
static inline cudaError_t cudaStreamCreateWithPriority(cudaStream_t *stream, unsigned int flags, int priority) {
  (void)priority; /* every progress thread has the same priority */
  return cudaStreamCreateWithFlags(stream, flags);
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamSynchronize(stream)) : nsccl_cuda_from_(nscclDefaultStreamSynchronize());
}
static inline cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamQuery(stream)) : cudaSuccess;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamDestroy(stream)) : nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
}

/* ---- events ---- */
static inline cudaError_t cudaEventCreate(cudaEvent_t *event) {
  if (!event) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  *event = (cudaEvent_t)calloc(1, sizeof(**event));
  return *event ? cudaSuccess : nsccl_cuda_ret_(cudaErrorMemoryAllocation);
}
static inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
  (void)flags;
  return cudaEventCreate(event);
}
static inline cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
  free(event);
  return cudaSuccess;
}
/* Waits for the stream's earlier work, then takes the time: the event is complete on return. */
static inline cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
  cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) return e;
  event->when_ms = nsccl_compat_now_ms();
  event->recorded = 1;
  return cudaSuccess;
}
static inline cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event ? cudaSuccess : nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
}
static inline cudaError_t cudaEventQuery(cudaEvent_t event) {
  return event ? cudaSuccess : nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
}
static inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
  *ms = (float)(end->when_ms - start->when_ms);
  return cudaSuccess;
}
/* Recorded events are complete, so there is nothing to wait for. */
static inline cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  (void)stream, (void)flags;
  return event ? cudaSuccess : nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
}

/* ---- errors ---- */
static inline const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInitializationError: return "initialization error";
  case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  case cudaErrorInvalidDevice: return "invalid device ordinal (see NSCCL_VIRTUAL_DEVICES)";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorLaunchFailure: return "unspecified launch failure (queued nsccl work failed; see ncclGetLastError)";
  case cudaErrorNotSupported: return "operation not supported (no GPU: nsccl runs on host memory)";
  default: return "unknown error";
  }
}
static inline const char *cudaGetErrorName(cudaError_t error) {
  switch (error) {
  case cudaSuccess: return "cudaSuccess";
  case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
  case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
  case cudaErrorInitializationError: return "cudaErrorInitializationError";
  case cudaErrorNoDevice: return "cudaErrorNoDevice";
  case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
  case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
  case cudaErrorNotReady: return "cudaErrorNotReady";
  case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  case cudaErrorNotSupported: return "cudaErrorNotSupported";
  default: return "cudaErrorUnknown";
  }
}
static inline cudaError_t cudaGetLastError(void) {
  cudaError_t e = (cudaError_t)*nsccl_compat_cuda_last_error();
  *nsccl_compat_cuda_last_error() = cudaSuccess;
  return e;
}
static inline cudaError_t cudaPeekAtLastError(void) { return (cudaError_t)*nsccl_compat_cuda_last_error(); }

#ifdef __cplusplus
}

/* C++: CUDA's typed overloads, so `float *p; cudaMalloc(&p, n)` compiles as it does with nvcc. */
template <class T> static inline cudaError_t cudaMalloc(T **ptr, size_t size) {
  return ::cudaMalloc(reinterpret_cast<void **>(ptr), size);
}
template <class T> static inline cudaError_t cudaMallocHost(T **ptr, size_t size, unsigned int flags = 0) {
  return ::cudaHostAlloc(reinterpret_cast<void **>(ptr), size, flags);
}
template <class T> static inline cudaError_t cudaHostAlloc(T **ptr, size_t size, unsigned int flags) {
  return ::cudaHostAlloc(reinterpret_cast<void **>(ptr), size, flags);
}
template <class T>
static inline cudaError_t cudaMallocManaged(T **ptr, size_t size, unsigned int flags = cudaMemAttachGlobal) {
  return ::cudaMallocManaged(reinterpret_cast<void **>(ptr), size, flags);
}
template <class T> static inline cudaError_t cudaMallocAsync(T **ptr, size_t size, cudaStream_t stream) {
  return ::cudaMallocAsync(reinterpret_cast<void **>(ptr), size, stream);
}
#endif
#endif /* NSCCL_COMPAT_CUDA_RUNTIME_H */
