/* Four ranks per chip on the Trainium2 UltraServer torus (trn2-u64-lnc2, LNC=2): the selector picks
 * a composed chip variant (algo/compose.h) for the 64 MiB all-gather, and the simulator (not the
 * model) times it within a stated factor of a bound computed here from the topology's links alone:
 *
 *   p ranks, C chips, L = p / C ranks per chip, B = bytes / p (one rank's block)
 *   chip stage   every chip receives the blocks of the other chips, (C - 1) L B bytes, through its
 *                torus in-links: T_chip  = (C - 1) L B / (sum of the in-link bandwidths of a chip)
 *   intra stage  every rank receives the other blocks of its column's chips from its chip's other
 *                ranks, (L - 1) C B bytes, over its link from the chip's fabric:
 *                T_intra = (L - 1) C B / intra_chip_bandwidth
 *   bound        T_chip + T_intra (the stages in series; the schedule may overlap them)
 *   floor        every block but its own, (p - 1) B bytes, crosses a rank's one link from the
 *                fabric: no schedule beats T_floor = (p - 1) B / intra_chip_bandwidth
 *
 * The composed variant must simulate within FACTOR x bound and not below the floor, and at least
 * SPEEDUP times faster than the best variant that is not composed (806 us before composition:
 * direct/mesh). */
#include <criterion/criterion.h>
#include <string.h>

#include "algo/compose.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/select.h"
#include "model/simulate.h"
#include "topologies/topo.h"

#define FACTOR  2.0
#define SPEEDUP 1.5

static double simulated(const nsccl_topo_t *t, const nsccl_variant_t *v, size_t bytes) {
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, NSCCL_COLL_ALLGATHER, v->family, v->id, bytes, NULL, &res), nscclSuccess, "%s",
               nsccl_last_error());
  return res.time_s;
}

/* Sum of the bandwidths of the links from other chips into chip 0's vertex. */
static double chip_in_bandwidth(const nsccl_topo_t *t) {
  int v = t->nranks; /* chip 0's vertex: the first after the ranks (topo.h) */
  double bw = 0;
  for (int i = 0; i < t->nlinks; i++)
    if (t->links[i].dst == v && t->links[i].src >= t->nranks) bw += t->links[i].bandwidth;
  return bw;
}

Test(compose_select, trn2_u64_lnc2_allgather_64m, .timeout = 300) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64-lnc2", &t), nscclSuccess, "%s", nsccl_last_error());
  size_t bytes = (size_t)64 << 20;
  int p = t->nranks, C = t->nchips, L = p / C;
  double B = (double)bytes / p, in_bw = chip_in_bandwidth(t);
  cr_assert(C == 64 && L == 4 && in_bw > 0, "trn2-u64-lnc2: %d chips of %d ranks, %.3g B/s into a chip", C, L, in_bw);
  double t_chip = (C - 1) * L * B / in_bw, t_intra = (L - 1) * C * B / t->intra_chip_bandwidth;
  double bound = t_chip + t_intra, floor = (p - 1) * B / t->intra_chip_bandwidth;

  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_ALLGATHER, bytes, p, &ch), nscclSuccess, "%s", nsccl_last_error());
  const nsccl_variant_t *v = nsccl_variant_find(ch.algo, ch.variant[ch.algo]);
  cr_assert_not_null(v);
  cr_assert(v->id & NSCCL_VARIANT_CHIPS, "64 MiB all-gather on trn2-u64-lnc2 picks %s, not a composed variant",
            v->name);
  double sim = simulated(t, v, bytes);
  cr_log_info("%s: simulated %.1f us; bound %.1f us (chip %.1f + intra %.1f), floor %.1f us", v->name, sim * 1e6,
              bound * 1e6, t_chip * 1e6, t_intra * 1e6, floor * 1e6);
  cr_assert_geq(sim, floor * 0.999, "%s simulates %.1f us under the floor %.1f us", v->name, sim * 1e6, floor * 1e6);
  cr_assert_leq(sim, FACTOR * bound, "%s simulates %.1f us, over %.1f x the bound %.1f us", v->name, sim * 1e6, FACTOR,
                bound * 1e6);

  /* The best of the rest: the three that were fastest before composition (flat ring, tree and
   * direct simulate 2-10x slower at 256 ranks, and take minutes to simulate). */
  double best = -1;
  const char *best_name = "";
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *w = nsccl_variant_at(i);
    if ((w->id & NSCCL_VARIANT_CHIPS) || !nsccl_variant_offered(w, t, NSCCL_COLL_ALLGATHER, p)) continue;
    if (strcmp(w->name, "direct/mesh") && strcmp(w->name, "direct/hier") && strcmp(w->name, "ring/hier")) continue;
    double s = simulated(t, w, bytes);
    if (best < 0 || s < best) best = s, best_name = w->name;
  }
  cr_assert(best > 0, "no uncomposed candidate simulated");
  cr_assert_leq(sim * SPEEDUP, best, "%s simulates %.1f us, the best uncomposed (%s) %.1f us", v->name, sim * 1e6,
                best_name, best * 1e6);
  nsccl_topo_free(t);
}

/* One rank per chip: no composed variant is offered (the chip variants run themselves). */
Test(compose_select, none_with_one_rank_per_chip) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64", &t), nscclSuccess, "%s", nsccl_last_error());
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    for (int c = 0; c < NSCCL_NUM_COLLS; c++)
      if (v->id & NSCCL_VARIANT_CHIPS)
        cr_assert(!nsccl_variant_offered(v, t, (nsccl_coll_t)c, t->nranks), "%s offered on trn2-u64", v->name);
  }
  nsccl_topo_free(t);
}
