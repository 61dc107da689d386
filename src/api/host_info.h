/* What hwloc says about the machine this process runs on. Read once per process. */
#ifndef NSCCL_API_HOST_INFO_H
#define NSCCL_API_HOST_INFO_H

#include "nsccl.h"

typedef struct {
  int packages, numa_nodes, cores, pus; /* counts; 0 when hwloc could not tell */
  int bound_pus;                        /* PUs this process may run on (its CPU binding) */
} nsccl_host_info_t;

nscclResult_t nsccl_host_info_get(nsccl_host_info_t *out);
/* "1 package, 1 NUMA node, 2 cores, 2 PUs (bound to 2)". */
const char *nsccl_host_info_str(const nsccl_host_info_t *h, char *buf, unsigned len);

#endif
