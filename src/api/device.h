/* The virtual-device model (CUDA's, on host memory): per-thread current device, streams owned by a
 * device, device-wide waits. Public calls in nsccl.h; see docs/compat.md. */
#ifndef NSCCL_API_DEVICE_H
#define NSCCL_API_DEVICE_H

#include "nsccl.h"

/* The calling thread's current device (0 until nscclSetDevice). */
int nsccl_device_current(void);
/* Set it without the range check (group init replays the device recorded at the call). */
void nsccl_device_set_current(int device);
/* stream.c: wait for what every selected stream had queued when the call started; device < 0:
 * every device; blocking_only: skip NSCCL_STREAM_NON_BLOCKING streams. */
nscclResult_t nsccl_streams_wait(int device, int blocking_only);

#endif
