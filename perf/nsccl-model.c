/* nsccl-model: predicted collective times on a topology, per algorithm, over a size sweep.
 *
 *   nsccl-model --topo PRESET|FILE|SPEC --coll allgather|reducescatter|allreduce|broadcast|reduce|all
 *               --algo ring|tree|direct|auto|all -b MIN -e MAX -f FACTOR [--csv]
 *
 * Sizes follow nccl-tests: the whole array (all-gather output, reduce-scatter input, all-reduce
 * vector). Every row goes through emit_row(), which takes the source name ("model" here), so a
 * simulator option can print "sim" rows beside them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "engine/sim.h"
#include "model/cost.h"
#include "model/observe.h" /* --trace, --links */
#include "model/select.h"
#include "model/simulate.h" /* --sim (block owned by sim) */
#include "size_arg.h"
#include "tool_args.h"
#include "topologies/topo.h"

typedef struct {
  const char *topo;
  int coll;    /* -1: all */
  int algo;    /* >= 0 one family; -1 all; -2 auto (the selected one); -3 every variant; -4 one variant */
  int variant; /* algo -4: the variant's id (family in vfamily) */
  int vfamily;
  size_t min, max;
  double factor;
  int csv;
  int sim; /* --sim: also time each schedule with the simulator */
  /* Watching the simulated runs (docs/simulator.md, "Timelines and link use"). */
  const char *trace_path, *links_csv_path;
  uint64_t trace_limit;
  int links_top; /* --links: rows of the busiest-links table (0: off, -1: all) */
  nsccl_trace_t *trace;
  FILE *links_csv;
  FILE *links_out; /* the tables of a collective, printed after its sweep table */
  char *links_buf;
  size_t links_len;
} opts_t;

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-model --topo PRESET|FILE|SPEC [--coll C] [--algo A] [-b MIN] [-e MAX] [-f FACTOR] [--csv]\n"
             "                   [--sim [--trace FILE] [--trace-limit N] [--links[=N|all]] [--links-csv FILE]]\n"
             "\n"
             "Predicts collective times with nsccl's alpha-beta-gamma cost model (docs/model.md).\n"
             "\n"
             "  --topo T     topology: a preset name (trn2-16, trn2-u64, trn3-u64, trn3-u144, trn2-16x4-efa;\n"
             "               searched in $NSCCL_PRESET_DIR, then <datadir>/nsccl/presets, or the source tree\n"
             "               when run from the build tree), an INI\n"
             "               file path, or a spec such as 'torus:dims=4x4,link_bandwidth=1e11,...'. Required.\n"
             "  --coll C     allgather | reducescatter | allreduce | broadcast | reduce | all (default all:\n"
             "               the first three; broadcast and reduce are priced rooted at rank 0, and --sim\n"
             "               shows '-' for them)\n"
             "  --algo A     ring | tree | direct: that family at its cheapest variant;\n"
             "               FAMILY/VARIANT (ring/kangaring, tree/rdh, ... as NSCCL_ALGO takes them): that\n"
             "               variant; variants: every registered variant that builds the collective on\n"
             "               the topology, one column each; auto: the algorithm the selector picks;\n"
             "               msccl:FILE: an MSCCL-IR XML algorithm (docs/msccl.md), priced by its\n"
             "               dependency levels, timed with --sim;\n"
             "               all: every family (default all)\n"
             "  --list       print every registered variant (name, collectives, what it does) and exit\n"
             "  -b MIN       smallest size in bytes (default 8); K, M, G suffixes = 2^10, 2^20, 2^30\n"
             "  -e MAX       largest size in bytes (default 1G)\n"
             "  -f FACTOR    multiply the size by FACTOR each row (default 2; must be > 1)\n"
             "  --csv        CSV: header topology,collective,algorithm,bytes,source,time_us, one row per\n"
             "               (collective, algorithm, size); source is 'model' (or 'sim')\n"
             "  --sim        also time each algorithm's schedule with the discrete-event simulator\n"
             "               (docs/simulator.md): 'sim' columns / rows beside the 'model' ones\n"
             "  --trace FILE  with --sim: write every simulated run as a timeline in the Trace Event\n"
             "               Format (JSON; open it in Perfetto or chrome://tracing): a track per rank with\n"
             "               its steps, a track per link with its busy intervals, bytes in flight.\n"
             "               Each run is a pair of processes named after it; pick one run with --coll,\n"
             "               --algo and -b = -e to keep the file small\n"
             "  --trace-limit N  slices in the trace at most (default 500000, about 75 MB); later ones\n"
             "               are dropped and the file says from when (docs/simulator.md)\n"
             "  --links[=N|all]  with --sim: after each table, the N busiest links of every simulated\n"
             "               run (default 10): share of the span busy, bytes carried, from/to vertices\n"
             "  --links-csv FILE  with --sim: every link of every simulated run as CSV to FILE:\n"
             "               topology,collective,algorithm,bytes," NSCCL_LINKS_CSV_COLUMNS "\n"
             "  -h, --help   this text\n"
             "\n"
             "Sizes are the whole array as in nccl-tests: all-gather output, reduce-scatter input,\n"
             "all-reduce vector. The table shows each algorithm's predicted time (us, with the variant\n"
             "priced) and the selected algorithm.\n"
             "\n"
             "Example: nsccl-model --topo trn2-16 --coll allreduce -b 1K -e 1M -f 4 --sim\n");
}

static void list_variants(void);
static int sweep_coll(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll);

static int parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){NULL, -1, -1, 0, 0, 8, (size_t)1 << 30, 2.0, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--csv")) {
      o->csv = 1;
      continue;
    } else if (!strcmp(a, "--sim")) {
      o->sim = 1;
      continue;
    } else if (!strncmp(a, "--links", 7) && (a[7] == 0 || a[7] == '=')) {
      char *end = NULL;
      o->links_top = a[7] == 0 ? 10 : !strcmp(a + 8, "all") ? -1 : (int)strtol(a + 8, &end, 10);
      if (end && (*end || o->links_top < 1)) {
        fprintf(stderr, "nsccl-model: %s: use --links, --links=N (N >= 1) or --links=all\n", a);
        return 0;
      }
      continue;
    } else if (!strcmp(a, "--list")) {
      list_variants();
      exit(0);
    }
    const char *valued = "--topo --coll --algo -b -e -f --trace --links-csv --trace-limit";
    if (!nsccl_tool_value("nsccl-model", a, v, valued)) return 0;
    i++;
    if (!strcmp(a, "--topo")) {
      o->topo = v;
    } else if (!strcmp(a, "--coll")) {
      o->coll = -2;
      for (int c = 0; c < NSCCL_NUM_COLLS_ALL; c++)
        if (!strcmp(v, nsccl_coll_name((nsccl_coll_t)c))) o->coll = c;
      if (!strcmp(v, "all")) o->coll = -1;
      if (o->coll == -2) {
        fprintf(stderr, "nsccl-model: --coll %s: use allgather, reducescatter, allreduce, broadcast, reduce or all\n",
                v);
        return 0;
      }
    } else if (!strcmp(a, "--algo")) {
      int file = !strncmp(v, "msccl:", 6); /* an MSCCL-IR file (docs/msccl.md), priced and simulated */
      const nsccl_variant_t *var = strchr(v, '/') || file ? nsccl_variant_by_name(v) : NULL;
      if (file && !var) {
        fprintf(stderr, "nsccl-model: --algo %s: %s\n", v, nsccl_last_error());
        return 0;
      }
      o->algo = !strcmp(v, "all")        ? -1
                : !strcmp(v, "auto")     ? -2
                : !strcmp(v, "variants") ? -3
                : var                    ? -4
                                         : nsccl_algo_from_name(v);
      if (var) o->variant = var->id, o->vfamily = var->family;
      if (o->algo == -1 && strcmp(v, "all")) {
        fprintf(stderr,
                "nsccl-model: --algo %s: use ring, tree, direct, FAMILY/VARIANT (see --list), variants, auto "
                "or all\n",
                v);
        return 0;
      }
    } else if (!strcmp(a, "-b") || !strcmp(a, "-e")) {
      if (!nsccl_parse_size(v, !strcmp(a, "-b") ? &o->min : &o->max)) {
        fprintf(stderr, "nsccl-model: %s %s: not a size (bytes, optionally with K, M or G)\n", a, v);
        return 0;
      }
    } else if (!strcmp(a, "--trace")) {
      o->trace_path = v;
    } else if (!strcmp(a, "--links-csv")) {
      o->links_csv_path = v;
    } else if (!strcmp(a, "--trace-limit")) {
      size_t n;
      if (!nsccl_parse_size(v, &n) || n == 0) {
        fprintf(stderr, "nsccl-model: --trace-limit %s: a number of events >= 1\n", v);
        return 0;
      }
      o->trace_limit = n;
    } else if (!strcmp(a, "-f")) {
      char *end;
      o->factor = strtod(v, &end);
      if (*end || !(o->factor > 1)) {
        fprintf(stderr, "nsccl-model: -f %s: the factor must be a number > 1\n", v);
        return 0;
      }
    } else {
      fprintf(stderr, "nsccl-model: unknown option %s (see --help)\n", a);
      return 0;
    }
  }
  if (!o->topo) {
    fprintf(stderr, "nsccl-model: --topo is required (see --help)\n");
    return 0;
  }
  if (o->min > o->max) {
    fprintf(stderr, "nsccl-model: -b %zu is larger than -e %zu\n", o->min, o->max);
    return 0;
  }
  if ((o->trace_path || o->links_top || o->links_csv_path) && !o->sim) {
    fprintf(stderr, "nsccl-model: --trace, --links and --links-csv watch simulated runs: add --sim\n");
    return 0;
  }
  if (o->links_top && o->csv) {
    fprintf(stderr, "nsccl-model: --links prints tables; with --csv use --links-csv FILE\n");
    return 0;
  }
  return 1;
}

static void list_variants(void) {
  printf("%-26s %-28s %s\n", "variant", "collectives (selector)", "what it does");
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    char colls[64] = "";
    for (int c = 0; c < NSCCL_NUM_COLLS; c++)
      if (v->colls & NSCCL_COLL_BIT(c))
        snprintf(colls + strlen(colls), sizeof(colls) - strlen(colls), "%s%s%s", *colls ? "," : "",
                 nsccl_coll_name((nsccl_coll_t)c), v->offered & NSCCL_COLL_BIT(c) ? "" : "*");
    printf("%-26s %-28s %s\n", v->name, colls, v->about ? v->about : "");
  }
  printf("\n* built when forced (NSCCL_ALGO / --algo), not offered to the selector\n");
}

/* A CSV field per RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *out, const char *f) {
  if (!strpbrk(f, ",\"\r\n")) {
    fputs(f, out);
    return;
  }
  fputc('"', out);
  for (; *f; f++) {
    if (*f == '"') fputc('"', out);
    fputc(*f, out);
  }
  fputc('"', out);
}

/* One result row, in CSV or as a table cell. Every source (model, a simulator) prints through it. */
static void emit_row(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, const char *algo, size_t bytes,
                     const char *source, double seconds) {
  if (o->csv) {
    csv_field(stdout, t->name);
    printf(",%s,", nsccl_coll_name(coll));
    csv_field(stdout, algo);
    printf(",%zu,%s,%.3f\n", bytes, source, seconds * 1e6);
  } else {
    printf(" %12.2f", seconds * 1e6);
  }
}

/* A column: one family at its cheapest variant (variant -1) or one registered variant. */
typedef struct {
  nsccl_algo_t algo;
  int variant;
  const char *name;
} column_t;

static int columns_of(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, column_t *cols, int max) {
  int n = 0;
  if (o->algo >= 0) {
    cols[n++] = (column_t){(nsccl_algo_t)o->algo, -1, nsccl_algo_name((nsccl_algo_t)o->algo)};
  } else if (o->algo == -1) {
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
      cols[n++] = (column_t){(nsccl_algo_t)a, -1, nsccl_algo_name((nsccl_algo_t)a)};
  } else if (o->algo == -4) {
    const nsccl_variant_t *v = nsccl_variant_find((nsccl_algo_t)o->vfamily, o->variant);
    if (coll < NSCCL_NUM_COLLS && nsccl_variant_applies(v, t, coll, t->nranks))
      cols[n++] = (column_t){v->family, v->id, v->name};
  } else if (o->algo == -3) {
    for (int i = 0; i < nsccl_variant_count() && n < max; i++) {
      const nsccl_variant_t *v = nsccl_variant_at(i);
      if (coll < NSCCL_NUM_COLLS && nsccl_variant_applies(v, t, coll, t->nranks) && v->id != NSCCL_RING_TOPO)
        cols[n++] = (column_t){v->family, v->id, v->name};
    }
  }
  return n;
}

/* Model (and simulated) time of one column at one size; -1 where it does not apply. */
static int cell(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, const column_t *col,
                const nsccl_choice_t *ch, size_t bytes) {
  double secs = -1;
  int variant = col->variant >= 0 ? col->variant : ch->variant[col->algo];
  if (col->variant < 0)
    secs = ch->predicted_s[col->algo];
  else if (nsccl_model_predict(t, NULL, coll, col->algo, col->variant, bytes, t->nranks, &secs) != nscclSuccess) {
    fprintf(stderr, "nsccl-model: %s\n", nsccl_last_error());
    return 0;
  }
  emit_row(o, t, coll, col->name, bytes, "model", secs);
  if (!o->sim) return 1;
  if (secs < 0 || coll >= NSCCL_NUM_COLLS /* nsccl_sim_collective: not rooted ones */) {
    if (!o->csv) printf(" %12s", "-");
    return 1;
  }
  nsccl_sim_result_t res = {0};
  char label[256];
  snprintf(label, sizeof(label), "%s %s %zu B on %s", nsccl_coll_name(coll),
           nsccl_model_variant_name(col->algo, variant), bytes, t->name);
  nsccl_link_use_t *links = NULL;
  if ((o->links_top || o->links_csv) && !(links = calloc((size_t)t->nlinks + 1, sizeof(*links)))) {
    fprintf(stderr, "nsccl-model: out of memory for %d links\n", t->nlinks);
    return 0;
  }
  nsccl_observe_t ob = {o->trace, label, links};
  if (nsccl_sim_collective_observed(t, coll, col->algo, variant, bytes, 0, NULL, &ob, &res) != nscclSuccess) {
    fprintf(stderr, "nsccl-model: simulating %s %s at %zu bytes: %s\n", col->name, nsccl_coll_name(coll), bytes,
            nsccl_last_error());
    free(links);
    return 0;
  }
  emit_row(o, t, coll, col->name, bytes, "sim", res.time_s);
  if (o->links_top && o->links_out) {
    fprintf(o->links_out, "\n# busiest links: %s, simulated %.3f us\n", label, res.time_s * 1e6);
    nsccl_links_table(o->links_out, t, links, res.time_s, o->links_top);
  }
  if (o->links_csv) {
    char *prefix = NULL;
    size_t plen = 0;
    FILE *p = open_memstream(&prefix, &plen);
    if (p) {
      csv_field(p, t->name);
      fprintf(p, ",%s,", nsccl_coll_name(coll));
      csv_field(p, col->name);
      fprintf(p, ",%zu", bytes);
      fclose(p);
      nsccl_links_csv(o->links_csv, prefix, t, links, res.time_s);
    }
    free(prefix);
  }
  free(links);
  return 1;
}

static int run_coll(opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll) {
  if (o->links_top && !(o->links_out = open_memstream(&o->links_buf, &o->links_len))) {
    fprintf(stderr, "nsccl-model: out of memory for the link tables\n");
    return 0;
  }
  int ok = sweep_coll(o, t, coll);
  if (o->links_out) {
    fclose(o->links_out);
    o->links_out = NULL;
    if (ok) fputs(o->links_buf, stdout);
    free(o->links_buf);
    o->links_buf = NULL;
  }
  return ok;
}

static int sweep_coll(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll) {
  column_t cols[64];
  int na = columns_of(o, t, coll, cols, 64);
  if (!o->csv) {
    printf("# %s on %s (%d ranks), predicted time in us (source: model%s)\n", nsccl_coll_name(coll), t->name, t->nranks,
           o->sim ? "; columns marked sim: the simulator" : "");
    printf("%14s", "bytes");
    for (int i = 0; i < na; i++) {
      printf(" %12.12s", cols[i].name);
      if (o->sim) printf(" %8.8s-sim", cols[i].name);
    }
    if (o->algo == -2) printf(" %12s%s", "auto", o->sim ? "     auto-sim" : "");
    printf("  %s\n", "selected (variant)");
  }
  for (double s = (double)o->min; s <= (double)o->max * (1 + 1e-9); s = s * o->factor > s ? s * o->factor : s + 1) {
    size_t bytes = (size_t)s;
    nsccl_choice_t ch;
    if (nsccl_select(t, NULL, coll, bytes, t->nranks, &ch) != nscclSuccess) {
      fprintf(stderr, "nsccl-model: %s\n", nsccl_last_error());
      return 0;
    }
    if (!o->csv) printf("%14zu", bytes);
    for (int i = 0; i < na; i++)
      if (!cell(o, t, coll, &cols[i], &ch, bytes)) return 0;
    if (o->algo == -2) {
      column_t sel = {ch.algo, -1, nsccl_algo_name(ch.algo)};
      if (!cell(o, t, coll, &sel, &ch, bytes)) return 0;
    }
    if (!o->csv)
      printf("  %s (%s)\n", nsccl_algo_name(ch.algo), nsccl_model_variant_name(ch.algo, ch.variant[ch.algo]));
  }
  if (!o->csv) printf("\n");
  return 1;
}

int main(int argc, char **argv) {
  opts_t o;
  if (!parse_args(argc, argv, &o)) return 2;
  nsccl_topo_t *t;
  if (nsccl_topo_load(o.topo, &t) != nscclSuccess) {
    fprintf(stderr, "nsccl-model: %s\n", nsccl_last_error());
    return 1;
  }
  int ok = 1;
  if (o.trace_path && nsccl_trace_open(o.trace_path, o.trace_limit, &o.trace) != nscclSuccess) {
    fprintf(stderr, "nsccl-model: --trace: %s\n", nsccl_last_error());
    ok = 0;
  }
  if (ok && o.links_csv_path) {
    o.links_csv = fopen(o.links_csv_path, "w");
    if (!o.links_csv) {
      fprintf(stderr, "nsccl-model: --links-csv %s: %s\n", o.links_csv_path, strerror(errno));
      ok = 0;
    } else {
      fprintf(o.links_csv, "topology,collective,algorithm,bytes," NSCCL_LINKS_CSV_COLUMNS "\n");
    }
  }
  if (ok && o.csv) printf("topology,collective,algorithm,bytes,source,time_us\n");
  for (int c = 0; c < NSCCL_NUM_COLLS_ALL && ok; c++)
    if ((o.coll < 0 && c < NSCCL_NUM_COLLS) || o.coll == c) ok = run_coll(&o, t, (nsccl_coll_t)c);
  if (o.trace) {
    uint64_t written, dropped;
    nsccl_trace_counts(o.trace, &written, &dropped);
    if (nsccl_trace_close(o.trace) != nscclSuccess) {
      fprintf(stderr, "nsccl-model: --trace: %s\n", nsccl_last_error());
      ok = 0;
    } else if (dropped) {
      fprintf(stderr, "nsccl-model: --trace %s: %llu events written, %llu dropped past --trace-limit\n", o.trace_path,
              (unsigned long long)written, (unsigned long long)dropped);
    }
  }
  if (o.links_csv && fclose(o.links_csv) != 0) {
    fprintf(stderr, "nsccl-model: --links-csv %s: %s\n", o.links_csv_path, strerror(errno));
    ok = 0;
  }
  nsccl_topo_free(t);
  return ok ? 0 : 1;
}
