/* Several ranks per chip (ranks_per_chip = 4, as Neuron runs at LNC=2): the hierarchical variants,
 * whose intra-chip stage sends each block off the chip once, are selector candidates there. A flat
 * direct all-gather sends every block once per rank of every other chip, so its chip port carries
 * four times the bytes. Checked against the simulator (not the model): at 64 MiB on trn3-u64-lnc2
 * the selector picks a hierarchical variant, and that variant simulates well under the flat
 * direct schedule; on trn3-u64 (one rank per chip) no hierarchical variant is offered. */
#include <criterion/criterion.h>
#include <string.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/select.h"
#include "model/simulate.h"
#include "topologies/topo.h"

static double simulated(const nsccl_topo_t *t, nsccl_coll_t c, nsccl_algo_t a, int variant, size_t bytes) {
  nsccl_sim_result_t res;
  memset(&res, 0, sizeof(res));
  cr_assert_eq(nsccl_sim_collective(t, c, a, variant, bytes, NULL, &res), nscclSuccess, "%s", nsccl_last_error());
  return res.time_s;
}

Test(select_chips, hierarchical_offered_and_faster_with_four_ranks_per_chip) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn3-u64-lnc2", &t), nscclSuccess, "%s", nsccl_last_error());
  size_t bytes = (size_t)64 << 20;
  nsccl_choice_t ch;
  cr_assert_eq(nsccl_select(t, NULL, NSCCL_COLL_ALLGATHER, bytes, t->nranks, &ch), nscclSuccess, "%s",
               nsccl_last_error());
  const nsccl_variant_t *v = nsccl_variant_find(ch.algo, ch.variant[ch.algo]);
  cr_assert_not_null(v);
  cr_assert(strstr(v->name, "/hier"), "64 MiB all-gather on trn3-u64-lnc2 picks %s", v->name);
  const nsccl_variant_t *flat = nsccl_variant_by_name("direct");
  cr_assert_not_null(flat);
  double hier = simulated(t, NSCCL_COLL_ALLGATHER, ch.algo, ch.variant[ch.algo], bytes);
  double direct = simulated(t, NSCCL_COLL_ALLGATHER, flat->family, flat->id, bytes);
  cr_assert_lt(hier * 1.5, direct, "%s simulates %.1f us, flat direct %.1f us", v->name, hier * 1e6, direct * 1e6);
  nsccl_topo_free(t);
}

Test(select_chips, no_hierarchical_candidate_with_one_rank_per_chip) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn3-u64", &t), nscclSuccess, "%s", nsccl_last_error());
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (strstr(v->name, "/hier"))
      cr_assert(!nsccl_variant_offered(v, t, NSCCL_COLL_ALLGATHER, t->nranks), "%s offered on trn3-u64", v->name);
  }
  nsccl_topo_free(t);
}
