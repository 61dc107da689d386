/* Pricing of the hierarchical schedules (algo/hier.c) as the builder emits them: ring phases inside
 * every group at once, and the inter-group phase (ring, recursive halving/doubling or one direct
 * exchange) of every column at once, each flow routed over the topology (docs/model.md,
 * "## Hierarchical (EFA)").
 *
 * The sets a position sends are the builder's (same layout, same merging of adjacent blocks into one
 * message). Where the sets of one team differ in size (groups of unequal size) every step is
 * charged the largest set: exact for equal groups, an upper bound otherwise. */
#include <math.h>
#include <stdlib.h>

#include "algo/hier.h"
#include "base/check.h"
#include "model/price.h"

typedef struct {
  nsccl_model_t *m;
  const nsccl_hier_layout_t *L;
  nsccl_coll_t coll;
  double n;
  unsigned char *mark; /* [nranks] scratch for counting merged runs */
} hm_t;

/* Messages for `pieces` messages totalling `bytes` (each cut into chunks). */
static double msgs(const hm_t *h, double pieces, double bytes) {
  if (pieces <= 0 || bytes <= 0) return 0;
  return pieces * fmax(1.0, ceil(bytes / pieces / h->m->chunk));
}

/* Bytes and messages (merged runs) of position j's set in group g's team. */
static void intra_set(hm_t *h, int g, int j, double *bytes, double *pieces) {
  const nsccl_hier_layout_t *L = h->L;
  int G = L->size[g], ncol = 0;
  for (int c = j; c < L->width; c += G) ncol++;
  if (h->coll == NSCCL_COLL_ALLREDUCE) {
    *bytes = ncol * h->n / L->width;
    *pieces = G == 1 ? 1 : ncol; /* columns j, j+G, ... are adjacent only when G == 1 */
    return;
  }
  int nb = 0, runs = 0;
  for (int r = 0; r < L->nranks; r++) h->mark[r] = 0;
  for (int c = j; c < L->width; c += G)
    for (int q = 0; q < L->ngroups; q++)
      if (c < L->size[q]) h->mark[L->members[L->first[q] + c]] = 1, nb++;
  for (int r = 0; r < L->nranks; r++) runs += h->mark[r] && (r == 0 || !h->mark[r - 1]);
  *bytes = nb * h->n / L->nranks;
  *pieces = runs;
}

/* Ring reduce-scatter (reduce_too) or all-gather in every group at once. *piece_journey (if not
 * NULL): one piece's trip around the largest group's ring on its own (G - 1 hops, each alpha and
 * the piece's messages on the edge, plus the ring's latency journey). */
static void intra_ring(hm_t *h, int reduce_too, double *piece_journey) {
  nsccl_model_t *m = h->m;
  const nsccl_hier_layout_t *L = h->L;
  int maxG = 0;
  double journey = 0, hop = 0, per_piece = 1;
  for (int g = 0; g < L->ngroups; g++) {
    int G = L->size[g];
    if (G < 2) continue;
    if (G > maxG) maxG = G;
    double b = 0, pc = 1;
    for (int j = 0; j < G; j++) {
      double bj, pj;
      intra_set(h, g, j, &bj, &pj);
      if (bj > b) b = bj, pc = pj;
    }
    m->lat_sum = 0, m->lat_min = INFINITY;
    double k = msgs(h, pc, b);
    for (int j = 0; j < G; j++) {
      int src = L->members[L->first[g] + j], dst = L->members[L->first[g] + (j + 1) % G];
      nsccl_model_flow(m, src, dst, b, k);
      if (reduce_too) nsccl_model_reduce(m, dst, b);
      if (G == maxG && k > 0) hop = fmax(hop, nsccl_model_msg_seconds(m, src, dst, b / k)), per_piece = k / pc;
    }
    if (m->lat_sum > 0 && m->lat_sum - m->lat_min > journey) journey = m->lat_sum - m->lat_min;
  }
  if (maxG < 2) return;
  if (piece_journey) *piece_journey = (maxG - 1) * (m->alpha + hop) + (per_piece - 1) * hop + journey;
  m->lat_override = journey;
  nsccl_model_step_end(m, maxG - 1, 1);
}

/* One direct exchange in every group at once (composed schedules, algo/compose.h): every position
 * sends each other position a set (its own in an all-gather, the receiver's in a reduce-scatter,
 * which the receiver reduces). *piece_journey (if not NULL): a piece's trip to the other positions
 * on its own (alpha and its messages on one edge). */
static void intra_direct(hm_t *h, int reduce_too, double *piece_journey) {
  nsccl_model_t *m = h->m;
  const nsccl_hier_layout_t *L = h->L;
  double journey = 0;
  int any = 0;
  for (int g = 0; g < L->ngroups; g++) {
    int G = L->size[g];
    if (G < 2) continue;
    any = 1;
    double b = 0, pc = 1;
    for (int j = 0; j < G; j++) {
      double bj, pj;
      intra_set(h, g, j, &bj, &pj);
      if (bj > b) b = bj, pc = pj;
    }
    double k = msgs(h, pc, b);
    for (int j = 0; j < G; j++) {
      int src = L->members[L->first[g] + j];
      for (int d = 1; d < G; d++) nsccl_model_flow(m, src, L->members[L->first[g] + (j + d) % G], b, k);
      if (reduce_too) nsccl_model_reduce(m, src, (G - 1) * b);
    }
    int a = L->members[L->first[g]], z = L->members[L->first[g] + 1];
    if (k > 0) journey = fmax(journey, m->alpha + (k / pc) * nsccl_model_msg_seconds(m, a, z, b / k));
  }
  if (!any) return;
  if (piece_journey) *piece_journey = journey;
  nsccl_model_step_end(m, 1, 0);
}

static void intra_stage(hm_t *h, nsccl_algo_t intra, int reduce_too, double *piece_journey) {
  if (intra == NSCCL_ALGO_DIRECT)
    intra_direct(h, reduce_too, piece_journey);
  else
    intra_ring(h, reduce_too, piece_journey);
}

/* Bytes of one position's set in a column's team: a share of the column's block (all-reduce) or
 * one rank's block. */
static double inter_set(const hm_t *h) {
  const nsccl_hier_layout_t *L = h->L;
  return h->coll == NSCCL_COLL_ALLREDUCE ? h->n / L->width / L->ngroups : h->n / L->nranks;
}

/* Inter-group reduce-scatter (reduce_too) or all-gather of every column at once. */
static void inter_phase(hm_t *h, nsccl_algo_t inter, int reduce_too) {
  nsccl_model_t *m = h->m;
  const nsccl_hier_layout_t *L = h->L;
  int S = L->ngroups, K = L->width;
  double b = inter_set(h);
  if (inter == NSCCL_ALGO_RING) {
    double journey = 0;
    for (int c = 0; c < K; c++) {
      m->lat_sum = 0, m->lat_min = INFINITY;
      for (int q = 0; q < S; q++) {
        int src = nsccl_hier_member(L, q, c), dst = nsccl_hier_member(L, (q + 1) % S, c);
        nsccl_model_flow(m, src, dst, b, msgs(h, 1, b));
        if (reduce_too) nsccl_model_reduce(m, dst, b);
      }
      if (m->lat_sum > 0 && m->lat_sum - m->lat_min > journey) journey = m->lat_sum - m->lat_min;
    }
    m->lat_override = journey;
    nsccl_model_step_end(m, S - 1, 1);
  } else if (inter == NSCCL_ALGO_TREE) {
    /* Halving sends S/2, S/4, ... sets; doubling 1, 2, ... sets, one message each as the builder
     * emits them (an all-reduce column's shares too, although they are adjacent: with few DMA
     * engines they queue, w alphas, not one). A set of under a byte is empty and sends nothing:
     * at most `bytes` messages. */
    for (int w0 = 1; w0 < S; w0 *= 2) {
      int w = reduce_too ? S / (2 * w0) : w0;
      double bytes = w * b, pieces = fmin(w, fmax(1.0, ceil(bytes)));
      for (int c = 0; c < K; c++)
        for (int q = 0; q < S; q++) {
          int dst = nsccl_hier_member(L, q ^ w, c);
          nsccl_model_flow(m, nsccl_hier_member(L, q, c), dst, bytes, msgs(h, pieces, bytes));
          if (reduce_too) nsccl_model_reduce(m, dst, bytes);
        }
      nsccl_model_step_end(m, 1, 0);
    }
  } else {
    for (int c = 0; c < K; c++)
      for (int q = 0; q < S; q++) {
        int src = nsccl_hier_member(L, q, c);
        for (int d = 1; d < S; d++) nsccl_model_flow(m, src, nsccl_hier_member(L, (q + d) % S, c), b, msgs(h, 1, b));
        if (reduce_too) nsccl_model_reduce(m, src, (S - 1) * b);
      }
    nsccl_model_step_end(m, 1, 0);
  }
}

/* The inter-group phase: the family's own pattern (inter), or a composed chip-level collective
 * that takes chip_seconds (inter < 0, algo/compose.h). */
static void inter_or_chips(hm_t *h, int inter, double chip_seconds, int reduce_too) {
  if (inter >= 0)
    inter_phase(h, (nsccl_algo_t)inter, reduce_too);
  else
    h->m->total += chip_seconds;
}

static nscclResult_t price_hier(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t intra, int inter, double chip_seconds,
                                double n) {
  nsccl_hier_layout_t L;
  NSCCL_CHECK(nsccl_hier_layout(m->t, &L));
  hm_t h = {m, &L, coll, n, malloc((size_t)L.nranks)};
  if (!h.mark) {
    nsccl_hier_layout_free(&L);
    NSCCL_FAIL(nscclSystemError, "model: out of memory pricing a hierarchical schedule");
  }
  switch (coll) {
  case NSCCL_COLL_ALLREDUCE: {
    double t0 = m->total;
    intra_stage(&h, intra, 1, NULL);
    if (inter < 0) {
      /* Composed: the chip-level all-reduce starts on the first chunk the intra reduce-scatter
       * delivers and runs alongside it (its first step reads the column chunk by chunk), so of the
       * shorter of the two only its first chunk's share, 1/K of it for a column of K chunks, adds
       * to the longer; the intra all-gather waits for the chip stage's last writes, which
       * halving-doubling and rings make over the whole column at the end (docs/model.md,
       * "Composed chip schedules"). */
      double rs = m->total - t0, col = n / L.width, K = isinf(m->chunk) ? 1 : fmax(1.0, ceil(col / m->chunk));
      m->total = t0 + fmax(rs, chip_seconds) + fmin(rs, chip_seconds) / K;
    } else {
      inter_phase(&h, (nsccl_algo_t)inter, 1);
      inter_phase(&h, (nsccl_algo_t)inter, 0);
    }
    intra_stage(&h, intra, 0, NULL);
    break;
  }
  case NSCCL_COLL_ALLGATHER: {
    /* The intra ring sends every piece as soon as it is there (per-piece dependencies): its own
     * group's pieces from the start, the others as the inter phase delivers them. So the phases
     * overlap: the intra ring alone, or the inter phase and then its last piece's trip around the
     * group ring, whichever is longer (docs/model.md, "Hierarchical (EFA)"). */
    double t0 = m->total, journey = 0;
    inter_or_chips(&h, inter, chip_seconds, 0);
    double inter_end = m->total;
    m->total = t0;
    intra_stage(&h, intra, 0, &journey);
    m->total = fmax(m->total, inter_end + journey);
    break;
  }
  default:
    intra_stage(&h, intra, 1, NULL);
    inter_or_chips(&h, inter, chip_seconds, 1);
    break;
  }
  free(h.mark);
  nsccl_hier_layout_free(&L);
  return nscclSuccess;
}

nscclResult_t nsccl_model_hier(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t inter, double n) {
  return price_hier(m, coll, NSCCL_ALGO_RING, (int)inter, 0, n);
}

nscclResult_t nsccl_model_hier_chips(nsccl_model_t *m, nsccl_coll_t coll, nsccl_algo_t intra, double chip_seconds,
                                     double n) {
  return price_hier(m, coll, intra, -1, chip_seconds, n);
}
