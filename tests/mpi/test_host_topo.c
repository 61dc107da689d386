/* NSCCL_HOST_TOPO: the runtime's selector prices over a calibrated host file when one is given,
 * and a file that cannot be loaded is an init error naming it. Single process, one rank. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/comm.h"
#include "nsccl.h"
#include "topologies/topo.h"

static nscclResult_t init_one(nscclComm_t *comm) {
  nscclUniqueId id;
  nscclResult_t rc = nscclGetUniqueId(&id);
  return rc != nscclSuccess ? rc : nscclCommInitRank(comm, 1, id, 0);
}

Test(host_topo, calibrated_file_sets_the_parameters) {
  char path[] = "/tmp/nsccl-host-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *f = fdopen(fd, "w");
  /* what nsccl-perf --calibrate writes (docs/performance.md) */
  fprintf(f, "[topology]\nmodule = host\nranks = 2\nranks_per_host = 2\nendpoint_overhead = 3.5e-06\n"
             "link_bandwidth = 7.0e+09\nreduce_bandwidth = 2.5e+09\n");
  fclose(f);
  setenv("NSCCL_HOST_TOPO", path, 1);
  nscclComm_t comm = NULL;
  cr_assert_eq(init_one(&comm), nscclSuccess, "%s", nscclGetLastError(NULL));
  cr_expect_float_eq(comm->topo->endpoint_overhead, 3.5e-6, 1e-12);
  cr_expect_float_eq(comm->topo->reduce_bandwidth, 2.5e9, 1.0);
  cr_expect_eq(comm->topo->nranks, 1, "the shape comes from the communicator, not the file");
  nscclCommDestroy(comm);
  unsetenv("NSCCL_HOST_TOPO");
  unlink(path);
}

Test(host_topo, missing_file_is_an_init_error_naming_it) {
  setenv("NSCCL_HOST_TOPO", "/nonexistent/host.conf", 1);
  nscclComm_t comm = NULL;
  cr_assert_eq(init_one(&comm), nscclInvalidArgument);
  cr_expect(strstr(nscclGetLastError(NULL), "/nonexistent/host.conf") != NULL, "message: %s", nscclGetLastError(NULL));
  unsetenv("NSCCL_HOST_TOPO");
}

Test(host_topo, defaults_without_the_variable) {
  unsetenv("NSCCL_HOST_TOPO");
  nscclComm_t comm = NULL;
  cr_assert_eq(init_one(&comm), nscclSuccess, "%s", nscclGetLastError(NULL));
  cr_expect_float_eq(comm->topo->endpoint_overhead, 5e-7, 1e-12); /* NSCCL_HOST_DEFAULT_ALPHA */
  nscclCommDestroy(comm);
}
