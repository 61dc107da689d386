/* Algorithm variants: everything the library knows about one schedule, in one descriptor.
 *
 * A variant is a schedule of one family (ring, tree, direct) with a name ("tree/rdh"), the
 * collectives it builds, where it applies, its builder, and its price (how its steps load the
 * topology, told to the cost model's step accumulator of model/price.h). Every variant is
 * registered in ONE table (algo/variants.c), the way libfabric registers providers: the builder
 * dispatch (nsccl_algo_build), the cost model (nsccl_model_predict), the selector's candidates,
 * NSCCL_ALGO's names and the tools all read that table. Adding a variant is adding one file that
 * defines its descriptor and one line in the table; nothing else changes.
 *
 * Identity: (family, id); id is what nsccl_algo_opts_t.variant carries to the builder. Names are
 * "FAMILY" for a family's default (id 0) and "FAMILY/VARIANT" otherwise. */
#ifndef NSCCL_ALGO_VARIANT_H
#define NSCCL_ALGO_VARIANT_H

#include "algo/algo.h"

struct nsccl_topo;
struct nsccl_model; /* model/price.h: the step accumulator a variant prices itself with */

#define NSCCL_COLL_BIT(c) (1u << (unsigned)(c))
#define NSCCL_COLLS_AG    NSCCL_COLL_BIT(NSCCL_COLL_ALLGATHER)
#define NSCCL_COLLS_RS    NSCCL_COLL_BIT(NSCCL_COLL_REDUCESCATTER)
#define NSCCL_COLLS_AR    NSCCL_COLL_BIT(NSCCL_COLL_ALLREDUCE)
#define NSCCL_COLLS_ALL   (NSCCL_COLLS_AG | NSCCL_COLLS_RS | NSCCL_COLLS_AR)

typedef struct nsccl_variant {
  const char *name;    /* "ring", "tree/rdh": as NSCCL_ALGO and nsccl-model --algo take it */
  nsccl_algo_t family; /* the family it belongs to (the selector picks per family, then variant) */
  int id;              /* nsccl_algo_opts_t.variant for its builder; unique within the family */
  unsigned colls;      /* NSCCL_COLL_BIT of every collective it builds */
  unsigned offered;    /* collectives for which the selector prices it as a candidate (subset of colls) */
  /* Does it build coll on topo (NULL topo: a flat set of nranks ranks)? NULL: everywhere. The
   * registry already checked coll against colls and topo->nranks against nranks. */
  int (*applies)(const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks);
  /* Offered only where this says so as well (NULL: wherever it applies), e.g. hierarchical
   * schedules only where groups are joined by a network. */
  int (*offer)(const struct nsccl_topo *topo, nsccl_coll_t coll);
  /* Build prog->rank's program for prog->args (opts->variant == id). topo may be NULL (flat) when
   * applies() allows it. Errors name why. */
  nscclResult_t (*build)(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog);
  /* Tell the cost model the steps the builder emits for coll moving `bytes` (nccl-tests
   * convention) on m's topology (never NULL here: a flat host is built for flat calls). Errors go
   * to m->rc. docs/model.md derives each variant's terms. */
  void (*price)(struct nsccl_model *m, nsccl_coll_t coll, double bytes);
  const char *about; /* one line: what the schedule does (tools' --list, docs) */
} nsccl_variant_t;

/* Most variants the registry holds (a bound for callers' arrays of variant ids; the table is checked
 * against it by a test). */
#define NSCCL_MAX_VARIANTS 64

/* The registry (algo/variants.c). */
int nsccl_variant_count(void);
const nsccl_variant_t *nsccl_variant_at(int i);
/* By (family, id), or NULL. */
const nsccl_variant_t *nsccl_variant_find(nsccl_algo_t family, int id);
/* By name ("ring", "ring/dims"), or NULL. */
const nsccl_variant_t *nsccl_variant_by_name(const char *name);
/* Does v build coll on topo with nranks ranks (coll in v->colls, rank counts agree, applies())? */
int nsccl_variant_applies(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks);
/* Is v a selector candidate for coll on topo (applies, coll in v->offered, offer())? */
int nsccl_variant_offered(const nsccl_variant_t *v, const struct nsccl_topo *topo, nsccl_coll_t coll, int nranks);

#endif
