/* The cost model against the simulator (issue: "a cost model that agrees with its simulator"): for
 * every registered variant that builds a collective on a Trainium preset, all three collectives,
 * 8 B to 1 GiB by factors of 8 and 64 KiB to 16 MiB by factors of 2 (where the families' prices
 * cross), the model's price and the simulated time of the very schedule it prices. Per (preset,
 * variant): median |model - sim| / sim <= 10% and maximum <= 30%. And at every size the algorithm
 * the selector picks must simulate within 5% of the best offered variant's simulated time (the
 * two checks share each preset's simulations). NSCCL_AGREE_TABLE=FILE writes every row as CSV
 * (docs/model.md's table comes from it; run with --jobs 1 so rows do not interleave). */
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
#define MID_MIN   ((size_t)64 << 10)
#define MID_MAX   ((size_t)16 << 20)
#define NSIZES    24

/* Disagreements known and not yet fixed (docs/model.md, "Agreement with the simulator"). They are
 * logged with their numbers but do not fail the test; one that has come within the tolerance fails
 * it, so this list only shrinks. */
static const struct {
  const char *preset, *variant;
} known[] = {
    /* trn2-16-lnc2 (four ranks per chip): tree/hier 36% high at its 1 GiB all-reduce (30,691 /
     * 22,543 us: the hierarchical phases back to back). (Left this list: the link window,
     * docs/model.md "Tree phases", took trn3-u144's tree/rd and Rabenseifner, trn2-16's and
     * trn2-u64's Bruck, Rabenseifner-mapped and rdh-rd and trn3-u64's tree and Rabenseifner;
     * tree/mapped and the exchange plans' all-gathers agree since they are walked, "All-gather
     * phases"; the heap trees, tree/binary and tree/double-binary, on every preset since their
     * messages are walked as the rooted trees' are, "Binary and double-binary trees"; Mesh on
     * trn2-16-lnc2, 55% high at its 8 MiB all-gather with its two steps in series, and trn2-u64's
     * ring/dims, 34% high at its 4 MiB all-gather, since their all-gathers' steps overlap as
     * all-gather phases, "Lanes ... and Mesh", "On a torus"; Bruck on trn3-u144, 38% high at
     * 1 MiB, since its last step runs beside the one whose blocks it sends, "Bruck's last step".) */
    {"trn2-16-lnc2", "tree/hier"},
    /* trn2-16-lnc2, the composed chip variants (algo/compose.h; medians 1.4-6.5%): all-gather at
     * 16 MiB priced low where the intra-chip exchange's messages take the DMA engines the chip
     * variant's messages need (tree/swing-bw-chips 46.9 / 95.2 us, ring/kangaring-chips 62.4 /
     * 110.5 us; KangaRing's all-reduce at 8-16 MiB too, 172.0 / 282.0 us); all-reduce priced high
     * at 8-16 MiB where the chip stage overlaps the intra reduce-scatter more than the price's
     * (K-1)/K (tree/rabenseifner-mapped-chips 304.7 / 229.3 us at 16 MiB), and tree/rdh-rd-chips
     * low at 128 MiB and 1 GiB (3,504 / 5,093 us, 27,470 / 43,072 us: its whole-vector
     * exchanges through scratch slots). ring/dims-chips and tree/rdh-chips agree since the overlap
     * (max 20.8% and 21.0%). docs/model.md, "Composed chip schedules". */
    {"trn2-16-lnc2", "ring/kangaring-chips"},
    {"trn2-16-lnc2", "tree/rabenseifner-mapped-chips"},
    {"trn2-16-lnc2", "tree/swing-bw-chips"},
    {"trn2-16-lnc2", "tree/rdh-rd-chips"},
    /* trn2-u64-lnc2, the composed chip variants to 16 MiB (medians 1.2-6.9%): all-reduce priced
     * high at 1-16 MiB, where the four local indices' chip-level collectives drift apart in time
     * and use different links at once, which the price's 1/4 share of every link does not see
     * (tree/rd-mapped-chips 161.7 / 105.1 us at 2 MiB, where the chip stage alone on the shared
     * links simulates 147.3; tree/swing-lat-chips 161.7 / 109.2; tree/rdh-rd-chips 122.4 / 90.4
     * at 1 MiB; tree/rdh-chips 217.0 / 158.9 at 8 MiB; tree/rabenseifner-mapped-chips 520.7 /
     * 384.1 at 16 MiB); ring/kangaring-chips' all-reduce low at 8-16 MiB (123.6 / 255.6 us: its
     * rings wait for DMA engines behind the intra-chip stage, as on trn2-16-lnc2; 196.4 us since
     * waiting messages hold no engines, docs/simulator.md "DMA engines and issue"). ring/dims-chips
     * joined them then: its 16 MiB all-reduce simulated 282.4 us and now 250.0 (priced 340.1 us),
     * its stages overlapping more than the price's 1/K once the intra-chip stage's waiting
     * messages stopped taking the chip stage's engines. */
    {"trn2-u64-lnc2", "ring/dims-chips"},
    {"trn2-u64-lnc2", "ring/kangaring-chips"},
    {"trn2-u64-lnc2", "tree/rd-mapped-chips"},
    {"trn2-u64-lnc2", "tree/rabenseifner-mapped-chips"},
    {"trn2-u64-lnc2", "tree/swing-lat-chips"},
    {"trn2-u64-lnc2", "tree/rdh-chips"},
    {"trn2-u64-lnc2", "tree/rdh-rd-chips"},
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

/* The sizes of a preset: 8 B to max_bytes by factors of 8, and between them the factor-2 sizes of
 * MID_MIN..MID_MAX, where the families' prices cross (a mis-pick at 1 MiB hid between 256 KiB and
 * 2 MiB). Returns how many, ascending. */
static int grid(size_t max_bytes, size_t *out) {
  int n = 0;
  for (size_t b = MIN_BYTES; b <= max_bytes; b *= FACTOR) out[n++] = b;
  for (size_t b = MID_MIN; b <= MID_MAX && b <= max_bytes; b *= 2) {
    int dup = 0;
    for (int i = 0; i < n; i++) dup |= out[i] == b;
    if (!dup) out[n++] = b;
  }
  for (int i = 1; i < n; i++) /* insertion sort: a dozen sizes */
    for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
      size_t x = out[j];
      out[j] = out[j - 1], out[j - 1] = x;
    }
  return n;
}

/* Simulated times of one preset, shared by the agreement and the selector checks so that each
 * (variant, collective, size) is simulated once: [variant index][collective][size], < 0 unknown. */
typedef struct {
  const nsccl_topo_t *t;
  size_t sizes[NSIZES];
  int nsizes;
  double *sim;
} runs_t;

static double *slot(runs_t *r, int vi, int c, int si) {
  return &r->sim[((size_t)vi * NSCCL_NUM_COLLS + (size_t)c) * NSIZES + (size_t)si];
}

static double simulated(runs_t *r, const nsccl_variant_t *v, nsccl_coll_t c, int si) {
  int vi = 0;
  while (vi < nsccl_variant_count() && nsccl_variant_at(vi) != v) vi++;
  double *s = vi < nsccl_variant_count() ? slot(r, vi, c, si) : NULL;
  if (s && *s >= 0) return *s;
  double x = sim_time(r->t, c, v->family, v->id, r->sizes[si]);
  if (s) *s = x;
  return x;
}

/* only: agree for the variants whose name contains it (NULL: every variant). */
static void agree(runs_t *rs, const char *preset, int full, const char *only) {
  const nsccl_topo_t *t = rs->t;
  int p = t->nranks, failures = 0;
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (v->id == NSCCL_RING_TOPO && v->family == NSCCL_ALGO_RING) continue; /* an alias of "ring" */
    if (only && !strstr(v->name, only)) continue;
    double err[NSCCL_NUM_COLLS * NSIZES], worst = 0;
    int n = 0;
    char worst_what[160] = "";
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      if (!nsccl_variant_applies(v, t, (nsccl_coll_t)c, p)) continue;
      for (int si = 0; si < rs->nsizes; si++) {
        size_t bytes = rs->sizes[si];
        double m;
        cr_assert_eq(nsccl_model_predict(t, NULL, (nsccl_coll_t)c, v->family, v->id, bytes, p, &m), nscclSuccess, "%s",
                     nsccl_last_error());
        double s = simulated(rs, v, (nsccl_coll_t)c, si);
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
    } else if (known_bad && full) {
      failures++;
      cr_log_error("%s %s now agrees (median %.1f%%, max %.1f%%): remove it from the known list", preset, v->name,
                   100 * median, 100 * worst);
    }
  }
  if (table()) fflush(table());
  cr_expect_eq(failures, 0, "%s: %d variants disagree with the simulator (see above)", preset, failures);
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
    /* trn2-16x4-efa, checked since the selector shares the agreement's simulations: at 1-4 MiB
     * direct (or direct/rsag) is picked where direct/hier simulates 6-19% faster (all-gather 1 MiB
     * 57.6 against 52.0 us, 4 MiB 181.5 / 152.9; reduce-scatter 2 MiB 99.8 / 94.1, 4 MiB 183.3 /
     * 170.3; all-reduce 2 MiB 179.0 / 158.9; the 2 MiB all-gather picks direct/hier since its
     * phases overlap in the price, docs/model.md "Hierarchical") */
    {"trn2-16x4-efa", NSCCL_COLL_ALLGATHER, (size_t)1 << 20},
    {"trn2-16x4-efa", NSCCL_COLL_ALLGATHER, (size_t)4 << 20},
    {"trn2-16x4-efa", NSCCL_COLL_REDUCESCATTER, (size_t)2 << 20},
    {"trn2-16x4-efa", NSCCL_COLL_REDUCESCATTER, (size_t)4 << 20},
    {"trn2-16x4-efa", NSCCL_COLL_ALLREDUCE, (size_t)2 << 20},
    /* (Left this list: trn2-16-lnc2's all-reduce at 128 KiB, direct/mesh picked at 10.42 us against
     * direct/rsag's 9.95 since waiting messages hold no engines, 10.54 before.) */
};

static int is_known_choice(const char *preset, nsccl_coll_t c, size_t bytes) {
  for (size_t i = 0; i < sizeof(known_choice) / sizeof(known_choice[0]); i++)
    if (!strcmp(known_choice[i].preset, preset) && known_choice[i].coll == c && known_choice[i].bytes == bytes)
      return 1;
  return 0;
}

/* The selector's choice, simulated, against the best offered variant of every family, simulated. */
static void selects_best(runs_t *rs, const char *preset) {
  const nsccl_topo_t *t = rs->t;
  int p = t->nranks, failures = 0;
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    for (int si = 0; si < rs->nsizes; si++) {
      size_t bytes = rs->sizes[si];
      nsccl_choice_t ch;
      cr_assert_eq(nsccl_select(t, NULL, (nsccl_coll_t)c, bytes, p, &ch), nscclSuccess, "%s", nsccl_last_error());
      const nsccl_variant_t *picked = nsccl_model_resolve(ch.algo, ch.variant[ch.algo], (nsccl_coll_t)c);
      cr_assert(picked, "%s: the selector's choice has no variant", preset);
      double chosen = simulated(rs, picked, (nsccl_coll_t)c, si), best = chosen;
      const char *best_name = picked->name;
      for (int i = 0; i < nsccl_variant_count(); i++) {
        const nsccl_variant_t *v = nsccl_variant_at(i);
        if (!nsccl_variant_offered(v, t, (nsccl_coll_t)c, p)) continue;
        double s = simulated(rs, v, (nsccl_coll_t)c, si);
        if (s < best) best = s, best_name = v->name;
      }
      int ok = chosen <= 1.05 * best, known_bad = is_known_choice(preset, (nsccl_coll_t)c, bytes);
      if (ok == known_bad)
        cr_log_error("%s%s %s %zu B: selected %s simulates at %.2f us, %s at %.2f us",
                     known_bad ? "known case now right: " : "", preset, nsccl_coll_name((nsccl_coll_t)c), bytes,
                     picked->name, chosen * 1e6, best_name, best * 1e6);
      failures += ok == known_bad;
    }
  cr_expect_eq(failures, 0, "%s: %d sizes where the selector's choice is not within 5%% of the best (see above)",
               preset, failures);
}

/* Both checks on one preset up to max_bytes (full: the whole 8 B - 1 GiB range, where a known
 * entry that agrees must leave the list). */
static void check(const char *preset, size_t max_bytes) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  runs_t rs = {.t = t};
  rs.nsizes = grid(max_bytes, rs.sizes);
  size_t cells = (size_t)nsccl_variant_count() * NSCCL_NUM_COLLS * NSIZES;
  rs.sim = malloc(cells * sizeof(double));
  cr_assert(rs.sim);
  for (size_t i = 0; i < cells; i++) rs.sim[i] = -1;
  agree(&rs, preset, max_bytes == MAX_BYTES, NULL);
  selects_best(&rs, preset);
  free(rs.sim);
  nsccl_topo_free(t);
}

Test(model_vs_sim, trn2_16, .timeout = 600) { check("trn2-16", MAX_BYTES); }
Test(model_vs_sim, trn2_u64, .timeout = 600) { check("trn2-u64", MAX_BYTES); }
Test(model_vs_sim, trn3_u64, .timeout = 600) { check("trn3-u64", MAX_BYTES); }
/* 144 ranks: up to 16 MiB in CI (the larger sizes take minutes of simulation; docs/model.md has them) */
Test(model_vs_sim, trn3_u144, .timeout = 600) { check("trn3-u144", (size_t)16 << 20); }
Test(model_vs_sim, trn2_16x4_efa, .timeout = 600) { check("trn2-16x4-efa", MAX_BYTES); }
/* LNC=2: four logical ranks per Trainium2 chip (64 ranks on the 4x4 torus) */
Test(model_vs_sim, trn2_16_lnc2, .timeout = 600) { check("trn2-16-lnc2", MAX_BYTES); }
/* trn2-u64-lnc2 (256 ranks): the composed chip variants (algo/compose.h), the agreement only, on
 * the grid to 64 MiB (8 B - 16 MiB by 8, 64 KiB - 16 MiB by 2; 58 s here: larger sizes take
 * minutes of simulation at 256 ranks). */
Test(model_vs_sim, trn2_u64_lnc2_composed, .timeout = 600) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64-lnc2", &t), nscclSuccess, "%s", nsccl_last_error());
  runs_t rs = {.t = t};
  rs.nsizes = grid((size_t)64 << 20, rs.sizes);
  size_t cells = (size_t)nsccl_variant_count() * NSCCL_NUM_COLLS * NSIZES;
  rs.sim = malloc(cells * sizeof(double));
  cr_assert(rs.sim);
  for (size_t i = 0; i < cells; i++) rs.sim[i] = -1;
  agree(&rs, "trn2-u64-lnc2", 0, "-chips");
  free(rs.sim);
  nsccl_topo_free(t);
}
/* trn2-u64-lnc2's flat and hierarchical variants and trn3-u64-lnc2 (256 ranks) are not checked
 * yet: to 16 MiB trn2-u64-lnc2's would add 44 s of CPU, its ring/hier and tree/hier (39% and 36%
 * high) and one selector size; trn3-u64-lnc2 33 s, its tree/hier, direct and direct/oneshot
 * (docs/model.md, "Agreement with the simulator"). */
