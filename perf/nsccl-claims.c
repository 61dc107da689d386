/* nsccl-claims: torus against switch, collective by collective and size by size, in MODELLED time.
 *
 *   nsccl-claims --torus NAME [--set-torus KEY=VALUE]... --switch NAME [--set-switch KEY=VALUE]...
 *                [--coll allgather,allreduce] [-b 8] [-e 1G] [-f 2] [--csv FILE] [--selected-only]
 *                [--packet BYTES|whole] [--max-packets N|unlimited] [--budget N|unlimited] [--quiet]
 *
 * Each side runs what the library would run: the family its selector (the cost model over that
 * topology) picks, built by nsccl_algo_build for every rank at the variant the model priced, and
 * timed by the discrete-event simulator (src/engine/sim.c). Every family is also simulated on its
 * own. The peak of torus time / switch time per collective is printed as a machine-readable line
 *   CLAIM <collective> peak=<ratio> at=<bytes> torus=<label> switch=<label>
 * that scripts/reproduce-claims and docs/claims.md use. Nothing here is measured on hardware. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/check.h"
#include "engine/sim.h"
#include "model/cost.h"
#include "model/observe.h" /* --trace, --links */
#include "model/select.h"
#include "size_arg.h"
#include "tool_args.h"
#include "topologies/topo.h"

#define MAX_SETS  32
#define MAX_SIZES 256

typedef struct {
  const char *role; /* "torus" or "switch" */
  const char *name; /* preset name, file or spec as given */
  const char *set[MAX_SETS];
  int nset;
  char label[512];
  nsccl_topo_t *t;
} side_t;

typedef struct {
  side_t side[2]; /* 0 torus, 1 switch */
  int colls[NSCCL_NUM_COLLS], ncolls;
  size_t min, max;
  double factor;
  const char *csv;
  int selected_only, quiet;
  size_t chunk; /* builders' chunk size (0: the library default, NSCCL_DEFAULT_CHUNK_BYTES) */
  nsccl_sim_opts_t sim;
  /* The peak point of each collective, watched (docs/simulator.md, "Timelines and link use"). */
  const char *trace_path;
  uint64_t trace_limit;
  int links_top; /* 0: no link tables; -1: every link */
  nsccl_trace_t *trace;
} opts_t;

/* One side at one size. */
typedef struct {
  double t[NSCCL_NUM_ALGOS]; /* simulated seconds per family (< 0: not simulated / not applicable) */
  int sel;                   /* the selector's family */
  int variant;               /* its variant */
} point_t;

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-claims --torus NAME --switch NAME [options]\n"
             "\n"
             "Compares a torus and a switch topology collective by collective and size by size.\n"
             "All times are MODELLED: the discrete-event simulator (docs/simulator.md) runs the schedules\n"
             "nsccl's own algorithms build for every rank on the topology's links. Nothing is measured.\n"
             "\n"
             "  --torus NAME        torus side: preset (trn2-16, trn2-u64, ...), INI file or spec\n"
             "                      ('torus:dims=4x4,...'; 'NAME?key=value&...' also works)\n"
             "  --switch NAME       switch side, same forms (trn3-u64, trn3-u144, 'switch:ranks=16,...')\n"
             "  --set-torus K=V     override a key of the torus side before it is built (repeatable);\n"
             "                      K*=F multiplies the key's numbers by F (e.g. dim_bandwidth*=0.5).\n"
             "                      Unknown keys are errors. See docs/topologies.md, 'Overrides'.\n"
             "  --set-switch K=V    the same for the switch side\n"
             "  --label-torus L     name printed for the torus side (default NAME?overrides)\n"
             "  --label-switch L    name printed for the switch side\n"
             "  --coll LIST         comma list of allgather, reducescatter, allreduce\n"
             "                      (default allgather,allreduce)\n"
             "  -b MIN, -e MAX      sizes in bytes (default 8 and 1G; K, M, G suffixes = 2^10, 2^20, 2^30)\n"
             "  -f FACTOR           size factor per row (default 2)\n"
             "  --csv FILE          also write every row as CSV to FILE (header on the first line)\n"
             "  --selected-only     simulate only the selected family on each side (faster; per-family\n"
             "                      columns show '-')\n"
             "  --packet B|whole    simulator packet size (default 64 KiB; whole = one packet per message)\n"
             "  --max-packets N|unlimited   at most N packets per message (default 16)\n"
             "  --budget N|unlimited        packets per simulated run before packets grow (default 131072)\n"
             "  --chunk BYTES       builders split transfers into chunks of BYTES (default the library's\n"
             "                      1 MiB); the selector still prices the default\n"
             "  --trace FILE        after each collective's sweep, simulate its peak point again (the\n"
             "                      selected family on both sides) and write the timelines to FILE in\n"
             "                      the Trace Event Format (Perfetto, chrome://tracing; docs/simulator.md)\n"
             "  --trace-limit N     slices in the trace at most (default 500000)\n"
             "  --links[=N|all]     print the N busiest links (default 10) of both sides at the peak point\n"
             "  --quiet             no progress on stderr\n"
             "  -h, --help          this text\n"
             "\n"
             "Sizes follow nccl-tests: the whole array (all-gather output, all-reduce vector); when the\n"
             "two sides have different rank counts both move the same total bytes. Output: per collective\n"
             "a table (size, torus time + selected algorithm, switch time + selected algorithm, ratio =\n"
             "torus / switch, best-vs-best ratio, every family's time on each side), then one line per\n"
             "collective:\n"
             "  CLAIM <collective> peak=<ratio> at=<bytes> torus=<label> switch=<label>\n"
             "  DETAIL <collective> peak=.. at=.. torus_algo=.. switch_algo=.. torus_us=.. switch_us=..\n"
             "         ratio_first=.. ratio_last=.. best_peak=.. best_at=..\n"
             "where peak is the largest torus/switch ratio of the selected algorithms over the sizes.\n"
             "\n"
             "Example: nsccl-claims --torus trn2-u64 --switch trn3-u64 --coll allgather -e 16M --selected-only\n");
}

/* "N" or "unlimited" into a uint64_t; 0 on a bad value. */
static int parse_count(const char *s, uint64_t unlimited, uint64_t *out) {
  if (!strcmp(s, "unlimited")) {
    *out = unlimited;
    return 1;
  }
  size_t v;
  if (!nsccl_parse_size(s, &v) || v == 0) return 0;
  *out = v;
  return 1;
}

static int parse_colls(const char *list, opts_t *o) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", list);
  o->ncolls = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int c = -1;
    for (int k = 0; k < NSCCL_NUM_COLLS; k++)
      if (!strcmp(tok, nsccl_coll_name((nsccl_coll_t)k))) c = k;
    if (c < 0 || o->ncolls == NSCCL_NUM_COLLS) return 0;
    o->colls[o->ncolls++] = c;
  }
  return o->ncolls > 0;
}

static int parse_args(int argc, char **argv, opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->side[0].role = "torus";
  o->side[1].role = "switch";
  o->min = 8;
  o->max = (size_t)1 << 30;
  o->factor = 2;
  o->colls[0] = NSCCL_COLL_ALLGATHER;
  o->colls[1] = NSCCL_COLL_ALLREDUCE;
  o->ncolls = 2;
  const char *labels[2] = {NULL, NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--selected-only")) {
      o->selected_only = 1;
      continue;
    } else if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
      continue;
    } else if (!strncmp(a, "--links", 7) && (a[7] == 0 || a[7] == '=')) {
      char *end = NULL;
      o->links_top = a[7] == 0 ? 10 : !strcmp(a + 8, "all") ? -1 : (int)strtol(a + 8, &end, 10);
      if (end && (*end || o->links_top < 1)) {
        fprintf(stderr, "nsccl-claims: %s: use --links, --links=N (N >= 1) or --links=all\n", a);
        return 0;
      }
      continue;
    }
    const char *valued = "--torus --switch --set-torus --set-switch --label-torus --label-switch --coll -b -e -f "
                         "--chunk --csv --trace --trace-limit --packet --max-packets --budget";
    if (!nsccl_tool_value("nsccl-claims", a, v, valued)) return 0;
    i++;
    int ok = 1;
    if (!strcmp(a, "--torus") || !strcmp(a, "--switch")) {
      o->side[a[2] == 's'].name = v;
    } else if (!strcmp(a, "--set-torus") || !strcmp(a, "--set-switch")) {
      side_t *s = &o->side[a[6] == 's'];
      if (!strchr(v, '=') || s->nset == MAX_SETS) {
        fprintf(stderr, "nsccl-claims: %s %s: expected KEY=VALUE or KEY*=FACTOR (at most %d)\n", a, v, MAX_SETS);
        return 0;
      }
      s->set[s->nset++] = v;
    } else if (!strcmp(a, "--label-torus") || !strcmp(a, "--label-switch")) {
      labels[a[8] == 's'] = v;
    } else if (!strcmp(a, "--coll")) {
      ok = parse_colls(v, o);
    } else if (!strcmp(a, "-b") || !strcmp(a, "-e")) {
      ok = nsccl_parse_size(v, !strcmp(a, "-b") ? &o->min : &o->max);
    } else if (!strcmp(a, "-f")) {
      char *end;
      o->factor = strtod(v, &end);
      ok = !*end && o->factor > 1;
    } else if (!strcmp(a, "--chunk")) {
      ok = nsccl_parse_size(v, &o->chunk) && o->chunk > 0;
    } else if (!strcmp(a, "--csv")) {
      o->csv = v;
    } else if (!strcmp(a, "--trace")) {
      o->trace_path = v;
    } else if (!strcmp(a, "--trace-limit")) {
      size_t n = 0;
      ok = nsccl_parse_size(v, &n) && n > 0;
      o->trace_limit = n;
    } else if (!strcmp(a, "--packet")) {
      size_t p = 0;
      if (!strcmp(v, "whole"))
        o->sim.packet_bytes = NSCCL_SIM_WHOLE_MESSAGE;
      else if ((ok = nsccl_parse_size(v, &p) && p > 0))
        o->sim.packet_bytes = p;
    } else if (!strcmp(a, "--max-packets")) {
      uint64_t n = 0;
      if ((ok = parse_count(v, NSCCL_SIM_UNLIMITED_PACKETS, &n) && n <= UINT32_MAX)) o->sim.max_packets = (uint32_t)n;
    } else if (!strcmp(a, "--budget")) {
      ok = parse_count(v, NSCCL_SIM_UNLIMITED_BUDGET, &o->sim.packet_budget);
    } else {
      fprintf(stderr, "nsccl-claims: unknown option %s (see --help)\n", a);
      return 0;
    }
    if (!ok) {
      fprintf(stderr, "nsccl-claims: %s %s: bad value (see --help)\n", a, v);
      return 0;
    }
  }
  for (int s = 0; s < 2; s++) {
    side_t *sd = &o->side[s];
    if (!sd->name) {
      fprintf(stderr, "nsccl-claims: --%s is required (see --help)\n", sd->role);
      return 0;
    }
    if (labels[s]) {
      snprintf(sd->label, sizeof(sd->label), "%s", labels[s]);
    } else {
      size_t len = (size_t)snprintf(sd->label, sizeof(sd->label), "%s", sd->name);
      for (int k = 0; k < sd->nset && len < sizeof(sd->label); k++)
        len += (size_t)snprintf(sd->label + len, sizeof(sd->label) - len, "%c%s", k ? '&' : '?', sd->set[k]);
    }
  }
  if (o->min < 1 || o->min > o->max) {
    fprintf(stderr, "nsccl-claims: sizes -b %zu -e %zu: need 1 <= MIN <= MAX\n", o->min, o->max);
    return 0;
  }
  return 1;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
  uint64_t runs, events;
} stats_t;

/* Every rank's program of (coll, algo, variant) at `bytes` (nccl-tests convention, uint8 elements,
 * at least one per rank), built with the library's builders, timed by the simulator; ob (may be
 * NULL) watches it. */
static nscclResult_t simulate(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, nsccl_algo_t algo, int variant,
                              size_t bytes, const nsccl_observe_t *ob, nsccl_sim_result_t *res) {
  return nsccl_sim_collective_observed(t, coll, algo, variant, bytes, o->chunk, &o->sim, ob, res);
}

/* Select on one side and simulate the selected family (and, unless selected_only, every family that
 * has a prediction) at the variant the cost model priced: the schedule the library would run. */
static int simulate_point(const opts_t *o, const side_t *s, nsccl_coll_t coll, size_t bytes, point_t *pt, stats_t *st) {
  nsccl_choice_t ch;
  if (nsccl_select(s->t, NULL, coll, bytes, s->t->nranks, &ch) != nscclSuccess) {
    fprintf(stderr, "nsccl-claims: selecting %s on %s at %zu bytes: %s\n", nsccl_coll_name(coll), s->label, bytes,
            nsccl_last_error());
    return 0;
  }
  pt->sel = ch.algo;
  pt->variant = ch.variant[ch.algo];
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
    pt->t[a] = -1;
    if (ch.predicted_s[a] < 0 || (o->selected_only && a != (int)ch.algo)) continue;
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    if (simulate(o, s->t, coll, (nsccl_algo_t)a, ch.variant[a], bytes, NULL, &res) != nscclSuccess) {
      fprintf(stderr, "nsccl-claims: simulating %s %s on %s at %zu bytes: %s\n", nsccl_algo_name((nsccl_algo_t)a),
              nsccl_coll_name(coll), s->label, bytes, nsccl_last_error());
      return 0;
    }
    pt->t[a] = res.time_s;
    st->runs++;
    st->events += res.events;
  }
  return 1;
}

static double best_time(const point_t *p) {
  double b = -1;
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
    if (p->t[a] >= 0 && (b < 0 || p->t[a] < b)) b = p->t[a];
  return b;
}

static const char *sel_name(const point_t *p) { return nsccl_model_variant_name((nsccl_algo_t)p->sel, p->variant); }

static void print_header(const opts_t *o, nsccl_coll_t coll) {
  printf("\n## %s: simulated time in us; ratio = torus / switch (> 1: the switch is faster)\n", nsccl_coll_name(coll));
  printf("%12s %11s %-24s %11s %-24s %7s %7s |", "bytes", "torus_us", "torus_algo", "switch_us", "switch_algo", "ratio",
         "best_r");
  for (int s = 0; s < 2; s++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) printf(" %c:%-9s", s ? 'S' : 'T', nsccl_algo_name((nsccl_algo_t)a));
  printf("\n");
  (void)o;
}

static void print_row(size_t bytes, const point_t p[2]) {
  double tt = p[0].t[p[0].sel], ts = p[1].t[p[1].sel];
  printf("%12zu %11.3f %-24s %11.3f %-24s %7.3f %7.3f |", bytes, tt * 1e6, sel_name(&p[0]), ts * 1e6, sel_name(&p[1]),
         tt / ts, best_time(&p[0]) / best_time(&p[1]));
  for (int s = 0; s < 2; s++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
      if (p[s].t[a] >= 0)
        printf(" %11.3f", p[s].t[a] * 1e6);
      else
        printf(" %11s", "-");
    }
  printf("\n");
}

static void csv_row(FILE *f, nsccl_coll_t coll, size_t bytes, const point_t p[2]) {
  double tt = p[0].t[p[0].sel], ts = p[1].t[p[1].sel];
  fprintf(f, "%s,%zu,%.6f,%s,%.6f,%s,%.6f,%.6f", nsccl_coll_name(coll), bytes, tt * 1e6, sel_name(&p[0]), ts * 1e6,
          sel_name(&p[1]), tt / ts, best_time(&p[0]) / best_time(&p[1]));
  for (int s = 0; s < 2; s++)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
      if (p[s].t[a] >= 0)
        fprintf(f, ",%.6f", p[s].t[a] * 1e6);
      else
        fprintf(f, ",nan");
    }
  fprintf(f, "\n");
}

/* The peak point again, watched: each side's selected family into the trace and / or its busiest
 * links printed. */
static int watch_peak(const opts_t *o, nsccl_coll_t coll, size_t bytes, const point_t pk[2]) {
  for (int s = 0; s < 2; s++) {
    const side_t *sd = &o->side[s];
    char label[700];
    snprintf(label, sizeof(label), "%s %s: %s %s %zu B", sd->role, sd->label, nsccl_coll_name(coll), sel_name(&pk[s]),
             bytes);
    nsccl_link_use_t *links = o->links_top ? calloc((size_t)sd->t->nlinks + 1, sizeof(*links)) : NULL;
    if (o->links_top && !links) {
      fprintf(stderr, "nsccl-claims: out of memory for %d links\n", sd->t->nlinks);
      return 0;
    }
    nsccl_observe_t ob = {o->trace, label, links};
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    if (simulate(o, sd->t, coll, (nsccl_algo_t)pk[s].sel, pk[s].variant, bytes, &ob, &res) != nscclSuccess) {
      fprintf(stderr, "nsccl-claims: watching %s: %s\n", label, nsccl_last_error());
      free(links);
      return 0;
    }
    if (links) {
      printf("# busiest links at the peak: %s, simulated %.3f us\n", label, res.time_s * 1e6);
      nsccl_links_table(stdout, sd->t, links, res.time_s, o->links_top);
    }
    free(links);
  }
  return 1;
}

static int run_coll(const opts_t *o, nsccl_coll_t coll, FILE *csv, stats_t *st) {
  static point_t pts[MAX_SIZES][2];
  size_t sizes[MAX_SIZES];
  int n = 0;
  for (double s = (double)o->min;
       s <= (double)o->max * (1 + 1e-9) && n<MAX_SIZES; s = s * o->factor> s + 1 ? s * o->factor : s + 1)
    sizes[n++] = (size_t)s;
  int tty = isatty(2);
  double c0 = cpu_s();
  print_header(o, coll);
  int peak = -1, bpeak = -1;
  double peak_r = 0, bpeak_r = 0;
  for (int i = 0; i < n; i++) {
    if (!o->quiet && tty)
      fprintf(stderr, "\rnsccl-claims: %s %zu bytes (%d/%d)   ", nsccl_coll_name(coll), sizes[i], i + 1, n);
    for (int s = 0; s < 2; s++)
      if (!simulate_point(o, &o->side[s], coll, sizes[i], &pts[i][s], st)) return 0;
    print_row(sizes[i], pts[i]);
    fflush(stdout);
    if (csv) csv_row(csv, coll, sizes[i], pts[i]);
    double r = pts[i][0].t[pts[i][0].sel] / pts[i][1].t[pts[i][1].sel];
    double br = best_time(&pts[i][0]) / best_time(&pts[i][1]);
    /* The first size reaching the maximum: ties (a flat plateau) report the smallest size. */
    if (peak < 0 || r > peak_r * (1 + 1e-12)) peak = i, peak_r = r;
    if (bpeak < 0 || br > bpeak_r * (1 + 1e-12)) bpeak = i, bpeak_r = br;
  }
  if (!o->quiet)
    fprintf(stderr, "%snsccl-claims: %s: %d sizes simulated in %.2f s CPU\n", tty ? "\r" : "", nsccl_coll_name(coll), n,
            cpu_s() - c0);
  const point_t *pk = pts[peak];
  printf("CLAIM %s peak=%.3f at=%zu torus=%s switch=%s\n", nsccl_coll_name(coll), peak_r, sizes[peak], o->side[0].label,
         o->side[1].label);
  printf("DETAIL %s peak=%.3f at=%zu torus_algo=%s switch_algo=%s torus_us=%.3f switch_us=%.3f ratio_first=%.3f "
         "ratio_last=%.3f best_peak=%.3f best_at=%zu\n",
         nsccl_coll_name(coll), peak_r, sizes[peak], sel_name(&pk[0]), sel_name(&pk[1]), pk[0].t[pk[0].sel] * 1e6,
         pk[1].t[pk[1].sel] * 1e6, pts[0][0].t[pts[0][0].sel] / pts[0][1].t[pts[0][1].sel],
         pts[n - 1][0].t[pts[n - 1][0].sel] / pts[n - 1][1].t[pts[n - 1][1].sel], bpeak_r, sizes[bpeak]);
  if (o->trace || o->links_top) return watch_peak(o, coll, sizes[peak], pk);
  return 1;
}

static void describe_side(const side_t *s) {
  const nsccl_topo_t *t = s->t;
  printf("# %-6s = %s: module %s, %d ranks, alpha %.3g us, link latency %.3g us, %s", s->role, s->label,
         t->module->name, t->nranks, t->endpoint_overhead * 1e6, t->link_latency * 1e6,
         t->ndims ? (t->forward == NSCCL_FORWARD_STORE ? "store-and-forward" : "routed") : "");
  if (t->ndims) {
    printf(", dims");
    for (int d = 0; d < t->ndims; d++) printf("%c%d", d ? 'x' : ' ', t->dims[d]);
    printf(", GB/s per link per direction");
    for (int d = 0; d < t->ndims; d++) printf("%c%.4g", d ? ',' : ' ', t->dim_bandwidth[d] / 1e9);
  } else {
    printf("port %.4g GB/s per direction, switch latency %.3g us, %d level(s)", t->link_bandwidth / 1e9,
           t->switch_latency * 1e6, t->levels);
  }
  printf(", reduce %.4g GB/s, DMA engines %d (%d per message", t->reduce_bandwidth / 1e9, t->dma_engines,
         t->engines_per_message);
  if (t->dma_engine_bandwidth > 0)
    printf(", %.4g GB/s each)\n", t->dma_engine_bandwidth / 1e9);
  else
    printf(", unlimited bandwidth)\n");
}

int main(int argc, char **argv) {
  opts_t o;
  if (!parse_args(argc, argv, &o)) return 2;
  int rc = 0;
  for (int s = 0; s < 2 && rc == 0; s++) {
    side_t *sd = &o.side[s];
    if (nsccl_topo_load_overrides(sd->name, sd->set, sd->nset, &sd->t) != nscclSuccess) {
      fprintf(stderr, "nsccl-claims: %s side: %s\n", sd->role, nsccl_last_error());
      rc = 1;
    }
  }
  FILE *csv = NULL;
  if (rc == 0 && o.csv) {
    csv = fopen(o.csv, "w");
    if (!csv) {
      fprintf(stderr, "nsccl-claims: --csv %s: %s\n", o.csv, strerror(errno));
      rc = 1;
    } else {
      fprintf(csv, "collective,bytes,torus_us,torus_algo,switch_us,switch_algo,ratio,best_ratio");
      for (int s = 0; s < 2; s++)
        for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
          fprintf(csv, ",%s_%s_us", s ? "switch" : "torus", nsccl_algo_name((nsccl_algo_t)a));
      fprintf(csv, "\n");
    }
  }
  if (rc == 0) {
    printf("# nsccl-claims: MODELLED times, not measurements: nsccl's discrete-event simulator runs the schedules\n"
           "# the library builds for every rank on the topology's links (docs/simulator.md, docs/claims.md).\n");
    for (int s = 0; s < 2; s++) describe_side(&o.side[s]);
    if (o.side[0].t->nranks != o.side[1].t->nranks)
      printf("# rank counts differ (%d vs %d): both sides move the same total bytes per size (nccl-tests\n"
             "# convention), so each rank's share differs.\n",
             o.side[0].t->nranks, o.side[1].t->nranks);
    printf("# simulator packets: %s, at most %s per message, per-run budget %s; chunks of %zu\n"
           "# bytes; each side runs the family its selector picks (algo column: family/variant); T:/S: columns\n"
           "# time every family alone\n",
           o.sim.packet_bytes == NSCCL_SIM_WHOLE_MESSAGE ? "whole messages"
           : o.sim.packet_bytes                          ? "custom size"
                                                         : "64 KiB",
           o.sim.max_packets == NSCCL_SIM_UNLIMITED_PACKETS ? "unlimited"
           : o.sim.max_packets                              ? "custom"
                                                            : "16",
           o.sim.packet_budget == NSCCL_SIM_UNLIMITED_BUDGET ? "unlimited"
           : o.sim.packet_budget                             ? "custom"
                                                             : "131072",
           o.chunk ? o.chunk : NSCCL_DEFAULT_CHUNK_BYTES);
  }
  if (rc == 0 && o.trace_path && nsccl_trace_open(o.trace_path, o.trace_limit, &o.trace) != nscclSuccess) {
    fprintf(stderr, "nsccl-claims: --trace: %s\n", nsccl_last_error());
    rc = 1;
  }
  stats_t st = {0, 0};
  double c0 = cpu_s();
  for (int c = 0; c < o.ncolls && rc == 0; c++)
    if (!run_coll(&o, (nsccl_coll_t)o.colls[c], csv, &st)) rc = 1;
  if (rc == 0)
    printf("# %llu simulations, %llu events, %.2f s CPU\n", (unsigned long long)st.runs, (unsigned long long)st.events,
           cpu_s() - c0);
  if (csv && fclose(csv) != 0 && rc == 0) {
    fprintf(stderr, "nsccl-claims: --csv %s: %s\n", o.csv, strerror(errno));
    rc = 1;
  }
  if (o.trace && nsccl_trace_close(o.trace) != nscclSuccess) {
    fprintf(stderr, "nsccl-claims: --trace %s: %s\n", o.trace_path, nsccl_last_error());
    rc = 1;
  }
  for (int s = 0; s < 2; s++) nsccl_topo_free(o.side[s].t);
  return rc;
}
