/* Check (a) against the cost model: on contention-free schedules (ring all-gather, one message per
 * rank per step, on the presets' switch and on a torus ring whose neighbours are one hop apart) the
 * simulator and src/model/ agree within 2%. Both price the library's own schedules: the variant the
 * model picks is the one built and simulated. Sizes stop at 16 MiB, where blocks still fit one chunk:
 * with several chunks per step the simulator overlaps chunks of consecutive steps, which the
 * step-by-step model does not (docs/simulator.md). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/check.h"
#include "engine/sim.h"
#include "model/cost.h"
#include "model/simulate.h"
#include "topologies/topo.h"

static void agree(const char *preset) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load(preset, &t), nscclSuccess, "%s: %s", preset, nsccl_last_error());
  for (size_t bytes = 8; bytes <= ((size_t)16 << 20); bytes *= 8) {
    /* The ring itself (variant 0: one message per rank per step), not the family's cheapest
     * variant: ring/kangaring sends four per step, which the step formula's serial alpha prices
     * differently from the simulator's DMA engines. */
    int variant = 0;
    double model;
    cr_assert_eq(nsccl_model_predict(t, NULL, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, variant, bytes, t->nranks, &model),
                 nscclSuccess, "%s", nsccl_last_error());
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    cr_assert_eq(nsccl_sim_collective(t, NSCCL_COLL_ALLGATHER, NSCCL_ALGO_RING, variant, bytes, NULL, &res),
                 nscclSuccess, "%s", nsccl_last_error());
    cr_assert(fabs(res.time_s - model) <= 0.02 * model,
              "%s ring all-gather (%s) of %zu bytes: sim %.3f us, model %.3f us", preset,
              nsccl_model_variant_name(NSCCL_ALGO_RING, variant), bytes, res.time_s * 1e6, model * 1e6);
  }
  nsccl_topo_free(t);
}

/* The one-crossbar reading of Trn3 Gen1: contention-free for a ring. (trn3-u64 itself is AWS's
 * two-switch layout with direct links of another bandwidth; the model does not yet match the
 * simulator there: issue 13, part 1.) */
Test(sim_model, ring_allgather_on_switch) { agree("trn3-u64-crossbar"); }
Test(sim_model, ring_allgather_on_two_level_switch) { agree("trn3-u144"); }
Test(sim_model, ring_allgather_on_torus) { agree("trn2-16"); }
