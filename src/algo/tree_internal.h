/* Shared machinery of the tree builders (tree_*.c); not an interface for other families.
 *
 * nsccl_tree_ctx_t wraps the program under construction. Its emitters split every transfer into
 * chunks and compute each step's dependencies themselves, from a per-buffer map of who last wrote
 * and who has read each byte range since (read-after-write, write-after-read and write-after-write
 * hazards). Builders therefore only say what moves where, in program order; all conflicting
 * accesses come out ordered, and independent chunks stay free to pipeline. In-place aliasing of the
 * send and recv buffers is folded into the map so aliased bytes are seen as the same bytes. */
#ifndef NSCCL_ALGO_TREE_INTERNAL_H
#define NSCCL_ALGO_TREE_INTERNAL_H

#include <stdbool.h>

#include "algo/algo.h"
#include "algo/tree.h"

typedef struct {
  size_t lo; /* covers [lo, next segment's lo) */
  nsccl_step_id_t writer;
  uint32_t nread, cap;
  nsccl_step_id_t *readers; /* steps that read these bytes since `writer` */
} nsccl_tree_seg_t;

typedef struct {
  nsccl_tree_seg_t *segs;
  uint32_t nsegs, cap;
} nsccl_tree_space_t;

typedef struct {
  nsccl_program_t *prog;
  size_t chunk; /* bytes per emitted transfer */
  size_t elem;
  nsccl_tree_space_t space[NSCCL_NUM_BUFS];
  nsccl_step_id_t *deps;
  uint32_t ndeps, cap_deps;
  bool oom;
  /* A step every emitted step also waits for (NSCCL_NO_STEP: none): lets a builder hold steps back
   * for ordering (algo/lanes.c gates one lane's phase behind another's) beyond the hazards. */
  nsccl_step_id_t extra_dep;
  /* More steps every emitted step waits for (n_extra of them; NULL: none): a composed schedule
   * (algo/compose.c) keeps the dependencies of the inner program it re-emits. */
  const nsccl_step_id_t *extra_deps;
  uint32_t n_extra;
} nsccl_tree_ctx_t;

nscclResult_t nsccl_tree_ctx_init(nsccl_tree_ctx_t *c, nsccl_program_t *prog, const nsccl_algo_opts_t *opts);
/* Frees the hazard map; reports an allocation failure that happened while emitting. */
nscclResult_t nsccl_tree_ctx_finish(nsccl_tree_ctx_t *c);

/* Chunked emitters with automatic dependencies. Zero-byte regions emit nothing, and a COPY whose
 * source and destination are the same bytes (in place) is dropped. The two sides of a message
 * must call send/recv(_reduce) with the same byte count: chunking is then identical. */
void nsccl_tree_send(nsccl_tree_ctx_t *c, int peer, nsccl_region_t src);
void nsccl_tree_recv(nsccl_tree_ctx_t *c, int peer, nsccl_region_t dst);
void nsccl_tree_recv_reduce(nsccl_tree_ctx_t *c, int peer, nsccl_region_t src, nsccl_region_t dst);
void nsccl_tree_copy(nsccl_tree_ctx_t *c, nsccl_region_t src, nsccl_region_t dst);
void nsccl_tree_reduce(nsccl_tree_ctx_t *c, nsccl_region_t a, nsccl_region_t b, nsccl_region_t dst);

/* Fold-in of non-powers of two: of n = P + x ranks (P = 2^L the largest power of two <= n), the
 * x "extra" ranks are the odd ranks below 2x; extra 2i+1 folds into core rank 2i. Core ranks get
 * core indices 0..P-1 in rank order (rank 2i -> i for i < x, rank q >= 2x -> q - x), so core
 * index order is rank order and the two blocks of a folded pair (2i, 2i+1) are adjacent. */
typedef struct {
  int nranks, P, L, nextra;
  int core;    /* my core index, -1 for an extra rank */
  int partner; /* extra: the core rank I fold into; folded core: my extra; otherwise -1 */
} nsccl_tree_fold_t;

void nsccl_tree_fold_init(nsccl_tree_fold_t *f, int rank, int nranks);
int nsccl_tree_core_rank(const nsccl_tree_fold_t *f, int core);
/* First block (rank) of core index `core`'s super-block: core c owns blocks [first(c), first(c+1)). */
static inline int nsccl_tree_core_first_block(const nsccl_tree_fold_t *f, int core) {
  return core + (core < f->nextra ? core : f->nextra);
}
/* Hypercube partner of core index `core` across dimension `dim` (0 <= dim < L). On a flat topology
 * this is core ^ 2^dim; a topology-aware mapping (torus dimensions) replaces only this function. */
int nsccl_tree_hc_peer(const nsccl_tree_fold_t *f, int core, int dim);

/* Recursive halving reduce-scatter over the P core ranks of a vector cut into P super-blocks
 * (logical byte boundaries sb[0..P]): after it, core c holds the reduction of super-block c. The
 * logical vector's original input is SEND at the same offsets. Partials accumulate in ACC, where
 * logical byte x lives at acc_buf[x - acc_base]. */
typedef struct {
  const nsccl_tree_fold_t *fold;
  const size_t *sb;
  bool cur_in_acc; /* partials already in ACC (after a fold-in) instead of SEND */
  nsccl_buf_t acc_buf;
  size_t acc_base;
  /* > 0: the last step cuts transfers at multiples of final_block bytes, and the block whose index
   * equals this rank goes to RECV[0..final_block) instead of ACC (reduce-scatter's output). */
  size_t final_block;
} nsccl_tree_halving_t;

void nsccl_tree_rs_halving(nsccl_tree_ctx_t *c, const nsccl_tree_halving_t *h);
/* Recursive doubling all-gather of super-blocks that live in RECV at their logical offsets. */
void nsccl_tree_ag_doubling(nsccl_tree_ctx_t *c, const nsccl_tree_fold_t *f, const size_t *sb);

/* Per-collective builders (the program has nranks >= 2 and a non-empty vector). */
void nsccl_tree_allgather(nsccl_tree_ctx_t *c, int variant);
nscclResult_t nsccl_tree_reducescatter(nsccl_tree_ctx_t *c);
nscclResult_t nsccl_tree_allreduce(nsccl_tree_ctx_t *c, int variant);

#endif
