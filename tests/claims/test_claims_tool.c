/* nsccl-claims (perf/nsccl-claims.c) on tiny sizes: its CLAIM lines have the documented format, and
 * its ratios and peaks equal what this test computes by itself: select on each topology, build
 * every rank's program with the builders, run the simulator directly, divide, take the maximum. */
#include <criterion/criterion.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/algo.h"
#include "base/check.h"
#include "engine/sim.h"
#include "model/select.h"
#include "topologies/topo.h"

#include "run_cmd.h"

#define SWITCH16                                                                                                       \
  "switch:ranks=16,link_bandwidth=1024e9,link_latency=0.25e-6,switch_latency=0,endpoint_overhead=1e-6,"                \
  "reduce_bandwidth=0.97e12"

static const char *tool(void) {
  const char *p = getenv("NSCCL_CLAIMS_BIN");
  cr_assert(p && *p, "NSCCL_CLAIMS_BIN must name the nsccl-claims binary (set by tests/claims/meson.build)");
  return p;
}

/* The selected family's simulated time, computed here without the tool. */
static double direct_time(const nsccl_topo_t *t, nsccl_coll_t coll, size_t bytes) {
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, NULL, coll, bytes, t->nranks, &ch), nscclSuccess, "%s", nsccl_last_error());
  int n = t->nranks;
  nsccl_coll_args_t args = {.coll = coll, .count = bytes, .dtype = nscclUint8};
  if (coll != NSCCL_COLL_ALLREDUCE) args.count = bytes / (size_t)n > 0 ? bytes / (size_t)n : 1;
  nsccl_algo_opts_t ao = {.variant = ch.variant[ch.algo]};
  nsccl_program_t progs[64];
  cr_assert_leq(n, 64);
  for (int r = 0; r < n; r++) {
    cr_assert_eq(nsccl_prog_init(&progs[r], r, n, &args), nscclSuccess);
    cr_assert_eq(nsccl_algo_build(ch.algo, t, &ao, &progs[r]), nscclSuccess, "%s", nsccl_last_error());
  }
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_run(t, progs, n, NULL, &res), nscclSuccess, "%s", nsccl_last_error());
  for (int r = 0; r < n; r++) nsccl_prog_free(&progs[r]);
  cr_assert_gt(res.time_s, 0);
  return res.time_s;
}

typedef struct {
  double peak;
  size_t at;
  char torus[256], sw[256];
} claim_t;

/* Find "CLAIM <coll> peak=<ratio> at=<bytes> torus=<name> switch=<name>" (the whole line). */
static claim_t parse_claim(const char *out, const char *coll) {
  regex_t re;
  char pat[256];
  snprintf(pat, sizeof(pat), "^CLAIM %s peak=([0-9]+\\.[0-9]+) at=([0-9]+) torus=([^ \n]+) switch=([^ \n]+)$", coll);
  cr_assert_eq(regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE), 0);
  regmatch_t m[5];
  cr_assert_eq(regexec(&re, out, 5, m, 0), 0, "no CLAIM line for %s in:\n%s", coll, out);
  claim_t c;
  c.peak = strtod(out + m[1].rm_so, NULL);
  c.at = strtoull(out + m[2].rm_so, NULL, 10);
  snprintf(c.torus, sizeof(c.torus), "%.*s", (int)(m[3].rm_eo - m[3].rm_so), out + m[3].rm_so);
  snprintf(c.sw, sizeof(c.sw), "%.*s", (int)(m[4].rm_eo - m[4].rm_so), out + m[4].rm_so);
  regfree(&re);
  return c;
}

/* Peak over sizes min, min*4, ... max of torus/switch, computed directly. */
static void expected_peak(const nsccl_topo_t *a, const nsccl_topo_t *b, nsccl_coll_t coll, size_t min, size_t max,
                          double *peak, size_t *at, double *ratios) {
  *peak = 0;
  int i = 0;
  for (size_t s = min; s <= max; s *= 4, i++) {
    double r = direct_time(a, coll, s) / direct_time(b, coll, s);
    ratios[i] = r;
    if (r > *peak * (1 + 1e-12)) *peak = r, *at = s;
  }
}

Test(claims_tool, help_runs) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", tool());
  cr_assert_eq(run(cmd, &out), 0, "%s", out);
  cr_assert(strstr(out, "MODELLED") && strstr(out, "CLAIM <collective> peak=<ratio> at=<bytes>"), "%s", out);
  free(out);
}

Test(claims_tool, matches_direct_simulation, .timeout = 120) {
  char csv[] = "/tmp/nsccl-claims-testXXXXXX";
  int fd = mkstemp(csv);
  cr_assert_geq(fd, 0);
  close(fd);
  char cmd[2048], *out;
  snprintf(cmd, sizeof(cmd),
           "'%s' --torus trn2-16 --set-torus endpoint_overhead=1.5e-6 --switch '" SWITCH16
           "' --label-switch sw16 -b 64 -e 1M -f 4 --quiet --csv %s 2>&1",
           tool(), csv);
  int rc = run(cmd, &out);
  cr_assert_eq(rc, 0, "%s\n%s", cmd, out);
  cr_assert(strstr(out, "MODELLED"), "the output must say times are modelled:\n%s", out);

  nsccl_topo_t *torus = NULL, *sw = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-16?endpoint_overhead=1.5e-6", &torus), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(nsccl_topo_load(SWITCH16, &sw), nscclSuccess, "%s", nsccl_last_error());
  const char *names[2] = {"allgather", "allreduce"};
  nsccl_coll_t colls[2] = {NSCCL_COLL_ALLGATHER, NSCCL_COLL_ALLREDUCE};
  double ratios[2][16];
  for (int c = 0; c < 2; c++) {
    claim_t cl = parse_claim(out, names[c]);
    cr_assert_str_eq(cl.torus, "trn2-16?endpoint_overhead=1.5e-6");
    cr_assert_str_eq(cl.sw, "sw16");
    double peak;
    size_t at = 0;
    expected_peak(torus, sw, colls[c], 64, 1 << 20, &peak, &at, ratios[c]);
    cr_assert(fabs(cl.peak - peak) <= 0.0005 + 1e-9, "%s: tool peak %.3f, direct simulation %.6f", names[c], cl.peak,
              peak);
    cr_assert_eq(cl.at, at, "%s: tool peak at %zu, direct simulation at %zu", names[c], cl.at, at);
  }
  /* The CSV holds every size's ratio (column 7), equal to the direct computation to 1e-6. */
  FILE *f = fopen(csv, "r");
  cr_assert(f);
  char line[1024];
  cr_assert(fgets(line, sizeof(line), f));
  cr_assert(!strncmp(line, "collective,bytes,torus_us,torus_algo,switch_us,switch_algo,ratio,", 65), "%s", line);
  int rows[2] = {0, 0};
  while (fgets(line, sizeof(line), f)) {
    char coll[32], ta[64], sa[64];
    size_t bytes;
    double tt, st, r;
    cr_assert_eq(sscanf(line, "%31[^,],%zu,%lf,%63[^,],%lf,%63[^,],%lf", coll, &bytes, &tt, ta, &st, sa, &r), 7, "%s",
                 line);
    int c = !strcmp(coll, "allreduce");
    /* the CSV prints 6 decimals: half a unit of the last one, plus rounding of the times */
    cr_assert(fabs(r - ratios[c][rows[c]]) <= 0.5e-6 + 1e-6 * ratios[c][rows[c]], "%s", line);
    cr_assert(fabs(r - tt / st) <= 1e-5 * r, "%s", line);
    rows[c]++;
  }
  fclose(f);
  cr_assert_eq(rows[0], 8); /* 64, 256, ..., 1 MiB */
  cr_assert_eq(rows[1], 8);
  unlink(csv);
  nsccl_topo_free(torus);
  nsccl_topo_free(sw);
  free(out);
}

Test(claims_tool, bad_override_fails) {
  char cmd[1024], *out;
  snprintf(cmd, sizeof(cmd), "'%s' --torus trn2-16 --switch trn3-u64 --set-switch bogus=1 -b 64 -e 64 --quiet 2>&1",
           tool());
  cr_assert_neq(run(cmd, &out), 0, "%s", out);
  cr_assert(strstr(out, "bogus"), "%s", out);
  cr_assert_null(strstr(out, "CLAIM"), "%s", out);
  free(out);
}
