/* The modelling API's watched simulation (nscclModelSimulateWatched, include/nsccl_model.h):
 * watching changes nothing in the run; per-link use against a hand computation (an all-gather on an
 * 8-ring moves (n-1) B over one-hop links, each link's busy time is its bytes over its bandwidth,
 * the busiest is the result's bottleneck); the trace file is written or the error names it. The
 * trace's content is checked with a JSON parser by trace_check.py (test sim_trace). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsccl_model.h"

#define N   8
#define BW  1e9
#define MIB ((size_t)1 << 20)

static nscclTopo_t *ring8(void) {
  nscclTopo_t *t = NULL;
  cr_assert_eq(nscclModelTopoLoad("torus:dims=8,link_bandwidth=1e9,endpoint_overhead=1e-6,link_latency=1e-7,"
                                  "reduce_bandwidth=1e10",
                                  &t),
               nscclSuccess, "%s", nscclGetLastError(NULL));
  return t;
}

Test(sim_watch, watching_changes_nothing) {
  nscclTopo_t *t = ring8();
  for (int a = 0; a < nscclModelNumAlgos; a++) {
    nsccl_sim_result_t plain, watched;
    memset(&plain, 0, sizeof(plain));
    memset(&watched, 0, sizeof(watched));
    cr_assert_eq(nscclModelSimulate(t, nscclModelAllReduce, (nscclModelAlgo_t)a, 3 * MIB, NULL, &plain), nscclSuccess);
    int nl = nscclModelTopoLinks(t);
    nscclModelLinkUse_t *use = calloc((size_t)nl, sizeof(*use));
    nscclModelWatch_t w = {NULL, 0, use};
    cr_assert_eq(nscclModelSimulateWatched(t, nscclModelAllReduce, (nscclModelAlgo_t)a, 3 * MIB, NULL, &w, &watched),
                 nscclSuccess, "%s", nscclGetLastError(NULL));
    cr_assert_eq(plain.time_s, watched.time_s, "%s: %.9g vs %.9g s", nscclModelAlgoName((nscclModelAlgo_t)a),
                 plain.time_s, watched.time_s);
    cr_assert_eq(plain.events, watched.events);
    cr_assert_eq(plain.packets, watched.packets);
    /* The link totals are the simulator's own: the busiest link is its bottleneck. */
    int best = -1;
    for (int i = 0; i < nl; i++)
      if (use[i].busy_s > 0 && (best < 0 || use[i].busy_s > use[best].busy_s)) best = i;
    cr_assert_eq(best, plain.bottleneck_link, "%s", nscclModelAlgoName((nscclModelAlgo_t)a));
    cr_assert(fabs(use[best].busy_s - plain.bottleneck_busy_s) <= 1e-12);
    free(use);
  }
  nscclModelTopoFree(t);
}

Test(sim_watch, ring_links_by_hand) {
  nscclTopo_t *t = ring8();
  int nl = nscclModelTopoLinks(t);
  cr_assert_eq(nl, 2 * N, "an 8-ring has 16 directed links, not %d", nl);
  nscclModelLinkUse_t use[2 * N];
  nscclModelWatch_t w = {NULL, 0, use};
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  size_t bytes = 8 * MIB;
  cr_assert_eq(nscclModelSimulateWatched(t, nscclModelAllGather, nscclModelRing, bytes, NULL, &w, &res), nscclSuccess,
               "%s", nscclGetLastError(NULL));
  double total = 0;
  for (int i = 0; i < nl; i++) {
    cr_assert(use[i].src >= 0 && use[i].src < N && use[i].dst >= 0 && use[i].dst < N, "ring links join ranks");
    int d = (use[i].dst - use[i].src + N) % N;
    cr_assert(d == 1 || d == N - 1, "link %d: %d -> %d is not between ring neighbours", i, use[i].src, use[i].dst);
    /* A link is busy exactly for its bytes at its bandwidth (packets back to back, no contention),
     * and never longer than the collective. */
    cr_assert(fabs(use[i].busy_s - use[i].bytes / BW) <= 1e-12 + 1e-9 * use[i].busy_s,
              "link %d: busy %.9g s for %.0f B", i, use[i].busy_s, use[i].bytes);
    cr_assert(use[i].busy_s <= res.time_s);
    total += use[i].bytes;
  }
  /* Every rank receives the other n-1 blocks of B/n, each over one hop: (n-1) B on the links. */
  cr_assert_eq(total, (double)(N - 1) * (double)bytes, "links carried %.0f B, expected (n-1) B = %.0f", total,
               (double)(N - 1) * (double)bytes);
  char name[32];
  cr_assert_eq(nscclModelVertexName(t, 3, name, sizeof(name)), nscclSuccess);
  cr_assert_str_eq(name, "rank 3");
  cr_assert_eq(nscclModelVertexName(t, N, name, sizeof(name)), nscclInvalidArgument, "vertex 8 of 8 is outside");
  nscclModelTopoFree(t);
}

Test(sim_watch, trace_file) {
  nscclTopo_t *t = ring8();
  char path[] = "/tmp/nsccl-watch-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  nscclModelWatch_t w = {path, 0, NULL};
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nscclModelSimulateWatched(t, nscclModelAllReduce, nscclModelTree, MIB, NULL, &w, &res), nscclSuccess,
               "%s", nscclGetLastError(NULL));
  FILE *f = fopen(path, "r");
  cr_assert(f);
  char head[64] = "", all[1 << 16];
  size_t got = fread(all, 1, sizeof(all) - 1, f);
  fclose(f);
  all[got] = 0;
  memcpy(head, all, 40);
  cr_assert(strstr(head, "\"traceEvents\":["), "trace starts %s", head);
  cr_assert(strstr(all, "\"process_name\"") && strstr(all, "\"ph\":\"X\"") && strstr(all, "\"ph\":\"C\""),
            "metadata, slices and a counter");
  cr_assert(got < sizeof(all) - 1, "a small run's trace fits %zu bytes", sizeof(all));
  cr_assert(strstr(all, "\"runs\":[") && got > 4 && !strcmp(all + got - 4, "]}}\n"), "the run table closes the file");
  unlink(path);
  nscclModelWatch_t bad = {"/nonexistent/dir/trace.json", 0, NULL};
  cr_assert_eq(nscclModelSimulateWatched(t, nscclModelAllReduce, nscclModelTree, MIB, NULL, &bad, &res),
               nscclSystemError);
  cr_assert(strstr(nscclGetLastError(NULL), "/nonexistent/dir/trace.json"), "the error names the file: %s",
            nscclGetLastError(NULL));
  nscclModelTopoFree(t);
}
