/* Topology modules: presets load, bad files fail naming file:line, torus routes are shortest
 * (wraparound Manhattan distance, computed here from coordinates), the snake ring's neighbours are
 * one hop apart, switch and efa routes have the lengths their structure implies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "topologies/host.h"
#include "topologies/topo.h"

static const char *presets[] = {"trn2-16",           "trn2-u64",      "trn3-u64",     "trn3-u144",     "trn2-16x4-efa",
                                "trn3-u64-crossbar", "trn3-u64-tray", "trn2-16-lnc2", "trn2-u64-lnc2", "trn3-u64-lnc2"};
static const int preset_ranks[] = {16, 64, 64, 144, 64, 64, 64, 64, 256, 256, 16};

Test(topo, presets_load) {
  for (int i = 0; i < (int)(sizeof(presets) / sizeof(presets[0])); i++) {
    nsccl_topo_t *t = NULL;
    cr_assert_eq(nsccl_topo_load(presets[i], &t), nscclSuccess, "%s: %s", presets[i], nsccl_last_error());
    cr_assert_eq(t->nranks, preset_ranks[i], "%s", presets[i]);
    cr_assert_gt(t->endpoint_overhead, 0);
    cr_assert_gt(t->reduce_bandwidth, 0);
    for (int l = 0; l < t->nlinks; l++) {
      cr_assert_gt(t->links[l].bandwidth, 0);
      cr_assert_geq(t->links[l].latency, 0);
      cr_assert(t->links[l].src >= 0 && t->links[l].src < t->nvertices && t->links[l].dst < t->nvertices);
    }
    /* Every pair has a route that starts at src, ends at dst and is connected. */
    int links[NSCCL_TOPO_MAX_ROUTE];
    for (int a = 0; a < t->nranks; a += 7)
      for (int b = 0; b < t->nranks; b++) {
        if (a == b) continue;
        int n = nsccl_topo_route(t, a, b, links, NSCCL_TOPO_MAX_ROUTE);
        cr_assert_gt(n, 0);
        cr_assert_eq(t->links[links[0]].src, a);
        cr_assert_eq(t->links[links[n - 1]].dst, b);
        for (int k = 1; k < n; k++) cr_assert_eq(t->links[links[k]].src, t->links[links[k - 1]].dst);
      }
    nsccl_topo_free(t);
  }
}

Test(topo, preset_values) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load("trn2-u64", &t), nscclSuccess);
  cr_assert_eq(t->ndims, 3);
  cr_assert_eq(t->dims[2], 4);
  /* hardware-facts rows T2-LINK-XY and T2-LINK-Z read with DIR-BOTH: 1,024 / 4 / 2 and 256 / 2 / 2 GB/s */
  cr_assert_float_eq(t->dim_bandwidth[0], 128e9, 1);
  cr_assert_float_eq(t->dim_bandwidth[2], 64e9, 1);
  nsccl_topo_free(t);
  cr_assert_eq(nsccl_topo_load("trn2-16x4-efa", &t), nscclSuccess);
  cr_assert_eq(t->group_size, 16);
  cr_assert_eq(t->ngroups, 4);
  cr_assert_not_null(t->inner);
  cr_assert_eq(t->inner->ndims, 2);
  nsccl_topo_free(t);
}

/* ---- bad files ---- */

static char tmpdir[64];

static void write_file(const char *name, const char *text, char *path, size_t len) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/nsccl-topo-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
  }
  snprintf(path, len, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* Loading `text` fails with nscclInvalidArgument and a message holding "<path>:<line>:" and `what`. */
static void expect_bad(const char *name, const char *text, int line, const char *what) {
  char path[256], want[300];
  write_file(name, text, path, sizeof(path));
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(path, &t), nscclInvalidArgument, "%s loaded", name);
  cr_assert_null(t);
  const char *msg = nsccl_last_error();
  if (line > 0) {
    snprintf(want, sizeof(want), "%s:%d:", path, line);
    cr_assert(strstr(msg, want), "%s: message '%s' lacks '%s'", name, msg, want);
  }
  cr_assert(strstr(msg, what), "%s: message '%s' lacks '%s'", name, msg, what);
  unlink(path);
}

#define TORUS_OK "link_bandwidth = 1e9\nendpoint_overhead = 1e-6\nreduce_bandwidth = 1e9\n"

Test(topo, bad_files) {
  expect_bad("unknown_key.conf", "[topology]\nmodule = torus\ndims = 4x4\n" TORUS_OK "colour = blue\n", 7,
             "unknown key 'colour'");
  expect_bad("missing_key.conf", "# no dims\n[topology]\nmodule = torus\n" TORUS_OK, 3, "missing key 'dims'");
  expect_bad("zero_bw.conf", "[topology]\nmodule = torus\ndims = 4x4\nlink_bandwidth = 0\n", 4, "must be > 0");
  expect_bad("neg_bw.conf", "[topology]\nmodule = switch\nranks = 8\nlink_bandwidth = -5e9\n", 4, "must be > 0");
  expect_bad("dims_ranks.conf", "[topology]\nmodule = torus\n\ndims = 4x4\nranks = 15\n" TORUS_OK, 5,
             "does not match dims");
  expect_bad("unknown_module.conf", "[topology]\n\nmodule = ring-of-fire\n", 3, "unknown module 'ring-of-fire'");
  expect_bad("malformed_number.conf", "[topology]\nmodule = torus\ndims = 4x4\nlink_bandwidth = 12abc\n", 4,
             "not a number");
  expect_bad("malformed_line.conf", "[topology]\nmodule = torus\nthis line has no equals sign\n", 3, "malformed line");
  expect_bad("bad_section.conf", "[topology]\nmodule = torus\n[extra]\nx = 1\n", 4, "section [extra]");
  expect_bad("neg_latency.conf", "[topology]\nmodule = torus\ndims = 4\n" TORUS_OK "link_latency = -1\n", 7,
             ">= 0 seconds");
  expect_bad("bad_forward.conf", "[topology]\nmodule = torus\ndims = 4\n" TORUS_OK "forward = teleport\n", 7,
             "neither 'store' nor 'routed'");
  expect_bad("dim_bw_count.conf", "[topology]\nmodule = torus\ndims = 4x4\ndim_bandwidth = 1e9\n" TORUS_OK, 4,
             "1 values for 2 dimensions");
  expect_bad(
      "two_level_divide.conf",
      "[topology]\nmodule = switch\nranks = 10\nlevels = 2\nranks_per_switch = 4\nspine_bandwidth = 1e9\n" TORUS_OK, 5,
      "does not divide");
  expect_bad("efa_inner_bad.conf",
             "[topology]\nmodule = efa\nservers = 2\nnic_bandwidth = 1e9\nnetwork_latency = 1e-5\n[inner]\nmodule = "
             "torus\ndims = 2x2\nlink_bandwidth = 0\n",
             9, "must be > 0");
  /* A missing file names the file. */
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("/nonexistent/dir/x.conf", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "/nonexistent/dir/x.conf"));
  cr_assert_eq(nsccl_topo_load("no-such-preset", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "no-such-preset"));
  rmdir(tmpdir);
}

Test(topo, good_file_and_inline_inner) {
  char path[256];
  write_file("efa_inline.conf",
             "[topology]\nmodule = efa\nservers = 3\nnic = server\nnic_bandwidth = 1e9\nnetwork_latency = 1e-5\n"
             "[inner]\nmodule = switch\nranks = 4\nlink_bandwidth = 1e10\nendpoint_overhead = 1e-6\nreduce_bandwidth = "
             "1e9\n",
             path, sizeof(path));
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(path, &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(t->nranks, 12);
  int links[16];
  cr_assert_eq(nsccl_topo_route(t, 0, 3, links, 16), 2); /* inside a server: up, down */
  cr_assert_eq(nsccl_topo_route(t, 0, 5, links, 16), 4); /* rank, NIC, network, NIC, rank */
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 5, &p), nscclSuccess);
  cr_assert_float_eq(p.latency, 1e-5, 1e-15);
  cr_assert_float_eq(p.bandwidth, 1e9, 1);
  nsccl_topo_free(t);
  unlink(path);
  rmdir(tmpdir);
}

/* A topology keeps the whole file path it came from as its name (it names the topology in CSV rows
 * and errors): a 150-character file name is not cut. */
Test(topo, long_path_keeps_its_name) {
  char file[160], path[256];
  memset(file, 'n', 150);
  snprintf(file + 150, sizeof(file) - 150, ".conf");
  write_file(file,
             "[topology]\nmodule = switch\nranks = 4\nlink_bandwidth = 1e10\nendpoint_overhead = 1e-6\n"
             "reduce_bandwidth = 1e9\n",
             path, sizeof(path));
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(path, &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_str_eq(t->name, path);
  nsccl_topo_free(t);
  unlink(path);
  rmdir(tmpdir);
}

/* ---- torus ---- */

static int manhattan(const int *dims, int nd, int a, int b) {
  int dist = 0;
  for (int d = 0; d < nd; d++) {
    int ca = a % dims[d], cb = b % dims[d];
    a /= dims[d], b /= dims[d];
    int delta = abs(ca - cb);
    dist += delta < dims[d] - delta ? delta : dims[d] - delta;
  }
  return dist;
}

static nsccl_topo_t *torus(const char *dims, const char *extra) {
  char spec[256];
  snprintf(spec, sizeof(spec), "torus:dims=%s,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9%s", dims,
           extra);
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static void check_torus(const char *spec, const int *dims, int nd, int expect_ring) {
  nsccl_topo_t *t = torus(spec, "");
  int links[NSCCL_TOPO_MAX_ROUTE], p = t->nranks;
  for (int a = 0; a < p; a++)
    for (int b = 0; b < p; b++) {
      if (a == b) continue;
      int n = nsccl_topo_route(t, a, b, links, NSCCL_TOPO_MAX_ROUTE);
      cr_assert_eq(n, manhattan(dims, nd, a, b), "%s: route %d->%d has %d links, distance %d", spec, a, b, n,
                   manhattan(dims, nd, a, b));
      for (int k = 1; k < n; k++) cr_assert_eq(t->links[links[k]].src, t->links[links[k - 1]].dst);
      cr_assert_eq(t->links[links[n - 1]].dst, b);
    }
  size_t np = (size_t)(p > 0 ? p : 1);
  int *order = malloc(sizeof(int) * np), *seen = calloc(np, sizeof(int));
  nsccl_topo_ring(t, order);
  for (int i = 0; i < p; i++) {
    cr_assert(order[i] >= 0 && order[i] < p && !seen[order[i]], "%s: ring is not a permutation", spec);
    seen[order[i]] = 1;
  }
  int far = 0;
  for (int i = 0; i < p; i++) far += manhattan(dims, nd, order[i], order[(i + 1) % p]) != 1;
  if (expect_ring)
    cr_assert_eq(far, 0, "%s: %d ring neighbours are more than one hop apart", spec, far);
  else /* all dimensions odd: only the closing edge may be longer */
    cr_assert_leq(far, 1, "%s: %d ring neighbours are more than one hop apart", spec, far);
  free(order);
  free(seen);
  nsccl_topo_free(t);
}

Test(topo, torus_routes_and_ring) {
  check_torus("4x4", (int[]){4, 4}, 2, 1);
  check_torus("4x4x4", (int[]){4, 4, 4}, 3, 1);
  check_torus("3x5", (int[]){3, 5}, 2, 0);
  check_torus("2x3x4", (int[]){2, 3, 4}, 3, 1);
  check_torus("3x4", (int[]){3, 4}, 2, 1);
  check_torus("5", (int[]){5}, 1, 1);
  check_torus("2x2x2x2", (int[]){2, 2, 2, 2}, 4, 1);
}

Test(topo, torus_store_forward_latency) {
  nsccl_topo_t *t = torus("4x4", ",link_latency=2e-7,forward=store");
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 10, &p), nscclSuccess); /* (0,0) -> (2,2): 4 hops, 3 chips passed */
  cr_assert_eq(p.hops, 4);
  cr_assert_eq(p.forwards, 3);
  cr_assert_float_eq(p.latency, 4 * 2e-7 + 3 * 1e-6, 1e-15);
  nsccl_topo_free(t);
  t = torus("4x4", ",link_latency=2e-7,forward=routed");
  cr_assert_eq(nsccl_topo_path(t, 0, 10, &p), nscclSuccess);
  cr_assert_float_eq(p.latency, 4 * 2e-7, 1e-15);
  nsccl_topo_free(t);
}

Test(topo, torus_dim_bandwidth) {
  nsccl_topo_t *t = torus("4x4x4", "");
  nsccl_topo_free(t);
  cr_assert_eq(
      nsccl_topo_load("torus:dims=4x4x4,dim_bandwidth=2e9,2e9,1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9", &t),
      nscclSuccess, "%s", nsccl_last_error());
  nsccl_path_t p;
  cr_assert_eq(nsccl_topo_path(t, 0, 1, &p), nscclSuccess);
  cr_assert_float_eq(p.bandwidth, 2e9, 1);
  cr_assert_eq(nsccl_topo_path(t, 0, 16, &p), nscclSuccess); /* one Z hop */
  cr_assert_float_eq(p.bandwidth, 1e9, 1);
  nsccl_topo_free(t);
}

/* ---- switch ---- */

Test(topo, switch_routes) {
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load("switch:ranks=8,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9,"
                               "switch_latency=1e-7,link_latency=1e-8",
                               &t),
               nscclSuccess, "%s", nsccl_last_error());
  int links[8];
  for (int a = 0; a < 8; a++)
    for (int b = 0; b < 8; b++)
      if (a != b) cr_assert_eq(nsccl_topo_route(t, a, b, links, 8), 2);
  nsccl_path_t p;
  nsccl_topo_path(t, 2, 5, &p);
  cr_assert_float_eq(p.latency, 2e-8 + 1e-7, 1e-15);
  nsccl_topo_free(t);

  cr_assert_eq(nsccl_topo_load("trn3-u144", &t), nscclSuccess);
  for (int a = 0; a < 144; a += 5)
    for (int b = 0; b < 144; b++) {
      if (a == b) continue;
      int n = nsccl_topo_route(t, a, b, links, 8);
      cr_assert_eq(n, a / 4 == b / 4 ? 2 : 4, "route %d -> %d: %d links", a, b, n);
    }
  nsccl_topo_free(t);
}

/* ---- host ---- */

Test(topo, host_build) {
  int hosts[6] = {7, 7, 3, 3, 7, 3}; /* not contiguous: no regular groups */
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_host_build(6, hosts, 0, 0, 0, 0, 0, 0, &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(t->ngroups, 2);
  cr_assert_eq(t->group_size, 0);
  cr_assert_float_eq(t->endpoint_overhead, NSCCL_HOST_DEFAULT_ALPHA, 1e-15);
  int links[8];
  cr_assert_eq(nsccl_topo_route(t, 0, 1, links, 8), 2);
  cr_assert_eq(nsccl_topo_route(t, 0, 4, links, 8), 2);
  cr_assert_eq(nsccl_topo_route(t, 0, 2, links, 8), 4);
  int order[6];
  nsccl_topo_ring(t, order);
  cr_assert_eq(order[0], 0);
  cr_assert_eq(order[1], 1);
  cr_assert_eq(order[2], 4); /* host 7's ranks first, then host 3's */
  nsccl_topo_free(t);
  hosts[0] = -1;
  cr_assert_eq(nsccl_topo_host_build(6, hosts, 0, 0, 0, 0, 0, 0, &t), nscclInvalidArgument);
}
