/* The simulator's message matching: the k-th SEND from a to b meets the k-th RECV / RECV_REDUCE at
 * b from a. Messages are numbered by (sender, receiver, k), so that the messages of one pair are
 * consecutive (the event loop's one-DMA-queue-per-pair rule reads the previous message as mi - 1).
 * Each rank's sends are sorted by peer, and a receive finds its pair's messages by binary search in
 * the sender's sorted list, so the work and memory grow with the messages, not with ranks squared. */
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/sim_internal.h"

typedef struct {
  uint32_t peer, step; /* the other rank, and the step's index in this rank's program */
} pend_t;

static int by_peer_then_step(const void *x, const void *y) {
  const pend_t *a = x, *b = y;
  if (a->peer != b->peer) return a->peer < b->peer ? -1 : 1;
  return a->step < b->step ? -1 : a->step > b->step;
}

/* Scratch for sort_ends: tmp holds as many entries as the longest list, count nranks + 1. */
typedef struct {
  pend_t *tmp;
  uint32_t *count;
  size_t nranks;
} sort_space_t;

/* e[0..n) by peer with a counting sort through w->tmp: stable, so (peer, step) order. */
static void counting_sort(pend_t *e, size_t n, sort_space_t *w) {
  memset(w->count, 0, (w->nranks + 1) * sizeof(uint32_t));
  for (size_t i = 0; i < n; i++) w->count[e[i].peer + 1]++;
  for (size_t p = 0; p < w->nranks; p++) w->count[p + 1] += w->count[p];
  for (size_t i = 0; i < n; i++) w->tmp[w->count[e[i].peer]++] = e[i];
  memcpy(e, w->tmp, n * sizeof(*e));
}

/* Sort e[0..n) by (peer, step); e comes in program (step) order, so sorting by peer alone keeping
 * that order is the same. Builders emit most lists in peer order, or rotated (rank r's peers r+1,
 * r+2, ..., 0, ..., r-1): those two are recognised in one pass, and a rotation is undone with one
 * copy. Other lists (receives in descending order, chunks repeating the peers) go through a
 * counting sort when they name a good share of the ranks, else qsort. */
static void sort_ends(pend_t *e, size_t n, sort_space_t *w) {
  size_t cut = 0, descents = 0; /* where the peers step down */
  for (size_t i = 1; i < n; i++)
    if (e[i].peer < e[i - 1].peer) cut = i, descents++;
  if (descents == 0) return;
  if (descents == 1 && e[n - 1].peer < e[0].peer) {
    /* e[cut..n) then e[0..cut): each part is sorted by (peer, step) and every peer of the first
     * is below every peer of the second, so the result is what the sort gives. */
    memcpy(w->tmp, e + cut, (n - cut) * sizeof(*e));
    memcpy(w->tmp + (n - cut), e, cut * sizeof(*e));
    memcpy(e, w->tmp, n * sizeof(*e));
  } else if (n * 8 >= w->nranks)
    counting_sort(e, n, w);
  else
    qsort(e, n, sizeof(*e), by_peer_then_step);
}

/* First index in e[0..n) whose peer is >= peer. */
static size_t lower_bound(const pend_t *e, size_t n, uint32_t peer) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e[mid].peer < peer)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int is_recv(const nsccl_step_t *st) { return st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE; }

/* The receives of rank r matched against the senders' sorted lists. On a mismatch, reports the
 * earliest offending step of r (in program order) and returns its error. */
static nscclResult_t match_rank(sim_t *s, int r, const pend_t *sends, const uint32_t *soff, pend_t *rv,
                                sort_space_t *w) {
  const nsccl_program_t *p = &s->progs[r];
  size_t nr = 0;
  for (uint32_t i = 0; i < p->nsteps; i++)
    if (is_recv(&p->steps[i])) rv[nr++] = (pend_t){(uint32_t)p->steps[i].peer, i};
  sort_ends(rv, nr, w);
  uint32_t bad = UINT32_MAX; /* earliest offending step */
  for (size_t i = 0; i < nr;) {
    uint32_t q = rv[i].peer;
    size_t j = i;
    while (j < nr && rv[j].peer == q) j++;
    const pend_t *qs = sends + soff[q];
    size_t nq = soff[q + 1] - soff[q], first = lower_bound(qs, nq, (uint32_t)r), have = 0;
    while (first + have < nq && qs[first + have].peer == (uint32_t)r) have++;
    for (size_t k = 0; i + k < j; k++) {
      uint32_t step = rv[i + k].step;
      if (k >= have) { /* the first receive past the sender's count is the run's earliest failure */
        if (step < bad) bad = step;
        break;
      }
      uint32_t mi = soff[q] + (uint32_t)(first + k);
      msg_t *m = &s->msgs[mi];
      if ((double)p->steps[step].dst.bytes != m->last_bytes) {
        if (step < bad) bad = step;
        continue;
      }
      m->recv_g = s->base[r] + step;
      s->step_msg[m->recv_g] = mi;
    }
    i = j;
  }
  if (bad == UINT32_MAX) return nscclSuccess;
  /* Say what is wrong with the earliest offending step, as the sender's list sees it. */
  const nsccl_step_t *st = &p->steps[bad];
  const pend_t *qs = sends + soff[st->peer];
  size_t nq = soff[st->peer + 1] - soff[st->peer], first = lower_bound(qs, nq, (uint32_t)r), have = 0, k = 0;
  while (first + have < nq && qs[first + have].peer == (uint32_t)r) have++;
  for (uint32_t i = 0; i < bad; i++)
    if (is_recv(&p->steps[i]) && p->steps[i].peer == st->peer) k++;
  if (k >= have)
    NSCCL_FAIL(nscclInvalidUsage,
               "simulator: rank %d step %u (%s) receives message %zu from rank %d, which sends only %zu", r, bad,
               nsccl_step_kind_name(st->kind), k + 1, st->peer, have);
  NSCCL_FAIL(nscclInvalidUsage,
             "simulator: rank %d step %u receives %zu bytes from rank %d, which sends %.0f in that message", r, bad,
             st->dst.bytes, st->peer, s->msgs[soff[st->peer] + first + k].last_bytes);
}

nscclResult_t nsccl_sim_match_messages(sim_t *s) {
  size_t n = (size_t)s->n, total = 0, most_recv = 0, most = 0;
  uint32_t *soff = malloc((n + 1) * sizeof(uint32_t));
  if (!soff) NSCCL_FAIL(nscclSystemError, "simulator: out of memory matching messages of %zu ranks", n);
  for (size_t r = 0; r < n; r++) {
    size_t ns = 0, nr = 0;
    for (uint32_t i = 0; i < s->progs[r].nsteps; i++) {
      ns += s->progs[r].steps[i].kind == NSCCL_STEP_SEND;
      nr += is_recv(&s->progs[r].steps[i]);
    }
    soff[r] = (uint32_t)total;
    total += ns;
    if (nr > most_recv) most_recv = nr;
    if (ns > most) most = ns;
  }
  soff[n] = (uint32_t)total;
  s->nmsgs = (uint32_t)total;
  pend_t *sends = malloc((total ? total : 1) * sizeof(pend_t));
  pend_t *rv = malloc((most_recv ? most_recv : 1) * sizeof(pend_t));
  if (most_recv > most) most = most_recv;
  sort_space_t w = {malloc((most ? most : 1) * sizeof(pend_t)), malloc((n + 1) * sizeof(uint32_t)), n};
  /* one message per cache line (sim_internal.h) */
  s->msgs = aligned_alloc(64, (total ? total : 1) * sizeof(msg_t));
  if (s->msgs) memset(s->msgs, 0, (total ? total : 1) * sizeof(msg_t));
  nscclResult_t rc = nscclSuccess;
  if (!sends || !rv || !w.tmp || !w.count || !s->msgs) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "simulator: out of memory for %zu messages", total);
    goto out;
  }
  for (size_t r = 0; r < n; r++) {
    const nsccl_program_t *p = &s->progs[r];
    pend_t *e = sends + soff[r];
    size_t k = 0;
    for (uint32_t i = 0; i < p->nsteps; i++)
      if (p->steps[i].kind == NSCCL_STEP_SEND) e[k++] = (pend_t){(uint32_t)p->steps[i].peer, i};
    sort_ends(e, k, &w);
    for (size_t j = 0; j < k; j++) {
      uint32_t mi = soff[r] + (uint32_t)j;
      msg_t *m = &s->msgs[mi];
      const nsccl_step_t *st = &p->steps[e[j].step];
      m->send_g = s->base[r] + e[j].step;
      m->recv_g = UINT32_MAX;
      m->last_bytes = (double)st->src.bytes; /* the message size until packets are cut */
      s->step_msg[m->send_g] = mi;
    }
  }
  for (size_t r = 0; r < n && rc == nscclSuccess; r++) rc = match_rank(s, (int)r, sends, soff, rv, &w);
  for (uint32_t mi = 0; mi < s->nmsgs && rc == nscclSuccess; mi++)
    if (s->msgs[mi].recv_g == UINT32_MAX) {
      const msg_t *m = &s->msgs[mi];
      int src = msg_src(s, m);
      rc = nscclInvalidUsage;
      nsccl_set_error(__FILE__, __LINE__, rc, "simulator: rank %d step %u sends to rank %d, which never receives it",
                      src, m->send_g - s->base[src], step_of(s, m->send_g)->peer);
    }
out:
  free(soff);
  free(sends);
  free(rv);
  free(w.tmp);
  free(w.count);
  return rc;
}
