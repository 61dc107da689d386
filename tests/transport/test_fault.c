/* Bad input, a single rank talking to itself, a peer killed mid-transfer, cancel and close. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/check.h"
#include "pair.h"

/* shm names its segment /dev/shm/<pid>:...; a SIGKILLed process cannot remove its own. */
static void remove_shm_of(pid_t pid) {
  char prefix[32], path[300];
  snprintf(prefix, sizeof(prefix), "%d:", (int)pid);
  DIR *d = opendir("/dev/shm");
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, prefix, strlen(prefix))) {
      snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
      unlink(path);
    }
  closedir(d);
}

static nsccl_transport_t *open_self(const char *prov) {
  static const int host[1] = {0};
  nsccl_transport_config_t cfg = {.rank = 0, .nranks = 1, .host_of_rank = host, .provider = prov, .timeout_ms = 1000};
  nsccl_transport_t *t = NULL;
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclSuccess, "open: %s", nsccl_last_error());
  return t;
}

static void connect_self(nsccl_transport_t *t) {
  unsigned char blob[NSCCL_TRANSPORT_ADDR_BYTES];
  cr_assert_eq(nsccl_transport_local_address(t, blob), nscclSuccess);
  cr_assert_eq(nsccl_transport_connect(t, blob), nscclSuccess, "connect: %s", nsccl_last_error());
}

Test(transport_errors, unknown_provider_is_named_with_alternatives) {
  static const int host[2] = {0, 0};
  nsccl_transport_config_t cfg = {.rank = 0, .nranks = 2, .host_of_rank = host, .provider = "nosuchprov"};
  nsccl_transport_t *t = (nsccl_transport_t *)&cfg; /* must be reset to NULL on failure */
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert_null(t);
  const char *msg = nsccl_last_error();
  cr_assert(strstr(msg, "nosuchprov"), "message names the provider: %s", msg);
  cr_assert(strstr(msg, "available"), "message lists alternatives: %s", msg);
  cr_assert(strstr(msg, "shm") && strstr(msg, "tcp"), "message lists shm and tcp: %s", msg);
}

Test(transport_errors, unknown_provider_from_env) {
  setenv("NSCCL_PROVIDER", "bogus", 1);
  static const int host[2] = {0, 0};
  nsccl_transport_config_t cfg = {.rank = 1, .nranks = 2, .host_of_rank = host};
  nsccl_transport_t *t = NULL;
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "bogus") && strstr(nsccl_last_error(), "NSCCL_PROVIDER"), "%s",
            nsccl_last_error());
}

Test(transport_errors, bad_config) {
  static const int host[2] = {0, 1};
  nsccl_transport_t *t = NULL;
  nsccl_transport_config_t cfg = {.rank = 2, .nranks = 2, .host_of_rank = host};
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "rank 2"), "%s", nsccl_last_error());
  cfg.rank = 0, cfg.nranks = 0;
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert_eq(nsccl_transport_open(NULL, &t), nscclInvalidArgument);
  cfg.nranks = 2, cfg.provider = "shm"; /* shm cannot reach another host */
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "another host"), "%s", nsccl_last_error());
  setenv("NSCCL_TRANSPORT_MAX_MSG", "lots", 1);
  cfg.provider = NULL;
  cr_assert_eq(nsccl_transport_open(&cfg, &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "NSCCL_TRANSPORT_MAX_MSG"), "%s", nsccl_last_error());
}

Test(transport_errors, bad_post_arguments) {
  nsccl_transport_t *t = open_self("shm");
  char buf[8];
  nsccl_xfer_t x;
  cr_assert_eq(nsccl_transport_isend(t, 0, buf, 8, 1, &x), nscclInvalidUsage, "post before connect");
  connect_self(t);
  cr_assert_eq(nsccl_transport_isend(t, 1, buf, 8, 1, &x), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "peer 1"), "%s", nsccl_last_error());
  cr_assert_eq(nsccl_transport_irecv(t, -1, buf, 8, 1, &x), nscclInvalidArgument);
  cr_assert_eq(nsccl_transport_isend(t, 0, NULL, 8, 1, &x), nscclInvalidArgument);
  cr_assert_eq(nsccl_transport_irecv(t, 0, buf, 8, 1, NULL), nscclInvalidArgument);
  cr_assert_eq(nsccl_transport_isend(NULL, 0, buf, 8, 1, &x), nscclInvalidArgument);
  cr_assert_eq(nsccl_transport_connect(t, buf), nscclInvalidUsage, "second connect");
  cr_assert_eq(nsccl_transport_progress(NULL), -(int)nscclInvalidArgument);
  cr_assert_str_eq(nsccl_transport_provider_of(t, 5), "none");
  nsccl_transport_close(t);
  nsccl_transport_close(NULL);
}

Test(transport_errors, malformed_blob) {
  nsccl_transport_t *t = open_self("shm");
  unsigned char blob[NSCCL_TRANSPORT_ADDR_BYTES];
  memset(blob, 0x5a, sizeof(blob));
  cr_assert_eq(nsccl_transport_connect(t, blob), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "malformed"), "%s", nsccl_last_error());
  nsccl_transport_close(t);
}

/* One rank, talking to itself: receives posted in reverse order, one message fragmented. */
static void self_loop(const char *prov) {
  nsccl_transport_t *t = open_self(prov);
  connect_self(t);
  cr_assert_eq(nsccl_transport_tag_bits(t), 64);
  nsccl_transport_set_max_msg(t, 4096);
  enum { N = 4 };
  size_t len[N] = {0, 10, 4096, 50000};
  unsigned char *sb[N], *rb[N];
  nsccl_xfer_t xs[N], xr[N];
  const uint64_t big = 0xfedcba9876543210ull; /* full 64-bit tags work with directed receive */
  for (int k = 0; k < N; k++) {
    sb[k] = malloc(len[k] + 1), rb[k] = malloc(len[k] + 1);
    pattern_fill(sb[k], len[k], 0, big - (uint64_t)k);
    cr_assert_eq(nsccl_transport_isend(t, 0, sb[k], len[k], big - (uint64_t)k, &xs[k]), nscclSuccess);
  }
  for (int k = N - 1; k >= 0; k--)
    cr_assert_eq(nsccl_transport_irecv(t, 0, rb[k], len[k], big - (uint64_t)k, &xr[k]), nscclSuccess);
  cr_assert_eq(wait_xfers(t, xr, N, 5000), 0, "%s", nsccl_last_error());
  cr_assert_eq(wait_xfers(t, xs, N, 5000), 0, "%s", nsccl_last_error());
  for (int k = 0; k < N; k++) {
    cr_assert_eq(xr[k].status, nscclSuccess);
    cr_assert_eq(xr[k].bytes, len[k]);
    cr_assert_eq(pattern_check(rb[k], len[k], 0, big - (uint64_t)k), len[k], "message %d", k);
    free(sb[k]), free(rb[k]);
  }
  nsccl_transport_close(t);
}

Test(transport_self, loopback_shm, .timeout = 30) { self_loop("shm"); }
Test(transport_self, loopback_tcp, .timeout = 30) { self_loop("tcp"); }
Test(transport_self, loopback_net, .timeout = 30) { self_loop("net"); }

/* Receives that never match are canceled: they complete with the given status, and close is quick. */
Test(transport_cancel, cancel_pending_receives, .timeout = 30) {
  nsccl_transport_t *t = open_self("shm");
  connect_self(t);
  nsccl_transport_set_max_msg(t, 1000);
  static char buf[3][10000];
  nsccl_xfer_t x[3];
  for (int k = 0; k < 3; k++) cr_assert_eq(nsccl_transport_irecv(t, 0, buf[k], sizeof(buf[k]), 77 + k, &x[k]), 0);
  cr_assert_eq(nsccl_transport_progress(t), 0);
  double t0 = now_seconds();
  nsccl_transport_cancel_all(t, nscclTimeout);
  for (int k = 0; k < 3; k++) {
    cr_assert(x[k].done, "receive %d done after cancel", k);
    cr_assert_eq(x[k].status, nscclTimeout);
  }
  nsccl_transport_stats_t st;
  nsccl_transport_stats(t, &st);
  cr_assert_eq(st.orphans, 0, "shm hands canceled receives back");
  nsccl_transport_close(t);
  cr_assert_lt(now_seconds() - t0, 1.0);
}

/* A peer killed while the survivor waits on a receive (and has a large send in flight): the
 * survivor either sees an error from progress, or cancel_all + close return promptly anyway. */
static void killed_peer(const char *prov) {
  int p01[2], p10[2];
  cr_assert_eq(pipe(p01), 0);
  cr_assert_eq(pipe(p10), 0);
  pair_opts_t o = {.provider = prov, .host = {0, 0}, .max_msg = 65536};
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    pair_ctx_t c = {.rank = 1, .to_peer = p10[1], .from_peer = p01[0]};
    if (pair_connect(&c, &o)) _exit(3);
    static char rb[4096];
    nsccl_xfer_t x;
    nsccl_transport_irecv(c.t, 0, rb, sizeof(rb), 1, &x); /* matches nothing the survivor sends */
    pair_signal(&c);
    for (;;) {
      nsccl_transport_progress(c.t);
      usleep(1000);
    }
  }
  pair_ctx_t c = {.rank = 0, .to_peer = p01[1], .from_peer = p10[0]};
  cr_assert_eq(pair_connect(&c, &o), 0);
  cr_assert_eq(pair_wait(&c), 0);
  static char rb[1 << 20];
  size_t sn = 8 << 20;
  char *sb = calloc(1, sn);
  nsccl_xfer_t x[4];
  cr_assert_eq(nsccl_transport_irecv(c.t, 1, rb, sizeof(rb), 2, &x[0]), nscclSuccess);
  cr_assert_eq(nsccl_transport_isend(c.t, 1, sb, sn, 3, &x[1]), nscclSuccess);
  for (int i = 0; i < 20; i++) nsccl_transport_progress(c.t);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  remove_shm_of(pid);
  /* Sends posted after the death: a connection-oriented provider notices the reset. */
  static char small[64];
  int posted = 2;
  if (nsccl_transport_isend(c.t, 1, small, sizeof(small), 4, &x[2]) == nscclSuccess) posted++;
  if (posted == 3 && nsccl_transport_isend(c.t, 1, sb, 1 << 20, 5, &x[3]) == nscclSuccess) posted++;
  int seen = 0;
  double until = now_seconds() + 1.5;
  while (now_seconds() < until && !seen) {
    int r = nsccl_transport_progress(c.t);
    if (r < 0) {
      seen = -r;
      cr_log_info("%s: progress reported %d after the kill: %s", prov, seen, nsccl_last_error());
    }
  }
  if (!seen) cr_log_info("%s: no error from progress within 1.5 s of the kill; relying on cancel", prov);
  double t0 = now_seconds();
  nsccl_transport_cancel_all(c.t, nscclRemoteError);
  for (int i = 0; i < posted; i++) cr_assert(x[i].done, "xfer %d is done after cancel_all", i);
  cr_assert_neq(x[0].status, nscclSuccess, "the receive from the dead peer did not succeed");
  nsccl_transport_stats_t st;
  nsccl_transport_stats(c.t, &st);
  cr_log_info("%s: %llu operations orphaned by cancel_all", prov, (unsigned long long)st.orphans);
  nsccl_transport_close(c.t);
  double dt = now_seconds() - t0;
  cr_assert_lt(dt, 2.0, "cancel_all + close took %.2f s", dt);
  if (seen) cr_assert(seen == nscclRemoteError || seen == nscclSystemError, "error code %d", seen);
  free(sb);
}

Test(transport_fault, killed_peer_shm, .timeout = 30) { killed_peer("shm"); }
Test(transport_fault, killed_peer_tcp, .timeout = 30) { killed_peer("tcp"); }
Test(transport_fault, killed_peer_net, .timeout = 30) { killed_peer("net"); }
