/* nsccl-envelope: the NeuronSwitch claims verdict over the space of uncertain facts, in MODELLED time.
 *
 *   nsccl-envelope [--samples N] [--seed S] [--fix FACT=VALUE]... [--csv FILE] [--confirm-nearest K]
 *                  [--confirm-random R] [--sim-sizes all|K] [-b MIN] [-e MAX] [--quiet]
 *
 * Draws N samples of every uncertain fact inside its sourced range (envelope_facts.c, rows of
 * docs/hardware-facts.md), builds the torus (trn2-u64) and the switch side (the sampled Trn3 layout)
 * with the sample's overrides, prices every size with the library's selector (the cost model) and
 * keeps the peaks of torus time / switch time for all-gather and all-reduce. The samples nearest the
 * claim (6x / 2x) and a random subset are confirmed with the simulator. Prints
 *   ENVELOPE samples=N ag6=<share ag >= 4.5> ar2=<share ar in 1.5..2.5> both=<share> nearest=<ag>/<ar>
 * then the nearest sample, each fact's range inside the "both" region against outside, the
 * confirmations and the likeliest reading. Nothing here is measured on hardware. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_jobs.h"
#include "envelope_price.h"
#include "envelope_report.h"
#include "size_arg.h"
#include "tool_args.h"

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-envelope [options]\n"
             "\n"
             "The claims verdict (all-gather up to 6x, all-reduce up to 2x lower latency on NeuronSwitch than\n"
             "on the Trn2 torus) over the uncertain facts: N seeded samples, each fact uniform inside its\n"
             "sourced range (--list-facts), priced with the cost model's selector (what the library would\n"
             "run) at every size; the samples nearest the claim and a random subset re-timed with the\n"
             "discrete-event simulator. All times are MODELLED, nothing is measured.\n"
             "\n"
             "  --samples N          samples to draw (default 500)\n"
             "  --seed S             sampler seed (default 1): the same seed gives the same output\n"
             "  --fix FACT=VALUE     pin a fact (a number in its unit, or a reading's name; repeatable)\n"
             "  --torus NAME         torus preset (default trn2-u64)\n"
             "  --switch NAME        switch preset when the layout fact does not name one (default trn3-u64)\n"
             "  -b MIN, -e MAX       sizes, factor 2 (default 8 and 1G; K, M, G suffixes)\n"
             "  --confirm-nearest K  simulate the K samples nearest the claim (default 10)\n"
             "  --confirm-random R   and R other samples drawn at random (default 20)\n"
             "  --sim-sizes all|K    sizes simulated per collective: all, or the K with the largest model\n"
             "                       ratio (default all)\n"
             "  --jobs N             worker processes (default 1; results do not depend on it)\n"
             "  --csv FILE           one row per sample (facts, model peaks, simulated peaks) + the likeliest\n"
             "  --list-facts         print the facts, ranges and source rows, and exit\n"
             "  --quiet              no progress on stderr\n"
             "  -h, --help           this text\n"
             "\n"
             "Output lines:\n"
             "  ENVELOPE samples=N ag6=<share with all-gather peak >= 4.5> ar2=<share with all-reduce peak in\n"
             "           1.5..2.5> both=<share with both> nearest=<ag>/<ar>\n"
             "  NEAREST ..., FACT ... (range inside 'both' vs outside), CONFIRM ..., SIMULATED ..., LIKELIEST ...\n"
             "\n"
             "Example: nsccl-envelope --samples 50 --confirm-nearest 2 --confirm-random 0 -e 64M --csv env.csv\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

static int parse_args(int argc, char **argv, env_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->samples = 500;
  o->seed = 1;
  o->torus = "trn2-u64";
  o->sw = "trn3-u64";
  o->min = 8;
  o->max = (size_t)1 << 30;
  o->nearest = 10;
  o->random = 20;
  o->jobs = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
      continue;
    } else if (!strcmp(a, "--list-facts")) {
      env_print_facts(stdout);
      exit(0);
    }
    const char *valued =
        "--samples --seed --fix --torus --switch -b -e --confirm-nearest --confirm-random --sim-sizes --jobs --csv";
    if (!nsccl_tool_value("nsccl-envelope", a, v, valued)) return 0;
    i++;
    long n = 0;
    int ok = 1;
    if (!strcmp(a, "--samples")) {
      if ((ok = parse_int(v, 1, 10000000, &n))) o->samples = (int)n;
    } else if (!strcmp(a, "--seed")) {
      char *end;
      o->seed = strtoull(v, &end, 0);
      ok = *v && !*end;
    } else if (!strcmp(a, "--fix")) {
      if (!env_parse_fix(v, &o->pinned, o->is_pinned)) return 0;
    } else if (!strcmp(a, "--torus")) {
      o->torus = v;
    } else if (!strcmp(a, "--switch")) {
      o->sw = v;
    } else if (!strcmp(a, "-b") || !strcmp(a, "-e")) {
      ok = nsccl_parse_size(v, !strcmp(a, "-b") ? &o->min : &o->max);
    } else if (!strcmp(a, "--confirm-nearest") || !strcmp(a, "--confirm-random")) {
      if ((ok = parse_int(v, 0, 100000, &n))) *(a[10] == 'n' ? &o->nearest : &o->random) = (int)n;
    } else if (!strcmp(a, "--sim-sizes")) {
      if (strcmp(v, "all") && (ok = parse_int(v, 1, ENV_MAX_SIZES, &n))) o->sim_sizes = (int)n;
    } else if (!strcmp(a, "--jobs")) {
      if ((ok = parse_int(v, 1, 64, &n))) o->jobs = (int)n;
    } else if (!strcmp(a, "--csv")) {
      o->csv = v;
    } else {
      fprintf(stderr, "nsccl-envelope: unknown option %s (see --help)\n", a);
      return 0;
    }
    if (!ok) {
      fprintf(stderr, "nsccl-envelope: %s %s: bad value (see --help)\n", a, v);
      return 0;
    }
  }
  if (o->min < 1 || o->min > o->max) {
    fprintf(stderr, "nsccl-envelope: sizes -b %zu -e %zu: need 1 <= MIN <= MAX\n", o->min, o->max);
    return 0;
  }
  if (env_pins_conflict(&o->pinned, o->is_pinned)) {
    fprintf(stderr, "nsccl-envelope: --fix torus_forward=store with --fix ranks_per_chip=4: the torus module "
                    "refuses store-and-forward with several ranks per chip (pin one of them only)\n");
    return 0;
  }
  return 1;
}

typedef struct {
  const env_opts_t *o;
  const env_sizes_t *sz;
  const env_row_t *rows; /* the inputs: each row's sample (and model ratios, for confirming) */
} work_t;

/* Build a sample's topologies and price it with the model, keeping the model ratios per size. */
static int price_one(void *ctx, int i, void *rec) {
  const work_t *w = ctx;
  env_row_t *row = rec;
  if (row != &w->rows[i]) *row = w->rows[i];
  env_overrides_t ov;
  nsccl_topo_t *t[2];
  if (!env_overrides(&row->s, w->o->torus, w->o->sw, &ov) || !env_build(&ov, t)) return 0;
  int ok = env_price_model(t, w->sz, row->model, row->ratio);
  env_free(t);
  return ok;
}

/* Re-time a sample with the simulator at the selected family/variant, at all sizes or at the
 * o->sim_sizes sizes of largest model ratio per collective. */
static int confirm_one(void *ctx, int i, void *rec) {
  const work_t *w = ctx;
  const env_sizes_t *sz = w->sz;
  env_row_t *row = rec;
  if (row != &w->rows[i]) *row = w->rows[i];
  unsigned char use[ENV_NCOLLS][ENV_MAX_SIZES];
  for (int c = 0; c < ENV_NCOLLS; c++)
    for (int k = 0; k < sz->nsizes; k++) {
      int larger = 0; /* sizes with a larger model ratio (ties: the smaller size ranks first) */
      for (int j = 0; j < sz->nsizes; j++)
        larger += row->ratio[c][j] > row->ratio[c][k] || (row->ratio[c][j] == row->ratio[c][k] && j < k);
      use[c][k] = !w->o->sim_sizes || larger < w->o->sim_sizes;
    }
  env_overrides_t ov;
  nsccl_topo_t *t[2];
  if (!env_overrides(&row->s, w->o->torus, w->o->sw, &ov) || !env_build(&ov, t)) return 0;
  row->simulations = 0;
  int ok = env_price_sim(t, sz, use, row->sim, &row->simulations);
  env_free(t);
  return ok;
}

int main(int argc, char **argv) {
  env_opts_t o;
  if (!parse_args(argc, argv, &o)) return 2;
  env_sizes_t sz;
  env_sizes(o.min, o.max, &sz);
  env_row_t *rows = calloc((size_t)o.samples + 1, sizeof(*rows)); /* + the likeliest reading */
  if (!rows) {
    fprintf(stderr, "nsccl-envelope: out of memory for %d samples\n", o.samples);
    return 1;
  }
  env_rng_t rng = {o.seed};
  for (int i = 0; i < o.samples; i++) env_draw(&rng, &o.pinned, o.is_pinned, &rows[i].s);
  env_row_t *lik = &rows[o.samples];
  env_likeliest(&lik->s);
  for (int f = 0; f < env_nfacts; f++)
    if (o.is_pinned[f]) lik->s.v[f] = o.pinned.v[f];
  env_constrain(&lik->s, o.is_pinned);
  int *idx = malloc(((size_t)o.samples + 1) * sizeof(*idx));
  if (!idx) return 1;
  for (int i = 0; i <= o.samples; i++) idx[i] = i;
  work_t w = {&o, &sz, rows};
  if (!env_parallel(o.jobs, idx, o.samples + 1, rows, sizeof(*rows), price_one, &w, "priced with the model",
                    o.quiet ? 0 : 50))
    return 1;

  /* Confirmations: the nearest samples, then a random subset of the others (own stream). */
  int *order = env_nearest_order(rows, o.samples);
  if (!order) return 1;
  int nn = o.nearest < o.samples ? o.nearest : o.samples;
  for (int k = 0; k < nn; k++) rows[order[k]].confirmed = 1;
  env_rng_t pick = {o.seed ^ 0x5ca1ab1e0ddba11ull};
  int others = o.samples - nn, want = o.random < others ? o.random : others;
  for (int k = 0; k < want; k++) { /* partial Fisher-Yates over order[nn..) */
    int j = nn + k + (int)(env_rng_unit(&pick) * (others - k));
    int tmp = order[nn + k];
    order[nn + k] = order[j];
    order[j] = tmp;
    rows[order[nn + k]].confirmed = 2;
  }
  lik->confirmed = 3;
  int todo = 0;
  for (int i = 0; i <= o.samples; i++)
    if (rows[i].confirmed) idx[todo++] = i;
  if (!env_parallel(o.jobs, idx, todo, rows, sizeof(*rows), confirm_one, &w, "confirmed with the simulator",
                    o.quiet ? 0 : 1))
    return 1;
  env_report(stdout, &o, &sz, rows, order);
  int rc = o.csv ? !env_write_csv(o.csv, rows, o.samples) : 0;
  free(order);
  free(idx);
  free(rows);
  return rc;
}
