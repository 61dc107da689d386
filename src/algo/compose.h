/* Composed schedules for several ranks per chip (docs/algorithms.md, "Composed chip schedules"):
 * an intra-chip ring stage, a chip-level variant V run once per local index l (the chips' members
 * of local index l form one rank each of V's program, on a 1/L share), and an intra-chip ring
 * stage again:
 *
 *   all-reduce      intra-chip reduce-scatter, V's all-reduce of column l, intra-chip all-gather
 *   all-gather      V's all-gather of the blocks of local index l, intra-chip all-gather
 *   reduce-scatter  intra-chip reduce-scatter, V's reduce-scatter of column l
 *
 * V is any registered variant that builds on the torus's chip view: the same torus with one rank
 * per chip (chip c is rank c there). Its program is built for the chip of this rank and re-emitted
 * into the composed program with its ranks and buffer offsets relabelled into the hierarchical
 * layout (algo/hier.h): steps keep their order, their kinds and their own dependencies; dependencies
 * on the intra-chip stages come from the bytes they touch. No new IR step. */
#ifndef NSCCL_ALGO_COMPOSE_H
#define NSCCL_ALGO_COMPOSE_H

#include "algo/variant.h"

struct nsccl_topo;
struct nsccl_model;

/* Composed ids: the chip variant's own id with this bit (above every family's ids and the
 * msccl range, algo/variants.c). */
#define NSCCL_VARIANT_CHIPS 0x1000

/* The chip view of topo: a torus with ranks_per_chip > 1 seen with one rank per chip, the chip's
 * ranks merged into that one rank's endpoint (their DMA engines, engines per message and reduction
 * rate added up; alpha, links, routes unchanged). Shared and kept for the process (do not free);
 * NULL if topo is no such torus (the last error says why). */
const struct nsccl_topo *nsccl_compose_chip_view(const struct nsccl_topo *topo);

/* The composed variant of chip variant v: does it build coll on topo, is it a selector candidate,
 * build prog's program, price it (algo/compose_price.c). */
int nsccl_compose_applies(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks);
int nsccl_compose_offer(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll);
nscclResult_t nsccl_compose_build(const nsccl_variant_t *v, const struct nsccl_topo *topo,
                                  const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
void nsccl_compose_price(const nsccl_variant_t *v, struct nsccl_model *m, nsccl_coll_t coll, double bytes);

#endif
