/* Mismatched-call detection (see mismatch.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/mismatch.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/error_detail.h"
#include "base/log.h"
#include "engine/fabric.h"
#include "reduce/reduce.h"

#define SIG_MAGIC 0x6e736967u /* "nsig" */

/* One rank's call, sent as raw bytes: every rank of a job runs the same build on the same byte
 * order (the transport exchanges its own addresses the same way). */
typedef struct {
  uint32_t magic;
  uint8_t coll, dtype, op, in_place;
  int32_t root;
  uint32_t reserved;
  uint64_t count;
  uint64_t seq;
} sig_t;
_Static_assert(sizeof(sig_t) == 32, "the signature is 32 bytes on the wire");

static int enabled = -1;
static pthread_once_t enabled_once = PTHREAD_ONCE_INIT;
static void read_env(void) {
  const char *v = getenv("NSCCL_CHECK");
  enabled = v && *v && strtol(v, NULL, 10) != 0;
}

int nsccl_mismatch_enabled(void) {
  pthread_once(&enabled_once, read_env);
  return enabled;
}

/* The tag of the signature messages of collective `seq`: the engine's sequence field (same width
 * as engine/fabric.c computes it) with the reserved message index. */
static uint64_t sig_tag(nsccl_transport_t *tp, uint64_t seq) {
  int bits = nsccl_transport_tag_bits(tp);
  int seq_bits = bits - 33 < NSCCL_FABRIC_SEQ_BITS ? bits - 33 : NSCCL_FABRIC_SEQ_BITS;
  return NSCCL_FABRIC_TAG(seq, NSCCL_MISMATCH_MSG_INDEX, ((uint64_t)1 << seq_bits) - 1);
}

/* "0-2,5" for the ranks r with member[r]. */
static size_t rank_list(char *buf, size_t len, const int *member, int nranks) {
  size_t used = 0;
  buf[0] = '\0';
  for (int r = 0; r < nranks && used < len; r++) {
    if (!member[r]) continue;
    int e = r;
    while (e + 1 < nranks && member[e + 1]) e++;
    if (e > r + 1)
      used += (size_t)snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", r, e);
    else if (e == r + 1)
      used += (size_t)snprintf(buf + used, len - used, "%s%d,%d", used ? "," : "", r, e);
    else
      used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "", r);
    r = e;
  }
  return used;
}

static void field_value(const sig_t *s, int field, char *buf, size_t len) {
  switch (field) {
  case 0: snprintf(buf, len, "%s", nsccl_coll_name((nsccl_coll_t)s->coll)); break;
  case 1: snprintf(buf, len, "%llu", (unsigned long long)s->count); break;
  case 2: snprintf(buf, len, "%s", nsccl_type_name((nscclDataType_t)s->dtype)); break;
  case 3: snprintf(buf, len, "%s", nsccl_op_name((nscclRedOp_t)s->op)); break;
  default: snprintf(buf, len, "%d", (int)s->root); break;
  }
}

static int field_equal(const sig_t *a, const sig_t *b, int field) {
  switch (field) {
  case 0: return a->coll == b->coll;
  case 1: return a->count == b->count;
  case 2: return a->dtype == b->dtype;
  case 3: return a->op == b->op;
  default: return a->root == b->root;
  }
}

/* Append "count: rank 2 called count=100, ranks 0,1,3 count=128" when the ranks disagree on
 * `field`: groups of equal value, the smallest group first (the odd rank out leads). Returns 1 if
 * the field differs. */
static int describe_field(const sig_t *sigs, int nranks, int field, char *out, size_t len, size_t *used) {
  static const char *names[] = {"collective", "count", "datatype", "op", "root"};
  int *group = malloc((size_t)nranks * sizeof(int)), *member = malloc((size_t)nranks * sizeof(int));
  int ngroups = 0, differs = 0;
  if (!group || !member) goto out;
  for (int r = 0; r < nranks; r++) {
    group[r] = -1;
    for (int q = 0; q < r && group[r] < 0; q++)
      if (field_equal(&sigs[q], &sigs[r], field)) group[r] = group[q];
    if (group[r] < 0) group[r] = ngroups++;
  }
  if (ngroups < 2) goto out;
  differs = 1;
  int *size = calloc((size_t)ngroups, sizeof(int)), *shown = calloc((size_t)ngroups, sizeof(int));
  if (!size || !shown) {
    free(size), free(shown);
    goto out;
  }
  for (int r = 0; r < nranks; r++) size[group[r]]++;
  *used += (size_t)snprintf(out + *used, *used < len ? len - *used : 0, "%s", *used ? "; " : "");
  for (int k = 0; k < ngroups; k++) {
    int g = -1; /* the smallest group not shown yet; ties: the one with the lowest rank */
    for (int h = 0; h < ngroups; h++)
      if (!shown[h] && (g < 0 || size[h] < size[g])) g = h;
    shown[g] = 1;
    int first = -1;
    for (int r = 0; r < nranks; r++) {
      member[r] = group[r] == g;
      if (member[r] && first < 0) first = r;
    }
    char ranks[160], value[64];
    rank_list(ranks, sizeof(ranks), member, nranks);
    field_value(&sigs[first], field, value, sizeof(value));
    if (*used < len)
      *used += (size_t)snprintf(out + *used, len - *used, "%s%s %s %s%s=%s", k ? ", " : "",
                                size[g] > 1 ? "ranks" : "rank", ranks, k ? "" : "called ", names[field], value);
  }
  free(size), free(shown);
out:
  free(group), free(member);
  return differs;
}

/* Wait for every signature. On failure cancel, name the silent ranks, keep `keep` for freeing
 * after the transport closes (a provider may still write it), and fail the communicator. */
static nscclResult_t exchange(struct nscclComm *c, const char *call, uint64_t seq, sig_t *sigs, nsccl_xfer_t *x) {
  int n = c->nranks, me = c->rank;
  uint64_t tag = sig_tag(c->tp, seq);
  nscclResult_t rc = nscclSuccess;
  char why[600] = "";
  for (int p = 0; p < n && rc == nscclSuccess; p++) {
    x[p].done = x[n + p].done = 1;
    if (p == me) continue;
    x[p].done = x[n + p].done = 0;
    rc = nsccl_transport_irecv(c->tp, p, &sigs[p], sizeof(sig_t), tag, &x[p]);
    if (rc == nscclSuccess) rc = nsccl_transport_isend(c->tp, p, &sigs[me], sizeof(sig_t), tag, &x[n + p]);
    if (rc != nscclSuccess) {
      x[p].done = x[n + p].done = 1;
      rc = rc == nscclSystemError ? nscclSystemError : nscclRemoteError;
      snprintf(why, sizeof(why), "could not post the signature exchange with rank %d: %s", p, nsccl_error_detail());
    }
  }
  int64_t last = nsccl_now_ns(), timeout_ns = (int64_t)c->cfg.timeout_ms * 1000000;
  unsigned idle = 0;
  int left = 2 * (n - 1);
  while (rc == nscclSuccess && left > 0) {
    int k = nsccl_transport_progress(c->tp);
    if (k < 0) {
      rc = -k == nscclTimeout ? nscclTimeout : nscclRemoteError;
      snprintf(why, sizeof(why), "the transport failed (%s: %s)", nscclGetErrorString((nscclResult_t)-k),
               nsccl_error_detail());
      break;
    }
    int now_left = 0;
    for (int i = 0; i < 2 * n; i++) {
      if (!x[i].done) {
        now_left++;
      } else if (x[i].status != nscclSuccess && rc == nscclSuccess) {
        rc = x[i].status == nscclTimeout ? nscclTimeout : nscclRemoteError;
        snprintf(why, sizeof(why), "the signature %s rank %d failed (%s)", i < n ? "from" : "to", i % n,
                 nscclGetErrorString(x[i].status));
      }
    }
    if (now_left < left || k > 0) idle = 0, last = nsccl_now_ns();
    left = now_left;
    if (rc != nscclSuccess || left == 0) break;
    if (nsccl_now_ns() - last > timeout_ns) {
      rc = nscclTimeout;
      snprintf(why, sizeof(why), "made no progress for %d ms (NSCCL_TIMEOUT_MS)", c->cfg.timeout_ms);
      break;
    }
    nsccl_idle_pause(&idle);
  }
  if (rc == nscclSuccess) return nscclSuccess;
  /* Who never answered: receives still pending, and sends still pending. */
  int *silent = calloc((size_t)n, sizeof(int)), *stuck = calloc((size_t)n, sizeof(int));
  int nsilent = 0, nstuck = 0;
  char who[300] = "", to[200] = "";
  if (silent && stuck) {
    for (int p = 0; p < n; p++) {
      nsilent += silent[p] = !x[p].done;
      nstuck += stuck[p] = !x[n + p].done;
    }
    if (nsilent) rank_list(who, sizeof(who), silent, n);
    if (nstuck) rank_list(to, sizeof(to), stuck, n);
  }
  free(silent), free(stuck);
  nsccl_transport_cancel_all(c->tp, rc);
  c->async_error = rc;
  nsccl_set_error(__FILE__, __LINE__, rc,
                  "%s #%llu (rank %d of %d, argument check NSCCL_CHECK=1) %s: %s%s%s%s%s%s; the communicator is "
                  "unusable, call nscclCommAbort",
                  call, (unsigned long long)seq, me, n, why, nsilent ? "no call signature from rank" : "",
                  nsilent > 1 ? "s " : " ", who, nsilent ? " (never called this collective, or gone)" : "",
                  nstuck ? "; signatures to ranks never delivered: " : "", to);
  NSCCL_WARN(NSCCL_SUBSYS_COLL, "%s", nsccl_last_error());
  return rc;
}

nscclResult_t nsccl_mismatch_check(struct nscclComm *c, const char *call, const nsccl_coll_args_t *args,
                                   nscclRedOp_t op, uint64_t seq) {
  int n = c->nranks;
  if (n < 2 || !c->tp) return nscclSuccess;
  sig_t *sigs = calloc((size_t)n, sizeof(sig_t));
  nsccl_xfer_t *x = calloc(2 * (size_t)n, sizeof(nsccl_xfer_t));
  if (!sigs || !x) {
    free(sigs), free(x);
    NSCCL_FAIL(nscclSystemError, "%s: out of memory for the argument check of %d ranks", call, n);
  }
  sig_t *me = &sigs[c->rank];
  me->magic = SIG_MAGIC;
  me->coll = (uint8_t)args->coll;
  me->dtype = (uint8_t)args->dtype;
  int uses_op = args->coll != NSCCL_COLL_ALLGATHER && args->coll != NSCCL_COLL_BROADCAST;
  int rooted = args->coll == NSCCL_COLL_BROADCAST || args->coll == NSCCL_COLL_REDUCE;
  me->op = (uint8_t)(uses_op ? op : 0);
  me->in_place = (uint8_t)args->in_place;
  me->root = rooted ? args->root : 0;
  me->count = args->count;
  me->seq = seq;
  nscclResult_t rc = exchange(c, call, seq, sigs, x);
  if (rc != nscclSuccess) {
    /* Cancelled buffers may still be written by a provider that ignores cancellation: free them
     * only after the transport is closed (comm.c frees c->stale then). */
    void **st = realloc(c->stale, (size_t)(c->nstale + 2) * sizeof(void *));
    if (st) c->stale = st, c->stale[c->nstale++] = sigs, c->stale[c->nstale++] = x;
    return rc;
  }
  free(x);
  for (int r = 0; r < n; r++)
    if (sigs[r].magic != SIG_MAGIC || sigs[r].seq != seq) {
      uint32_t magic = sigs[r].magic;
      unsigned long long got = (unsigned long long)sigs[r].seq;
      free(sigs);
      c->async_error = nscclInternalError;
      NSCCL_FAIL(nscclInternalError, "%s #%llu: rank %d's call signature is corrupt (magic 0x%08x, seq %llu)", call,
                 (unsigned long long)seq, r, magic, got);
    }
  /* Compare. Op and root only mean something when every rank called the same collective. */
  char diff[900] = "";
  size_t used = 0;
  int differs = describe_field(sigs, n, 0, diff, sizeof(diff), &used);
  int fields = differs ? 3 : 5;
  for (int f = 1; f < fields; f++) differs |= describe_field(sigs, n, f, diff, sizeof(diff), &used);
  free(sigs);
  if (!differs) return nscclSuccess;
  nsccl_set_error(__FILE__, __LINE__, nscclInvalidUsage, "%s #%llu: the ranks' calls do not match (NSCCL_CHECK=1): %s",
                  call, (unsigned long long)seq, diff);
  NSCCL_WARN(NSCCL_SUBSYS_COLL, "%s", nsccl_last_error());
  return nscclInvalidUsage;
}
