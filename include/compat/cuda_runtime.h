/* Host-memory stand-in for the parts of the CUDA runtime that NCCL programs call around NCCL, so a
 * program written for GPUs builds unchanged against nsccl and runs on CPU ranks.
 *
 * "Device" memory is host memory (cudaMalloc is malloc, every cudaMemcpy kind is a memmove);
 * devices are virtual: cudaGetDeviceCount reports NSCCL_VIRTUAL_DEVICES (default 64, enough for the
 * ranks of any host) and cudaSetDevice only records the choice. cudaStream_t is nscclStream_t: an
 * ordered host work queue with its own progress thread; cudaMemcpyAsync is queued behind the
 * collectives already on the stream. The default (NULL) stream runs everything at once; like
 * CUDA's legacy default stream, the synchronous cudaMemcpy/cudaMemset first wait for every stream.
 * Everything is static inline: the current device and the last error are kept per translation unit
 * and per thread. No kernels, events or graphs. See docs/compat.md. */
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
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
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
#define cudaStreamDefault     0x00
#define cudaStreamNonBlocking 0x01
#define cudaHostAllocDefault  0x00

#define NSCCL_CUDA_DEFAULT_DEVICES 64

#ifdef __cplusplus
#define NSCCL_CUDA_TLS_ thread_local
#else
#define NSCCL_CUDA_TLS_ _Thread_local
#endif
static NSCCL_CUDA_TLS_ int nsccl_cuda_device_;
static NSCCL_CUDA_TLS_ cudaError_t nsccl_cuda_last_error_;

static inline cudaError_t nsccl_cuda_ret_(cudaError_t e) {
  if (e != cudaSuccess) nsccl_cuda_last_error_ = e;
  return e;
}

static inline cudaError_t nsccl_cuda_from_(nscclResult_t r) {
  return nsccl_cuda_ret_(r == nscclSuccess                                     ? cudaSuccess
                         : r == nscclInProgress                                ? cudaErrorNotReady
                         : r == nscclInvalidArgument || r == nscclInvalidUsage ? cudaErrorInvalidValue
                                                                               : cudaErrorLaunchFailure);
}

static inline cudaError_t cudaGetDeviceCount(int *count) {
  if (!count) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  const char *env = getenv("NSCCL_VIRTUAL_DEVICES");
  int n = env ? atoi(env) : 0;
  *count = n > 0 ? n : NSCCL_CUDA_DEFAULT_DEVICES;
  return cudaSuccess;
}

static inline cudaError_t cudaSetDevice(int device) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (device < 0 || device >= n) return nsccl_cuda_ret_(cudaErrorInvalidDevice);
  nsccl_cuda_device_ = device;
  return cudaSuccess;
}

static inline cudaError_t cudaGetDevice(int *device) {
  if (!device) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  *device = nsccl_cuda_device_;
  return cudaSuccess;
}

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

static inline cudaError_t cudaDeviceSynchronize(void) { return nsccl_cuda_from_(nscclStreamSynchronizeAll()); }

static inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  (void)kind;
  if (count && (!dst || !src)) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  nscclStreamSynchronizeAll(); /* the legacy default stream waits for the other streams */
  if (count) memmove(dst, src, count);
  return cudaSuccess;
}

static inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                                          cudaStream_t stream) {
  (void)kind;
  return nsccl_cuda_from_(nscclMemcpyAsync(dst, src, count, stream));
}

static inline cudaError_t cudaMemset(void *ptr, int value, size_t count) {
  if (count && !ptr) return nsccl_cuda_ret_(cudaErrorInvalidValue);
  nscclStreamSynchronizeAll();
  if (count) memset(ptr, value, count);
  return cudaSuccess;
}

static inline cudaError_t cudaStreamCreate(cudaStream_t *stream) { return nsccl_cuda_from_(nscclStreamCreate(stream)); }
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  (void)flags;
  return nsccl_cuda_from_(nscclStreamCreate(stream));
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamSynchronize(stream)) : cudaSuccess;
}
static inline cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamQuery(stream)) : cudaSuccess;
}
static inline cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  return stream ? nsccl_cuda_from_(nscclStreamDestroy(stream)) : nsccl_cuda_ret_(cudaErrorInvalidResourceHandle);
}

static inline const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
  case cudaSuccess: return "no error";
  case cudaErrorInvalidValue: return "invalid argument";
  case cudaErrorMemoryAllocation: return "out of memory";
  case cudaErrorInvalidDevice: return "invalid device ordinal";
  case cudaErrorInvalidResourceHandle: return "invalid resource handle";
  case cudaErrorNotReady: return "device not ready";
  case cudaErrorLaunchFailure: return "unspecified launch failure (queued nsccl work failed; see nscclGetLastError)";
  default: return "unknown error";
  }
}

static inline cudaError_t cudaGetLastError(void) {
  cudaError_t e = nsccl_cuda_last_error_;
  nsccl_cuda_last_error_ = cudaSuccess;
  return e;
}
static inline cudaError_t cudaPeekAtLastError(void) { return nsccl_cuda_last_error_; }

#ifdef __cplusplus
}
#endif
#endif /* NSCCL_COMPAT_CUDA_RUNTIME_H */
