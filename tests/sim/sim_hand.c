/* Hand-made topologies and all-gather schedules for the simulator tests (see sim_hand.h). */
#include "sim_hand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_link(nsccl_topo_t *t, int src, int dst, double bw, double lat) {
  nsccl_link_t *l = &t->links[t->nlinks++];
  l->src = src;
  l->dst = dst;
  l->bandwidth = bw;
  l->latency = lat;
}

/* Torus link index: rank r, dimension d, direction dir (0 = +, 1 = -). */
static int torus_link(const nsccl_topo_t *t, int r, int d, int dir) { return (r * t->ndims + d) * 2 + dir; }

static int hand_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  const hand_topo_t *h = (const hand_topo_t *)t;
  int n = t->nranks, k = 0;
  switch (h->kind) {
  case HAND_PAIR:
    if (max < 1) return -1;
    links[0] = src; /* link 0 is 0->1, link 1 is 1->0 */
    return 1;
  case HAND_STAR:
    if (max < 2) return -1;
    links[0] = 2 * src;
    links[1] = 2 * dst + 1;
    return 2;
  case HAND_TWO_LEVEL: {
    int ls = src / h->group, ld = dst / h->group;
    if (max < 4) return -1;
    links[k++] = 2 * src;
    if (ls != ld) {
      links[k++] = 2 * n + 2 * ls;     /* leaf ls -> spine */
      links[k++] = 2 * n + 2 * ld + 1; /* spine -> leaf ld */
    }
    links[k++] = 2 * dst + 1;
    return k;
  }
  case HAND_TORUS: {
    int cur = src;
    for (int d = 0, stride = 1; d < t->ndims; stride *= t->dims[d], d++) {
      int a = (cur / stride) % t->dims[d], b = (dst / stride) % t->dims[d];
      int fwd = ((b - a) % t->dims[d] + t->dims[d]) % t->dims[d];
      int dir = fwd <= t->dims[d] - fwd ? 0 : 1, steps = dir == 0 ? fwd : t->dims[d] - fwd;
      for (int s = 0; s < steps; s++) {
        if (k == max) return -1;
        links[k++] = torus_link(t, cur, d, dir);
        int c = (cur / stride) % t->dims[d];
        int nc = dir == 0 ? (c + 1) % t->dims[d] : (c + t->dims[d] - 1) % t->dims[d];
        cur += (nc - c) * stride;
      }
    }
    return k;
  }
  }
  return -1;
}

static hand_topo_t *hand_new(hand_kind_t kind, int nranks, int nvertices, int nlinks, double alpha) {
  hand_topo_t *h = calloc(1, sizeof(*h));
  h->kind = kind;
  h->mod.name = "hand";
  h->mod.route = hand_route;
  h->t.module = &h->mod;
  snprintf(h->t.name, sizeof(h->t.name), "hand-%d", (int)kind);
  h->t.nranks = nranks;
  h->t.nvertices = nvertices;
  h->t.links = calloc((size_t)nlinks, sizeof(nsccl_link_t));
  h->t.endpoint_overhead = alpha;
  h->t.forward = NSCCL_FORWARD_ROUTED;
  return h;
}

hand_topo_t *hand_pair(double bw, double lat, double alpha) {
  hand_topo_t *h = hand_new(HAND_PAIR, 2, 2, 2, alpha);
  add_link(&h->t, 0, 1, bw, lat);
  add_link(&h->t, 1, 0, bw, lat);
  return h;
}

hand_topo_t *hand_star(int n, double bw, double lat, double alpha) {
  hand_topo_t *h = hand_new(HAND_STAR, n, n + 1, 2 * n, alpha);
  for (int i = 0; i < n; i++) {
    add_link(&h->t, i, n, bw, lat);
    add_link(&h->t, n, i, bw, lat);
  }
  return h;
}

hand_topo_t *hand_two_level(int n, int group, double bw, double spine_bw, double lat, double alpha) {
  int leaves = n / group, spine = n + leaves;
  hand_topo_t *h = hand_new(HAND_TWO_LEVEL, n, n + leaves + 1, 2 * n + 2 * leaves, alpha);
  h->group = group;
  h->t.group_size = group;
  for (int i = 0; i < n; i++) {
    add_link(&h->t, i, n + i / group, bw, lat);
    add_link(&h->t, n + i / group, i, bw, lat);
  }
  for (int l = 0; l < leaves; l++) {
    add_link(&h->t, n + l, spine, spine_bw, lat);
    add_link(&h->t, spine, n + l, spine_bw, lat);
  }
  return h;
}

hand_topo_t *hand_torus(int ndims, const int *dims, double bw, double lat, double alpha, nsccl_forward_t forward) {
  int n = 1;
  for (int d = 0; d < ndims; d++) n *= dims[d];
  hand_topo_t *h = hand_new(HAND_TORUS, n, n, n * ndims * 2, alpha);
  h->t.forward = forward;
  h->t.ndims = ndims;
  for (int d = 0; d < ndims; d++) h->t.dims[d] = dims[d];
  for (int r = 0; r < n; r++)
    for (int d = 0, stride = 1; d < ndims; stride *= dims[d], d++) {
      int c = (r / stride) % dims[d];
      add_link(&h->t, r, r + ((c + 1) % dims[d] - c) * stride, bw, lat);           /* + */
      add_link(&h->t, r, r + ((c + dims[d] - 1) % dims[d] - c) * stride, bw, lat); /* - */
    }
  return h;
}

void hand_free(hand_topo_t *h) {
  free(h->t.links);
  free(h);
}

static void init_allgather(nsccl_program_t *progs, int n, size_t m) {
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, m, nscclUint8, false};
  for (int r = 0; r < n; r++) nsccl_prog_init(&progs[r], r, n, &args);
}

void hand_ring_allgather(nsccl_program_t *progs, int n, size_t m) {
  init_allgather(progs, n, m);
  for (int r = 0; r < n; r++) {
    nsccl_program_t *p = &progs[r];
    int right = (r + 1) % n, left = (r + n - 1) % n;
    nsccl_prog_copy(p, nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_RECV, (size_t)r * m, m),
                    NSCCL_NODEPS);
    nsccl_step_id_t prev_recv = NSCCL_NO_STEP;
    for (int k = 0; k < n - 1; k++) {
      int out = (r - k + n) % n, in = (r - k - 1 + n) % n;
      nsccl_region_t src = k == 0 ? nsccl_region(NSCCL_BUF_SEND, 0, m) : nsccl_region(NSCCL_BUF_RECV, out * m, m);
      nsccl_prog_send(p, right, src, NSCCL_DEP1(prev_recv));
      prev_recv = nsccl_prog_recv(p, left, nsccl_region(NSCCL_BUF_RECV, (size_t)in * m, m), NSCCL_NODEPS);
    }
  }
}

void hand_direct_allgather(nsccl_program_t *progs, int n, size_t m) {
  init_allgather(progs, n, m);
  for (int r = 0; r < n; r++) {
    nsccl_program_t *p = &progs[r];
    nsccl_prog_copy(p, nsccl_region(NSCCL_BUF_SEND, 0, m), nsccl_region(NSCCL_BUF_RECV, (size_t)r * m, m),
                    NSCCL_NODEPS);
    for (int k = 1; k < n; k++) {
      int to = (r + k) % n, from = (r - k + n) % n;
      nsccl_prog_send(p, to, nsccl_region(NSCCL_BUF_SEND, 0, m), NSCCL_NODEPS);
      nsccl_prog_recv(p, from, nsccl_region(NSCCL_BUF_RECV, (size_t)from * m, m), NSCCL_NODEPS);
    }
  }
}

void hand_progs_free(nsccl_program_t *progs, int n) {
  for (int r = 0; r < n; r++) nsccl_prog_free(&progs[r]);
}
