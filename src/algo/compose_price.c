/* The price of a composed schedule (algo/compose.h; docs/model.md, "Composed chip schedules"):
 * the hierarchical layout's intra-chip ring stages as model/cost_hier.c prices them, around the
 * chip variant's own price on the chip view.
 *
 * The L chip-level collectives (one per local index, each on a 1/L share) run at once over the same
 * torus links. On the chip view they are one collective of the whole size: its links carry what
 * the L collectives carry together, and a message of the view stands for the L messages the
 * chip's ranks send at once, each on its own engines (the view adds the ranks' engines up, and its
 * chunk is L chunks), paying alpha once in parallel. What the view leaves out: each rank's own link
 * to its chip's fabric, which the chip-level traffic crosses too (docs/model.md states the bound). */
#include <math.h>
#include <stdint.h>

#include "algo/compose.h"
#include "model/price.h"

void nsccl_compose_price(const nsccl_variant_t *v, nsccl_model_t *m, nsccl_coll_t coll, double n) {
  const nsccl_topo_t *view = nsccl_compose_chip_view(m->t, 1);
  if (!view) {
    if (m->rc == nscclSuccess) m->rc = nscclInvalidArgument;
    return;
  }
  /* One local index's collective on its share of the links (compose.h), as built. */
  nsccl_model_opts_t o = {.chunk_bytes = isinf(m->chunk) ? SIZE_MAX : (size_t)m->chunk};
  double chip = 0, t0 = m->total;
  nscclResult_t rc =
      nsccl_model_predict(view, &o, coll, v->family, v->id, (size_t)(n / m->t->ranks_per_chip), view->nranks, &chip);
  if (rc == nscclSuccess) rc = nsccl_model_hier_chips(m, coll, NSCCL_COMPOSE_INTRA, chip, n);
  if (rc != nscclSuccess && m->rc == nscclSuccess) m->rc = rc;
  /* Every block but its own reaches a rank of an all-gather over the rank's one link from its chip's
   * fabric, in both stages (and leaves one of a reduce-scatter over its link to the fabric): a bound
   * the two stages' overlap can reach (trn2-16-lnc2, 256 MiB: 252 MiB at 362 GB/s, 730 us). */
  if (coll != NSCCL_COLL_ALLREDUCE && m->t->intra_chip_bandwidth > 0)
    m->total = fmax(m->total, t0 + m->alpha + n * (m->p - 1) / m->p / m->t->intra_chip_bandwidth);
}
