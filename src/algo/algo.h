/* Algorithms: (topology, collective, rank) -> schedule. They never touch a transport, a clock or a
 * real buffer; they only emit steps into an nsccl_program_t. */
#ifndef NSCCL_ALGO_ALGO_H
#define NSCCL_ALGO_ALGO_H

#include "sched/sched.h"

struct nsccl_topo; /* topologies/topo.h; NULL means flat: every rank one hop from every other */

typedef enum { NSCCL_ALGO_RING = 0, NSCCL_ALGO_TREE, NSCCL_ALGO_DIRECT, NSCCL_NUM_ALGOS } nsccl_algo_t;

/* Knobs a builder may use. Zero-initialised options are valid and mean "defaults". */
typedef struct {
  /* Transfers longer than this are split into chunks that engines can pipeline (0: default). */
  size_t chunk_bytes;
  /* Variant inside a family, e.g. tree all-reduce: 0 auto, see tree.c (NSCCL_TREE_*). */
  int variant;
} nsccl_algo_opts_t;

#define NSCCL_DEFAULT_CHUNK_BYTES ((size_t)1 << 20)

/* Memory bound (docs/algorithms.md, "Memory bound"; helpers in algo/membound.h). Scratch is cut
 * into chunk-sized slots reused round robin: a stream of data that needs scratch (a ring's partial
 * sums, one peer's operands of a direct reduction) has NSCCL_ALGO_SLOTS chunks of it in flight,
 * whatever the message size. Receives that need staging or scratch (RECV_REDUCE, RECV into
 * scratch) are flow-controlled: each waits for the NSCCL_ALGO_WINDOW-th earlier one, so at most
 * that many are ever posted at once. */
#define NSCCL_ALGO_SLOTS  4
#define NSCCL_ALGO_WINDOW 8

typedef nscclResult_t (*nsccl_algo_build_fn)(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts,
                                             nsccl_program_t *prog);

/* Build rank prog->rank's program for prog->args on prog->nranks ranks. prog must be freshly
 * initialised with nsccl_prog_init. */
nscclResult_t nsccl_algo_build(nsccl_algo_t algo, const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts,
                               nsccl_program_t *prog);

const char *nsccl_algo_name(nsccl_algo_t algo);
/* Parse "ring" / "tree" / "direct"; returns -1 if unknown. */
int nsccl_algo_from_name(const char *name);

/* Per-family builders (ring.c, tree.c, direct.c). Each handles every nsccl_coll_t. */
nscclResult_t nsccl_ring_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
nscclResult_t nsccl_tree_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
nscclResult_t nsccl_direct_build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);

/* Shared helpers for builders (algo_common.c). */
/* Bytes of one element of the collective's datatype. */
size_t nsccl_algo_elem_bytes(const nsccl_program_t *prog);
/* Effective chunk size in bytes, a multiple of the element size and at least one element. */
size_t nsccl_algo_chunk_bytes(const nsccl_program_t *prog, const nsccl_algo_opts_t *opts);
/* How many chunks of `chunk` bytes cover `bytes` (0 for 0), and chunk c of region whole (the last
 * one may be shorter). */
size_t nsccl_chunk_count(size_t bytes, size_t chunk);
nsccl_region_t nsccl_region_chunk(nsccl_region_t whole, size_t chunk, size_t c);

#endif
