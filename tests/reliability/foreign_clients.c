/* Strangers at the rendezvous: while three real ranks initialise through NSCCL_COMM_ID, foreign
 * clients connect to rank 0's port and misbehave. The real ranks must still initialise, run an
 * all-reduce with the right result and destroy cleanly, init must not wait for the silent ones
 * beyond the per-connection hello deadline, and rank 0 must have closed every stranger.
 *
 * Strangers: garbage bytes; a hello with a wrong secret; a truncated hello then close; a truncated
 * hello then silence; a connection that sends nothing; a hello declaring a huge size; a hello of
 * another wire version; and a flood of silent connections (more than rank 0 reads at once), which
 * must only delay init by the hello deadline, not fail it. */
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

#include "bootstrap/wire.h"
#include "nsccl.h"

#define NRANKS 3
#define FLOOD  80

/* Connect to 127.0.0.1:port, retrying for up to 10 s (rank 0 binds it during its init). */
static int dial(int port) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (double end = test_now_s() + 10; test_now_s() < end;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) return fd;
    if (fd >= 0) close(fd);
    usleep(20000);
  }
  return -1;
}

/* A real rank: init, all-reduce of known values, destroy. */
static int run_rank(int rank) {
  nscclUniqueId id;
  nscclComm_t comm;
  double t0 = test_now_s();
  if (nscclGetUniqueId(&id) != nscclSuccess || nscclCommInitRank(&comm, NRANKS, id, rank) != nscclSuccess) {
    fprintf(stderr, "rank %d: init failed: %s\n", rank, nscclGetLastError(NULL));
    return 1;
  }
  printf("rank %d: init took %.2f s\n", rank, test_now_s() - t0);
  enum { N = 1000 };
  static float buf[N];
  for (int i = 0; i < N; i++) buf[i] = (float)(rank + i % 7);
  if (nscclAllReduce(buf, buf, N, nscclFloat, nscclSum, comm, NULL) != nscclSuccess) {
    fprintf(stderr, "rank %d: allreduce failed: %s\n", rank, nscclGetLastError(NULL));
    return 1;
  }
  for (int i = 0; i < N; i++) {
    float want = (float)(0 + 1 + 2 + NRANKS * (i % 7));
    if (buf[i] != want) {
      fprintf(stderr, "rank %d: [%d] = %g, want %g\n", rank, i, buf[i], want);
      return 1;
    }
  }
  if (nscclCommDestroy(comm) != nscclSuccess) {
    fprintf(stderr, "rank %d: destroy failed: %s\n", rank, nscclGetLastError(NULL));
    return 1;
  }
  return 0;
}

static pid_t spawn_rank(int rank) {
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) _exit(run_rank(rank));
  return p;
}

/* Did the peer (rank 0) close this connection within `seconds`? */
static int closed_by_root(int fd, double seconds) {
  char buf[256];
  for (double end = test_now_s() + seconds; test_now_s() < end;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = recv(fd, buf, sizeof(buf), 0);
    if (k == 0 || (k < 0 && errno == ECONNRESET)) return 1;
    if (k > 0) return 0; /* rank 0 must never answer a stranger */
  }
  return 0;
}

typedef struct {
  const char *name;
  int fd;
} stranger_t;

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  char comm_id[64];
  int port = test_free_port();
  snprintf(comm_id, sizeof(comm_id), "127.0.0.1:%d", port);
  setenv("NSCCL_COMM_ID", comm_id, 1);
  setenv("NSCCL_TIMEOUT_MS", "20000", 0);
  int failed = 0;
  double start = test_now_s();

  pid_t pid[NRANKS];
  pid[0] = spawn_rank(0);

  /* Strangers arrive before ranks 1 and 2, so rank 0 has to get past them. */
  stranger_t s[8];
  int ns = 0;
  uint8_t wrong_secret[16];
  memset(wrong_secret, 0x5a, sizeof(wrong_secret));
  nsccl_hello_t h;
  nsccl_wire_make_hello(&h, wrong_secret, 1, NRANKS, 4242, "stranger-host", "stranger");

  s[ns] = (stranger_t){"garbage", dial(port)};
  const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                         "\xff\xfe\x00\x01 random bytes that are no hello at all .................................";
  if (send(s[ns].fd, garbage, sizeof(garbage), 0) < 0) perror("send garbage");
  ns++;

  s[ns] = (stranger_t){"wrong secret", dial(port)};
  if (send(s[ns].fd, &h, sizeof(h), 0) < 0) perror("send wrong secret");
  ns++;

  s[ns] = (stranger_t){"truncated then silent", dial(port)};
  if (send(s[ns].fd, &h, 6, 0) < 0) perror("send truncated");
  ns++;

  s[ns] = (stranger_t){"silent", dial(port)};
  ns++;

  nsccl_hello_t big = h;
  big.bytes = 0x7fffffffu;
  s[ns] = (stranger_t){"oversized length", dial(port)};
  if (send(s[ns].fd, &big, sizeof(big), 0) < 0) perror("send oversized");
  ns++;

  nsccl_hello_t old = h;
  old.version = 1;
  s[ns] = (stranger_t){"other version", dial(port)};
  if (send(s[ns].fd, &old, 16, 0) < 0) perror("send version");
  ns++;

  /* Truncated then closed: rank 0 sees the end of the stream mid-hello. */
  int t = dial(port);
  if (t >= 0) {
    if (send(t, &h, sizeof(h) / 2, 0) < 0) perror("send half");
    close(t);
  }
  for (int i = 0; i < ns; i++)
    if (s[i].fd < 0) {
      fprintf(stderr, "could not connect the '%s' stranger to rank 0 at %s\n", s[i].name, comm_id);
      failed = 1;
    }

  /* A flood of silent connections: more than rank 0 reads at once. */
  int flood[FLOOD];
  for (int i = 0; i < FLOOD; i++) flood[i] = dial(port);

  for (int r = 1; r < NRANKS; r++) pid[r] = spawn_rank(r);

  /* The ranks must finish: init waits at most a couple of hello deadlines for the flood, never the
   * 20 s job timeout. */
  double limit = test_now_s() + 15;
  int left = NRANKS, done[NRANKS] = {0};
  while (left > 0 && test_now_s() < limit) {
    for (int r = 0; r < NRANKS; r++) {
      int st;
      if (done[r] || waitpid(pid[r], &st, WNOHANG) != pid[r]) continue;
      done[r] = 1, left--;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "rank %d failed (status 0x%x)\n", r, st);
        failed = 1;
      }
    }
    usleep(20000);
  }
  if (left > 0) {
    fprintf(stderr, "%d rank(s) still running after %.1f s: the strangers stalled the job\n", left,
            test_now_s() - start);
    for (int r = 0; r < NRANKS; r++)
      if (!done[r]) kill(pid[r], SIGKILL), waitpid(pid[r], NULL, 0);
    failed = 1;
  }
  printf("job finished %.2f s after start\n", test_now_s() - start);

  /* Every stranger must have been dropped (closed by rank 0, never answered). */
  for (int i = 0; i < ns; i++) {
    if (s[i].fd < 0) continue;
    if (!closed_by_root(s[i].fd, 3)) {
      fprintf(stderr, "the '%s' stranger was not dropped by rank 0\n", s[i].name);
      failed = 1;
    } else {
      printf("stranger '%s': dropped\n", s[i].name);
    }
    close(s[i].fd);
  }
  int flood_dropped = 0;
  for (int i = 0; i < FLOOD; i++) {
    if (flood[i] < 0) continue;
    flood_dropped += closed_by_root(flood[i], 0.2);
    close(flood[i]);
  }
  printf("flood: %d of %d silent connections dropped (the rest were never accepted)\n", flood_dropped, FLOOD);
  printf("%s\n", failed ? "FAIL" : "PASS");
  return failed;
}
