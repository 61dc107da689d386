/* Removal of dead processes' shared-memory segments (see shm_cleanup.h).
 *
 * Safety: the pid comes from the name, which both formats put there on purpose (libfabric's shm
 * provider and our fast path name segments after getpid()). A segment is removed only when its
 * name parses completely, its owner is this user, and no process has that pid in this pid
 * namespace (or it is a zombie: killed, its memory already released). A process in another pid namespace that shares
 * /dev/shm and runs as the same user would look dead here; jobs are not expected to share /dev/shm that way
 * (docs/reliability.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/shm_cleanup.h"
#include "base/log.h"

/* The pid a segment name carries, or 0 when the name is not exactly one of ours. */
static int pid_of(const char *name) {
  int pid = 0, a = 0, b = 0, end = 0;
  size_t len = strlen(name);
  if (sscanf(name, "%d:%d:%d%n", &pid, &a, &b, &end) == 3 && (size_t)end == len && pid > 0) return pid;
  end = 0;
  if (sscanf(name, "nsccl-fp-%d-%d%n", &pid, &a, &end) == 2 && (size_t)end == len && pid > 0) return pid;
  return 0;
}

/* No such process, a zombie (killed, not yet reaped by its parent: its mappings are gone), or a
 * process already inside exit (the kernel's PF_EXITING flag, field 9 of /proc/PID/stat): a rank
 * killed by a signal closes its sockets during exit, before it becomes a zombie, so a survivor
 * that noticed the closed connection can look while the victim is still in that state. Unlinking
 * a name then is safe: an exiting process never opens a segment by name again, and the memory
 * lives until its last mapping goes. */
#define NSCCL_PF_EXITING 0x00000004u
static int dead(int pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  char path[64], buf[256];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t k = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (k <= 0) return 0;
  buf[k] = '\0';
  const char *paren = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!paren || paren[1] != ' ') return 0;
  char state = 0;
  unsigned flags = 0;
  if (sscanf(paren + 2, "%c %*d %*d %*d %*d %*d %u", &state, &flags) < 1) return 0;
  return state == 'Z' || state == 'X' || (flags & NSCCL_PF_EXITING);
}

int nsccl_shm_remove_dead(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return 0;
  int removed = 0;
  uid_t me = geteuid();
  for (struct dirent *e; (e = readdir(d));) {
    int pid = pid_of(e->d_name);
    if (pid <= 0 || pid == (int)getpid()) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != me || !S_ISREG(st.st_mode))
      continue;
    if (!dead(pid)) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
      removed++;
      NSCCL_INFO(NSCCL_SUBSYS_NET, "removed /dev/shm/%s: process %d no longer exists", e->d_name, pid);
    }
  }
  closedir(d);
  return removed;
}
