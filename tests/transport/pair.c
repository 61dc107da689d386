/* Fork-and-pipe harness: see pair.h. */
#include "pair.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/check.h"

double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

unsigned char pattern_byte(int src, uint64_t tag, size_t i) {
  return (unsigned char)((i * 131u + (size_t)src * 17u + (size_t)(tag * 7u) + (i >> 8)) & 0xffu);
}

void pattern_fill(void *buf, size_t len, int src, uint64_t tag) {
  unsigned char *b = buf;
  for (size_t i = 0; i < len; i++) b[i] = pattern_byte(src, tag, i);
}

size_t pattern_check(const void *buf, size_t len, int src, uint64_t tag) {
  const unsigned char *b = buf;
  for (size_t i = 0; i < len; i++)
    if (b[i] != pattern_byte(src, tag, i)) return i;
  return len;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n, len -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n, len -= (size_t)n;
  }
  return 0;
}

int pair_signal(pair_ctx_t *c) { return write_all(c->to_peer, "s", 1); }

int pair_wait(pair_ctx_t *c) {
  char ch;
  return read_all(c->from_peer, &ch, 1);
}

int pair_connect(pair_ctx_t *c, const pair_opts_t *o) {
  nsccl_transport_config_t cfg = {
      .rank = c->rank, .nranks = 2, .host_of_rank = o->host, .provider = o->provider, .timeout_ms = 2000};
  nscclResult_t rc = nsccl_transport_open(&cfg, &c->t);
  if (rc != nscclSuccess) {
    fprintf(stderr, "rank %d: open failed: %s\n", c->rank, nsccl_last_error());
    return 10;
  }
  if (o->max_msg) nsccl_transport_set_max_msg(c->t, o->max_msg);
  static unsigned char blobs[2 * NSCCL_TRANSPORT_ADDR_BYTES];
  unsigned char *mine = blobs + (size_t)c->rank * NSCCL_TRANSPORT_ADDR_BYTES;
  unsigned char *theirs = blobs + (size_t)(1 - c->rank) * NSCCL_TRANSPORT_ADDR_BYTES;
  if (nsccl_transport_local_address(c->t, mine) != nscclSuccess) return 11;
  if (write_all(c->to_peer, mine, NSCCL_TRANSPORT_ADDR_BYTES) ||
      read_all(c->from_peer, theirs, NSCCL_TRANSPORT_ADDR_BYTES))
    return 12;
  rc = nsccl_transport_connect(c->t, blobs);
  if (rc != nscclSuccess) {
    fprintf(stderr, "rank %d: connect failed: %s\n", c->rank, nsccl_last_error());
    return 13;
  }
  return 0;
}

int wait_xfers(nsccl_transport_t *t, nsccl_xfer_t *x, int n, int timeout_ms) {
  double deadline = now_seconds() + timeout_ms / 1e3;
  for (;;) {
    int all = 1;
    for (int i = 0; i < n && all; i++) all = x[i].done;
    if (all) return 0;
    int r = nsccl_transport_progress(t);
    if (r < 0) return r;
    if (now_seconds() > deadline) return 1;
    if (r == 0) sched_yield();
  }
}

static void rank_main(int rank, int to_peer, int from_peer, const pair_opts_t *o, pair_body_t body, void *arg) {
  pair_ctx_t c = {.rank = rank, .to_peer = to_peer, .from_peer = from_peer, .arg = arg};
  int rc = pair_connect(&c, o);
  if (rc == 0) rc = body(&c);
  nsccl_transport_close(c.t);
  fflush(stderr);
  _exit(rc);
}

int pair_run(const pair_opts_t *o, pair_body_t body, void *arg) {
  int p01[2], p10[2];
  if (pipe(p01) || pipe(p10)) return -100;
  pid_t pid[2];
  for (int r = 0; r < 2; r++) {
    pid[r] = fork();
    if (pid[r] < 0) return -101;
    if (pid[r] == 0) {
      if (r == 0) rank_main(0, p01[1], p10[0], o, body, arg);
      rank_main(1, p10[1], p01[0], o, body, arg);
    }
  }
  close(p01[0]), close(p01[1]), close(p10[0]), close(p10[1]);
  int status[2] = {-1, -1}, left = 2;
  double deadline = now_seconds() + (o->timeout_s > 0 ? o->timeout_s : 30);
  while (left > 0) {
    for (int r = 0; r < 2; r++) {
      if (status[r] != -1 || pid[r] <= 0) continue;
      int st;
      if (waitpid(pid[r], &st, WNOHANG) == pid[r]) {
        status[r] = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        left--;
      }
    }
    if (left > 0 && now_seconds() > deadline) {
      for (int r = 0; r < 2; r++)
        if (status[r] == -1) {
          kill(pid[r], SIGKILL);
          waitpid(pid[r], NULL, 0);
          fprintf(stderr, "rank %d timed out\n", r);
          status[r] = -1000;
          left--;
        }
    }
    if (left > 0) usleep(2000);
  }
  for (int r = 0; r < 2; r++)
    if (status[r] != 0) {
      fprintf(stderr, "rank %d exited with %d\n", r, status[r]);
      return status[r];
    }
  return 0;
}

int pair_exchange(pair_ctx_t *c, size_t n, uint64_t tag) {
  int peer = 1 - c->rank, bad = 0;
  unsigned char *sb = malloc(n + 1), *rb = malloc(n + 1);
  if (!sb || !rb) {
    fprintf(stderr, "rank %d: out of memory for %zu bytes\n", c->rank, n);
    free(sb), free(rb);
    return 1;
  }
  pattern_fill(sb, n, c->rank, tag);
  memset(rb, 0xee, n + 1);
  nsccl_xfer_t x[2];
  if (nsccl_transport_irecv(c->t, peer, rb, n, tag, &x[0]) || nsccl_transport_isend(c->t, peer, sb, n, tag, &x[1])) {
    fprintf(stderr, "rank %d: post of %zu bytes failed: %s\n", c->rank, n, nsccl_last_error());
    bad = 1;
  }
  int w = bad ? 0 : wait_xfers(c->t, x, 2, 10000);
  size_t wrong = bad || w ? 0 : pattern_check(rb, n, peer, tag);
  if (!bad && w)
    fprintf(stderr, "rank %d: %zu bytes: wait failed (%d)\n", c->rank, n, w), bad = 1;
  else if (!bad && (x[0].status || x[1].status))
    fprintf(stderr, "rank %d: %zu bytes: status %d / %d\n", c->rank, n, x[0].status, x[1].status), bad = 1;
  else if (!bad && (x[0].bytes != n || x[1].bytes != n))
    fprintf(stderr, "rank %d: %zu bytes: moved %zu / %zu\n", c->rank, n, x[0].bytes, x[1].bytes), bad = 1;
  else if (!bad && wrong != n)
    fprintf(stderr, "rank %d: %zu bytes: wrong byte at %zu\n", c->rank, n, wrong), bad = 1;
  else if (!bad && rb[n] != 0xee)
    fprintf(stderr, "rank %d: %zu bytes: wrote past the message\n", c->rank, n), bad = 1;
  /* A failed post or wait can leave the other transfer posted: take it back before x and the
   * buffers go out of scope, or the transport's close would finish it into freed memory. */
  if (bad) nsccl_transport_cancel_all(c->t, nscclInternalError);
  free(sb), free(rb);
  return bad;
}
