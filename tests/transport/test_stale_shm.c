/* A shared-memory segment left in /dev/shm by a killed process must not stop a later process that
 * reuses its pid from opening shm (its peers would pick shm while it fell back to the network). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/transport.h"

Test(stale_shm, segment_with_our_pid_is_replaced) {
  /* Play the dead process: leave a segment under the name our own shm endpoint will want. */
  char path[64];
  snprintf(path, sizeof(path), "/dev/shm/%d:0:0", (int)getpid());
  int fd = open(path, O_CREAT | O_RDWR, 0600);
  cr_assert(fd >= 0, "cannot create %s", path);
  cr_assert(ftruncate(fd, 4096) == 0);
  close(fd);

  int host[2] = {0, 0};
  nsccl_transport_config_t cfg = {.rank = 0, .nranks = 2, .host_of_rank = host, .timeout_ms = 5000};
  nsccl_transport_t *t = NULL;
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclSuccess, "open failed");
  cr_expect_str_eq(nsccl_transport_provider_of(t, 1), "shm", "same-host peer should use shm despite the stale file");
  nsccl_transport_close(t);
  unlink(path);
}
