/* Trace Event Format writer (the JSON that Perfetto and chrome://tracing open) for simulated runs.
 *
 * Per run, two processes: "<label>: ranks" (threads per rank, each step a complete "X" slice, plus
 * a "collective" thread with one slice over the whole span and the "bytes in flight" counter) and
 * "<label>: links" (a thread per link that carried anything, named by its endpoints, its busy
 * intervals as slices). Times are microseconds. The file is streamed while the simulation runs (a
 * DOM of a million events would cost far more memory than the run), so it is written by hand; the
 * only strings that need escaping are labels and vertex names.
 *
 * A rank runs several transfers at once (DMA engines, pipelined chunks), and Perfetto nests the
 * slices of one thread, so a rank's steps go on lanes: thread "rank R" (tid 1 + R) and, when a step
 * overlaps every lane in use, "rank R lane L" (tid 1 + R + nranks * L). A SEND's or receive's slice
 * is its transfer, from one endpoint overhead before its first byte enters a link to its completion;
 * COPY and REDUCE steps run from ready to done.
 *
 * Limits (docs/simulator.md, "Timelines and link use"): back-to-back busy intervals of a link (the
 * next packet starts exactly when the last one ends) are merged into one slice, which loses nothing
 * of the busy time; after `limit` events further step slices and link intervals are dropped, the
 * run records the earliest end of a dropped one (truncated_at_us: every slice that ends earlier is
 * in the file) and the counter stops there too. Metadata is always written; the counter has a
 * budget of its own (write_counter). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "model/observe.h"
#include "topologies/topo.h"

struct nsccl_trace {
  FILE *f;
  char *path;
  uint64_t limit, written, dropped;
  int nruns, any; /* any: an event was written (the next needs a comma) */
  int failed;     /* a write failed */
  char *runs;     /* the run table (JSON objects, comma separated), written at close */
  size_t nruns_txt, cap_runs;
};

typedef struct {
  double start, end, bytes;
  int open;
} pending_t;

typedef struct {
  double t, delta;
} flight_t;

/* A rank's lanes as a min-heap on when their last slice ends: the root is the lane that frees first. */
typedef struct {
  double end;
  int lane;
} lane_end_t;
typedef struct {
  lane_end_t *h;
  int n, cap;
} lanes_t;

struct nsccl_trace_run {
  nsccl_trace_t *tr;
  const nsccl_topo_t *topo;
  const nsccl_program_t *progs;
  int n, pid;   /* ranks process pid; links process pid + 1 */
  double alpha; /* the ranks' endpoint overhead */
  char *label;
  uint32_t *base;     /* [n + 1] global step ids */
  double *step_start; /* [steps] */
  double *sent;       /* [steps]: a SEND's / receive's message started leaving the sender (-1: not yet) */
  lanes_t *lanes;     /* [n] */
  uint64_t crowded;   /* slices that found no free lane and overlap another */
  pending_t *pend;    /* [nlinks] */
  uint8_t *used;      /* [nlinks] */
  flight_t *flight;   /* message entries / landings */
  size_t nflight, cap_flight;
  double truncated_at; /* < 0: nothing dropped; else the earliest end of a dropped slice */
  uint64_t counter_points;
  int counter_sampled;
  uint64_t steps, link_slices, messages;
  double send_bytes, recv_bytes, msg_bytes;
};

/* ---- output ---- */

static void put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* Start an event that ends at t (the comma before it); 0 when the limit drops it. Metadata and
 * counter points are not counted. */
static int begin_event(nsccl_trace_run_t *run, double t, int metadata) {
  nsccl_trace_t *tr = run->tr;
  if (!metadata && tr->written >= tr->limit) {
    tr->dropped++;
    if (run->truncated_at < 0 || t < run->truncated_at) run->truncated_at = t;
    return 0;
  }
  if (!metadata) tr->written++;
  fputs(tr->any ? ",\n" : "\n", tr->f);
  tr->any = 1;
  return 1;
}

static void name_meta(nsccl_trace_run_t *run, const char *what, int pid, int tid, const char *prefix,
                      const char *name) {
  FILE *f = run->tr->f;
  begin_event(run, 0, 1);
  fprintf(f, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":", what, pid, tid);
  if (prefix) {
    size_t len = strlen(prefix) + strlen(name) + 3;
    char *both = malloc(len);
    if (both) {
      snprintf(both, len, "%s: %s", prefix, name);
      put_string(f, both);
      free(both);
    } else {
      put_string(f, name);
    }
  } else {
    put_string(f, name);
  }
  fputs("}}", f);
}

static void sort_meta(nsccl_trace_run_t *run, int pid, int tid, int index) {
  begin_event(run, 0, 1);
  fprintf(run->tr->f, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
          tid < 0 ? "process_sort_index" : "thread_sort_index", pid, tid < 0 ? 0 : tid, index);
}

/* ---- the file ---- */

nscclResult_t nsccl_trace_open(const char *path, uint64_t limit, nsccl_trace_t **out) {
  if (!path || !out) NSCCL_FAIL(nscclInvalidArgument, "trace: path and out must not be NULL");
  nsccl_trace_t *tr = calloc(1, sizeof(*tr));
  if (!tr) NSCCL_FAIL(nscclSystemError, "trace: out of memory");
  tr->path = strdup(path);
  tr->f = fopen(path, "w");
  if (!tr->f || !tr->path) {
    int err = errno;
    if (tr->f) fclose(tr->f);
    free(tr->path);
    free(tr);
    NSCCL_FAIL(nscclSystemError, "trace: cannot create %s: %s", path, strerror(err));
  }
  tr->limit = limit ? limit : NSCCL_TRACE_DEFAULT_LIMIT;
  fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", tr->f);
  *out = tr;
  return nscclSuccess;
}

void nsccl_trace_counts(const nsccl_trace_t *tr, uint64_t *written, uint64_t *dropped) {
  *written = tr ? tr->written : 0;
  *dropped = tr ? tr->dropped : 0;
}

static int append_run_text(nsccl_trace_t *tr, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) return 0;
  if (tr->nruns_txt + (size_t)need + 1 > tr->cap_runs) {
    size_t cap = (tr->cap_runs + (size_t)need + 1) * 2;
    char *p = realloc(tr->runs, cap);
    if (!p) return 0;
    tr->runs = p;
    tr->cap_runs = cap;
  }
  va_start(ap, fmt);
  vsnprintf(tr->runs + tr->nruns_txt, (size_t)need + 1, fmt, ap);
  va_end(ap);
  tr->nruns_txt += (size_t)need;
  return 1;
}

nscclResult_t nsccl_trace_close(nsccl_trace_t *tr) {
  if (!tr) return nscclSuccess;
  FILE *f = tr->f;
  fprintf(f,
          "\n],\n\"otherData\":{\"producer\":\"nsccl simulator (modelled times, not measured)\"},\n"
          "\"nsccl\":{\"format\":1,\"event_limit\":%llu,\"events\":%llu,\"dropped_events\":%llu,"
          "\"link_merge\":\"back-to-back busy intervals of a link are one slice\",\"runs\":[%s]}}\n",
          (unsigned long long)tr->limit, (unsigned long long)tr->written, (unsigned long long)tr->dropped,
          tr->runs ? tr->runs : "");
  int bad = tr->failed || ferror(f);
  int err = errno;
  if (fclose(f) != 0) bad = 1, err = errno;
  nscclResult_t rc = nscclSuccess;
  if (bad) {
    rc = nscclSystemError;
    nsccl_set_error(__FILE__, __LINE__, rc, "trace: writing %s failed: %s", tr->path, strerror(err));
  }
  free(tr->runs);
  free(tr->path);
  free(tr);
  return rc;
}

/* ---- a run ---- */

static void run_free(nsccl_trace_run_t *run) {
  if (!run) return;
  free(run->label);
  free(run->base);
  free(run->step_start);
  free(run->sent);
  if (run->lanes)
    for (int r = 0; r < run->n; r++) free(run->lanes[r].h);
  free(run->lanes);
  free(run->pend);
  free(run->used);
  free(run->flight);
  free(run);
}

nscclResult_t nsccl_trace_run_begin(nsccl_trace_t *tr, const char *label, const nsccl_topo_t *topo,
                                    const nsccl_program_t *progs, int nranks, nsccl_trace_run_t **out) {
  nsccl_trace_run_t *run = calloc(1, sizeof(*run));
  if (!run) NSCCL_FAIL(nscclSystemError, "trace: out of memory");
  run->tr = tr;
  run->topo = topo;
  run->progs = progs;
  run->n = nranks;
  run->pid = 2 * tr->nruns + 1;
  run->truncated_at = -1;
  run->alpha = topo->endpoint_overhead > 0 ? topo->endpoint_overhead : 0;
  run->label = strdup(label ? label : topo->name);
  run->base = malloc(((size_t)nranks + 1) * sizeof(uint32_t));
  size_t nl = topo->nlinks > 0 ? (size_t)topo->nlinks : 1;
  run->pend = calloc(nl, sizeof(pending_t));
  run->used = calloc(nl, 1);
  if (!run->label || !run->base || !run->pend || !run->used) {
    run_free(run);
    NSCCL_FAIL(nscclSystemError, "trace: out of memory for a run of %d ranks", nranks);
  }
  uint64_t total = 0;
  for (int r = 0; r < nranks; r++) {
    run->base[r] = (uint32_t)total;
    total += progs[r].nsteps;
  }
  run->base[nranks] = (uint32_t)total;
  if (run->sent)
    for (uint64_t g = 0; g < total; g++) run->sent[g] = -1;
  run->step_start = malloc((total ? total : 1) * sizeof(double));
  run->sent = malloc((total ? total : 1) * sizeof(double));
  run->lanes = calloc((size_t)nranks, sizeof(lanes_t));
  if (!run->step_start || !run->sent || !run->lanes) {
    run_free(run);
    NSCCL_FAIL(nscclSystemError, "trace: out of memory for %llu steps", (unsigned long long)total);
  }
  tr->nruns++;
  *out = run;
  return nscclSuccess;
}

void nsccl_trace_step_start(nsccl_trace_run_t *run, int rank, uint32_t step, double t) {
  run->step_start[run->base[rank] + step] = t;
}

static void sift_down(lanes_t *L, int i) {
  for (;;) {
    int c = 2 * i + 1;
    if (c >= L->n) return;
    if (c + 1 < L->n && L->h[c + 1].end < L->h[c].end) c++;
    if (L->h[i].end <= L->h[c].end) return;
    lane_end_t x = L->h[i];
    L->h[i] = L->h[c];
    L->h[c] = x;
    i = c;
  }
}

/* A lane of rank's track free from t0 on, for a slice [t0, t1]: slices of one lane (one thread in
 * the file) never overlap, as Perfetto wants of a thread. The lane that frees first is free if any
 * is; else a new lane, up to NSCCL_TRACE_LANES; beyond that the slice overlaps on the lane that frees
 * first and is counted as crowded. */
static int lane_for(nsccl_trace_run_t *run, int rank, double t0, double t1) {
  lanes_t *L = &run->lanes[rank];
  if (L->n > 0 && L->h[0].end <= t0) {
    int lane = L->h[0].lane;
    L->h[0].end = t1;
    sift_down(L, 0);
    return lane;
  }
  if (L->n < NSCCL_TRACE_LANES && L->n == L->cap) {
    int cap = L->cap * 2 + 4;
    lane_end_t *h = realloc(L->h, (size_t)cap * sizeof(lane_end_t));
    if (h) L->h = h, L->cap = cap;
  }
  if (L->n < L->cap && L->n < NSCCL_TRACE_LANES) { /* a new lane: sift its end up */
    int i = L->n++;
    L->h[i] = (lane_end_t){t1, i};
    for (; i > 0 && L->h[(i - 1) / 2].end > L->h[i].end; i = (i - 1) / 2) {
      lane_end_t x = L->h[i];
      L->h[i] = L->h[(i - 1) / 2];
      L->h[(i - 1) / 2] = x;
    }
    return L->n - 1;
  }
  run->crowded++; /* no lane free and no new one: overlap on the lane that frees first */
  if (L->n == 0) return 0;
  int lane = L->h[0].lane;
  if (t1 > L->h[0].end) L->h[0].end = t1;
  sift_down(L, 0);
  return lane;
}

void nsccl_trace_step_end(nsccl_trace_run_t *run, int rank, uint32_t step, double t) {
  const nsccl_step_t *st = &run->progs[rank].steps[step];
  int recv = st->kind == NSCCL_STEP_RECV || st->kind == NSCCL_STEP_RECV_REDUCE;
  int comm = recv || st->kind == NSCCL_STEP_SEND;
  const nsccl_region_t *reg = st->kind == NSCCL_STEP_SEND ? &st->src : &st->dst;
  if (st->kind == NSCCL_STEP_SEND) run->send_bytes += (double)st->src.bytes;
  if (recv) run->recv_bytes += (double)st->dst.bytes;
  run->steps++;
  uint32_t g = run->base[rank] + step;
  double ready = run->step_start[g], t0 = ready;
  /* A step is ready when its dependencies are done, and a receive is posted then, usually long
   * before anything comes; a SEND may wait for DMA engines or behind the previous message to the same
   * peer. Their slices show the transfer: from one endpoint overhead before its first byte enters a
   * link (ready_us keeps the other time), so that concurrent slices are concurrent transfers. */
  if (comm && run->sent[g] > t0) t0 = run->sent[g];
  if (!begin_event(run, t, 0)) return;
  int lane = lane_for(run, rank, t0, t);
  /* chunk: the region's offset in units of its size, the chunk index when a schedule cuts a buffer
   * into equal pieces (the IR has no chunk field of its own). */
  size_t chunk = reg->bytes ? reg->offset / reg->bytes : 0;
  fprintf(run->tr->f,
          "{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"step\",\"pid\":%d,\"tid\":%d,\"ts\":%.4f,\"dur\":%.4f,"
          "\"args\":{\"step\":%u,\"peer\":%d,\"bytes\":%zu,\"chunk\":%zu,\"offset\":%zu",
          nsccl_step_kind_name((nsccl_step_kind_t)st->kind), run->pid, 1 + rank + run->n * lane, t0 * 1e6,
          (t - t0) * 1e6, step, comm ? st->peer : -1, reg->bytes, chunk, reg->offset);
  if (comm && ready < t0) fprintf(run->tr->f, ",\"ready_us\":%.4f", ready * 1e6); /* only when it differs */
  fputs("}}", run->tr->f);
}

static void flush_link(nsccl_trace_run_t *run, int link) {
  pending_t *p = &run->pend[link];
  if (!p->open) return;
  p->open = 0;
  run->link_slices++;
  if (!begin_event(run, p->end, 0)) return;
  fprintf(run->tr->f,
          "{\"ph\":\"X\",\"name\":\"busy\",\"cat\":\"link\",\"pid\":%d,\"tid\":%d,\"ts\":%.4f,\"dur\":%.4f,"
          "\"args\":{\"bytes\":%.0f}}",
          run->pid + 1, link + 1, p->start * 1e6, (p->end - p->start) * 1e6, p->bytes);
}

void nsccl_trace_link_busy(nsccl_trace_run_t *run, int link, double start, double end, double bytes) {
  pending_t *p = &run->pend[link];
  run->used[link] = 1;
  /* A link serves packets in order (start >= its previous end), so back-to-back is equality. */
  if (p->open && start <= p->end) {
    p->end = end;
    p->bytes += bytes;
    return;
  }
  flush_link(run, link);
  *p = (pending_t){start, end, bytes, 1};
}

void nsccl_trace_message(nsccl_trace_run_t *run, int src, uint32_t send_step, int dst, uint32_t recv_step, double bytes,
                         double t, int phase) {
  if (phase == NSCCL_SIM_MSG_LEAVES) {
    /* The transfer's slices start an endpoint overhead before the first byte moves: when the sender
     * began working on it (a message waiting for its pair's previous one paid it while waiting). */
    double from = t - run->alpha;
    run->sent[run->base[src] + send_step] = run->sent[run->base[dst] + recv_step] = from;
    run->messages++;
    run->msg_bytes += bytes;
  }
  /* Past the limit the counter stops where the slices stopped: keep nothing it will not print. */
  if (run->truncated_at >= 0 && t > run->truncated_at) return;
  if (run->nflight == run->cap_flight) {
    size_t cap = run->cap_flight * 2 + 1024;
    flight_t *p = realloc(run->flight, cap * sizeof(flight_t));
    if (!p) {
      run->tr->failed = 1; /* reported at close */
      return;
    }
    run->flight = p;
    run->cap_flight = cap;
  }
  run->flight[run->nflight++] = (flight_t){t, phase == NSCCL_SIM_MSG_LANDED ? -bytes : bytes};
}

static int by_time(const void *a, const void *b) {
  const flight_t *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  return (x->delta > y->delta) - (x->delta < y->delta); /* landings first at a tie: no false peak */
}

static void counter_point(nsccl_trace_run_t *run, double t, double level) {
  if (level < 0.5 && level > -0.5) level = 0; /* sums of doubles: print an exact zero */
  begin_event(run, t, 1);
  fprintf(run->tr->f,
          "{\"ph\":\"C\",\"name\":\"bytes in flight\",\"pid\":%d,\"tid\":0,\"ts\":%.4f,\"args\":{\"bytes\":%.0f}}",
          run->pid, t * 1e6, level);
  run->counter_points++;
}

/* The bytes-in-flight counter: one point per distinct time, up to where the trace was truncated.
 * It is not counted in the event limit but has a budget of its own (a tenth of it, at least 1000
 * points): beyond, the span is cut into budget intervals and each shows the peak it reached, at its
 * first change, then the last level. */
static void write_counter(nsccl_trace_run_t *run) {
  qsort(run->flight, run->nflight, sizeof(flight_t), by_time);
  size_t n = 0; /* compact in place into (time, level after it) */
  double level = 0;
  for (size_t i = 0; i < run->nflight; i++) {
    level += run->flight[i].delta;
    if (i + 1 < run->nflight && run->flight[i + 1].t == run->flight[i].t) continue;
    if (run->truncated_at >= 0 && run->flight[i].t > run->truncated_at) break;
    run->flight[n++] = (flight_t){run->flight[i].t, level};
  }
  uint64_t budget = run->tr->limit / 10 > 1000 ? run->tr->limit / 10 : 1000;
  if (n <= budget) {
    for (size_t i = 0; i < n; i++) counter_point(run, run->flight[i].t, run->flight[i].delta);
    return;
  }
  run->counter_sampled = 1;
  double t_end = run->flight[n - 1].t, width = t_end / (double)(budget - 1);
  if (!(width > 0)) width = 1; /* everything at t = 0: one interval */
  for (size_t i = 0; i + 1 < n;) {
    size_t first = i;
    double peak = run->flight[i].delta, stop = (floor(run->flight[i].t / width) + 1) * width;
    for (i++; i + 1 < n && run->flight[i].t < stop; i++)
      if (run->flight[i].delta > peak) peak = run->flight[i].delta;
    counter_point(run, run->flight[first].t, peak);
  }
  counter_point(run, t_end, run->flight[n - 1].delta);
}

nscclResult_t nsccl_trace_run_end(nsccl_trace_run_t *run, double span_s, int ok) {
  nsccl_trace_t *tr = run->tr;
  const nsccl_topo_t *t = run->topo;
  int nlinks_used = 0;
  for (int l = 0; l < t->nlinks; l++) {
    flush_link(run, l);
    nlinks_used += run->used[l];
  }
  write_counter(run);
  /* The whole collective as one slice, the span every other event lies in; never dropped. */
  if (ok && begin_event(run, 0, 1))
    fprintf(tr->f,
            "{\"ph\":\"X\",\"name\":\"collective\",\"cat\":\"run\",\"pid\":%d,\"tid\":0,\"ts\":0,\"dur\":%.6f,"
            "\"args\":{\"ranks\":%d}}",
            run->pid, span_s * 1e6, run->n);
  name_meta(run, "process_name", run->pid, 0, run->label, "ranks");
  name_meta(run, "process_name", run->pid + 1, 0, run->label, "links");
  sort_meta(run, run->pid, -1, run->pid);
  sort_meta(run, run->pid + 1, -1, run->pid + 1);
  name_meta(run, "thread_name", run->pid, 0, NULL, "collective");
  char name[96], a[40], b[40];
  for (int r = 0; r < run->n; r++)
    for (int l = 0; l < (run->lanes[r].n ? run->lanes[r].n : 1); l++) {
      if (l)
        snprintf(name, sizeof(name), "rank %d lane %d", r, l);
      else
        snprintf(name, sizeof(name), "rank %d", r);
      int tid = 1 + r + run->n * l;
      name_meta(run, "thread_name", run->pid, tid, NULL, name);
      sort_meta(run, run->pid, tid, r * NSCCL_TRACE_LANES + l + 1);
    }
  for (int l = 0; l < t->nlinks; l++) {
    if (!run->used[l]) continue;
    nsccl_topo_vertex_name(t, t->links[l].src, a, sizeof(a));
    nsccl_topo_vertex_name(t, t->links[l].dst, b, sizeof(b));
    snprintf(name, sizeof(name), "link %d: %s -> %s", l, a, b);
    name_meta(run, "thread_name", run->pid + 1, l + 1, NULL, name);
    sort_meta(run, run->pid + 1, l + 1, l + 1);
  }
  /* The run table: what a reader needs to check the file (docs/simulator.md). Labels are plain
   * names built by the tools; escape the two characters JSON cares about anyway. */
  char *lab = malloc(strlen(run->label) * 2 + 1), *q = lab;
  if (lab) {
    for (const char *p = run->label; *p; p++) {
      if (*p == '"' || *p == '\\') *q++ = '\\';
      *q++ = (unsigned char)*p < 0x20 ? ' ' : *p;
    }
    *q = 0;
  }
  char trunc[48] = "null";
  if (run->truncated_at >= 0) snprintf(trunc, sizeof(trunc), "%.6f", run->truncated_at * 1e6);
  int okt = append_run_text(tr,
                            "%s\n{\"label\":\"%s\",\"ok\":%s,\"ranks_pid\":%d,\"links_pid\":%d,\"ranks\":%d,"
                            "\"span_us\":%.6f,\"steps\":%llu,\"messages\":%llu,\"message_bytes\":%.0f,"
                            "\"send_bytes\":%.0f,\"recv_bytes\":%.0f,\"links_used\":%d,\"link_slices\":%llu,"
                            "\"truncated_at_us\":%s,\"crowded_slices\":%llu,\"counter_points\":%llu,"
                            "\"counter_sampled\":%s}",
                            tr->nruns > 1 && tr->nruns_txt ? "," : "", lab ? lab : "", ok ? "true" : "false", run->pid,
                            run->pid + 1, run->n, span_s * 1e6, (unsigned long long)run->steps,
                            (unsigned long long)run->messages, run->msg_bytes, run->send_bytes, run->recv_bytes,
                            nlinks_used, (unsigned long long)run->link_slices, trunc, (unsigned long long)run->crowded,
                            (unsigned long long)run->counter_points, run->counter_sampled ? "true" : "false");
  free(lab);
  run_free(run);
  if (!okt) NSCCL_FAIL(nscclSystemError, "trace: out of memory for the run table");
  return nscclSuccess;
}
