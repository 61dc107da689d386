/* Pairwise-exchange plans: held sets by simulation, validity, runs (algo/xchg_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "algo/xchg_plan.h"
#include "base/check.h"

static nscclResult_t make_order(nsccl_xchg_plan_t *pl, const char *who);

nscclResult_t nsccl_xchg_plan_init(nsccl_xchg_plan_t *pl, const char *who, int p, int L, const int *peer) {
  memset(pl, 0, sizeof(*pl));
  if (p < 1 || L < 0) NSCCL_FAIL(nscclInvalidArgument, "%s: a plan of %d steps on %d ranks", who, L, p);
  pl->p = p, pl->L = L, pl->W = (p + 63) / 64;
  size_t words = ((size_t)L + 1) * (size_t)p * (size_t)pl->W;
  pl->peer = malloc(sizeof(int) * ((size_t)L * p + 1));
  pl->held = calloc(words, sizeof(uint64_t));
  if (!pl->peer || !pl->held) {
    nsccl_xchg_plan_free(pl);
    NSCCL_FAIL(nscclSystemError, "%s: out of memory for a plan of %d steps on %d ranks", who, L, p);
  }
  memcpy(pl->peer, peer, sizeof(int) * (size_t)L * p);
  for (int r = 0; r < p; r++) pl->held[(size_t)r * pl->W + (r >> 6)] |= (uint64_t)1 << (r & 63);
  for (int s = 0; s < L; s++)
    for (int r = 0; r < p; r++) {
      int q = pl->peer[s * p + r];
      if (q < 0 || q >= p || q == r || pl->peer[s * p + q] != r) {
        nsccl_xchg_plan_free(pl);
        NSCCL_FAIL(nscclInternalError, "%s: step %d pairs rank %d with %d, which is not a pairing", who, s, r, q);
      }
      const uint64_t *a = nsccl_xchg_held(pl, s, r), *b = nsccl_xchg_held(pl, s, q);
      uint64_t *out = pl->held + ((size_t)(s + 1) * p + (size_t)r) * (size_t)pl->W;
      for (int w = 0; w < pl->W; w++) {
        if (a[w] & b[w]) {
          nsccl_xchg_plan_free(pl);
          NSCCL_FAIL(nscclInternalError, "%s: step %d: ranks %d and %d would exchange a block twice", who, s, r, q);
        }
        out[w] = a[w] | b[w];
      }
    }
  for (int r = 0; r < p; r++)
    if (nsccl_xchg_count(pl, nsccl_xchg_held(pl, L, r)) != p) {
      nsccl_xchg_plan_free(pl);
      NSCCL_FAIL(nscclInternalError, "%s: after %d steps rank %d misses blocks", who, L, r);
    }
  nscclResult_t rc = make_order(pl, who);
  if (rc != nscclSuccess) nsccl_xchg_plan_free(pl);
  return rc;
}

void nsccl_xchg_plan_free(nsccl_xchg_plan_t *pl) {
  free(pl->peer);
  free(pl->held);
  free(pl->order);
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

static int is_interval(const nsccl_xchg_plan_t *pl, const uint64_t *set, const int *pos) {
  int lo = pl->p, hi = -1, n = 0;
  for (int q = 0; q < pl->p; q++)
    if (nsccl_xchg_has(set, q)) {
      lo = pos[q] < lo ? pos[q] : lo, hi = pos[q] > hi ? pos[q] : hi;
      n++;
    }
  return hi - lo + 1 == n;
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
  for (int s = 0; s <= pl->L && ok; s++)
    for (int r = 0; r < p && ok; r++) ok = is_interval(pl, nsccl_xchg_held(pl, s, r), pos);
  if (!ok)
    for (int i = 0; i < p; i++) pl->order[i] = i;
  free(pos);
  return nscclSuccess;
}

int nsccl_xchg_count(const nsccl_xchg_plan_t *pl, const uint64_t *set) {
  int n = 0;
  for (int w = 0; w < pl->W; w++) n += __builtin_popcountll(set[w]);
  return n;
}

int nsccl_xchg_runs(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]) {
  int nr = 0;
  for (int q = 0; q < pl->p; q++) {
    if (!nsccl_xchg_has(set, q)) continue;
    if (nr && runs[nr - 1][1] == q)
      runs[nr - 1][1] = q + 1;
    else
      runs[nr][0] = q, runs[nr][1] = q + 1, nr++;
  }
  return nr;
}

int nsccl_xchg_runs_ordered(const nsccl_xchg_plan_t *pl, const uint64_t *set, int (*runs)[2]) {
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
