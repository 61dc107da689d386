/* Reading MSCCL-IR XML with libxml2: <algo> holds <gpu>s, a <gpu> its <tb>s (thread blocks), a
 * <tb> its <step>s. Every attribute is checked here, with the file and line of the element at
 * fault in the message; msccl_order.c then checks what spans elements (connections, cycles). */
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/msccl_internal.h"
#include "base/check.h"

typedef struct {
  const char *path;
  nscclResult_t rc;
} ctx_t;

#define BAD(c, node, ...)                                                                                              \
  do {                                                                                                                 \
    char msg_[400];                                                                                                    \
    snprintf(msg_, sizeof(msg_), __VA_ARGS__);                                                                         \
    NSCCL_FAIL(nscclInvalidArgument, "%s:%ld: %s", (c)->path, xmlGetLineNo(node), msg_);                               \
  } while (0)

static const char *const op_names[MSCCL_NUM_OPS] = {
    [MSCCL_OP_SEND] = "s",  [MSCCL_OP_RECV] = "r",  [MSCCL_OP_RCS] = "rcs",
    [MSCCL_OP_RRS] = "rrs", [MSCCL_OP_RRC] = "rrc", [MSCCL_OP_RRCS] = "rrcs",
    [MSCCL_OP_CPY] = "cpy", [MSCCL_OP_RE] = "re",   [MSCCL_OP_NOP] = "nop"};

/* Attribute `name` of node as an integer; absent: *out = def, or an error when def is INT_MIN. */
static nscclResult_t attr_int(ctx_t *c, xmlNodePtr node, const char *name, int def, int *out) {
  xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
  if (!v) {
    if (def == INT_MIN) BAD(c, node, "<%s> lacks the attribute %s", (const char *)node->name, name);
    *out = def;
    return nscclSuccess;
  }
  char *end = NULL;
  errno = 0;
  long x = strtol((const char *)v, &end, 10);
  int ok = !errno && end != (char *)v && *end == '\0' && x >= INT_MIN / 2 && x <= INT_MAX / 2;
  if (!ok) {
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", (const char *)v);
    xmlFree(v);
    BAD(c, node, "<%s %s=\"%s\">: not an integer", (const char *)node->name, name, copy);
  }
  xmlFree(v);
  *out = (int)x;
  return nscclSuccess;
}

/* Attribute as a string into buf (absent: def; NULL def: required). */
static nscclResult_t attr_str(ctx_t *c, xmlNodePtr node, const char *name, const char *def, char *buf, size_t len) {
  xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
  if (!v) {
    if (!def) BAD(c, node, "<%s> lacks the attribute %s", (const char *)node->name, name);
    snprintf(buf, len, "%s", def);
    return nscclSuccess;
  }
  snprintf(buf, len, "%s", (const char *)v);
  xmlFree(v);
  return nscclSuccess;
}

/* The element children of node, all named `want` (comments and white space are skipped). */
static int count_children(ctx_t *c, xmlNodePtr node, const char *want, nscclResult_t *rc) {
  int n = 0;
  *rc = nscclSuccess;
  for (xmlNodePtr k = node->children; k; k = k->next) {
    if (k->type != XML_ELEMENT_NODE) continue;
    if (strcmp((const char *)k->name, want)) {
      nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s:%ld: unexpected <%s> inside <%s> (expected <%s>)",
                      c->path, xmlGetLineNo(k), (const char *)k->name, (const char *)node->name, want);
      *rc = nscclInvalidArgument;
      return -1;
    }
    n++;
  }
  return n;
}

static nscclResult_t parse_buf(ctx_t *c, xmlNodePtr node, const char *name, char *out) {
  char b[8];
  NSCCL_CHECK(attr_str(c, node, name, "", b, sizeof(b)));
  if (!*b) {
    *out = 0;
    return nscclSuccess;
  }
  if (strcmp(b, "i") && strcmp(b, "o") && strcmp(b, "s"))
    BAD(c, node, "%s=\"%s\": a buffer is i (input), o (output) or s (scratch)", name, b);
  *out = b[0];
  return nscclSuccess;
}

/* Which operands each instruction reads from the XML: src (srcbuf/srcoff) and dst (dstbuf/dstoff),
 * as the MSCCL runtime uses them. */
static void operands(int kind, int *src, int *dst) {
  *src = kind == MSCCL_OP_SEND || kind == MSCCL_OP_RRS || kind == MSCCL_OP_RRC || kind == MSCCL_OP_RRCS ||
         kind == MSCCL_OP_CPY || kind == MSCCL_OP_RE;
  *dst = kind == MSCCL_OP_RECV || kind == MSCCL_OP_RCS || kind == MSCCL_OP_RRC || kind == MSCCL_OP_RRCS ||
         kind == MSCCL_OP_CPY || kind == MSCCL_OP_RE;
}

static nscclResult_t check_range(ctx_t *c, xmlNodePtr node, const nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *g,
                                 const char *what, char buf, int off, int cnt) {
  int cap = buf == 's' ? g->s_chunks : nsccl_msccl_capacity(plan, buf);
  if (off < 0 || off + cnt > cap)
    BAD(c, node, "%s chunks %d..%d of buffer %c, which holds %d chunks on gpu %d (%s, nchunksperloop=%d)", what, off,
        off + cnt - 1, buf, cap, g->id, nsccl_coll_name(plan->coll), plan->nchunks);
  return nscclSuccess;
}

static nscclResult_t parse_step(ctx_t *c, xmlNodePtr node, const nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *g,
                                const msccl_raw_tb_t *tb, int index, msccl_raw_step_t *st) {
  char type[16];
  int s;
  NSCCL_CHECK(attr_int(c, node, "s", INT_MIN, &s));
  if (s != index) BAD(c, node, "step s=\"%d\" is step %d of its thread block (steps count from 0 in order)", s, index);
  NSCCL_CHECK(attr_str(c, node, "type", NULL, type, sizeof(type)));
  st->kind = -1;
  for (int k = 0; k < MSCCL_NUM_OPS; k++)
    if (!strcmp(type, op_names[k])) st->kind = k;
  if (st->kind < 0)
    BAD(c, node, "unknown step type \"%s\" (nsccl takes s, r, rcs, rrs, rrc, rrcs, cpy, re, nop)", type);
  st->line = (int)xmlGetLineNo(node);
  NSCCL_CHECK(parse_buf(c, node, "srcbuf", &st->srcbuf));
  NSCCL_CHECK(parse_buf(c, node, "dstbuf", &st->dstbuf));
  NSCCL_CHECK(attr_int(c, node, "srcoff", -1, &st->srcoff));
  NSCCL_CHECK(attr_int(c, node, "dstoff", -1, &st->dstoff));
  NSCCL_CHECK(attr_int(c, node, "cnt", 1, &st->cnt));
  NSCCL_CHECK(attr_int(c, node, "depid", -1, &st->depid));
  NSCCL_CHECK(attr_int(c, node, "deps", -1, &st->deps));
  NSCCL_CHECK(attr_int(c, node, "hasdep", 0, &st->hasdep));
  if (st->kind == MSCCL_OP_NOP && st->depid < 0)
    BAD(c, node, "a nop step without a dependency (depid) does nothing; the runtime's nops carry one");
  if (st->kind != MSCCL_OP_NOP && st->cnt < 1) BAD(c, node, "cnt=\"%d\": a step moves at least one chunk", st->cnt);
  int src, dst;
  operands(st->kind, &src, &dst);
  if (src) {
    if (!st->srcbuf) BAD(c, node, "a %s step needs srcbuf and srcoff", type);
    NSCCL_CHECK(check_range(c, node, plan, g, "reads", st->srcbuf, st->srcoff, st->cnt));
  }
  if (dst) {
    if (!st->dstbuf) BAD(c, node, "a %s step needs dstbuf and dstoff", type);
    NSCCL_CHECK(check_range(c, node, plan, g, "writes", st->dstbuf, st->dstoff, st->cnt));
  }
  int sends =
      st->kind == MSCCL_OP_SEND || st->kind == MSCCL_OP_RCS || st->kind == MSCCL_OP_RRS || st->kind == MSCCL_OP_RRCS;
  int recvs = st->kind == MSCCL_OP_RECV || st->kind == MSCCL_OP_RCS || st->kind == MSCCL_OP_RRS ||
              st->kind == MSCCL_OP_RRC || st->kind == MSCCL_OP_RRCS;
  if (sends && tb->send < 0)
    BAD(c, node, "a %s step in thread block %d of gpu %d, which has no send peer", type, tb->id, g->id);
  if (recvs && tb->recv < 0)
    BAD(c, node, "a %s step in thread block %d of gpu %d, which has no recv peer", type, tb->id, g->id);
  if (st->depid >= 0 && st->deps < 0) BAD(c, node, "depid=\"%d\" without deps (the step it waits for)", st->depid);
  return nscclSuccess;
}

static nscclResult_t parse_tb(ctx_t *c, xmlNodePtr node, const nsccl_msccl_plan_t *plan, const msccl_raw_gpu_t *g,
                              msccl_raw_tb_t *tb) {
  NSCCL_CHECK(attr_int(c, node, "id", INT_MIN, &tb->id));
  NSCCL_CHECK(attr_int(c, node, "send", -1, &tb->send));
  NSCCL_CHECK(attr_int(c, node, "recv", -1, &tb->recv));
  NSCCL_CHECK(attr_int(c, node, "chan", 0, &tb->chan));
  tb->line = (int)xmlGetLineNo(node);
  if (tb->id < 0) BAD(c, node, "thread block id=\"%d\": ids count from 0", tb->id);
  if (tb->chan < 0) BAD(c, node, "thread block %d: chan=\"%d\" must be >= 0", tb->id, tb->chan);
  for (int k = 0; k < 2; k++) {
    int peer = k ? tb->recv : tb->send;
    if (peer < -1 || peer >= plan->ngpus || peer == g->id)
      BAD(c, node, "thread block %d of gpu %d: %s=\"%d\" is not another gpu of the %d (or -1)", tb->id, g->id,
          k ? "recv" : "send", peer, plan->ngpus);
  }
  nscclResult_t rc;
  int n = count_children(c, node, "step", &rc);
  NSCCL_CHECK(rc);
  tb->steps = calloc(n ? (size_t)n : 1, sizeof(*tb->steps));
  if (!tb->steps) NSCCL_FAIL(nscclSystemError, "%s: out of memory", c->path);
  for (xmlNodePtr k = node->children; k; k = k->next) {
    if (k->type != XML_ELEMENT_NODE) continue;
    NSCCL_CHECK(parse_step(c, k, plan, g, tb, tb->nsteps, &tb->steps[tb->nsteps]));
    tb->nsteps++;
  }
  return nscclSuccess;
}

static nscclResult_t parse_gpu(ctx_t *c, xmlNodePtr node, const nsccl_msccl_plan_t *plan, msccl_raw_gpu_t *gpus,
                               int *seen) {
  int id;
  NSCCL_CHECK(attr_int(c, node, "id", INT_MIN, &id));
  if (id < 0 || id >= plan->ngpus)
    BAD(c, node, "gpu id=\"%d\" is outside 0..%d (ngpus=%d)", id, plan->ngpus - 1, plan->ngpus);
  if (seen[id]) BAD(c, node, "gpu %d appears twice (first on line %d)", id, gpus[id].line);
  seen[id] = 1;
  msccl_raw_gpu_t *g = &gpus[id];
  g->id = id;
  g->line = (int)xmlGetLineNo(node);
  NSCCL_CHECK(attr_int(c, node, "i_chunks", 0, &g->i_chunks));
  NSCCL_CHECK(attr_int(c, node, "o_chunks", 0, &g->o_chunks));
  NSCCL_CHECK(attr_int(c, node, "s_chunks", 0, &g->s_chunks));
  int ci = nsccl_msccl_capacity(plan, 'i'), co = nsccl_msccl_capacity(plan, 'o');
  if (g->i_chunks < 0 || g->i_chunks > ci || g->o_chunks < 0 || g->o_chunks > co || g->s_chunks < 0)
    BAD(c, node,
        "gpu %d declares i_chunks=%d o_chunks=%d s_chunks=%d, but a %s with nchunksperloop=%d on %d gpus "
        "has %d input and %d output chunks",
        id, g->i_chunks, g->o_chunks, g->s_chunks, nsccl_coll_name(plan->coll), plan->nchunks, plan->ngpus, ci, co);
  nscclResult_t rc;
  int n = count_children(c, node, "tb", &rc);
  NSCCL_CHECK(rc);
  g->tbs = calloc(n ? (size_t)n : 1, sizeof(*g->tbs));
  if (!g->tbs) NSCCL_FAIL(nscclSystemError, "%s: out of memory", c->path);
  for (xmlNodePtr k = node->children; k; k = k->next) {
    if (k->type != XML_ELEMENT_NODE) continue;
    msccl_raw_tb_t *tb = &g->tbs[g->ntbs++]; /* counted first: freed even if it fails half way */
    NSCCL_CHECK(parse_tb(c, k, plan, g, tb));
    for (int j = 0; j < g->ntbs - 1; j++)
      if (g->tbs[j].id == tb->id)
        BAD(c, k, "gpu %d has thread block %d twice (first on line %d)", id, tb->id, g->tbs[j].line);
  }
  /* Thread block ids name dependencies; keep them indexable by id. */
  for (int t = 0; t < g->ntbs; t++)
    if (g->tbs[t].id >= g->ntbs)
      NSCCL_FAIL(nscclInvalidArgument, "%s:%d: gpu %d has %d thread blocks but one has id %d (ids are 0..%d)", c->path,
                 g->tbs[t].line, id, g->ntbs, g->tbs[t].id, g->ntbs - 1);
  for (int t = 0; t < g->ntbs; t++)
    while (g->tbs[t].id != t) {
      msccl_raw_tb_t tmp = g->tbs[t];
      g->tbs[t] = g->tbs[tmp.id];
      g->tbs[tmp.id] = tmp;
    }
  return nscclSuccess;
}

int nsccl_msccl_capacity(const nsccl_msccl_plan_t *plan, char buf) {
  int K = plan->nchunks, n = plan->ngpus;
  switch (plan->coll) {
  case NSCCL_COLL_ALLGATHER: return buf == 'o' ? K : K / n;
  case NSCCL_COLL_REDUCESCATTER: return buf == 'i' ? K : K / n;
  default: return K;
  }
}

static nscclResult_t parse_algo(ctx_t *c, xmlNodePtr root, nsccl_msccl_plan_t *plan, msccl_raw_gpu_t **gpus_out) {
  if (strcmp((const char *)root->name, "algo"))
    BAD(c, root, "the root element is <%s>; an MSCCL-IR file holds one <algo>", (const char *)root->name);
  char coll[32];
  NSCCL_CHECK(attr_str(c, root, "name", "", plan->name, sizeof(plan->name)));
  NSCCL_CHECK(attr_str(c, root, "proto", "Simple", plan->proto, sizeof(plan->proto)));
  NSCCL_CHECK(attr_str(c, root, "coll", NULL, coll, sizeof(coll)));
  NSCCL_CHECK(attr_int(c, root, "ngpus", INT_MIN, &plan->ngpus));
  NSCCL_CHECK(attr_int(c, root, "nchunksperloop", INT_MIN, &plan->nchunks));
  NSCCL_CHECK(attr_int(c, root, "nchannels", 1, &plan->nchannels));
  NSCCL_CHECK(attr_int(c, root, "inplace", 0, &plan->inplace));
  if (!strcmp(coll, "allgather"))
    plan->coll = NSCCL_COLL_ALLGATHER;
  else if (!strcmp(coll, "allreduce"))
    plan->coll = NSCCL_COLL_ALLREDUCE;
  else if (!strcmp(coll, "reducescatter") || !strcmp(coll, "reduce_scatter"))
    plan->coll = NSCCL_COLL_REDUCESCATTER;
  else
    BAD(c, root, "coll=\"%s\": nsccl imports allgather, allreduce and reducescatter", coll);
  if (plan->ngpus < 1 || plan->ngpus > 65536) BAD(c, root, "ngpus=\"%d\" must be 1..65536", plan->ngpus);
  if (plan->nchunks < 1) BAD(c, root, "nchunksperloop=\"%d\" must be >= 1", plan->nchunks);
  if (plan->coll != NSCCL_COLL_ALLREDUCE && plan->nchunks % plan->ngpus)
    BAD(c, root, "nchunksperloop=\"%d\" of a %s must be a multiple of ngpus=%d (each gpu's block)", plan->nchunks, coll,
        plan->ngpus);
  if (plan->inplace != 0 && plan->inplace != 1) BAD(c, root, "inplace=\"%d\" must be 0 or 1", plan->inplace);
  nscclResult_t rc;
  int n = count_children(c, root, "gpu", &rc);
  NSCCL_CHECK(rc);
  if (n != plan->ngpus) BAD(c, root, "ngpus=\"%d\" but the algorithm has %d <gpu> elements", plan->ngpus, n);
  msccl_raw_gpu_t *gpus = calloc((size_t)plan->ngpus, sizeof(*gpus));
  int *seen = calloc((size_t)plan->ngpus, sizeof(int));
  *gpus_out = gpus;
  if (!gpus || !seen) {
    free(seen);
    NSCCL_FAIL(nscclSystemError, "%s: out of memory", c->path);
  }
  rc = nscclSuccess;
  for (xmlNodePtr k = root->children; k && rc == nscclSuccess; k = k->next)
    if (k->type == XML_ELEMENT_NODE) rc = parse_gpu(c, k, plan, gpus, seen);
  free(seen);
  return rc;
}

static void free_raw(msccl_raw_gpu_t *gpus, int n) {
  for (int g = 0; gpus && g < n; g++) {
    for (int t = 0; t < gpus[g].ntbs; t++) free(gpus[g].tbs[t].steps);
    free(gpus[g].tbs);
  }
  free(gpus);
}

nscclResult_t nsccl_msccl_parse(const char *path, nsccl_msccl_plan_t **out) {
  *out = NULL;
  if (!path || !*path) NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR: no file name given");
  nsccl_msccl_plan_t *plan = calloc(1, sizeof(*plan));
  if (!plan || !(plan->path = strdup(path))) {
    free(plan);
    NSCCL_FAIL(nscclSystemError, "MSCCL-IR: out of memory for %s", path);
  }
  ctx_t c = {plan->path, nscclSuccess};
  /* Opened here, so that a missing file is said plainly (libxml2 would print an I/O warning). */
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    nsccl_msccl_plan_free(plan);
    NSCCL_FAIL(nscclInvalidArgument, "MSCCL-IR: cannot open %s: %s", path, strerror(e));
  }
  xmlParserCtxtPtr px = xmlNewParserCtxt();
  if (!px) {
    close(fd);
    nsccl_msccl_plan_free(plan);
    NSCCL_FAIL(nscclSystemError, "MSCCL-IR: cannot create an XML parser");
  }
  /* No network, errors kept in the context, not printed. */
  xmlDocPtr doc = xmlCtxtReadFd(px, fd, path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  close(fd);
  nscclResult_t rc = nscclSuccess;
  msccl_raw_gpu_t *gpus = NULL;
  if (!doc) {
    const xmlError *e = xmlCtxtGetLastError(px);
    char why[256] = "cannot read the file";
    if (e && e->message) {
      snprintf(why, sizeof(why), "%s", e->message);
      size_t n = strlen(why);
      while (n && (why[n - 1] == '\n' || why[n - 1] == ' ')) why[--n] = '\0';
    }
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s:%d: %s", path, e ? e->line : 0, why);
    rc = nscclInvalidArgument;
  } else {
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root) {
      nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s: the file holds no element", path);
      rc = nscclInvalidArgument;
    } else {
      rc = parse_algo(&c, root, plan, &gpus);
    }
  }
  if (rc == nscclSuccess) rc = nsccl_msccl_order(plan, gpus);
  free_raw(gpus, plan->ngpus);
  if (doc) xmlFreeDoc(doc);
  xmlFreeParserCtxt(px);
  if (rc != nscclSuccess) {
    nsccl_msccl_plan_free(plan);
    return rc;
  }
  *out = plan;
  return nscclSuccess;
}

void nsccl_msccl_plan_free(nsccl_msccl_plan_t *plan) {
  if (!plan) return;
  for (int g = 0; plan->ranks && g < plan->ngpus; g++) {
    msccl_rank_plan_t *r = &plan->ranks[g];
    for (int i = 0; i < r->nparts; i++) free(r->parts[i].deps);
    free(r->parts);
    free(r->tb_end_first);
    free(r->tb_end_n);
    free(r->tb_end);
    free(r->tmp_cnt);
  }
  free(plan->ranks);
  free(plan->path);
  free(plan);
}
