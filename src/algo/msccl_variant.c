/* Imported MSCCL-IR files as registered variants (docs/algorithms.md, "Variants from files").
 *
 * The registry's table (variants.c) is fixed at build time; a file named at run time
 * ("msccl:PATH" in NSCCL_ALGO or nsccl-model --algo) becomes a variant here instead: a descriptor
 * of the direct family (a file's schedule is none of the ring or tree patterns, and direct is the
 * family of general exchanges) with id NSCCL_MSCCL_ID_BASE + slot, named "msccl:PATH", building
 * only the file's collective, offered to no selector. nsccl_variant_find and _by_name consult this
 * list after the table, so the builder dispatch, the cost model and the tools take it like any
 * other. A path is read once per process; the slots are never freed (at most
 * NSCCL_MSCCL_MAX_FILES), so a descriptor handed out stays valid. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "algo/variant.h"
#include "base/check.h"
#include "model/price.h"

typedef struct {
  nsccl_variant_t v;
  nsccl_msccl_plan_t *plan;
  char name[300];
  char about[200];
} slot_t;

static slot_t slots[NSCCL_MSCCL_MAX_FILES];
static atomic_int nslots; /* published after the slot is filled */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static nscclResult_t build(const struct nsccl_topo *topo, const nsccl_algo_opts_t *opts, nsccl_program_t *prog) {
  (void)topo; /* the file fixes every route; the topology only times it */
  const nsccl_msccl_plan_t *plan = nsccl_msccl_plan_of(opts->variant);
  if (!plan) NSCCL_FAIL(nscclInvalidArgument, "msccl: no file is loaded as variant 0x%x", (unsigned)opts->variant);
  return nsccl_msccl_build_rank(plan, opts, prog);
}

/* The cost model calls price(m, coll, bytes) without the descriptor: one function per slot. */
#define PRICE(k)                                                                                                       \
  static void price_##k(nsccl_model_t *m, nsccl_coll_t c, double n) { nsccl_msccl_price(slots[k].plan, m, c, n); }
PRICE(0)
PRICE(1)
PRICE(2)
PRICE(3)
PRICE(4)
PRICE(5)
PRICE(6)
PRICE(7)
PRICE(8)
PRICE(9)
PRICE(10)
PRICE(11)
PRICE(12)
PRICE(13)
PRICE(14)
PRICE(15)
static void (*const prices[NSCCL_MSCCL_MAX_FILES])(nsccl_model_t *, nsccl_coll_t, double) = {
    price_0, price_1, price_2,  price_3,  price_4,  price_5,  price_6,  price_7,
    price_8, price_9, price_10, price_11, price_12, price_13, price_14, price_15};

nscclResult_t nsccl_msccl_load(const char *spec, const nsccl_variant_t **out) {
  *out = NULL;
  const char *path =
      spec && !strncmp(spec, NSCCL_MSCCL_PREFIX, strlen(NSCCL_MSCCL_PREFIX)) ? spec + strlen(NSCCL_MSCCL_PREFIX) : spec;
  if (!path || !*path) NSCCL_FAIL(nscclInvalidArgument, "msccl: give a file, as msccl:PATH");
  if (strlen(path) >= sizeof(slots[0].name) - strlen(NSCCL_MSCCL_PREFIX))
    NSCCL_FAIL(nscclInvalidArgument, "msccl: the path '%.40s...' is too long", path);
  pthread_mutex_lock(&load_lock);
  int n = atomic_load(&nslots);
  for (int k = 0; k < n; k++)
    if (!strcmp(slots[k].plan->path, path)) {
      *out = &slots[k].v;
      pthread_mutex_unlock(&load_lock);
      return nscclSuccess;
    }
  if (n == NSCCL_MSCCL_MAX_FILES) {
    pthread_mutex_unlock(&load_lock);
    NSCCL_FAIL(nscclInvalidArgument, "msccl: %s: at most %d files can be loaded in one process", path,
               NSCCL_MSCCL_MAX_FILES);
  }
  nsccl_msccl_plan_t *plan;
  nscclResult_t rc = nsccl_msccl_parse(path, &plan);
  if (rc != nscclSuccess) {
    pthread_mutex_unlock(&load_lock);
    return rc;
  }
  slot_t *s = &slots[n];
  s->plan = plan;
  snprintf(s->name, sizeof(s->name), "%s%s", NSCCL_MSCCL_PREFIX, path);
  snprintf(s->about, sizeof(s->about), "MSCCL-IR %s '%s' on %d gpus, %d chunks, from %s", nsccl_coll_name(plan->coll),
           plan->name, plan->ngpus, plan->nchunks, path);
  s->v = (nsccl_variant_t){.name = s->name,
                           .family = NSCCL_ALGO_DIRECT,
                           .id = NSCCL_MSCCL_ID_BASE + n,
                           .colls = NSCCL_COLL_BIT(plan->coll),
                           .offered = 0,
                           .applies = NULL,
                           .offer = NULL,
                           .build = build,
                           .price = prices[n],
                           .about = s->about};
  atomic_store(&nslots, n + 1);
  pthread_mutex_unlock(&load_lock);
  *out = &s->v;
  return nscclSuccess;
}

nscclResult_t nsccl_msccl_check_ranks(const int *variant, int n, int nranks) {
  for (int c = 0; c < n; c++) {
    const nsccl_msccl_plan_t *plan = nsccl_msccl_plan_of(variant[c]);
    if (plan && plan->ngpus != nranks)
      NSCCL_FAIL(nscclInvalidArgument, "%s: the algorithm is written for ngpus=%d, this communicator has %d ranks",
                 plan->path, plan->ngpus, nranks);
  }
  return nscclSuccess;
}

const nsccl_variant_t *nsccl_msccl_variant(int id) {
  int k = id - NSCCL_MSCCL_ID_BASE;
  return k >= 0 && k < atomic_load(&nslots) ? &slots[k].v : NULL;
}

const nsccl_msccl_plan_t *nsccl_msccl_plan_of(int id) {
  int k = id - NSCCL_MSCCL_ID_BASE;
  return k >= 0 && k < atomic_load(&nslots) ? slots[k].plan : NULL;
}
