/* The selector. Placeholder rule until the cost model lands (issue 4): overrides are honoured;
 * otherwise direct for small messages, ring for large ones. */
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "model/select.h"

nscclResult_t nsccl_algo_override_parse(const char *spec, nsccl_algo_override_t *out) {
  for (int c = 0; c < NSCCL_NUM_COLLS; c++) out->algo[c] = -1;
  if (!spec || !*spec) return nscclSuccess;
  char buf[256];
  if (strlen(spec) >= sizeof(buf)) NSCCL_FAIL(nscclInvalidArgument, "algorithm override '%.40s...' is too long", spec);
  snprintf(buf, sizeof(buf), "%s", spec);
  for (char *save = NULL, *item = strtok_r(buf, ";,", &save); item; item = strtok_r(NULL, ";,", &save)) {
    char *colon = strchr(item, ':');
    const char *name = colon ? colon + 1 : item;
    int algo = strcmp(name, "auto") == 0 ? -1 : nsccl_algo_from_name(name);
    if (algo < 0 && strcmp(name, "auto") != 0)
      NSCCL_FAIL(nscclInvalidArgument,
                 "algorithm override '%s': unknown algorithm '%s' (use ring, tree, direct or auto)", spec, name);
    if (!colon) {
      for (int c = 0; c < NSCCL_NUM_COLLS; c++) out->algo[c] = algo;
      continue;
    }
    *colon = '\0';
    int coll = -1;
    for (int c = 0; c < NSCCL_NUM_COLLS; c++)
      if (!strcmp(item, nsccl_coll_name((nsccl_coll_t)c))) coll = c;
    if (coll < 0)
      NSCCL_FAIL(nscclInvalidArgument,
                 "algorithm override '%s': unknown collective '%s' (use allreduce, allgather or reducescatter)", spec,
                 item);
    out->algo[coll] = algo;
  }
  return nscclSuccess;
}

nscclResult_t nsccl_select(const struct nsccl_topo *topo, const nsccl_algo_override_t *ovr, nsccl_coll_t coll,
                           size_t bytes, int nranks, nsccl_choice_t *out) {
  (void)topo;
  (void)nranks;
  if ((unsigned)coll >= NSCCL_NUM_COLLS) NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)coll);
  for (int a = 0; a < NSCCL_NUM_ALGOS; a++) out->predicted_s[a] = -1.0;
  out->overridden = ovr && ovr->algo[coll] >= 0;
  out->algo = out->overridden ? (nsccl_algo_t)ovr->algo[coll] : bytes <= 65536 ? NSCCL_ALGO_DIRECT : NSCCL_ALGO_RING;
  return nscclSuccess;
}
