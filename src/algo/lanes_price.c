/* The price of a lanes schedule (lanes.h): the steps nsccl_lanes_build emits, told to the cost
 * model. Step t of the schedule is step t of every lane at once (the builder interleaves them);
 * every rank sends, in lane l's phase ph, its super-block share to its ring successor: |S_ph|
 * blocks (the product of the ring lengths of the phases before ph) of (hi - lo) n / p bytes each,
 * one message per block and chunk. Consecutive steps in which every lane is in the same phase and
 * mode have identical flows and are told once, repeated. */
#include <math.h>

#include "algo/lanes.h"
#include "algo/ring.h"
#include "model/price.h"

typedef struct {
  int ph;    /* phase of this lane's step t, -1 when the lane is done */
  int rs;    /* 1: a reduce-scatter step */
  int sblks; /* blocks in the super-block it moves */
} lane_step_t;

static int superblock_size(const nsccl_lane_t *ln, int ph) {
  int s = 1;
  for (int e = 0; e < ph; e++) s *= nsccl_lane_ring_len(ln, e, 0);
  return s;
}

static lane_step_t at(const nsccl_lane_t *ln, nsccl_coll_t coll, int t) {
  lane_step_t st = {-1, 0, 0};
  if (coll != NSCCL_COLL_ALLGATHER)
    for (int ph = ln->nphases - 1; ph >= 0; ph--) {
      int steps = nsccl_lane_ring_len(ln, ph, 0) - 1;
      if (t < steps) return (lane_step_t){ph, 1, superblock_size(ln, ph)};
      t -= steps;
    }
  if (coll == NSCCL_COLL_REDUCESCATTER) return st;
  for (int ph = 0; ph < ln->nphases; ph++) {
    int steps = nsccl_lane_ring_len(ln, ph, 0) - 1;
    if (t < steps) return (lane_step_t){ph, 0, superblock_size(ln, ph)};
    t -= steps;
  }
  return st;
}

static int same(const lane_step_t *a, const lane_step_t *b, int nl) {
  for (int l = 0; l < nl; l++)
    if (a[l].ph != b[l].ph || a[l].rs != b[l].rs) return 0;
  return 1;
}

/* Lane l's share of a block: bytes and messages (chunks of the non-empty shares), from the
 * builder's own cut (floor of lo and hi times the block's elements; one-byte elements, as the
 * simulator's collectives use: all-reduce cuts `bytes` into p blocks, the others move bytes / p).
 * busiest: of the largest block (a lockstep step: some rank holds it); otherwise the mean over the
 * blocks (a planned half, where every rank handles every block once). */
static void lane_share(const nsccl_model_t *m, const nsccl_lane_t *ln, nsccl_coll_t coll, double bytes, int busiest,
                       double *sz, double *msgs) {
  int p = m->p;
  *sz = *msgs = 0;
  for (int j = 0; j < p; j++) {
    size_t first, E = (size_t)fmax(1.0, floor(bytes / p));
    if (coll == NSCCL_COLL_ALLREDUCE) nsccl_algo_block((size_t)bytes, p, j, &first, &E);
    size_t a = (size_t)floor(ln->lo * (double)E), b = ln->hi >= 1 ? E : (size_t)floor(ln->hi * (double)E);
    double sh = b > a ? (double)(b - a) : 0, ms = sh > 0 ? fmax(1.0, ceil(sh / m->chunk)) : 0;
    *sz = busiest ? fmax(*sz, sh) : *sz + sh / p;
    *msgs = busiest ? fmax(*msgs, ms) : *msgs + ms / p;
  }
}

void nsccl_lanes_price(nsccl_model_t *m, const nsccl_lane_t *lanes, int nlanes, nsccl_coll_t coll, double bytes) {
  int p = m->p;
  if (nlanes > NSCCL_LANES_MAX) nlanes = NSCCL_LANES_MAX;
  int planned = nlanes > 0 && lanes[0].horizon > 0;
  double avg[NSCCL_LANES_MAX], per[NSCCL_LANES_MAX];
  for (int l = 0; l < nlanes; l++) lane_share(m, &lanes[l], coll, bytes, !planned, &avg[l], &per[l]);
  /* Planned lanes (a horizon: phases of different lanes overlap on different links, the builder
   * orders and gates them so) are told as one step per half, reduce-scatter then all-gather, with
   * every flow of the half: the busiest link's total load and the busiest rank's messages set its
   * time, and the latency is one hop per step of the longest lane; at least one alpha and hop per
   * step (each step waits for the one before). Unplanned lanes run in lockstep
   * (all in the same phase at the same step, as KangaRing's 2D lanes): one step per step. */
  lane_step_t cur[NSCCL_LANES_MAX], nxt[NSCCL_LANES_MAX];
  int steps_in_half = 0, half = -1;
  for (int t = 0;;) {
    int any = 0;
    for (int l = 0; l < nlanes; l++) any |= (cur[l] = at(&lanes[l], coll, t)).ph >= 0;
    int rs_now = any && cur[0].rs;
    if (planned && half >= 0 && (!any || rs_now != half)) { /* close the half */
      /* The half is at least its chain of dependent steps, each a message and a hop. */
      double chain = steps_in_half * (m->alpha + m->lat), before = m->total;
      m->lat_override = m->lat * steps_in_half;
      nsccl_model_step(m, 1);
      if (m->total - before < chain) m->total = before + chain;
      steps_in_half = 0;
    }
    if (!any) return;
    half = rs_now;
    int repeat = 1;
    for (;; repeat++) {
      for (int l = 0; l < nlanes; l++) nxt[l] = at(&lanes[l], coll, t + repeat);
      if (!same(cur, nxt, nlanes)) break;
    }
    for (int l = 0; l < nlanes; l++) {
      if (cur[l].ph < 0 || avg[l] <= 0) continue;
      double msgs = cur[l].sblks * per[l] * (planned ? repeat : 1);
      double b = cur[l].sblks * avg[l] * (planned ? repeat : 1);
      for (int r = 0; r < p; r++) {
        int to = lanes[l].next[cur[l].ph][r];
        nsccl_model_flow(m, r, to, b, msgs);
        if (cur[l].rs) nsccl_model_reduce(m, to, b);
      }
    }
    if (!planned) nsccl_model_step(m, repeat);
    steps_in_half += repeat;
    t += repeat;
  }
}
