/* The selector: every algorithm family is priced by the cost model (cost.c) at its cheapest
 * variant on the topology, and the cheapest family wins, unless an override (NSCCL_ALGO or
 * nscclConfig_t.algo) names one. NSCCL_DEBUG=INFO with subsystem MODEL prints every candidate. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "base/log.h"
#include "model/cost.h"
#include "model/cost_rooted.h"
#include "model/select.h"
#include "topologies/host.h"

/* "ring" -> ring, variant -1 (the family's cheapest); "ring/hier" -> the registered variant of that
 * name (algo/variant.h); -1 if unknown. */
static int algo_and_variant(const char *name, int *variant) {
  *variant = -1;
  if (!strchr(name, '/')) return nsccl_algo_from_name(name);
  const nsccl_variant_t *v = nsccl_variant_by_name(name);
  if (!v) return -1;
  *variant = v->id;
  return (int)v->family;
}

/* "msccl:PATH" (an MSCCL-IR file, algo/msccl.h): the file is read now, so a bad one fails the
 * parse with its line; it forces its own collective only (coll >= 0: the one named before it,
 * which must be the file's). */
static nscclResult_t msccl_item(const char *spec, const char *name, int coll, nsccl_algo_override_t *out) {
  const nsccl_variant_t *v;
  NSCCL_CHECK(nsccl_msccl_load(name, &v));
  int fc = 0;
  while (fc < NSCCL_NUM_COLLS && !(v->colls & NSCCL_COLL_BIT(fc))) fc++;
  if (coll >= 0 && coll != fc)
    NSCCL_FAIL(nscclInvalidArgument, "algorithm override '%s': %s is a %s algorithm, named for %s", spec, name,
               nsccl_coll_name((nsccl_coll_t)fc), nsccl_coll_name((nsccl_coll_t)coll));
  out->algo[fc] = (int)v->family;
  out->variant[fc] = v->id;
  return nscclSuccess;
}

static int is_msccl(const char *name) { return !strncmp(name, NSCCL_MSCCL_PREFIX, strlen(NSCCL_MSCCL_PREFIX)); }

nscclResult_t nsccl_algo_override_parse(const char *spec, nsccl_algo_override_t *out) {
  for (int c = 0; c < NSCCL_NUM_COLLS_ALL; c++) out->algo[c] = out->variant[c] = -1;
  if (!spec || !*spec) return nscclSuccess;
  char buf[256];
  if (strlen(spec) >= sizeof(buf)) NSCCL_FAIL(nscclInvalidArgument, "algorithm override '%.40s...' is too long", spec);
  snprintf(buf, sizeof(buf), "%s", spec);
  for (char *save = NULL, *item = strtok_r(buf, ";,", &save); item; item = strtok_r(NULL, ";,", &save)) {
    if (is_msccl(item)) {
      NSCCL_CHECK(msccl_item(spec, item, -1, out));
      continue;
    }
    char *colon = strchr(item, ':');
    const char *name = colon ? colon + 1 : item;
    int variant = -1;
    int algo = strcmp(name, "auto") == 0 || is_msccl(name) ? -1 : algo_and_variant(name, &variant);
    if (algo < 0 && strcmp(name, "auto") != 0 && !is_msccl(name))
      NSCCL_FAIL(nscclInvalidArgument,
                 "algorithm override '%s': unknown algorithm '%s' (use ring, tree, direct or auto, optionally with a "
                 "variant such as ring/hier, or msccl:FILE)",
                 spec, name);
    if (!colon) {
      for (int c = 0; c < NSCCL_NUM_COLLS_ALL; c++)
        out->algo[c] = algo, out->variant[c] = c < NSCCL_NUM_COLLS ? variant : -1;
      continue;
    }
    *colon = '\0';
    int coll = -1;
    for (int c = 0; c < NSCCL_NUM_COLLS_ALL; c++)
      if (!strcmp(item, nsccl_coll_name((nsccl_coll_t)c))) coll = c;
    if (coll < 0)
      NSCCL_FAIL(nscclInvalidArgument,
                 "algorithm override '%s': unknown collective '%s' (use allreduce, allgather, reducescatter, broadcast "
                 "or reduce)",
                 spec, item);
    if (is_msccl(name)) {
      NSCCL_CHECK(msccl_item(spec, name, coll, out));
      continue;
    }
    out->algo[coll] = algo;
    out->variant[coll] = coll < NSCCL_NUM_COLLS ? variant : -1; /* rooted: one schedule per family */
  }
  return nscclSuccess;
}

/* A NULL topology is a flat host crossbar; building it for every call would be wasteful, so the
 * last one built is kept (one per process, rebuilt when the rank count changes). */
static pthread_mutex_t flat_lock = PTHREAD_MUTEX_INITIALIZER;
static nsccl_topo_t *flat_cache;

/* Called with flat_lock held; the caller keeps it while it reads the topology. */
static nscclResult_t flat_topo(int nranks, const nsccl_topo_t **out) {
  nscclResult_t rc = nscclSuccess;
  if (!flat_cache || flat_cache->nranks != nranks) {
    nsccl_topo_t *t = NULL;
    rc = nsccl_topo_host_flat(nranks, &t);
    if (rc == nscclSuccess) {
      nsccl_topo_free(flat_cache);
      flat_cache = t;
    }
  }
  *out = flat_cache;
  if (rc != nscclSuccess) NSCCL_FAIL(rc, "selector: cannot build the flat host topology for %d ranks", nranks);
  return nscclSuccess;
}

nscclResult_t nsccl_select(const struct nsccl_topo *topo, const nsccl_algo_override_t *ovr, nsccl_coll_t coll,
                           size_t bytes, int nranks, nsccl_choice_t *out) {
  if ((unsigned)coll >= NSCCL_NUM_COLLS_ALL) NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)coll);
  if (!out) NSCCL_FAIL(nscclInvalidArgument, "nsccl_select: out is NULL");
  int rooted = coll >= NSCCL_NUM_COLLS;
  if (topo && topo->nranks != nranks)
    NSCCL_FAIL(nscclInvalidArgument, "selector: topology %s has %d ranks, the collective %d", topo->name, topo->nranks,
               nranks);
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "selector: nranks = %d, need >= 1", nranks);
  const nsccl_topo_t *t = topo;
  nscclResult_t rc = nscclSuccess;
  if (!t) {
    pthread_mutex_lock(&flat_lock);
    rc = flat_topo(nranks, &t);
  }
  int best = -1;
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) {
    out->predicted_s[a] = -1.0;
    out->variant[a] = 0;
    if (rc == nscclSuccess && rooted)
      rc = nsccl_model_predict_rooted(t, NULL, coll, (nsccl_algo_t)a, bytes, nranks, 0, &out->predicted_s[a]);
    else if (rc == nscclSuccess)
      rc = nsccl_model_best_variant(t, NULL, coll, (nsccl_algo_t)a, bytes, nranks, &out->variant[a],
                                    &out->predicted_s[a]);
    if (out->predicted_s[a] >= 0 && (best < 0 || out->predicted_s[a] < out->predicted_s[best])) best = a;
  }
  /* A forced variant ("ring/hier") that applies: price what will run (under the flat lock). */
  int forced = !rooted && ovr && ovr->algo[coll] >= 0 && ovr->variant[coll] >= 0 && rc == nscclSuccess &&
               nsccl_topo_algo_supported((nsccl_algo_t)ovr->algo[coll], ovr->variant[coll], t, coll, nranks);
  /* A file forced for another rank count: say so rather than "cannot price". */
  const nsccl_msccl_plan_t *file = forced ? nsccl_msccl_plan_of(ovr->variant[coll]) : NULL;
  if (file && file->ngpus != nranks) {
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s: the algorithm is written for ngpus=%d, not %d ranks",
                    file->path, file->ngpus, nranks);
    rc = nscclInvalidArgument;
    forced = 0;
  }
  if (forced) {
    int a = ovr->algo[coll];
    out->variant[a] = ovr->variant[coll];
    rc = nsccl_model_predict(t, NULL, coll, (nsccl_algo_t)a, out->variant[a], bytes, nranks, &out->predicted_s[a]);
  }
  if (!topo) pthread_mutex_unlock(&flat_lock);
  if (rc != nscclSuccess) return rc;
  out->overridden = ovr && ovr->algo[coll] >= 0;
  out->algo = out->overridden ? (nsccl_algo_t)ovr->algo[coll] : (nsccl_algo_t)(best >= 0 ? best : NSCCL_ALGO_RING);
  if (nsccl_log_enabled(NSCCL_LOG_INFO, NSCCL_SUBSYS_MODEL)) {
    char line[512];
    int len = 0;
    for (int a = 0; a < NSCCL_NUM_ALGOS; a++)
      len += snprintf(line + len, sizeof(line) - len, " %s=%.3fus",
                      nsccl_model_variant_name((nsccl_algo_t)a, out->variant[a]), out->predicted_s[a] * 1e6);
    NSCCL_INFO(NSCCL_SUBSYS_MODEL, "%s %zu bytes on %d ranks of %s:%s -> %s%s", nsccl_coll_name(coll), bytes, nranks,
               topo ? t->name : "flat host", line, nsccl_algo_name(out->algo), out->overridden ? " (override)" : "");
  }
  return nscclSuccess;
}
