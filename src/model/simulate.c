/* Simulating a whole collective: build every rank's schedule with the library's builders (the
 * variant the cost model would pick unless told otherwise) and time them with the simulator. */
#include <stdlib.h>

#include "base/check.h"
#include "model/cost.h"
#include "model/observe.h"
#include "model/simulate.h"
#include "topologies/topo.h"

nscclResult_t nsccl_sim_collective(const struct nsccl_topo *topo, nsccl_coll_t coll, nsccl_algo_t algo, int variant,
                                   size_t bytes, const nsccl_sim_opts_t *opts, nsccl_sim_result_t *res) {
  return nsccl_sim_collective_observed(topo, coll, algo, variant, bytes, 0, opts, NULL, res);
}

nscclResult_t nsccl_sim_collective_observed(const struct nsccl_topo *topo, nsccl_coll_t coll, nsccl_algo_t algo,
                                            int variant, size_t bytes, size_t chunk_bytes, const nsccl_sim_opts_t *opts,
                                            const nsccl_observe_t *ob, nsccl_sim_result_t *res) {
  if (!topo || !res) NSCCL_FAIL(nscclInvalidArgument, "nsccl_sim_collective: topo and res must not be NULL");
  if ((unsigned)coll >= NSCCL_NUM_COLLS) NSCCL_FAIL(nscclInvalidArgument, "unknown collective %d", (int)coll);
  if ((unsigned)algo >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "unknown algorithm %d", (int)algo);
  int n = topo->nranks;
  if (variant < 0) {
    double predicted;
    NSCCL_CHECK(nsccl_model_best_variant(topo, NULL, coll, algo, bytes, n, &variant, &predicted));
  }
  nsccl_coll_args_t args = {.coll = coll, .count = bytes, .dtype = nscclUint8, .in_place = false};
  if (coll != NSCCL_COLL_ALLREDUCE) args.count = bytes / (size_t)n;
  if (args.count == 0) args.count = 1;
  nsccl_algo_opts_t aopts = {.chunk_bytes = chunk_bytes, .variant = variant};
  nsccl_program_t *progs = calloc((size_t)n, sizeof(nsccl_program_t));
  if (!progs) NSCCL_FAIL(nscclSystemError, "nsccl_sim_collective: out of memory for %d programs", n);
  nscclResult_t rc = nscclSuccess;
  int built = 0;
  for (; built < n && rc == nscclSuccess; built++) {
    rc = nsccl_prog_init(&progs[built], built, n, &args);
    if (rc == nscclSuccess) rc = nsccl_algo_build(algo, topo, &aopts, &progs[built]);
  }
  nsccl_observe_t named;
  char label[256];
  if (ob && ob->trace && !ob->label) { /* the run's name in the trace: what ran, at which size, where */
    snprintf(label, sizeof(label), "%s %s %zu B on %s", nsccl_coll_name(coll), nsccl_model_variant_name(algo, variant),
             bytes, topo->name);
    named = *ob;
    named.label = label;
    ob = &named;
  }
  if (rc == nscclSuccess) rc = nsccl_sim_observed(topo, progs, n, opts, ob, res);
  for (int r = 0; r < built; r++) nsccl_prog_free(&progs[r]);
  free(progs);
  return rc;
}

nscclResult_t nscclModelSimulate(const nscclTopo_t *topo, nscclModelColl_t coll, nscclModelAlgo_t algo, size_t bytes,
                                 const nsccl_sim_opts_t *opts, nsccl_sim_result_t *result) {
  if (!topo) NSCCL_FAIL(nscclInvalidArgument, "nscclModelSimulate: the simulator needs a topology (got NULL)");
  return nsccl_sim_collective(topo, (nsccl_coll_t)coll, (nsccl_algo_t)algo, -1, bytes, opts, result);
}
