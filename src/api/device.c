/* Virtual devices: how many there are, which one each thread has selected, and the device-wide
 * waits (the streams themselves are in stream.c, the communicator's device in comm.c).
 *
 * The default count is what a user of "one rank per device" programs expects on a host without
 * GPUs: under a launcher, one device per rank it started on this host (so cudaSetDevice(localRank)
 * works for any rank count); otherwise one device per online CPU (each rank's progress wants a
 * core), at most 8, the GPU count of a common GPU server, so "use every device" programs do not
 * start dozens of ranks on a large host. NSCCL_VIRTUAL_DEVICES overrides both. */
#include <stdlib.h>
#include <unistd.h>

#include "api/comm.h"
#include "api/device.h"
#include "base/check.h"

#define NSCCL_DEFAULT_MAX_DEVICES 8

static _Thread_local int current_device;

int nsccl_device_current(void) { return current_device; }
void nsccl_device_set_current(int device) { current_device = device; }

static int env_count(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  char *end;
  long n = strtol(v, &end, 10);
  return *end == '\0' && n > 0 && n <= 1 << 20 ? (int)n : 0;
}

nscclResult_t nscclGetDeviceCount(int *count) {
  if (!count) NSCCL_FAIL(nscclInvalidArgument, "nscclGetDeviceCount: count is NULL");
  const char *forced = getenv("NSCCL_VIRTUAL_DEVICES");
  int n = env_count("NSCCL_VIRTUAL_DEVICES");
  if (forced && *forced && n == 0)
    NSCCL_FAIL(nscclInvalidArgument, "NSCCL_VIRTUAL_DEVICES=\"%s\" is not a positive device count", forced);
  if (n == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int per_cpu = cpus < 1 ? 1 : cpus > NSCCL_DEFAULT_MAX_DEVICES ? NSCCL_DEFAULT_MAX_DEVICES : (int)cpus;
    int local = env_count("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = env_count("MPI_LOCALNRANKS");
    n = local > per_cpu ? local : per_cpu;
  }
  *count = n;
  return nscclSuccess;
}

nscclResult_t nscclSetDevice(int device) {
  int n;
  NSCCL_CHECK(nscclGetDeviceCount(&n));
  if (device < 0 || device >= n)
    NSCCL_FAIL(nscclInvalidArgument,
               "nscclSetDevice: device %d does not exist: this process has %d virtual devices (0-%d); set "
               "NSCCL_VIRTUAL_DEVICES for more",
               device, n, n - 1);
  current_device = device;
  return nscclSuccess;
}

nscclResult_t nscclGetDevice(int *device) {
  if (!device) NSCCL_FAIL(nscclInvalidArgument, "nscclGetDevice: device is NULL");
  *device = current_device;
  return nscclSuccess;
}

nscclResult_t nscclDeviceSynchronize(void) { return nsccl_streams_wait(current_device, 0); }
nscclResult_t nscclDefaultStreamSynchronize(void) { return nsccl_streams_wait(current_device, 1); }

nscclResult_t nscclCommDevice(const nscclComm_t comm, int *device) {
  NSCCL_CHECK(nsccl_comm_check(comm, "nscclCommDevice"));
  if (!device) NSCCL_FAIL(nscclInvalidArgument, "nscclCommDevice: device is NULL");
  *device = comm->device;
  return nscclSuccess;
}
