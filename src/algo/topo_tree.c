/* Tree all-reduce with hypercube steps mapped onto torus dimensions: the flat recursive-doubling
 * or Rabenseifner schedule is built for virtual rank v = perm^-1(rank) and its peers renamed
 * through perm (nsccl_topo_hypercube_perm), so every hypercube step of a torus whose dimensions
 * are 2 or 4 long is a one-hop exchange. Renaming is sound for all-reduce only: every rank ends
 * with the whole reduced vector whatever the labelling, while all-gather and reduce-scatter place
 * blocks by rank. */
#include <stdlib.h>

#include "algo/topo_algo.h"
#include "algo/tree.h"
#include "core/check.h"
#include "topologies/topo.h"

nscclResult_t nsccl_tree_mapped_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

nscclResult_t nsccl_tree_mapped_build(const nsccl_topo_t *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  int n = prog->nranks, v = -1;
  int *perm = malloc(sizeof(int) * (size_t)n);
  if (!perm) NSCCL_FAIL(nscclSystemError, "tree: out of memory for a rank map of %d", n);
  nsccl_topo_hypercube_perm(topo, perm);
  for (int i = 0; i < n; i++)
    if (perm[i] == prog->rank) v = i;
  nsccl_program_t tmp;
  nscclResult_t rc = nsccl_prog_init(&tmp, v, n, &prog->args);
  if (rc == nscclSuccess) {
    nsccl_algo_opts_t o = *opts;
    o.variant &= ~NSCCL_TREE_MAPPED;
    rc = nsccl_tree_build(NULL, &o, &tmp);
    if (rc == nscclSuccess && nsccl_prog_failed(&tmp)) rc = nscclSystemError;
  }
  if (rc == nscclSuccess) {
    for (uint32_t s = 0; s < tmp.nsteps; s++)
      if (tmp.steps[s].peer >= 0) tmp.steps[s].peer = perm[tmp.steps[s].peer];
    tmp.rank = prog->rank;
    nsccl_prog_free(prog);
    *prog = tmp;
  } else {
    nsccl_prog_free(&tmp);
  }
  free(perm);
  return rc;
}
