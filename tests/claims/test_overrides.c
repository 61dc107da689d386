/* Topology parameter overrides (nsccl_topo_load_overrides and "NAME?key=value&..."): values are
 * applied before the build (checked on the built links against numbers written out here from the
 * preset files), scaling multiplies lists, unknown or malformed overrides fail naming the key. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/check.h"
#include "topologies/topo.h"

static int close_to(double a, double b) { return fabs(a - b) <= 1e-9 * fabs(b); }

Test(overrides, no_overrides_equal_plain_load) {
  nsccl_topo_t *a = NULL, *b = NULL;
  cr_assert_eq(nsccl_topo_load("trn2-u64", &a), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(nsccl_topo_load_overrides("trn2-u64", NULL, 0, &b), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(a->nlinks, b->nlinks);
  for (int l = 0; l < a->nlinks; l++) cr_assert_eq(memcmp(&a->links[l], &b->links[l], sizeof(a->links[l])), 0);
  cr_assert_str_eq(b->name, "trn2-u64");
  nsccl_topo_free(a);
  nsccl_topo_free(b);
}

Test(overrides, torus_values_apply) {
  const char *kv[] = {"endpoint_overhead=2e-6", "forward=store", "dim_bandwidth*=0.5", "link_latency=1e-7"};
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load_overrides("trn2-u64", kv, 4, &t), nscclSuccess, "%s", nsccl_last_error());
  cr_assert(close_to(t->endpoint_overhead, 2e-6));
  cr_assert_eq(t->forward, NSCCL_FORWARD_STORE);
  cr_assert(close_to(t->link_latency, 1e-7));
  /* trn2-u64.conf: dim_bandwidth = 128e9, 128e9, 64e9; halved. Rank r's z coordinate is r / 16. */
  cr_assert(close_to(t->dim_bandwidth[0], 64e9) && close_to(t->dim_bandwidth[1], 64e9));
  cr_assert(close_to(t->dim_bandwidth[2], 32e9));
  cr_assert_eq(t->nlinks, 64 * 6);
  for (int l = 0; l < t->nlinks; l++) {
    const nsccl_link_t *k = &t->links[l];
    int z_link = k->src / 16 != k->dst / 16;
    cr_assert(close_to(k->bandwidth, z_link ? 32e9 : 64e9), "link %d: %g", l, k->bandwidth);
    cr_assert(close_to(k->latency, 1e-7));
  }
  /* Untouched keys keep the preset's value: reduce_bandwidth = 1.741e12. */
  cr_assert(close_to(t->reduce_bandwidth, 1.741e12));
  /* The name records every override, in order (it labels CSV rows and errors). */
  cr_assert_str_eq(t->name, "trn2-u64?endpoint_overhead=2e-6&forward=store&dim_bandwidth*=0.5&link_latency=1e-7");
  nsccl_topo_free(t);
}

Test(overrides, query_string_form) {
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load("trn3-u64-crossbar?switch_latency=5e-7&link_bandwidth*=2", &t), nscclSuccess, "%s",
               nsccl_last_error());
  cr_assert(close_to(t->switch_latency, 5e-7));
  cr_assert(close_to(t->link_bandwidth, 2.56e12)); /* trn3-u64-crossbar.conf: 1.28e12, doubled */
  /* One level: link 2r is rank r's uplink (latency = link 0.1 us + switch), 2r+1 its downlink. */
  for (int r = 0; r < 64; r++) {
    cr_assert(close_to(t->links[2 * r].latency, 0.1e-6 + 5e-7));
    cr_assert(close_to(t->links[2 * r + 1].latency, 0.1e-6));
    cr_assert(close_to(t->links[2 * r].bandwidth, 2.56e12));
  }
  nsccl_topo_free(t);
}

Test(overrides, spec_base_and_added_key) {
  nsccl_topo_t *t = NULL;
  /* A spec as the base; 'ranks' is replaced, 'switch_latency' (absent) is added. */
  cr_assert_eq(nsccl_topo_load("switch:ranks=4,link_bandwidth=1e9,endpoint_overhead=1e-6,reduce_bandwidth=1e9"
                               "?ranks=8&switch_latency=2e-7",
                               &t),
               nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(t->nranks, 8);
  cr_assert(close_to(t->switch_latency, 2e-7));
  nsccl_topo_free(t);
}

static void expect_fail(const char *name, const char *kv, const char *needle) {
  nsccl_topo_t *t = (nsccl_topo_t *)0x1;
  const char *list[] = {kv};
  nscclResult_t rc = nsccl_topo_load_overrides(name, list, 1, &t);
  cr_assert_eq(rc, nscclInvalidArgument, "%s with %s: expected invalid argument, got %d", name, kv, rc);
  cr_assert_null(t, "%s with %s: *out must be NULL on failure", name, kv);
  cr_assert(strstr(nsccl_last_error(), needle), "%s with %s: error '%s' should mention '%s'", name, kv,
            nsccl_last_error(), needle);
}

Test(overrides, rejects_bad_overrides) {
  expect_fail("trn2-16", "bogus_key=1", "bogus_key");           /* no module reads it */
  expect_fail("trn3-u64-crossbar", "forward=store", "forward"); /* a crossbar has no chip that forwards */
  expect_fail("trn2-16", "endpoint_overhead", "key=value");     /* no '=' */
  expect_fail("trn2-16", "=5", "key=value");
  expect_fail("trn2-16", "module=switch", "module");
  expect_fail("trn3-u64", "spine_bandwidth*=2", "spine_bandwidth"); /* nothing to scale */
  expect_fail("trn2-16", "link_bandwidth*=x", "factor");
  expect_fail("trn2-16", "forward=sideways", "forward"); /* the module's own check */
  expect_fail("trn2-16", "link_bandwidth=-1", "link_bandwidth");
  expect_fail("no-such-preset", "forward=store", "no-such-preset");
  nsccl_topo_t *t = NULL;
  cr_assert_eq(nsccl_topo_load_overrides(NULL, NULL, 0, &t), nscclInvalidArgument);
  cr_assert_eq(nsccl_topo_load_overrides("trn2-16", NULL, 1, &t), nscclInvalidArgument);
  cr_assert_eq(nsccl_topo_load("trn2-16?bogus=1", &t), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "bogus"), "%s", nsccl_last_error());
}
