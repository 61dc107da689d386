/* direct algorithms (being written). */
#include "algo/algo.h"
#include "core/check.h"

nscclResult_t nsccl_direct_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)topo;
  (void)opts;
  NSCCL_FAIL(nscclInternalError, "direct: %s not implemented yet", nsccl_coll_name(prog->args.coll));
}
