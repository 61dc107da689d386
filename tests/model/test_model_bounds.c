/* The large-message targets of the torus algorithms (issue "a cost model that agrees with its
 * simulator", section 1): at 1 GiB the algorithm the SELECTOR picks, timed by the simulator (not the
 * model), within a factor of a bound computed here from the topology's links alone:
 *
 *   p ranks, N bytes (the whole array), B = N / p
 *   bw           the smallest, over the ranks, of a rank's summed link bandwidth in or out (a
 *                torus chip: every link to both neighbours per dimension; a switch port: the one
 *                link to its switch, plus a direct chip-to-chip link where the preset has one)
 *   all-gather   every rank receives the other p - 1 blocks:   T >= (p - 1) B / bw
 *   reduce-scatter  every rank sends p - 1 partial blocks:     T >= (p - 1) B / bw
 *   all-reduce   a reduce-scatter and an all-gather's traffic: T >= 2 (p - 1) B / bw
 *
 * Targets: on the tori trn2-16 and trn2-u64 within 1.3x; on the switch side within 1.2x. Presets
 * where the selector's pick is not there yet are listed in `known`, logged with their numbers; one
 * that comes within its factor fails the test, so the list only shrinks. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "model/simulate.h"
#include "topologies/topo.h"

#define BYTES ((size_t)1 << 30)

/* The smallest summed link bandwidth into or out of a rank. */
static double rank_bandwidth(const nsccl_topo_t *t) {
  double least = INFINITY;
  for (int r = 0; r < t->nranks; r++) {
    double in = 0, out = 0;
    for (int i = 0; i < t->nlinks; i++) {
      if (t->links[i].src == r) out += t->links[i].bandwidth;
      if (t->links[i].dst == r) in += t->links[i].bandwidth;
    }
    least = fmin(least, fmin(in, out));
  }
  return least;
}

/* (preset, collective) pairs whose selected algorithm is over its factor today, with why. */
static const struct {
  const char *preset;
  nsccl_coll_t coll;
} known[] = {
    /* (Left this list: trn3-u64, two switches joined chip by chip, whose plain direct exchange sent
     * every block across the 233 GB/s direct links once per destination on the other switch, 2.8x;
     * direct/cross crosses once per block and forwards blocks over the direct links: 1.03x, 1.12x,
     * 1.04x.) */
    /* trn3-u64-tray: the ring is picked, one flow per rank whose one DMA queue streams on at most
     * 16 engines (16 x 38.4 GB/s = 614 GB/s, under the 1.28 TB/s port): 1,722 us, 2.1x the bound
     * of 826 us; direct is bound by the plane trunks. */
    {"trn3-u64-tray", NSCCL_COLL_ALLGATHER},
    {"trn3-u64-tray", NSCCL_COLL_REDUCESCATTER},
    {"trn3-u64-tray", NSCCL_COLL_ALLREDUCE},
};

static int is_known(const char *preset, nsccl_coll_t c) {
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (!strcmp(known[i].preset, preset) && known[i].coll == c) return 1;
  return 0;
}

static void near_bound(const char *preset, double factor) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  int p = t->nranks, failures = 0;
  double bw = rank_bandwidth(t);
  cr_assert(bw > 0 && isfinite(bw), "%s: a rank's links carry %.3g B/s", preset, bw);
  nsccl_coll_t colls[] = {NSCCL_COLL_ALLGATHER, NSCCL_COLL_REDUCESCATTER, NSCCL_COLL_ALLREDUCE};
  for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
    nsccl_coll_t c = colls[i];
    double bound = (c == NSCCL_COLL_ALLREDUCE ? 2 : 1) * (double)BYTES * (p - 1) / p / bw;
    nsccl_choice_t ch;
    cr_assert_eq(nsccl_select(t, NULL, c, BYTES, p, &ch), nscclSuccess, "%s", nsccl_last_error());
    const nsccl_variant_t *v = nsccl_model_resolve(ch.algo, ch.variant[ch.algo], c);
    cr_assert(v, "%s: the selector's choice has no variant", preset);
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    cr_assert_eq(nsccl_sim_collective(t, c, v->family, v->id, BYTES, NULL, &res), nscclSuccess, "%s",
                 nsccl_last_error());
    int ok = res.time_s <= factor * bound, known_bad = is_known(preset, c);
    if (ok == known_bad)
      cr_log_error("%s%s %s 1 GiB: selected %s simulates at %.1f us, %.2fx the bound %.1f us (target %.1fx)",
                   known_bad ? "known case now within: " : "", preset, nsccl_coll_name(c), v->name, res.time_s * 1e6,
                   res.time_s / bound, bound * 1e6, factor);
    else
      cr_log_info("%s %s 1 GiB: selected %s simulates at %.1f us, %.2fx the bound %.1f us%s", preset,
                  nsccl_coll_name(c), v->name, res.time_s * 1e6, res.time_s / bound, bound * 1e6,
                  known_bad ? " (known)" : "");
    failures += ok == known_bad;
  }
  cr_expect_eq(failures, 0, "%s: %d collectives off their target (see above)", preset, failures);
  nsccl_topo_free(t);
}

Test(model_bounds, torus_trn2_16) { near_bound("trn2-16", 1.3); }
Test(model_bounds, torus_trn2_u64, .timeout = 60) { near_bound("trn2-u64", 1.3); }
Test(model_bounds, switch_trn3_u64_crossbar, .timeout = 60) { near_bound("trn3-u64-crossbar", 1.2); }
Test(model_bounds, switch_trn3_u64, .timeout = 60) { near_bound("trn3-u64", 1.2); }
Test(model_bounds, switch_trn3_u64_tray, .timeout = 60) { near_bound("trn3-u64-tray", 1.2); }
Test(model_bounds, switch_trn3_u144, .timeout = 60) { near_bound("trn3-u144", 1.2); }
