/* Composed chip schedules (algo/compose.h): every composed variant, every collective it builds,
 * several sizes (one element, fewer elements than ranks per chip x chips, odd counts, several
 * chunks), in and out of place, int32 sum and float max, on 2D and 3D tori with 2 and 4 ranks per
 * chip: validated, run with the local engine and compared with a serial reference (torus_run.h).
 * And where they apply: only on tori with several ranks per chip, where their chip variant builds
 * on the chips. */
#include "algo/compose.h"
#include "algo/variant.h"
#include "torus_run.h"

static nsccl_topo_t *torus(const char *dims, int per_chip) {
  char spec[300];
  snprintf(spec, sizeof(spec),
           "torus:dims=%s,ranks_per_chip=%d,intra_chip_bandwidth=4e9,link_bandwidth=1e9,endpoint_overhead=1e-6,"
           "reduce_bandwidth=1e9,dma_engines=4,engines_per_message=2,dma_engine_bandwidth=1e9",
           dims, per_chip);
  nsccl_topo_t *t;
  cr_assert_eq(nsccl_topo_load(spec, &t), nscclSuccess, "%s: %s", spec, nsccl_last_error());
  return t;
}

static int is_composed(const nsccl_variant_t *v) { return (v->id & NSCCL_VARIANT_CHIPS) != 0; }

/* Every composed variant that applies on t, every collective, the sizes above; returns how many
 * (variant, collective) pairs ran. */
static int run_all(const nsccl_topo_t *t, const size_t *counts, int ncounts) {
  int ran = 0;
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (!is_composed(v)) continue;
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      if (!nsccl_variant_applies(v, t, (nsccl_coll_t)c, t->nranks)) continue;
      ran++;
      for (int k = 0; k < ncounts; k++) {
        /* 64-byte chunks: a block of several chunks, messages cut at block boundaries. */
        torus_run_case(t, (nsccl_coll_t)c, v->family, v->id, counts[k], false, false, 64);
        torus_run_case(t, (nsccl_coll_t)c, v->family, v->id, counts[k], true, k % 2 == 1, 0);
      }
    }
  }
  return ran;
}

static const size_t counts[] = {1, 3, 37, 100};

/* Every composed variant on a torus of dims with rpc ranks per chip, the first ncounts counts; at
 * least min (variant, collective) pairs must run there. */
static void check_torus(const char *dims, int rpc, int ncounts, int min) {
  nsccl_topo_t *t = torus(dims, rpc);
  cr_assert_geq(run_all(t, counts, ncounts), min, "too few composed variants ran on %s", t->name);
  nsccl_topo_free(t);
}

Test(compose, torus_2d_two_per_chip) { check_torus("4x4", 2, 4, 12); }
Test(compose, torus_2d_four_per_chip) { check_torus("4x4", 4, 4, 12); }
Test(compose, torus_3d_two_per_chip) { check_torus("2x2x4", 2, 4, 6); }
Test(compose, torus_3d_four_per_chip) { check_torus("2x2x2", 4, 3, 6); }

/* Not a power of two in every dimension: only what builds on those chips (ring/dims and the
 * hypercube variants refuse or accept as on one rank per chip). */
Test(compose, torus_odd_dims) {
  nsccl_topo_t *t = torus("3x3", 2);
  run_all(t, counts, 3);
  nsccl_topo_free(t);
}

/* Where they apply: on a torus with one rank per chip, or on a switch, never; with several ranks
 * per chip exactly where the chip variant applies to the same torus with one rank per chip. */
Test(compose, applies_where_the_chip_variant_does) {
  nsccl_topo_t *one, *many = torus("4x4", 2), *sw;
  cr_assert_eq(nsccl_topo_load("torus:dims=4x4,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9,"
                               "dma_engines=8,engines_per_message=4,dma_engine_bandwidth=1e9",
                               &one),
               nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(nsccl_topo_load("trn3-u64-lnc2", &sw), nscclSuccess, "%s", nsccl_last_error());
  int composed = 0;
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (!is_composed(v)) continue;
    composed++;
    const nsccl_variant_t *inner = NULL;
    for (int j = 0; j < nsccl_variant_count(); j++)
      if (nsccl_variant_at(j)->family == v->family && nsccl_variant_at(j)->id == (v->id & ~NSCCL_VARIANT_CHIPS))
        inner = nsccl_variant_at(j);
    cr_assert(inner, "%s: no chip variant with id 0x%x", v->name, v->id & ~NSCCL_VARIANT_CHIPS);
    char want[80];
    snprintf(want, sizeof(want), "%s-chips", inner->name);
    cr_assert_str_eq(v->name, want);
    for (int c = 0; c < NSCCL_NUM_COLLS; c++) {
      cr_assert_not(nsccl_variant_applies(v, one, (nsccl_coll_t)c, one->nranks), "%s on %s", v->name, one->name);
      cr_assert_not(nsccl_variant_applies(v, sw, (nsccl_coll_t)c, sw->nranks), "%s on %s", v->name, sw->name);
      cr_assert_not(nsccl_variant_applies(v, NULL, (nsccl_coll_t)c, many->nranks), "%s flat", v->name);
      cr_assert_eq(nsccl_variant_applies(v, many, (nsccl_coll_t)c, many->nranks),
                   nsccl_variant_applies(inner, one, (nsccl_coll_t)c, one->nranks), "%s %s", v->name,
                   nsccl_coll_name((nsccl_coll_t)c));
      /* offered where the chip variant is, for the collectives the descriptor offers */
      cr_assert_eq(nsccl_variant_offered(v, many, (nsccl_coll_t)c, many->nranks),
                   nsccl_variant_offered(inner, one, (nsccl_coll_t)c, one->nranks) && (v->offered & NSCCL_COLL_BIT(c)),
                   "%s %s offered", v->name, nsccl_coll_name((nsccl_coll_t)c));
    }
  }
  cr_assert_geq(composed, 9);
  nsccl_topo_free(one);
  nsccl_topo_free(many);
  nsccl_topo_free(sw);
}
