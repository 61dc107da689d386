/* Composed schedules (compose.h): the chip view, and the chip variant's program re-emitted into the
 * hierarchical layout.
 *
 * Relabelling. Chip rank k of V's program is the member of local index l of chip k. Buffer offsets:
 *   all-reduce      V runs in place on column l's block: SEND and RECV both map to RECV at the
 *                   column's offset
 *   all-gather      V's RECV block k is the block of chip k's member l: RECV at that rank's offset,
 *                   so a region that spans several of V's blocks becomes one step per block (V's
 *                   all-gathers place every block at its chip's offset on both sides of a message,
 *                   so both sides cut a message alike); SEND is SEND
 *   reduce-scatter  V's SEND is the landing area the intra stage filled (hier.h), contiguous in
 *                   chip order; RECV is RECV
 * V's SCRATCH goes after whatever the intra stages use. Each of V's steps keeps its dependencies
 * (on the steps its own dependencies became); the hazard-tracked emitters add those on the intra
 * stages. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/compose.h"
#include "algo/hier.h"
#include "algo/ring.h"
#include "algo/tree_internal.h"
#include "base/check.h"
#include "topologies/topo.h"

/* ---- the chip view ---- */

/* Every chip view built in this process, by the spec it was built from (a handful per run; the
 * claims' envelope makes one per sampled topology). */
static pthread_mutex_t views_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view {
  char *spec;
  nsccl_topo_t *t;
} * views;
static int nviews, cap_views;

/* The torus module's keys for the chip view; false if the spec does not fit. */
static int chip_spec(const nsccl_topo_t *t, int build, char *s, size_t len) {
  int L = t->ranks_per_chip, E = build ? 1 : L; /* the endpoint: a chip's ranks merged, or one rank */
  double share = build ? 1.0 / L : 1.0;         /* the links: whole, or one column's share */
  size_t n = (size_t)snprintf(s, len, "torus:dims=");
  for (int d = 0; d < t->ndims && n < len; d++) n += (size_t)snprintf(s + n, len - n, "%s%d", d ? "x" : "", t->dims[d]);
  if (n < len) n += (size_t)snprintf(s + n, len - n, ",dim_bandwidth=");
  for (int d = 0; d < t->ndims && n < len; d++)
    n += (size_t)snprintf(s + n, len - n, "%s%.17g", d ? "x" : "", t->dim_bandwidth[d] * share);
  if (n < len)
    n += (size_t)snprintf(s + n, len - n,
                          ",link_latency=%.17g,endpoint_overhead=%.17g,reduce_bandwidth=%.17g,dma_engines=%d,"
                          "engines_per_message=%d,dma_engine_bandwidth=%.17g,forward=routed",
                          t->link_latency, t->endpoint_overhead, t->reduce_bandwidth * E, t->dma_engines * E,
                          t->engines_per_message * E, t->dma_engine_bandwidth);
  return n < len;
}

const nsccl_topo_t *nsccl_compose_chip_view(const nsccl_topo_t *t, int build) {
  if (!t || !t->module || strcmp(t->module->name, "torus") || t->ranks_per_chip < 2 || t->ndims < 1) {
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument,
                    "compose: topology %s is not a torus with several ranks per chip", t ? t->name : "(flat)");
    return NULL;
  }
  char spec[1024];
  if (!chip_spec(t, build, spec, sizeof(spec))) {
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "compose: the chip view of %s does not fit a spec",
                    t->name);
    return NULL;
  }
  const nsccl_topo_t *found = NULL;
  pthread_mutex_lock(&views_lock);
  for (int i = 0; i < nviews && !found; i++)
    if (!strcmp(views[i].spec, spec)) found = views[i].t;
  if (!found) {
    nsccl_topo_t *v = NULL;
    char *copy = strdup(spec);
    if (nviews == cap_views) {
      int ncap = cap_views ? 2 * cap_views : 8;
      struct view *nv = realloc(views, sizeof(*nv) * (size_t)ncap);
      if (nv) views = nv, cap_views = ncap;
    }
    if (copy && nviews < cap_views && nsccl_topo_load(spec, &v) == nscclSuccess) {
      views[nviews++] = (struct view){copy, v};
      found = v;
    } else {
      free(copy);
      if (!v)
        nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "compose: cannot build the chip view of %s", t->name);
      nsccl_topo_free(v);
    }
  }
  pthread_mutex_unlock(&views_lock);
  return found;
}

/* ---- where the composition applies ---- */

int nsccl_compose_applies(const nsccl_variant_t *v, const nsccl_topo_t *t, nsccl_coll_t coll, int nranks) {
  if (!t || t->nranks != nranks || t->ranks_per_chip < 2 || t->ngroups < 2 || !t->module ||
      strcmp(t->module->name, "torus"))
    return 0;
  const nsccl_topo_t *view = nsccl_compose_chip_view(t, 1);
  return view && nsccl_variant_applies(v, view, coll, view->nranks);
}

int nsccl_compose_offer(const nsccl_variant_t *v, const nsccl_topo_t *t, nsccl_coll_t coll) {
  const nsccl_topo_t *view = nsccl_compose_chip_view(t, 1);
  return view && nsccl_variant_offered(v, view, coll, view->nranks);
}

/* ---- re-emitting the chip program ---- */

typedef struct {
  const nsccl_variant_t *v;
  const nsccl_topo_t *view;
  const nsccl_algo_opts_t *opts;
  nsccl_program_t *prog; /* the composed program */
  /* Relabelling (file comment). */
  const nsccl_hier_layout_t *L;
  int l;              /* local index: the column */
  size_t B;           /* all-gather / reduce-scatter: bytes of one rank's block */
  size_t col_off;     /* all-reduce: the column's byte offset */
  size_t land;        /* reduce-scatter: the landing area's offset in SCRATCH */
  size_t scratch_off; /* where V's SCRATCH starts */
  /* V's step i became the composed steps [first[i], end[i]). */
  nsccl_step_id_t *first, *end;
  nsccl_step_id_t *deps; /* V's step's dependencies, relabelled */
  size_t ndeps, cap_deps;
} compose_t;

static int member(const compose_t *x, int chip) { return x->L->members[x->L->first[chip] + x->l]; }

/* Region r of V's program at byte `at` of it, for at most *len bytes: the composed region, and
 * *len cut to where the relabelling stops being contiguous. */
static nsccl_region_t relabel(const compose_t *x, nsccl_region_t r, size_t at, size_t *len) {
  size_t off = r.offset + at;
  nsccl_coll_t coll = x->prog->args.coll;
  if (r.buf == NSCCL_BUF_SCRATCH) return nsccl_region(NSCCL_BUF_SCRATCH, x->scratch_off + off, *len);
  if (coll == NSCCL_COLL_ALLREDUCE) return nsccl_region(NSCCL_BUF_RECV, x->col_off + off, *len);
  if (coll == NSCCL_COLL_REDUCESCATTER)
    return r.buf == NSCCL_BUF_SEND ? nsccl_region(NSCCL_BUF_SCRATCH, x->land + off, *len)
                                   : nsccl_region(NSCCL_BUF_RECV, off, *len);
  if (r.buf == NSCCL_BUF_SEND) return nsccl_region(NSCCL_BUF_SEND, off, *len);
  size_t k = off / x->B, in = off % x->B;
  if (*len > x->B - in) *len = x->B - in;
  return nsccl_region(NSCCL_BUF_RECV, (size_t)member(x, (int)k) * x->B + in, *len);
}

static int add_dep(compose_t *x, nsccl_step_id_t d) {
  if (x->ndeps == x->cap_deps) {
    size_t ncap = x->cap_deps ? 2 * x->cap_deps : 64;
    nsccl_step_id_t *n = realloc(x->deps, sizeof(*n) * ncap);
    if (!n) return 0;
    x->deps = n, x->cap_deps = ncap;
  }
  x->deps[x->ndeps++] = d;
  return 1;
}

/* Re-emit V's step s (index i) as one composed step per contiguous piece. */
static int emit_step(compose_t *x, nsccl_tree_ctx_t *c, const nsccl_program_t *cp, uint32_t i) {
  const nsccl_step_t *s = &cp->steps[i];
  x->ndeps = 0;
  const uint32_t *d = nsccl_step_deps(cp, s);
  for (uint32_t k = 0; k < s->ndeps; k++)
    for (nsccl_step_id_t j = x->first[d[k]]; j < x->end[d[k]]; j++)
      if (!add_dep(x, j)) return 0;
  c->extra_deps = x->deps;
  c->n_extra = (uint32_t)x->ndeps;
  x->first[i] = (nsccl_step_id_t)x->prog->nsteps;
  const nsccl_region_t *regs[3] = {&s->src, &s->src2, &s->dst};
  size_t bytes = s->kind == NSCCL_STEP_SEND ? s->src.bytes : s->dst.bytes;
  int peer = s->peer >= 0 ? member(x, s->peer) : -1;
  for (size_t at = 0; at < bytes;) {
    size_t len = bytes - at;
    nsccl_region_t r[3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    /* Cut at the first place any of the step's regions stops being contiguous, then map each. */
    for (int k = 0; k < 3; k++)
      if (regs[k]->bytes) (void)relabel(x, *regs[k], at, &len);
    for (int k = 0; k < 3; k++)
      if (regs[k]->bytes) r[k] = relabel(x, *regs[k], at, &len);
    switch (s->kind) {
    case NSCCL_STEP_SEND: nsccl_tree_send(c, peer, r[0]); break;
    case NSCCL_STEP_RECV: nsccl_tree_recv(c, peer, r[2]); break;
    case NSCCL_STEP_RECV_REDUCE: nsccl_tree_recv_reduce(c, peer, r[0], r[2]); break;
    case NSCCL_STEP_COPY: nsccl_tree_copy(c, r[0], r[2]); break;
    case NSCCL_STEP_REDUCE: nsccl_tree_reduce(c, r[0], r[1], r[2]); break;
    default: break;
    }
    at += len;
  }
  x->end[i] = (nsccl_step_id_t)x->prog->nsteps;
  c->extra_deps = NULL;
  c->n_extra = 0;
  return !c->oom;
}

/* The inter-group phase of nsccl_hier_build_with: build V for this rank's chip, re-emit it. */
static nscclResult_t emit_chip_phase(void *arg, nsccl_tree_ctx_t *c, const nsccl_hier_layout_t *L, int me) {
  compose_t *x = arg;
  const nsccl_coll_args_t *a = &x->prog->args;
  size_t elem = c->elem;
  x->L = L;
  x->l = L->local[me];
  x->B = a->count * elem;
  nsccl_coll_args_t ca = *a;
  ca.in_place = false;
  if (a->coll == NSCCL_COLL_ALLREDUCE) {
    size_t f, len;
    nsccl_algo_block(a->count, L->width, x->l, &f, &len);
    ca.count = len;
    ca.in_place = true;
    x->col_off = f * elem;
  }
  x->land = nsccl_hier_landing(L, x->B);
  x->scratch_off = a->coll == NSCCL_COLL_REDUCESCATTER ? x->land + (size_t)L->ngroups * x->B : 0;
  if (ca.count == 0) return nscclSuccess; /* a column of no elements (count < ranks per chip) */
  nsccl_program_t cp;
  NSCCL_CHECK(nsccl_prog_init(&cp, L->group[me], L->ngroups, &ca));
  nsccl_algo_opts_t o = *x->opts;
  o.variant = x->v->id;
  nscclResult_t rc = x->v->build(x->view, &o, &cp);
  if (rc == nscclSuccess && nsccl_prog_failed(&cp)) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "compose: out of memory building %s on the chips", x->v->name);
  }
  if (rc == nscclSuccess) {
    x->first = malloc(sizeof(*x->first) * (cp.nsteps + 1));
    x->end = malloc(sizeof(*x->end) * (cp.nsteps + 1));
    if (!x->first || !x->end) {
      rc = nscclSystemError;
      nsccl_set_error(__FILE__, __LINE__, rc, "compose: out of memory relabelling %s", x->v->name);
    }
  }
  /* Re-emitted as V emitted them: no re-chunking (V's chunks are the composed program's). */
  size_t chunk = c->chunk;
  c->chunk = SIZE_MAX;
  for (uint32_t i = 0; rc == nscclSuccess && i < cp.nsteps; i++)
    if (!emit_step(x, c, &cp, i)) {
      rc = nscclSystemError;
      nsccl_set_error(__FILE__, __LINE__, rc, "compose: out of memory relabelling %s", x->v->name);
    }
  c->chunk = chunk;
  free(x->first);
  free(x->end);
  free(x->deps);
  x->first = x->end = x->deps = NULL;
  nsccl_prog_free(&cp);
  return rc;
}

nscclResult_t nsccl_compose_build(const nsccl_variant_t *v, const nsccl_topo_t *t, const nsccl_algo_opts_t *opts,
                                  nsccl_program_t *prog) {
  if (!nsccl_compose_applies(v, t, prog->args.coll, prog->nranks))
    NSCCL_FAIL(nscclInvalidArgument,
               "compose: %s-chips needs a torus with several ranks per chip on which %s builds %s on the chips "
               "(topology %s)",
               v->name, v->name, nsccl_coll_name(prog->args.coll), t ? t->name : "(flat)");
  compose_t x = {.v = v, .view = nsccl_compose_chip_view(t, 1), .opts = opts, .prog = prog};
  return nsccl_hier_build_with(t, NSCCL_COMPOSE_INTRA, emit_chip_phase, &x, opts, prog);
}
