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

/* The intra-chip stages' pattern: one direct exchange (every rank sends each other rank of its
 * chip its set at once). A ring's L - 1 steps each queue a column's C pieces behind one another on
 * one DMA queue; the exchange spreads them over L - 1 queues (trn2-16-lnc2, 8 MiB all-gather of
 * tree/swing-bw-chips: 119 us simulated with a ring, 44 us with the exchange). */
#define NSCCL_COMPOSE_INTRA NSCCL_ALGO_DIRECT

/* The chip views of topo, a torus with ranks_per_chip > 1 seen with one rank per chip (same dims,
 * routes, alpha, latency). build = 1: what one local index's collective sees, which V is built on:
 * a rank's endpoint, and each link at 1/L of its bandwidth (the L collectives share it), so that a
 * builder that weighs alpha against bytes / bandwidth (Swing's and RDH's cuts) chooses for its 1/L
 * share as it would for the whole on the full links. build = 0: the price view, the chip's ranks
 * merged into one endpoint (their DMA engines, engines per message and reduction rates added up)
 * on the full links. Shared and kept for the process (do not free); NULL if topo is no such torus
 * (the last error says why). */
const struct nsccl_topo *nsccl_compose_chip_view(const struct nsccl_topo *topo, int build);

/* The composed variant of chip variant v: does it build coll on topo, is it a selector candidate,
 * build prog's program, price it (algo/compose_price.c). */
int nsccl_compose_applies(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks);
int nsccl_compose_offer(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll);
nscclResult_t nsccl_compose_build(const nsccl_variant_t *v, const struct nsccl_topo *topo,
                                  const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
void nsccl_compose_price(const nsccl_variant_t *v, struct nsccl_model *m, nsccl_coll_t coll, double bytes);

#endif
