/* Start N ranks without MPI: NSCCL_COMM_ID=127.0.0.1:<free port>, NSCCL_RANK, NSCCL_NRANKS.
 *
 *   launch N [--kill R | --victim R] -- program args...
 *
 * Without --kill: every rank must exit 0 within NSCCL_TIMEOUT_MS + 60 s.
 * With --kill R: once every rank printed "ready", rank R gets SIGKILL; every other rank must then
 * exit 0 (the worker checks it saw an error and that abort returned) within NSCCL_TIMEOUT_MS plus
 * a margin of 10 s. Children that overstay are killed and the test fails.
 * With --victim R: rank R is expected to kill itself (the program times its own death); its exit
 * status is ignored and the launcher kills nobody. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_net.h"

#define MAXR 64

int main(int argc, char **argv) {
  int n = 0, victim = -1, argi = 1, self_kill = 0;
  if (argc > 1) n = atoi(argv[argi++]);
  if (argi + 1 < argc && (!strcmp(argv[argi], "--kill") || !strcmp(argv[argi], "--victim")))
    self_kill = !strcmp(argv[argi], "--victim"), victim = atoi(argv[argi + 1]), argi += 2;
  if (argi < argc && !strcmp(argv[argi], "--")) argi++;
  if (n < 1 || n > MAXR || argi >= argc || victim >= n) {
    fprintf(stderr, "usage: launch N [--kill R | --victim R] -- program args...\n");
    return 2;
  }
  int timeout_ms = getenv("NSCCL_TIMEOUT_MS") ? atoi(getenv("NSCCL_TIMEOUT_MS")) : 60000;
  char comm_id[64];
  if (!getenv("NSCCL_COMM_ID")) {
    snprintf(comm_id, sizeof(comm_id), "127.0.0.1:%d", test_free_port());
    setenv("NSCCL_COMM_ID", comm_id, 1);
  }
  char nr[16];
  snprintf(nr, sizeof(nr), "%d", n);
  setenv("NSCCL_NRANKS", nr, 1);
  pid_t pid[MAXR];
  int out[MAXR];
  for (int r = 0; r < n; r++) {
    int p[2];
    if (pipe(p) != 0) return 2;
    pid[r] = fork();
    if (pid[r] == 0) {
      char rk[16];
      snprintf(rk, sizeof(rk), "%d", r);
      setenv("NSCCL_RANK", rk, 1);
      dup2(p[1], 1);
      close(p[0]);
      close(p[1]);
      execvp(argv[argi], argv + argi);
      perror("execvp");
      _exit(127);
    }
    close(p[1]);
    out[r] = p[0];
  }
  int status[MAXR], exited[MAXR] = {0}, ready[MAXR] = {0}, nready = 0, left = n;
  double killed_at = -1, start = test_now_s();
  double limit = start + timeout_ms / 1000.0 + 60.0;
  int failed = 0;
  while (left > 0) {
    /* Relay the ranks' stdout, watching for "ready". */
    struct pollfd pf[MAXR];
    for (int r = 0; r < n; r++) pf[r] = (struct pollfd){out[r], POLLIN, 0};
    poll(pf, (nfds_t)n, 50);
    for (int r = 0; r < n; r++) {
      if (out[r] < 0 || !(pf[r].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t k = read(out[r], buf, sizeof(buf) - 1);
      if (k <= 0) {
        close(out[r]);
        out[r] = -1;
        continue;
      }
      buf[k] = '\0';
      fputs(buf, stdout);
      fflush(stdout);
      if (!ready[r] && strstr(buf, "ready")) ready[r] = 1, nready++;
    }
    if (victim >= 0 && !self_kill && killed_at < 0 && nready == n) {
      printf("launch: SIGKILL rank %d\n", victim);
      fflush(stdout);
      kill(pid[victim], SIGKILL);
      killed_at = test_now_s();
      limit = killed_at + timeout_ms / 1000.0 + 10.0;
    }
    for (int r = 0; r < n; r++) {
      if (exited[r]) continue;
      if (waitpid(pid[r], &status[r], WNOHANG) == pid[r]) {
        exited[r] = 1;
        left--;
        int ok = r == victim ? 1 : WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0;
        if (!ok) {
          failed = 1;
          fprintf(stderr, "launch: rank %d %s %d\n", r, WIFEXITED(status[r]) ? "exited with" : "died of signal",
                  WIFEXITED(status[r]) ? WEXITSTATUS(status[r]) : WTERMSIG(status[r]));
        } else if (r != victim && killed_at >= 0) {
          printf("launch: rank %d finished %.2f s after the kill\n", r, test_now_s() - killed_at);
        }
      }
    }
    if (left > 0 && test_now_s() > limit) {
      fprintf(stderr, "launch: ranks still running %.0f s after %s; killing them\n", test_now_s() - start,
              killed_at >= 0 ? "the kill (timeout + margin passed)" : "the start");
      for (int r = 0; r < n; r++)
        if (!exited[r]) kill(pid[r], SIGKILL);
      failed = 1;
      limit = test_now_s() + 1e9;
    }
  }
  if (victim >= 0 && !self_kill && killed_at < 0) {
    fprintf(stderr, "launch: the ranks ended before all were ready; nothing was killed\n");
    failed = 1;
  }
  return failed;
}
