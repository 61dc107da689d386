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

#include "algo/variant.h"
#include "base/check.h"
#include "engine/sim.h"
#include "model/cost.h"
#include "model/select.h"
#include "model/simulate.h" /* --sim (block owned by sim) */
#include "size_arg.h"
#include "topologies/topo.h"

typedef struct {
  const char *topo;
  int coll;    /* -1: all */
  int algo;    /* >= 0 one family; -1 all; -2 auto (the selected one) */
  int variant; /* --algo FAMILY/VARIANT: that registered variant (algo its family); -1 otherwise */
  size_t min, max;
  double factor;
  int csv;
  int sim; /* --sim: also time each schedule with the simulator */
} opts_t;

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-model --topo PRESET|FILE|SPEC [--coll C] [--algo A] [-b MIN] [-e MAX] [-f FACTOR] [--csv]\n"
             "\n"
             "Predicts collective times with nsccl's alpha-beta-gamma cost model (docs/model.md).\n"
             "\n"
             "  --topo T     topology: a preset name (trn2-16, trn2-u64, trn3-u64, trn3-u144, trn2-16x4-efa;\n"
             "               searched in $NSCCL_PRESET_DIR, the source tree, <datadir>/nsccl/presets), an INI\n"
             "               file path, or a spec such as 'torus:dims=4x4,link_bandwidth=1e11,...'. Required.\n"
             "  --coll C     allgather | reducescatter | allreduce | broadcast | reduce | all (default all:\n"
             "               the first three; broadcast and reduce are priced rooted at rank 0, and --sim\n"
             "               shows '-' for them)\n"
             "  --algo A     ring | tree | direct: that family at its cheapest variant;\n"
             "               FAMILY/VARIANT (ring/kangaring, direct/mesh, ...): that variant;\n"
             "               auto: the algorithm the selector picks; all: every family (default all)\n"
             "  -b MIN       smallest size in bytes (default 8); K, M, G suffixes = 2^10, 2^20, 2^30\n"
             "  -e MAX       largest size in bytes (default 1G)\n"
             "  -f FACTOR    multiply the size by FACTOR each row (default 2; must be > 1)\n"
             "  --csv        CSV: header topology,collective,algorithm,bytes,source,time_us, one row per\n"
             "               (collective, algorithm, size); source is 'model' (or 'sim')\n"
             "  --sim        also time each algorithm's schedule with the discrete-event simulator\n"
             "               (docs/simulator.md): 'sim' columns / rows beside the 'model' ones\n"
             "  -h, --help   this text\n"
             "\n"
             "Sizes are the whole array as in nccl-tests: all-gather output, reduce-scatter input,\n"
             "all-reduce vector. The table shows each algorithm's predicted time (us, with the variant\n"
             "priced) and the selected algorithm.\n");
}

static int parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.coll = -1, .algo = -1, .variant = -1, .min = 8, .max = (size_t)1 << 30, .factor = 2.0};
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
    }
    if (!v) {
      fprintf(stderr, "nsccl-model: %s needs a value (see --help)\n", a);
      return 0;
    }
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
    } else if (!strcmp(a, "--algo") && strchr(v, '/')) {
      const nsccl_variant_t *var = nsccl_variant_by_name(v);
      if (!var) {
        fprintf(stderr, "nsccl-model: --algo %s: no such variant (the registry's names, algo/variants.c)\n", v);
        return 0;
      }
      o->algo = var->family, o->variant = var->id;
    } else if (!strcmp(a, "--algo")) {
      o->algo = !strcmp(v, "all") ? -1 : !strcmp(v, "auto") ? -2 : nsccl_algo_from_name(v);
      if (o->algo == -1 && strcmp(v, "all")) {
        fprintf(stderr, "nsccl-model: --algo %s: use ring, tree, direct, auto or all\n", v);
        return 0;
      }
    } else if (!strcmp(a, "-b") || !strcmp(a, "-e")) {
      if (!nsccl_parse_size(v, !strcmp(a, "-b") ? &o->min : &o->max)) {
        fprintf(stderr, "nsccl-model: %s %s: not a size (bytes, optionally with K, M or G)\n", a, v);
        return 0;
      }
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
  return 1;
}

/* One result row, in CSV or as a table cell. Every source (model, a simulator) prints through it. */
static void emit_row(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, const char *algo, size_t bytes,
                     const char *source, double seconds) {
  if (o->csv)
    printf("%s,%s,%s,%zu,%s,%.3f\n", t->name, nsccl_coll_name(coll), algo, bytes, source, seconds * 1e6);
  else
    printf(" %12.2f", seconds * 1e6);
}

/* A column's name: the family, or the variant --algo named. */
static const char *col_name(const opts_t *o, int algo) {
  return o->variant >= 0 && algo == o->algo ? nsccl_model_variant_name((nsccl_algo_t)algo, o->variant)
                                            : nsccl_algo_name((nsccl_algo_t)algo);
}

/* ---- --sim (owner: sim): a "sim" row beside each "model" row, timing the variant the model priced
 * with the simulator (src/engine/sim.c, docs/simulator.md). A family with no prediction gets none. */
static int sim_row(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll, nsccl_algo_t algo,
                   const nsccl_choice_t *ch, size_t bytes) {
  if (ch->predicted_s[algo] < 0 || coll >= NSCCL_NUM_COLLS /* nsccl_sim_collective: not rooted ones */) {
    if (!o->csv) printf(" %12s", "-");
    return 1;
  }
  nsccl_sim_result_t res = {0};
  if (nsccl_sim_collective(t, coll, algo, ch->variant[algo], bytes, NULL, &res) != nscclSuccess) {
    fprintf(stderr, "nsccl-model: simulating %s %s at %zu bytes: %s\n", nsccl_algo_name(algo), nsccl_coll_name(coll),
            bytes, nsccl_last_error());
    return 0;
  }
  emit_row(o, t, coll, col_name(o, algo), bytes, "sim", res.time_s);
  return 1;
}
/* ---- end of --sim ---- */

static int run_coll(const opts_t *o, const nsccl_topo_t *t, nsccl_coll_t coll) {
  int algos[NSCCL_NUM_ALGOS], na = 0;
  if (o->algo >= 0)
    algos[na++] = o->algo;
  else if (o->algo == -1)
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++) algos[na++] = a;
  if (!o->csv) {
    printf("# %s on %s (%d ranks), predicted time in us (source: model%s)\n", nsccl_coll_name(coll), t->name, t->nranks,
           o->sim ? "; columns marked sim: the simulator" : "");
    printf("%14s", "bytes");
    for (int i = 0; i < na; i++) {
      printf(" %12s", col_name(o, algos[i]));
      if (o->sim) printf(" %8s-sim", col_name(o, algos[i]));
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
    if (o->variant >= 0) { /* the named variant instead of the family's cheapest */
      const nsccl_variant_t *var = nsccl_variant_find((nsccl_algo_t)o->algo, o->variant);
      ch.variant[o->algo] = o->variant;
      if (!nsccl_variant_applies(var, t, coll, t->nranks)) {
        fprintf(stderr, "nsccl-model: %s does not apply to %s for %s\n", var->name, t->name, nsccl_coll_name(coll));
        return 0;
      }
      if (nsccl_model_predict(t, NULL, coll, (nsccl_algo_t)o->algo, o->variant, bytes, t->nranks,
                              &ch.predicted_s[o->algo]) != nscclSuccess) {
        fprintf(stderr, "nsccl-model: %s\n", nsccl_last_error());
        return 0;
      }
    }
    if (!o->csv) printf("%14zu", bytes);
    for (int i = 0; i < na; i++) {
      emit_row(o, t, coll, col_name(o, algos[i]), bytes, "model", ch.predicted_s[algos[i]]);
      if (o->sim && !sim_row(o, t, coll, (nsccl_algo_t)algos[i], &ch, bytes)) return 0;
    }
    if (o->algo == -2) {
      emit_row(o, t, coll, nsccl_algo_name(ch.algo), bytes, "model", ch.predicted_s[ch.algo]);
      if (o->sim && !sim_row(o, t, coll, ch.algo, &ch, bytes)) return 0;
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
  if (o.csv) printf("topology,collective,algorithm,bytes,source,time_us\n");
  int ok = 1;
  for (int c = 0; c < NSCCL_NUM_COLLS_ALL && ok; c++)
    if ((o.coll < 0 && c < NSCCL_NUM_COLLS) || o.coll == c) ok = run_coll(&o, t, (nsccl_coll_t)c);
  nsccl_topo_free(t);
  return ok ? 0 : 1;
}
