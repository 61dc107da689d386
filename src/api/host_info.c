/* Host topology through hwloc. Loading a topology costs milliseconds, so it happens once per
 * process and every communicator reuses the counts. */
#include <hwloc.h>
#include <pthread.h>
#include <stdio.h>

#include "api/host_info.h"
#include "base/check.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static nsccl_host_info_t cached;
static int cached_ok;

static int count(hwloc_topology_t t, hwloc_obj_type_t type) {
  int n = hwloc_get_nbobjs_by_type(t, type);
  return n < 0 ? 0 : n;
}

static void load(void) {
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return;
  /* Only packages, NUMA nodes, cores and PUs are needed: skipping caches and I/O devices makes the
   * load several times faster, which matters when many ranks start on few cores. */
  hwloc_topology_set_cache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
  if (hwloc_topology_load(t) == 0) {
    cached.packages = count(t, HWLOC_OBJ_PACKAGE);
    cached.numa_nodes = count(t, HWLOC_OBJ_NUMANODE);
    cached.cores = count(t, HWLOC_OBJ_CORE);
    cached.pus = count(t, HWLOC_OBJ_PU);
    cached.bound_pus = cached.pus;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set && hwloc_get_cpubind(t, set, HWLOC_CPUBIND_PROCESS) == 0) {
      int w = hwloc_bitmap_weight(set);
      if (w > 0) cached.bound_pus = w;
    }
    hwloc_bitmap_free(set);
    cached_ok = 1;
  }
  hwloc_topology_destroy(t);
}

nscclResult_t nsccl_host_info_get(nsccl_host_info_t *out) {
  pthread_once(&once, load);
  if (!cached_ok) NSCCL_FAIL(nscclSystemError, "hwloc could not read the host topology");
  *out = cached;
  return nscclSuccess;
}

const char *nsccl_host_info_str(const nsccl_host_info_t *h, char *buf, unsigned len) {
  snprintf(buf, len, "%d package%s, %d NUMA node%s, %d core%s, %d PU%s (bound to %d)", h->packages,
           h->packages == 1 ? "" : "s", h->numa_nodes, h->numa_nodes == 1 ? "" : "s", h->cores,
           h->cores == 1 ? "" : "s", h->pus, h->pus == 1 ? "" : "s", h->bound_pus);
  return buf;
}
