/* nsccl programs out as MSCCL-IR XML (docs/msccl.md, "Export"), written with libxml2's tree API.
 *
 * Chunks: the unit is the greatest common divisor of every region's offset and size and of the
 * buffer sizes, so every region is whole chunks and nchunksperloop = the larger buffer / unit.
 * Thread blocks: per rank one per send peer (its SENDs), one per receive peer (RECV, RECV_REDUCE),
 * one for local steps (COPY, REDUCE), each holding its steps in program order on channel 0. That
 * keeps MSCCL's rule of one send and one receive peer per thread block, and a thread block's
 * sequential order only adds orderings the program already allows (program order is a topological
 * order). A dependency on a step of the same thread block is implied by the order; dependencies
 * on one other thread block reduce to its latest step; the first remaining one is the step's
 * depid/deps, each further one a nop placed before it, as MSCCLang writes them.
 * Steps: SEND s, RECV r, RECV_REDUCE rrc (dst = src (+) received), COPY cpy, REDUCE re when one
 * operand is the destination (re: dst = src (+) dst), else cpy then re. */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "base/check.h"

static size_t gcd(size_t a, size_t b) {
  while (b) {
    size_t t = a % b;
    a = b, b = t;
  }
  return a;
}

typedef struct {
  int kind; /* msccl_op_kind_t */
  char sb, db;
  long so, doff;
  long cnt;
  int depid, deps, hasdep;
} xop_t;

typedef struct {
  int send, recv;
  xop_t *ops;
  int n, cap;
} xtb_t;

typedef struct {
  xtb_t *tbs;
  int ntbs;
  int *tb_of;   /* per step: its thread block */
  int *last_of; /* per step: index of its last op in the thread block */
} xrank_t;

static const char *const type_name[MSCCL_NUM_OPS] = {"s", "r", "rcs", "rrs", "rrc", "rrcs", "cpy", "re", "nop"};

static char buf_char(uint8_t b) { return b == NSCCL_BUF_SEND ? 'i' : b == NSCCL_BUF_RECV ? 'o' : 's'; }

static int push_op(xtb_t *t, xop_t op) {
  if (t->n == t->cap) {
    int cap = t->cap ? 2 * t->cap : 16;
    xop_t *v = realloc(t->ops, sizeof(*v) * (size_t)cap);
    if (!v) return 0;
    t->ops = v, t->cap = cap;
  }
  t->ops[t->n++] = op;
  return 1;
}

/* The thread block of step st (created on first use), or -1 out of memory. */
static int tb_for(xrank_t *x, const nsccl_step_t *st) {
  int send = st->kind == NSCCL_STEP_SEND ? st->peer : -1;
  int recv = st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE ? st->peer : -1;
  for (int t = 0; t < x->ntbs; t++)
    if (x->tbs[t].send == send && x->tbs[t].recv == recv) return t;
  xtb_t *v = realloc(x->tbs, sizeof(*v) * (size_t)(x->ntbs + 1));
  if (!v) return -1;
  x->tbs = v;
  x->tbs[x->ntbs] = (xtb_t){send, recv, NULL, 0, 0};
  return x->ntbs++;
}

static xop_t op_of(int kind, size_t U, const nsccl_region_t *src, const nsccl_region_t *dst, size_t bytes) {
  xop_t o = {kind, 'i', 'o', -1, -1, (long)(bytes / U), -1, -1, 0};
  if (src) o.sb = buf_char(src->buf), o.so = (long)(src->offset / U);
  if (dst) o.db = buf_char(dst->buf), o.doff = (long)(dst->offset / U);
  return o;
}

/* Where a region starts in the rank's one address space, send and recv aliased as in place says
 * (the validator's layout): an in-place REDUCE may name its destination through the send buffer. */
static size_t addr(const nsccl_program_t *p, nsccl_region_t r) {
  size_t S = p->buf_bytes[NSCCL_BUF_SEND], R = p->buf_bytes[NSCCL_BUF_RECV];
  size_t base[NSCCL_NUM_BUFS] = {0, S, S + R};
  if (p->args.in_place) {
    if (p->args.coll == NSCCL_COLL_ALLGATHER) base[NSCCL_BUF_SEND] = (size_t)p->rank * S, base[NSCCL_BUF_RECV] = 0;
    if (p->args.coll == NSCCL_COLL_ALLREDUCE) base[NSCCL_BUF_RECV] = 0;
    if (p->args.coll == NSCCL_COLL_REDUCESCATTER) base[NSCCL_BUF_RECV] = (size_t)p->rank * R;
  }
  return base[r.buf] + r.offset;
}

static int same(const nsccl_program_t *p, nsccl_region_t a, nsccl_region_t b) { return addr(p, a) == addr(p, b); }

static nscclResult_t lay_out(const nsccl_program_t *p, size_t U, xrank_t *x) {
  x->tb_of = malloc(sizeof(int) * (p->nsteps ? p->nsteps : 1));
  x->last_of = malloc(sizeof(int) * (p->nsteps ? p->nsteps : 1));
  int *latest = NULL;
  if (!x->tb_of || !x->last_of) goto oom;
  for (uint32_t i = 0; i < p->nsteps; i++) {
    const nsccl_step_t *st = &p->steps[i];
    int t = tb_for(x, st);
    if (t < 0) goto oom;
    x->tb_of[i] = t;
    /* Dependencies on other thread blocks: the latest step of each. */
    free(latest);
    latest = malloc(sizeof(int) * (size_t)x->ntbs);
    if (!latest) goto oom;
    for (int k = 0; k < x->ntbs; k++) latest[k] = -1;
    const uint32_t *deps = nsccl_step_deps(p, st);
    for (uint32_t d = 0; d < st->ndeps; d++) {
      int dt = x->tb_of[deps[d]], ds = x->last_of[deps[d]];
      if (dt != t && ds > latest[dt]) latest[dt] = ds;
    }
    xtb_t *T = &x->tbs[t];
    int first = -1;
    for (int k = 0; k < x->ntbs; k++) {
      if (latest[k] < 0) continue;
      if (first < 0) {
        first = k;
        continue;
      }
      xop_t nop = {MSCCL_OP_NOP, 'i', 'o', -1, -1, 0, k, latest[k], 0};
      if (!push_op(T, nop)) goto oom;
    }
    xop_t ops[2];
    int nops = 1;
    switch (st->kind) {
    case NSCCL_STEP_SEND: ops[0] = op_of(MSCCL_OP_SEND, U, &st->src, NULL, st->src.bytes); break;
    case NSCCL_STEP_RECV: ops[0] = op_of(MSCCL_OP_RECV, U, NULL, &st->dst, st->dst.bytes); break;
    case NSCCL_STEP_RECV_REDUCE: ops[0] = op_of(MSCCL_OP_RRC, U, &st->src, &st->dst, st->dst.bytes); break;
    case NSCCL_STEP_COPY: ops[0] = op_of(MSCCL_OP_CPY, U, &st->src, &st->dst, st->dst.bytes); break;
    default: /* REDUCE: dst = src (+) src2 */
      if (same(p, st->src2, st->dst)) {
        ops[0] = op_of(MSCCL_OP_RE, U, &st->src, &st->dst, st->dst.bytes);
      } else if (same(p, st->src, st->dst)) {
        ops[0] = op_of(MSCCL_OP_RE, U, &st->src2, &st->dst, st->dst.bytes);
      } else {
        ops[0] = op_of(MSCCL_OP_CPY, U, &st->src2, &st->dst, st->dst.bytes);
        ops[1] = op_of(MSCCL_OP_RE, U, &st->src, &st->dst, st->dst.bytes);
        nops = 2;
      }
      break;
    }
    if (first >= 0) ops[0].depid = first, ops[0].deps = latest[first];
    for (int k = 0; k < nops; k++)
      if (!push_op(T, ops[k])) goto oom;
    x->last_of[i] = T->n - 1;
  }
  free(latest);
  /* hasdep: some step of another thread block waits for this one. */
  for (int t = 0; t < x->ntbs; t++)
    for (int k = 0; k < x->tbs[t].n; k++) {
      const xop_t *o = &x->tbs[t].ops[k];
      if (o->depid >= 0) x->tbs[o->depid].ops[o->deps].hasdep = 1;
    }
  return nscclSuccess;
oom:
  free(latest);
  NSCCL_FAIL(nscclSystemError, "MSCCL-IR export: out of memory laying out rank %d", p->rank);
}

static void set_int(xmlNodePtr n, const char *k, long v) {
  char b[32];
  snprintf(b, sizeof(b), "%ld", v);
  xmlNewProp(n, (const xmlChar *)k, (const xmlChar *)b);
}

static void set_str(xmlNodePtr n, const char *k, const char *v) {
  xmlNewProp(n, (const xmlChar *)k, (const xmlChar *)v);
}

static size_t unit_of(const nsccl_program_t *progs, int nranks) {
  size_t U = 0;
  for (int r = 0; r < nranks; r++) {
    const nsccl_program_t *p = &progs[r];
    for (int b = 0; b < NSCCL_NUM_BUFS; b++) U = gcd(U, p->buf_bytes[b]);
    for (uint32_t i = 0; i < p->nsteps; i++) {
      const nsccl_region_t *rg[3] = {&p->steps[i].src, &p->steps[i].src2, &p->steps[i].dst};
      for (int k = 0; k < 3; k++)
        if (rg[k]->bytes) U = gcd(gcd(U, rg[k]->offset), rg[k]->bytes);
    }
  }
  return U;
}

nscclResult_t nsccl_msccl_write(const nsccl_program_t *progs, int nranks, const char *name, FILE *f) {
  if (!progs || nranks < 1 || !f) NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR export: no programs or no file");
  const nsccl_coll_args_t *a = &progs[0].args;
  if (a->coll >= NSCCL_NUM_COLLS)
    NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR export: %s is not exported (all-gather, reduce-scatter, all-reduce are)",
               nsccl_coll_name(a->coll));
  size_t U = unit_of(progs, nranks);
  if (U == 0) NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR export: the programs move no bytes (count 0)");
  size_t S = progs[0].buf_bytes[NSCCL_BUF_SEND], R = progs[0].buf_bytes[NSCCL_BUF_RECV];
  xrank_t *xr = calloc((size_t)nranks, sizeof(*xr));
  if (!xr) NSCCL_FAIL(nscclSystemError, "MSCCL-IR export: out of memory");
  nscclResult_t rc = nscclSuccess;
  for (int r = 0; r < nranks && rc == nscclSuccess; r++) rc = lay_out(&progs[r], U, &xr[r]);
  xmlDocPtr doc = NULL;
  if (rc == nscclSuccess) {
    doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr algo = xmlNewNode(NULL, (const xmlChar *)"algo");
    xmlDocSetRootElement(doc, algo);
    set_str(algo, "name", name ? name : "nsccl");
    set_str(algo, "proto", "Simple");
    set_int(algo, "nchannels", 1);
    set_int(algo, "nchunksperloop", (long)((S > R ? S : R) / U));
    set_int(algo, "ngpus", nranks);
    set_str(algo, "coll", nsccl_coll_name(a->coll));
    set_int(algo, "inplace", a->in_place);
    /* Newer MSCCL runtimes also read these: the modes and sizes the algorithm is picked for. */
    set_int(algo, "outofplace", !a->in_place);
    set_int(algo, "minBytes", 0);
    set_str(algo, "maxBytes", "9223372036854775807");
    for (int r = 0; r < nranks; r++) {
      xmlNodePtr g = xmlNewChild(algo, NULL, (const xmlChar *)"gpu", NULL);
      set_int(g, "id", r);
      set_int(g, "i_chunks", (long)(progs[r].buf_bytes[NSCCL_BUF_SEND] / U));
      set_int(g, "o_chunks", (long)(progs[r].buf_bytes[NSCCL_BUF_RECV] / U));
      set_int(g, "s_chunks", (long)((progs[r].buf_bytes[NSCCL_BUF_SCRATCH] + U - 1) / U));
      for (int t = 0; t < xr[r].ntbs; t++) {
        const xtb_t *T = &xr[r].tbs[t];
        xmlNodePtr tb = xmlNewChild(g, NULL, (const xmlChar *)"tb", NULL);
        set_int(tb, "id", t);
        set_int(tb, "send", T->send);
        set_int(tb, "recv", T->recv);
        set_int(tb, "chan", 0);
        for (int k = 0; k < T->n; k++) {
          const xop_t *o = &T->ops[k];
          xmlNodePtr s = xmlNewChild(tb, NULL, (const xmlChar *)"step", NULL);
          char sb[2] = {o->sb, 0}, db[2] = {o->db, 0};
          set_int(s, "s", k);
          set_str(s, "type", type_name[o->kind]);
          set_str(s, "srcbuf", sb);
          set_int(s, "srcoff", o->so);
          set_str(s, "dstbuf", db);
          set_int(s, "dstoff", o->doff);
          set_int(s, "cnt", o->cnt);
          set_int(s, "depid", o->depid);
          set_int(s, "deps", o->deps);
          set_int(s, "hasdep", o->hasdep);
        }
      }
    }
    if (xmlDocFormatDump(f, doc, 1) < 0 || fflush(f) != 0) {
      nsccl_set_error(__FILE__, __LINE__, nscclSystemError, "MSCCL-IR export: writing the XML failed");
      rc = nscclSystemError;
    }
  }
  if (doc) xmlFreeDoc(doc);
  for (int r = 0; r < nranks; r++) {
    for (int t = 0; t < xr[r].ntbs; t++) free(xr[r].tbs[t].ops);
    free(xr[r].tbs);
    free(xr[r].tb_of);
    free(xr[r].last_of);
  }
  free(xr);
  return rc;
}

nscclResult_t nsccl_msccl_export_variant(nsccl_algo_t family, int variant, const struct nsccl_topo *topo, int nranks,
                                         const nsccl_coll_args_t *args, size_t chunk_bytes, const char *name, FILE *f) {
  if (nranks < 1) NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR export: nranks = %d", nranks);
  nsccl_program_t *progs = calloc((size_t)nranks, sizeof(*progs));
  if (!progs) NSCCL_FAIL(nscclSystemError, "MSCCL-IR export: out of memory for %d programs", nranks);
  nsccl_algo_opts_t opts = {chunk_bytes, variant};
  nscclResult_t rc = nscclSuccess;
  int built = 0;
  for (; built < nranks && rc == nscclSuccess; built++) {
    rc = nsccl_prog_init(&progs[built], built, nranks, args);
    if (rc == nscclSuccess) rc = nsccl_algo_build(family, topo, &opts, &progs[built]);
  }
  if (rc == nscclSuccess) rc = nsccl_msccl_write(progs, nranks, name, f);
  for (int r = 0; r < built; r++) nsccl_prog_free(&progs[r]);
  free(progs);
  return rc;
}
