/* The cost model against the simulator (issue: "a cost model that agrees with its simulator"): for
 * every registered variant that builds a collective on a Trainium preset, all three collectives,
 * 8 B to 1 GiB (factor 8), the model's price and the simulated time of the very schedule it prices.
 * Per (preset, variant): median |model - sim| / sim <= 10% and maximum <= 30%. And at every size the
 * algorithm the selector picks must simulate within 5% of the best offered variant's simulated time.
 * NSCCL_AGREE_TABLE=FILE writes every row as CSV (docs/model.md's table comes from it; run with
 * --jobs 1 so rows do not interleave). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "model/simulate.h"
#include "topologies/topo.h"

#define MIN_BYTES ((size_t)8)
#define MAX_BYTES ((size_t)1 << 30)
#define FACTOR    8
#define NSIZES    11

/* Disagreements known and not yet fixed (docs/model.md, "Agreement with the simulator"). They are
 * logged with their numbers but do not fail the test; one that has come within the tolerance fails
 * it, so this list only shrinks. */
static const struct {
  const char *preset, *variant;
} known[] = {
    /* the two heap trees: the simulator serialises more of the two trees' chunks than the model's
     * level-by-level fill assumes (model 20-37% off; trn3-u144 agrees since the simulator's pair
     * queues stopped blocking on messages not yet issued, trn2-16x4-efa since steps are followed
     * rank by rank: docs/model.md, "Per-rank ready times") */
    {"trn2-16", "tree/double-binary"},
    {"trn2-u64", "tree/double-binary"},
    {"trn3-u64", "tree/double-binary"},
    {"trn2-u64", "tree/binary"},
    /* one size each where the tree phase's fill misjudges what overlaps (mid sizes, 2-16 MiB);
     * trn3-u144's 16 MiB Rabenseifner all-reduce (model 247 us, simulated 178 us) came out of the
     * tolerance when the simulator's pair queues stopped blocking (docs/simulator.md); tree/mapped
     * agrees since all-gather phases start on held blocks (docs/model.md, "All-gather phases") */
    {"trn2-16", "tree/bruck"},
    {"trn2-16", "tree/rabenseifner-mapped"},
    {"trn2-u64", "tree/rabenseifner-mapped"},
    {"trn3-u64", "tree"},
    {"trn3-u64", "tree/rabenseifner"},
    {"trn3-u144", "tree"},
    {"trn3-u144", "tree/rd"},
    {"trn3-u144", "tree/rabenseifner"},
    {"trn3-u144", "tree/bruck"},
    /* tree/rdh-rd (recursive doubling of whole vectors on the RDH pairs, all-reduce): 41-45%
     * high at 2 MiB all-reduce; tree/rdh and tree/swing-bw agree since the pair queues and the
     * all-gather phases are priced (docs/model.md, "Exchange plans") */
    {"trn2-16", "tree/rdh-rd"},
    {"trn2-u64", "tree/rdh-rd"},
};

static int is_known(const char *preset, const char *variant) {
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (!strcmp(known[i].preset, preset) && !strcmp(known[i].variant, variant)) return 1;
  return 0;
}

static FILE *table(void) {
  static FILE *f;
  static int tried;
  if (!tried) {
    tried = 1;
    const char *path = getenv("NSCCL_AGREE_TABLE");
    if (path && *path) {
      f = fopen(path, "a");
      if (f && ftell(f) == 0) fprintf(f, "preset,collective,variant,bytes,model_us,sim_us,error\n");
    }
  }
  return f;
}

static double sim_time(const nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, int variant, size_t bytes) {
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, c, a, variant, bytes, NULL, &res), nscclSuccess, "%s", nsccl_last_error());
  return res.time_s;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void agree(const char *preset, size_t max_bytes) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  int p = t->nranks, failures = 0;
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (v->id == NSCCL_RING_TOPO && v->family == NSCCL_ALGO_RING) continue; /* an alias of "ring" */
    double err[3 * NSIZES], worst = 0;
    int n = 0;
    char worst_what[160] = "";
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      if (!nsccl_variant_applies(v, t, (nsccl_coll_t)c, p)) continue;
      for (size_t bytes = MIN_BYTES; bytes <= max_bytes; bytes *= FACTOR) {
        double m;
        cr_assert_eq(nsccl_model_predict(t, NULL, (nsccl_coll_t)c, v->family, v->id, bytes, p, &m), nscclSuccess, "%s",
                     nsccl_last_error());
        double s = sim_time(t, (nsccl_coll_t)c, v->family, v->id, bytes);
        double e = fabs(m - s) / s;
        err[n++] = e;
        if (table())
          fprintf(table(), "%s,%s,%s,%zu,%.3f,%.3f,%.4f\n", preset, nsccl_coll_name((nsccl_coll_t)c), v->name, bytes,
                  m * 1e6, s * 1e6, (m - s) / s);
        if (e > worst) {
          worst = e;
          snprintf(worst_what, sizeof(worst_what), "%s %zu B: model %.2f us, sim %.2f us",
                   nsccl_coll_name((nsccl_coll_t)c), bytes, m * 1e6, s * 1e6);
        }
      }
    }
    if (n == 0) continue;
    qsort(err, (size_t)n, sizeof(double), cmp);
    double median = n % 2 ? err[n / 2] : 0.5 * (err[n / 2 - 1] + err[n / 2]);
    int bad = median > 0.10 || worst > 0.30, known_bad = is_known(preset, v->name);
    if (bad && !known_bad) {
      failures++;
      cr_log_error("%s %s: median error %.1f%%, max %.1f%% (%s)", preset, v->name, 100 * median, 100 * worst,
                   worst_what);
    } else if (bad) {
      cr_log_info("known: %s %s: median error %.1f%%, max %.1f%% (%s)", preset, v->name, 100 * median, 100 * worst,
                  worst_what);
    } else if (known_bad && max_bytes == MAX_BYTES) {
      failures++;
      cr_log_error("%s %s now agrees (median %.1f%%, max %.1f%%): remove it from the known list", preset, v->name,
                   100 * median, 100 * worst);
    }
  }
  if (table()) fflush(table());
  cr_expect_eq(failures, 0, "%s: %d variants disagree with the simulator (see above)", preset, failures);
  nsccl_topo_free(t);
}

/* Sizes where the selector's choice is known to simulate more than 5% above the best (from the
 * disagreements above); the same rule: logged, and an entry that has come right fails the test. */
static const struct {
  const char *preset;
  nsccl_coll_t coll;
  size_t bytes;
} known_choice[] = {
    /* 1 GiB all-reduce on trn2-u64: ring/kangaring priced 3,313 us (under tree/swing-bw's 3,365 us)
     * but simulated at 4,155 us against swing-bw's 3,889 us: its reduce-scatter lanes wait in the
     * receive window, which the model does not price (docs/model.md, "Lanes") */
    {"trn2-u64", NSCCL_COLL_ALLREDUCE, (size_t)1 << 30},
};

static int is_known_choice(const char *preset, nsccl_coll_t c, size_t bytes) {
  for (size_t i = 0; i < sizeof(known_choice) / sizeof(known_choice[0]); i++)
    if (!strcmp(known_choice[i].preset, preset) && known_choice[i].coll == c && known_choice[i].bytes == bytes)
      return 1;
  return 0;
}

/* The selector's choice, simulated, against the best offered variant of every family, simulated. */
static void selects_best(const char *preset) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  int p = t->nranks, failures = 0;
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (size_t bytes = MIN_BYTES; bytes <= MAX_BYTES; bytes *= FACTOR) {
      nsccl_choice_t ch;
      cr_assert_eq(nsccl_select(t, NULL, (nsccl_coll_t)c, bytes, p, &ch), nscclSuccess, "%s", nsccl_last_error());
      double chosen = sim_time(t, (nsccl_coll_t)c, ch.algo, ch.variant[ch.algo], bytes), best = chosen;
      const char *best_name = nsccl_model_variant_name(ch.algo, ch.variant[ch.algo]);
      for (int i = 0; i < nsccl_variant_count(); i++) {
        const nsccl_variant_t *v = nsccl_variant_at(i);
        if (!nsccl_variant_offered(v, t, (nsccl_coll_t)c, p)) continue;
        double s = sim_time(t, (nsccl_coll_t)c, v->family, v->id, bytes);
        if (s < best) best = s, best_name = v->name;
      }
      int ok = chosen <= 1.05 * best, known_bad = is_known_choice(preset, (nsccl_coll_t)c, bytes);
      if (ok == known_bad)
        cr_log_error("%s%s %s %zu B: selected %s simulates at %.2f us, %s at %.2f us",
                     known_bad ? "known case now right: " : "", preset, nsccl_coll_name((nsccl_coll_t)c), bytes,
                     nsccl_model_variant_name(ch.algo, ch.variant[ch.algo]), chosen * 1e6, best_name, best * 1e6);
      failures += ok == known_bad;
    }
  cr_expect_eq(failures, 0, "%s: %d sizes where the selector's choice is not within 5%% of the best (see above)",
               preset, failures);
  nsccl_topo_free(t);
}

Test(model_vs_sim, trn2_16, .timeout = 600) { agree("trn2-16", MAX_BYTES); }
Test(model_vs_sim, trn2_u64, .timeout = 600) { agree("trn2-u64", MAX_BYTES); }
Test(model_vs_sim, trn3_u64, .timeout = 600) { agree("trn3-u64", MAX_BYTES); }
/* 144 ranks: up to 16 MiB in CI (the larger sizes take minutes of simulation; docs/model.md has them) */
Test(model_vs_sim, trn3_u144, .timeout = 600) { agree("trn3-u144", (size_t)16 << 20); }
Test(model_vs_sim, trn2_16x4_efa, .timeout = 600) { agree("trn2-16x4-efa", MAX_BYTES); }
Test(selector_vs_sim, trn2_16, .timeout = 600) { selects_best("trn2-16"); }
Test(selector_vs_sim, trn2_u64, .timeout = 600) { selects_best("trn2-u64"); }
Test(selector_vs_sim, trn3_u64, .timeout = 600) { selects_best("trn3-u64"); }
