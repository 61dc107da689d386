/* The price of a lanes schedule (lanes.h): the steps nsccl_lanes_build emits, told to the cost
 * model. Step t of the schedule is step t of every lane at once (the builder interleaves them);
 * every rank sends, in lane l's phase ph, its super-block share to its ring successor: |S_ph|
 * blocks (the product of the ring lengths of the phases before ph) of (hi - lo) n / p bytes each,
 * one message per block and chunk. Consecutive steps in which every lane is in the same phase and
 * mode have identical flows and are told once, repeated. */
#include <math.h>

#include "algo/lanes.h"
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

void nsccl_lanes_price(nsccl_model_t *m, const nsccl_lane_t *lanes, int nlanes, nsccl_coll_t coll, double bytes) {
  int p = m->p;
  if (nlanes > NSCCL_LANES_MAX) nlanes = NSCCL_LANES_MAX;
  double B = bytes / p;
  lane_step_t cur[NSCCL_LANES_MAX], nxt[NSCCL_LANES_MAX];
  for (int t = 0;;) {
    int any = 0;
    for (int l = 0; l < nlanes; l++) any |= (cur[l] = at(&lanes[l], coll, t)).ph >= 0;
    if (!any) return;
    int repeat = 1;
    for (;; repeat++) {
      for (int l = 0; l < nlanes; l++) nxt[l] = at(&lanes[l], coll, t + repeat);
      if (!same(cur, nxt, nlanes)) break;
    }
    for (int l = 0; l < nlanes; l++) {
      if (cur[l].ph < 0) continue;
      double share = (lanes[l].hi - lanes[l].lo) * B;
      if (share <= 0) continue;
      double msgs = cur[l].sblks * fmax(1.0, ceil(share / m->chunk));
      for (int r = 0; r < p; r++) {
        int to = lanes[l].next[cur[l].ph][r];
        nsccl_model_flow(m, r, to, cur[l].sblks * share, msgs);
        if (cur[l].rs) nsccl_model_reduce(m, to, cur[l].sblks * share);
      }
    }
    nsccl_model_step(m, repeat);
    t += repeat;
  }
}
