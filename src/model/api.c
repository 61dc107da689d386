/* The public modelling API (include/nsccl_model.h) over the topology loader, the cost model and
 * the selector. */
#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "nsccl_model.h"
#include "topologies/topo.h"

_Static_assert((int)nscclModelAllReduce == (int)NSCCL_COLL_ALLREDUCE &&
                   (int)nscclModelReduceScatter == (int)NSCCL_COLL_REDUCESCATTER &&
                   (int)nscclModelAllGather == (int)NSCCL_COLL_ALLGATHER,
               "public collective numbering must match nsccl_coll_t");
_Static_assert((int)nscclModelRing == (int)NSCCL_ALGO_RING && (int)nscclModelTree == (int)NSCCL_ALGO_TREE &&
                   (int)nscclModelDirect == (int)NSCCL_ALGO_DIRECT,
               "public algorithm numbering must match nsccl_algo_t");

nscclResult_t nscclModelTopoLoad(const char *nameOrPath, nscclTopo_t **topo) {
  return nsccl_topo_load(nameOrPath, topo);
}

void nscclModelTopoFree(nscclTopo_t *topo) { nsccl_topo_free(topo); }

int nscclModelTopoRanks(const nscclTopo_t *topo) { return topo ? topo->nranks : 0; }

const char *nscclModelTopoName(const nscclTopo_t *topo) { return topo ? topo->name : "flat"; }

static nscclResult_t ranks_of(const nscclTopo_t *topo, int nranks, int *out) {
  if (topo && nranks && nranks != topo->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "nranks = %d but topology %s has %d ranks", nranks, topo->name, topo->nranks);
  *out = topo ? topo->nranks : nranks;
  if (*out < 1) NSCCL_FAIL(nscclInvalidArgument, "nranks = %d: give a topology or nranks >= 1", nranks);
  return nscclSuccess;
}

nscclResult_t nscclModelPredict(const nscclTopo_t *topo, int nranks, nscclModelColl_t coll, nscclModelAlgo_t algo,
                                size_t bytes, double *seconds, const char **variantName) {
  int n, variant;
  NSCCL_CHECK(ranks_of(topo, nranks, &n));
  if ((unsigned)coll >= nscclModelNumColls) NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)coll);
  if ((unsigned)algo >= nscclModelNumAlgos) NSCCL_FAIL(nscclInvalidArgument, "unknown algorithm %d", (int)algo);
  if (!seconds) NSCCL_FAIL(nscclInvalidArgument, "nscclModelPredict: seconds is NULL");
  NSCCL_CHECK(
      nsccl_model_best_variant(topo, NULL, (nsccl_coll_t)coll, (nsccl_algo_t)algo, bytes, n, &variant, seconds));
  if (variantName) *variantName = nsccl_model_variant_name((nsccl_algo_t)algo, variant);
  return nscclSuccess;
}

nscclResult_t nscclModelSelect(const nscclTopo_t *topo, int nranks, nscclModelColl_t coll, size_t bytes,
                               const char *override, nscclModelAlgo_t *algo, double *seconds) {
  int n;
  NSCCL_CHECK(ranks_of(topo, nranks, &n));
  if ((unsigned)coll >= nscclModelNumColls) NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)coll);
  nsccl_algo_override_t ovr;
  NSCCL_CHECK(nsccl_algo_override_parse(override, &ovr));
  nsccl_choice_t ch;
  NSCCL_CHECK(nsccl_select(topo, &ovr, (nsccl_coll_t)coll, bytes, n, &ch));
  if (algo) *algo = (nscclModelAlgo_t)ch.algo;
  if (seconds) *seconds = ch.predicted_s[ch.algo];
  return nscclSuccess;
}

const char *nscclModelCollName(nscclModelColl_t coll) {
  return (unsigned)coll < nscclModelNumColls ? nsccl_coll_name((nsccl_coll_t)coll) : "?";
}

const char *nscclModelAlgoName(nscclModelAlgo_t algo) { return nsccl_algo_name((nsccl_algo_t)algo); }
