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

/* len: the lane's ring lengths (nsccl_lane_lengths), computed once per lane */
static lane_step_t at(const nsccl_lane_t *ln, const int *len, nsccl_coll_t coll, int t) {
  lane_step_t st = {-1, 0, 0};
  int k;
  if (!nsccl_lane_step_len(ln, len, coll, t, &st.ph, &st.rs, &k, &st.sblks)) st.ph = -1;
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

/* The lane that moves phase ph's bytes for lane l: l itself, or for a virtual phase another lane
 * running the same rings for real. */
static int runner(const nsccl_lane_t *lanes, int nlanes, int l, int ph) {
  if (!(lanes[l].virt & 1u << ph)) return l;
  for (int o = 0; o < nlanes; o++)
    if (o != l && ph < lanes[o].nphases && lanes[o].next[ph] == lanes[l].next[ph] && !(lanes[o].virt & 1u << ph))
      return o;
  return l;
}

/* Planned lanes: the flows of every step of one half (rs = 1: reduce-scatter) of every lane, as one
 * step, one flow per (rank, successor): the lanes whose rings leave a rank by the same link share
 * its DMA queue. The half costs at least the longest chain of dependent steps: a lane's steps
 * (virtual phases included: another lane ran them first), each one alpha, one message's streaming
 * (of the lane that runs the phase) and one hop. docs/model.md, "Lanes". */
static void planned_half(nsccl_model_t *m, const nsccl_lane_t *lanes, const int (*len)[NSCCL_LANE_MAX_PHASES],
                         int nlanes, nsccl_coll_t coll, int rs, const double *sz, const double *per) {
  enum { SLOTS = NSCCL_LANES_MAX * NSCCL_LANE_MAX_PHASES };
  double chain = 0, tb[NSCCL_LANES_MAX][NSCCL_LANE_MAX_PHASES] = {{0}},
         tm[NSCCL_LANES_MAX][NSCCL_LANE_MAX_PHASES] = {{0}};
  int hops = 0;
  for (int l = 0; l < nlanes; l++) {
    double secs = 0;
    int steps = 0;
    for (int ph = 0; ph < lanes[l].nphases; ph++) {
      int o = runner(lanes, nlanes, l, ph);
      double msg = per[o] > 0 ? sz[o] / per[o] : 0;
      secs += (len[l][ph] - 1) * (m->alpha + nsccl_model_msg_seconds(m, 0, lanes[l].next[ph][0], msg));
      steps += len[l][ph] - 1;
    }
    if (secs > chain) chain = secs;
    if (steps > hops) hops = steps;
    /* the lane's bytes and messages per phase over the half (every rank the same) */
    for (int t = 0;; t++) {
      lane_step_t st = at(&lanes[l], len[l], coll, t);
      if (st.ph < 0) break;
      if (st.rs != rs || sz[l] <= 0) continue;
      tb[l][st.ph] += st.sblks * sz[l];
      tm[l][st.ph] += st.sblks * per[l];
    }
  }
  double queue = 0; /* the busiest pair queue, each lane's messages at their own pace */
  for (int r = 0; r < m->p; r++) {
    int nd = 0, dst[SLOTS];
    double b[SLOTS], k[SLOTS], q[SLOTS];
    for (int l = 0; l < nlanes; l++)
      for (int ph = 0; ph < lanes[l].nphases; ph++) {
        if (tb[l][ph] <= 0) continue;
        int to = lanes[l].next[ph][r], d = 0;
        while (d < nd && dst[d] != to) d++;
        if (d == nd) dst[nd] = to, b[nd] = k[nd] = q[nd] = 0, nd++;
        b[d] += tb[l][ph], k[d] += tm[l][ph];
        /* A lane's messages stream at their own size's pace (a small share takes fewer engines) */
        q[d] += tm[l][ph] * nsccl_model_msg_seconds(m, r, to, tb[l][ph] / tm[l][ph]);
        if (rs) nsccl_model_reduce(m, to, tb[l][ph]);
      }
    for (int d = 0; d < nd; d++) {
      nsccl_model_flow(m, r, dst[d], b[d], k[d]);
      queue = fmax(queue, q[d]);
    }
  }
  /* The merged flow's queue term took the mean message; the lanes' own sizes set it. */
  m->queue = fmax(m->queue, queue);
  double before = m->total, lat = m->lat;
  m->lat_override = lat * hops;
  nsccl_model_step(m, 1);
  if (m->total - before < chain + hops * lat) m->total = before + chain + hops * lat;
}

void nsccl_lanes_price(nsccl_model_t *m, const nsccl_lane_t *lanes, int nlanes, nsccl_coll_t coll, double bytes) {
  int p = m->p;
  if (nlanes > NSCCL_LANES_MAX) nlanes = NSCCL_LANES_MAX;
  /* Planned lanes (a horizon: phases of different lanes overlap on different links, the builder
   * orders and gates them so) are told as one step per half, reduce-scatter then all-gather, with
   * every flow of the half: the busiest link's total load and the busiest rank's messages set its
   * time. Unplanned lanes run in lockstep (all in the same phase at the same step, as KangaRing's 2D
   * lanes): one step per step, consecutive equal ones told once, repeated. */
  int planned = nlanes > 0 && lanes[0].horizon > 0;
  double sz[NSCCL_LANES_MAX], per[NSCCL_LANES_MAX];
  int len[NSCCL_LANES_MAX][NSCCL_LANE_MAX_PHASES];
  for (int l = 0; l < nlanes; l++) {
    lane_share(m, &lanes[l], coll, bytes, !planned, &sz[l], &per[l]);
    nsccl_lane_lengths(&lanes[l], len[l]);
  }
  if (planned) {
    if (coll != NSCCL_COLL_ALLGATHER) planned_half(m, lanes, len, nlanes, coll, 1, sz, per);
    if (coll != NSCCL_COLL_REDUCESCATTER) planned_half(m, lanes, len, nlanes, coll, 0, sz, per);
    return;
  }
  lane_step_t cur[NSCCL_LANES_MAX], nxt[NSCCL_LANES_MAX];
  for (int t = 0;;) {
    int any = 0;
    for (int l = 0; l < nlanes; l++) any |= (cur[l] = at(&lanes[l], len[l], coll, t)).ph >= 0;
    if (!any) return;
    int repeat = 1;
    for (;; repeat++) {
      for (int l = 0; l < nlanes; l++) nxt[l] = at(&lanes[l], len[l], coll, t + repeat);
      if (!same(cur, nxt, nlanes)) break;
    }
    for (int l = 0; l < nlanes; l++) {
      if (cur[l].ph < 0 || sz[l] <= 0) continue;
      for (int r = 0; r < p; r++) {
        int to = lanes[l].next[cur[l].ph][r];
        nsccl_model_flow(m, r, to, cur[l].sblks * sz[l], cur[l].sblks * per[l]);
        if (cur[l].rs) nsccl_model_reduce(m, to, cur[l].sblks * sz[l]);
      }
    }
    nsccl_model_step(m, repeat);
    t += repeat;
  }
}
