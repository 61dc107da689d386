/* Family names, the build entry point (through the variant registry, algo/variant.h) and helpers
 * shared by the builders. */
#include <string.h>

#include "algo/algo.h"
#include "algo/membound.h"
#include "algo/topo_algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "reduce/reduce.h"
#include "topologies/topo.h"

static const struct {
  const char *name;
  nsccl_algo_build_fn build;
} algos[NSCCL_NUM_ALGOS] = {
    [NSCCL_ALGO_RING] = {"ring", nsccl_ring_build},
    [NSCCL_ALGO_TREE] = {"tree", nsccl_tree_build},
    [NSCCL_ALGO_DIRECT] = {"direct", nsccl_direct_build},
};

const char *nsccl_algo_name(nsccl_algo_t algo) { return (unsigned)algo < NSCCL_NUM_ALGOS ? algos[algo].name : "?"; }

int nsccl_algo_from_name(const char *name) {
  for (int i = 0; i < NSCCL_NUM_ALGOS; i++)
    if (name && !strcmp(name, algos[i].name)) return i;
  return -1;
}

nscclResult_t nsccl_algo_build(nsccl_algo_t algo, const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts,
                               nsccl_program_t *prog) {
  static const nsccl_algo_opts_t defaults = {0, 0};
  if ((unsigned)algo >= NSCCL_NUM_ALGOS) NSCCL_FAIL(nscclInvalidArgument, "unknown algorithm %d", (int)algo);
  if (!opts) opts = &defaults;
  if (topo && topo->nranks != prog->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "topology %s has %d ranks, the program %d", topo->name, topo->nranks,
               prog->nranks);
  nsccl_coll_t coll = prog->args.coll;
  if (coll >= NSCCL_NUM_COLLS) {
    /* Rooted collectives have one schedule per family (algo/bcast_reduce.h), no variants. */
    NSCCL_CHECK(algos[algo].build(topo, opts, prog));
  } else {
    /* Every variant is built through its descriptor (algo/variant.h). A variant named for other
     * collectives builds the family's default for this one, so one variant can be passed for all. */
    const nsccl_variant_t *v = nsccl_variant_find(algo, opts->variant);
    if (!v)
      NSCCL_FAIL(nscclInvalidArgument, "%s: no variant %d (0x%x) is registered", algos[algo].name, opts->variant,
                 (unsigned)opts->variant);
    if (!(v->colls & NSCCL_COLL_BIT(coll))) {
      nsccl_algo_opts_t o = *opts;
      o.variant = 0;
      v = nsccl_variant_find(algo, 0);
      NSCCL_CHECK(v->build(topo, &o, prog));
    } else {
      NSCCL_CHECK(v->build(topo, opts, prog));
    }
  }
  if (nsccl_prog_failed(prog))
    NSCCL_FAIL(nscclSystemError, "out of memory building the %s %s schedule", algos[algo].name,
               nsccl_coll_name(prog->args.coll));
  /* Every family's program gets the receive window here (idempotent: some builders add it too). */
  return nsccl_algo_window(prog, nsccl_algo_chunk_bytes(prog, opts));
}

size_t nsccl_algo_elem_bytes(const nsccl_program_t *prog) { return nsccl_type_size(prog->args.dtype); }

size_t nsccl_algo_chunk_bytes(const nsccl_program_t *prog, const nsccl_algo_opts_t *opts) {
  size_t elem = nsccl_algo_elem_bytes(prog);
  size_t chunk = opts && opts->chunk_bytes ? opts->chunk_bytes : NSCCL_DEFAULT_CHUNK_BYTES;
  chunk -= chunk % elem;
  return chunk ? chunk : elem;
}

size_t nsccl_chunk_count(size_t bytes, size_t chunk) { return (bytes + chunk - 1) / chunk; }

nsccl_region_t nsccl_region_chunk(nsccl_region_t whole, size_t chunk, size_t c) {
  size_t off = c * chunk, left = whole.bytes - off;
  return nsccl_region((nsccl_buf_t)whole.buf, whole.offset + off, left < chunk ? left : chunk);
}
