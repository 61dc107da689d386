/* Forked workers for nsccl-envelope (envelope_jobs.h): worker w takes every jobs-th index, computes
 * its records and sends each back on a pipe as (index, record bytes); the parent polls the pipes and
 * copies every record into place. */
#include "envelope_jobs.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int write_all(int fd, const void *p, size_t n) {
  for (const char *c = p; n > 0;) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return 0;
    c += k, n -= (size_t)k;
  }
  return 1;
}

static void progress(const char *what, int every, int done, int n, double t0) {
  if (every > 0 && (done % every == 0 || done == n))
    fprintf(stderr, "nsccl-envelope: %s %d/%d (%.1f s)\n", what, done, n, now_s() - t0);
}

int env_parallel(int jobs, const int *idx, int n, void *records, size_t size, env_work_fn fn, void *ctx,
                 const char *what, int every) {
  double t0 = now_s();
  char *rec = records;
  if (jobs > n) jobs = n;
  if (jobs > MAX_JOBS) jobs = MAX_JOBS;
  if (jobs <= 1) {
    for (int k = 0; k < n; k++) {
      if (!fn(ctx, idx[k], rec + (size_t)idx[k] * size)) return 0;
      progress(what, every, k + 1, n, t0);
    }
    return 1;
  }
  struct pollfd pfd[MAX_JOBS];
  pid_t pid[MAX_JOBS];
  size_t got[MAX_JOBS]; /* bytes of the current message received from each worker */
  size_t msg = sizeof(int) + size;
  char *buf = malloc((size_t)jobs * msg);
  if (!buf) return 0;
  fflush(NULL); /* nothing buffered is written twice by the children */
  int started = 0, ok = 1;
  for (; started < jobs; started++) {
    int fd[2];
    if (pipe(fd) != 0 || (pid[started] = fork()) < 0) {
      fprintf(stderr, "nsccl-envelope: starting worker %d: %s\n", started, strerror(errno));
      ok = 0;
      break;
    }
    if (pid[started] == 0) { /* worker */
      close(fd[0]);
      for (int w = 0; w < started; w++) close(pfd[w].fd);
      char *m = buf;
      for (int k = started; k < n; k += jobs) {
        /* the record first, where buf's alignment holds for it; its index after it */
        if (!fn(ctx, idx[k], m)) _exit(1);
        memcpy(m + size, &idx[k], sizeof(int));
        if (!write_all(fd[1], m, msg)) _exit(1);
      }
      _exit(0);
    }
    close(fd[1]);
    pfd[started] = (struct pollfd){.fd = fd[0], .events = POLLIN};
    got[started] = 0;
  }
  int done = 0, open = started;
  while (ok && open > 0) {
    if (poll(pfd, (nfds_t)started, -1) < 0) {
      if (errno == EINTR) continue;
      ok = 0;
      break;
    }
    for (int w = 0; w < started; w++) {
      if (pfd[w].fd < 0 || !(pfd[w].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char *m = buf + (size_t)w * msg;
      ssize_t k = read(pfd[w].fd, m + got[w], msg - got[w]);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) { /* the worker is finished (or died: counted below) */
        close(pfd[w].fd);
        pfd[w].fd = -1;
        open--;
        continue;
      }
      got[w] += (size_t)k;
      if (got[w] < msg) continue;
      int i;
      memcpy(&i, m + size, sizeof(int));
      memcpy(rec + (size_t)i * size, m, size);
      got[w] = 0;
      progress(what, every, ++done, n, t0);
    }
  }
  for (int w = 0; w < started; w++) {
    if (pfd[w].fd >= 0) close(pfd[w].fd);
    int st;
    if (waitpid(pid[w], &st, 0) != pid[w] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) ok = 0;
  }
  free(buf);
  if (ok && done != n) {
    fprintf(stderr, "nsccl-envelope: %s: %d of %d records arrived\n", what, done, n);
    ok = 0;
  }
  return ok;
}
