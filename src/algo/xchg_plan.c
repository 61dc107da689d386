/* Pairwise-exchange plans: held sets by simulation, validity, runs (algo/xchg_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "algo/xchg_plan.h"
#include "base/check.h"

static nscclResult_t make_order(nsccl_xchg_plan_t *pl, const char *who);

nscclResult_t nsccl_xchg_plan_compute(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer) {
  memset(pl, 0, sizeof(*pl));
  if (p < 1 || L < 0) NSCCL_FAIL(nscclInvalidArgument, "%s: a plan of %d steps on %d ranks", who, L, p);
  pl->p = p, pl->L = L, pl->W = (p + 63) / 64;
  size_t words = ((size_t)L + 1) * (size_t)p * (size_t)pl->W;
  pl->peer = malloc(sizeof(int) * ((size_t)L * p + 1));
  pl->held = calloc(words, sizeof(uint64_t));
  if (!pl->peer || !pl->held) {
    nsccl_xchg_plan_release(pl);
    NSCCL_FAIL(nscclSystemError, "%s: out of memory for a plan of %d steps on %d ranks", who, L, p);
  }
  memcpy(pl->peer, peer, sizeof(int) * (size_t)L * p);
  for (int r = 0; r < p; r++) pl->held[(size_t)r * pl->W + (r >> 6)] |= (uint64_t)1 << (r & 63);
  for (int s = 0; s < L; s++)
    for (int r = 0; r < p; r++) {
      int q = pl->peer[s * p + r];
      if (q < 0 || q >= p || q == r || pl->peer[s * p + q] != r) {
        nsccl_xchg_plan_release(pl);
        NSCCL_FAIL(nscclInternalError, "%s: step %d pairs rank %d with %d, which is not a pairing", who, s, r, q);
      }
      const uint64_t *a = nsccl_xchg_held(pl, s, r), *b = nsccl_xchg_held(pl, s, q);
      uint64_t *out = pl->held + ((size_t)(s + 1) * p + (size_t)r) * (size_t)pl->W;
      for (int w = 0; w < pl->W; w++) {
        if (a[w] & b[w]) {
          nsccl_xchg_plan_release(pl);
          NSCCL_FAIL(nscclInternalError, "%s: step %d: ranks %d and %d would exchange a block twice", who, s, r, q);
        }
        out[w] = a[w] | b[w];
      }
    }
  for (int r = 0; r < p; r++)
    if (nsccl_xchg_count(pl, nsccl_xchg_held(pl, L, r)) != p) {
      nsccl_xchg_plan_release(pl);
      NSCCL_FAIL(nscclInternalError, "%s: after %d steps rank %d misses blocks", who, L, r);
    }
  nscclResult_t rc = make_order(pl, who);
  if (rc != nscclSuccess) nsccl_xchg_plan_release(pl);
  return rc;
}

void nsccl_xchg_plan_release(nsccl_xchg_plan_t *pl) {
  free(pl->peer);
  free(pl->held);
  free(pl->order);
  free(pl->span);
  pl->span = NULL;
  pl->peer = NULL;
  pl->held = NULL;
  pl->order = NULL;
}

/* Leaves of the held-set hierarchy below held(s, r), appended at order[*n]. */
static void leaves(nsccl_xchg_plan_t *pl, int s, int r, int *n) {
  if (s == 0) {
    pl->order[(*n)++] = r;
    return;
  }
  leaves(pl, s - 1, r, n);
  leaves(pl, s - 1, nsccl_xchg_peer(pl, s - 1, r), n);
}

/* Whether every held set is an interval of positions: by the doubling recursion, held(s + 1, r) =
 * held(s, r) + held(s, peer) (disjoint, checked by init), so its lowest and highest positions and
 * its size follow from the two halves in O(1); a set is an interval when hi - lo + 1 = size. */
static nscclResult_t make_spans(nsccl_xchg_plan_t *pl, const int *pos, int *ok) {
  int p = pl->p, L = pl->L;
  struct nsccl_xchg_span *sp = malloc(sizeof(*sp) * ((size_t)(L + 1) * p));
  int *hi = malloc(sizeof(int) * ((size_t)(L + 1) * p));
  if (!sp || !hi) {
    free(sp), free(hi);
    return nscclSystemError;
  }
  *ok = 1;
  for (int r = 0; r < p; r++) sp[r].lo = hi[r] = pos[r], sp[r].n = 1;
  for (int s = 0; s < L; s++)
    for (int r = 0; r < p; r++) {
      size_t a = (size_t)s * p + (size_t)r, b = (size_t)s * p + (size_t)nsccl_xchg_peer(pl, s, r), o = a + (size_t)p;
      sp[o].lo = sp[a].lo < sp[b].lo ? sp[a].lo : sp[b].lo;
      hi[o] = hi[a] > hi[b] ? hi[a] : hi[b];
      sp[o].n = sp[a].n + sp[b].n;
    }
  for (size_t i = 0; i < (size_t)(L + 1) * p && *ok; i++) *ok = hi[i] - sp[i].lo + 1 == sp[i].n;
  free(hi);
  if (*ok)
    pl->span = sp;
  else
    free(sp);
  return nscclSuccess;
}

static nscclResult_t make_order(nsccl_xchg_plan_t *pl, const char *who) {
  int p = pl->p, n = 0, ok = 1;
  pl->order = malloc(sizeof(int) * (size_t)p);
  int *pos = malloc(sizeof(int) * (size_t)p);
  if (!pl->order || !pos) {
    free(pos);
    NSCCL_FAIL(nscclSystemError, "%s: out of memory for a block order of %d ranks", who, p);
  }
  leaves(pl, pl->L, 0, &n);
  for (int i = 0; i < p; i++) pos[pl->order[i]] = i;
  nscclResult_t rc = make_spans(pl, pos, &ok);
  free(pos);
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "%s: out of memory for the held intervals of %d ranks", who, p);
  if (!ok)
    for (int i = 0; i < p; i++) pl->order[i] = i;
  return nscclSuccess;
}

static long held_index(const nsccl_xchg_plan_t *pl, const uint64_t *set);

int nsccl_xchg_count(const nsccl_xchg_plan_t *pl, const uint64_t *set) {
  long h = pl->span ? held_index(pl, set) : -1;
  if (h >= 0) return pl->span[h].n; /* the recursion's size: the popcount, by construction */
  int n = 0;
  for (int w = 0; w < pl->W; w++) n += __builtin_popcountll(set[w]);
  return n;
}

/* Runs of set bits a word at a time: a run starts at a set bit whose lower neighbour is clear and
 * ends before a clear bit whose lower neighbour is set. */
int nsccl_xchg_runs(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]) {
  int nr = 0;
  uint64_t carry = 0; /* the previous word's top bit */
  for (int w = 0; w < pl->W; w++) {
    uint64_t x = set[w], below = x << 1 | carry;
    uint64_t starts = x & ~below, ends = ~x & below;
    while (starts | ends) {
      /* in a word, starts and ends alternate; the lowest of the two comes first */
      int a = starts ? __builtin_ctzll(starts) : 64, b = ends ? __builtin_ctzll(ends) : 64;
      if (a < b) {
        runs[nr][0] = w * 64 + a, runs[nr][1] = pl->p, nr++;
        starts &= starts - 1;
      } else {
        runs[nr - 1][1] = w * 64 + b;
        ends &= ends - 1;
      }
    }
    carry = x >> 63;
  }
  return nr;
}

/* The set's index (s * p + r) when it is one of pl's held sets, else -1. */
static long held_index(const nsccl_xchg_plan_t *pl, const uint64_t *set) {
  if (set < pl->held) return -1;
  size_t off = (size_t)(set - pl->held), W = (size_t)pl->W;
  if (off % W != 0 || off / W >= ((size_t)pl->L + 1) * (size_t)pl->p) return -1;
  return (long)(off / W);
}

int nsccl_xchg_runs_ordered(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]) {
  long h = pl->span ? held_index(pl, set) : -1;
  if (h >= 0) {
    runs[0][0] = pl->span[h].lo, runs[0][1] = pl->span[h].lo + pl->span[h].n;
    return pl->span[h].n > 0;
  }
  int nr = 0;
  for (int i = 0; i < pl->p; i++) {
    if (!nsccl_xchg_has(set, pl->order[i])) continue;
    if (nr && runs[nr - 1][1] == i)
      runs[nr - 1][1] = i + 1;
    else
      runs[nr][0] = i, runs[nr][1] = i + 1, nr++;
  }
  return nr;
}

void nsccl_xchg_cut(size_t bytes, size_t elem, int J, const double *w, size_t *cut) {
  size_t count = bytes / elem;
  double acc = 0;
  cut[0] = 0;
  for (int j = 0; j < J; j++) {
    acc += w[j];
    size_t c = j == J - 1 ? count : (size_t)(acc * (double)count + 0.5);
    if (c > count) c = count;
    if (c * elem < cut[j]) c = cut[j] / elem;
    cut[j + 1] = c * elem;
  }
}
