/* nsccl-demo: every algorithm x collective on a few rank counts, all ranks in this process.
 *
 * For each combination it builds every rank's schedule, checks it with the validator, runs it on
 * the local engine with int32 inputs, compares each rank's output with a serial reference, and
 * prints one table row. Exits non-zero if any row fails. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "engine/local.h"
#include "sched/sched.h"

#define MAX_RANKS 1024

static void usage(FILE *f) {
  fprintf(f,
          "usage: nsccl-demo [--ranks LIST] [--count N] [--chunk BYTES] [--help]\n"
          "\n"
          "Runs every algorithm (ring, tree, direct) x collective (allgather, reducescatter,\n"
          "allreduce) in-process on the local engine, validates each schedule, checks the results\n"
          "against a serial reference and prints a table.\n"
          "\n"
          "  --ranks LIST   comma-separated rank counts (default 4,7,16; at most %d)\n"
          "  --count N      elements: allreduce vector, allgather per-rank send, reducescatter\n"
          "                 per-rank receive count (default 1000)\n"
          "  --chunk BYTES  split transfers into chunks of this size (default: the library's)\n"
          "  --help         this text\n"
          "\n"
          "Columns: steps/rank = most steps in one rank's program; messages = sends over all\n"
          "ranks; bytes/rank = most bytes one rank sends. Exit status 1 if any check fails.\n"
          "\n"
          "Example: nsccl-demo --ranks 3,8 --count 4096 --chunk 1K\n",
          MAX_RANKS);
}

/* Input element i of rank r: small, so int32 sums are exact and easy to read. */
static int32_t input(int r, size_t i) { return (int32_t)((r * 131 + (int)(i % 1009) * 7) % 1000) - 500; }

typedef struct {
  int steps_max;
  uint64_t messages, bytes_max;
} stats_t;

static void program_stats(const nsccl_program_t *progs, int n, stats_t *st) {
  memset(st, 0, sizeof(*st));
  for (int r = 0; r < n; r++) {
    uint64_t bytes = 0;
    if ((int)progs[r].nsteps > st->steps_max) st->steps_max = (int)progs[r].nsteps;
    for (uint32_t i = 0; i < progs[r].nsteps; i++)
      if (progs[r].steps[i].kind == NSCCL_STEP_SEND) {
        st->messages++;
        bytes += progs[r].steps[i].src.bytes;
      }
    if (bytes > st->bytes_max) st->bytes_max = bytes;
  }
}

/* Does rank r's output match the serial reference? */
static int check(nsccl_coll_t coll, int n, int r, size_t count, const int32_t *out) {
  size_t len = coll == NSCCL_COLL_ALLGATHER ? count * (size_t)n : count;
  for (size_t i = 0; i < len; i++) {
    int64_t want = 0;
    if (coll == NSCCL_COLL_ALLGATHER) {
      want = input((int)(i / count), i % count);
    } else {
      size_t g = coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * count + i : i; /* index in the input vectors */
      for (int q = 0; q < n; q++) want += input(q, g);
    }
    if (out[i] != (int32_t)want) {
      fprintf(stderr, "  rank %d element %zu: got %" PRId32 ", expected %" PRId64 "\n", r, i, out[i], want);
      return 0;
    }
  }
  return 1;
}

/* One table row: returns 1 when everything checked out. */
static int run_one(nsccl_algo_t algo, nsccl_coll_t coll, int n, size_t count, size_t chunk) {
  nsccl_coll_args_t args = {.coll = coll, .count = count, .dtype = nscclInt32, .in_place = false};
  nsccl_algo_opts_t opts = {.chunk_bytes = chunk};
  nsccl_program_t *progs = calloc((size_t)n, sizeof(*progs));
  int32_t **send = calloc((size_t)n, sizeof(*send)), **recv = calloc((size_t)n, sizeof(*recv));
  char err[1024] = "";
  const char *what = "OK";
  int ok = progs && send && recv;
  if (!ok) what = "FAIL (out of memory)";
  for (int r = 0; ok && r < n; r++) {
    if (nsccl_prog_init(&progs[r], r, n, &args) != nscclSuccess ||
        nsccl_algo_build(algo, NULL, &opts, &progs[r]) != nscclSuccess) {
      snprintf(err, sizeof(err), "%s", nscclGetLastError(NULL));
      what = "FAIL (build)";
      ok = 0;
    }
  }
  if (ok && nsccl_sched_validate(progs, n, err, sizeof(err)) != nscclSuccess) {
    what = "FAIL (validate)";
    ok = 0;
  }
  size_t sb = ok ? progs[0].buf_bytes[NSCCL_BUF_SEND] : 0, rb = ok ? progs[0].buf_bytes[NSCCL_BUF_RECV] : 0;
  for (int r = 0; ok && r < n; r++) {
    send[r] = malloc(sb ? sb : 1);
    recv[r] = calloc(1, rb ? rb : 1);
    if (!send[r] || !recv[r]) {
      what = "FAIL (out of memory)";
      ok = 0;
      break;
    }
    for (size_t i = 0; i < sb / sizeof(int32_t); i++) send[r][i] = input(r, i);
  }
  if (ok && nsccl_local_run(progs, n, (const void *const *)send, (void *const *)recv, nscclSum, err, sizeof(err)) !=
                nscclSuccess) {
    what = "FAIL (run)";
    ok = 0;
  }
  for (int r = 0; ok && r < n; r++) {
    if (!check(coll, n, r, count, recv[r])) {
      what = "FAIL (wrong result)";
      ok = 0;
    }
  }
  stats_t st = {0, 0, 0};
  if (progs) program_stats(progs, n, &st);
  printf("%-14s %-7s %6d %9zu %11d %9" PRIu64 " %12" PRIu64 "  %s\n", nsccl_coll_name(coll), nsccl_algo_name(algo), n,
         count, st.steps_max, st.messages, st.bytes_max, what);
  if (!ok && err[0]) printf("    %s\n", err);
  for (int r = 0; r < n; r++) {
    if (progs) nsccl_prog_free(&progs[r]);
    if (send) free(send[r]);
    if (recv) free(recv[r]);
  }
  free(progs);
  free(send);
  free(recv);
  return ok;
}

static int parse_ranks(const char *s, int *ranks, int max) {
  int n = 0;
  char *copy = strdup(s), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *end;
    long v = strtol(tok, &end, 10);
    if (*end || v < 1 || v > MAX_RANKS || n == max) {
      free(copy);
      return -1;
    }
    ranks[n++] = (int)v;
  }
  free(copy);
  return n;
}

int main(int argc, char **argv) {
  int ranks[32] = {4, 7, 16}, nr = 3;
  size_t count = 1000, chunk = 0;
  static const struct option longopts[] = {{"ranks", required_argument, NULL, 'r'},
                                           {"count", required_argument, NULL, 'c'},
                                           {"chunk", required_argument, NULL, 'k'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "r:c:k:h", longopts, NULL)) != -1) {
    char *end = NULL;
    switch (opt) {
    case 'r':
      nr = parse_ranks(optarg, ranks, 32);
      if (nr <= 0) {
        fprintf(stderr, "nsccl-demo: --ranks wants up to 32 comma-separated counts in [1, %d], got '%s'\n", MAX_RANKS,
                optarg);
        return 2;
      }
      break;
    case 'c':
    case 'k': {
      unsigned long long v = strtoull(optarg, &end, 10);
      if (!*optarg || *end || optarg[0] == '-') {
        fprintf(stderr, "nsccl-demo: --%s wants a non-negative integer, got '%s'\n", opt == 'c' ? "count" : "chunk",
                optarg);
        return 2;
      }
      if (opt == 'c')
        count = (size_t)v;
      else
        chunk = (size_t)v;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "nsccl-demo: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  printf("nsccl demo: schedules built per algorithm, validated, run in-process, checked (int32 sum)\n\n");
  printf("%-14s %-7s %6s %9s %11s %9s %12s  %s\n", "collective", "algo", "ranks", "count", "steps/rank", "messages",
         "bytes/rank", "check");
  int failures = 0, rows = 0;
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
      for (int i = 0; i < nr; i++, rows++)
        failures += !run_one((nsccl_algo_t)a, (nsccl_coll_t)c, ranks[i], count, chunk);
  printf("\n%d of %d combinations OK\n", rows - failures, rows);
  return failures ? 1 : 0;
}
