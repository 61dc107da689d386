/* nsccl-envelope's output (envelope_report.h). */
#include "envelope_report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int env_in_ag6(const env_peak_t p[ENV_NCOLLS]) { return p[0].peak >= ENV_AG_MIN; }
int env_in_ar2(const env_peak_t p[ENV_NCOLLS]) { return p[1].peak >= ENV_AR_LO && p[1].peak <= ENV_AR_HI; }

static double distance(const env_peak_t p[ENV_NCOLLS]) {
  double a = log(p[0].peak / 6.0), b = log(p[1].peak / 2.0);
  return a * a + b * b;
}

static const env_row_t *sort_rows;
static int by_distance(const void *x, const void *y) {
  int i = *(const int *)x, j = *(const int *)y;
  double a = distance(sort_rows[i].model), b = distance(sort_rows[j].model);
  return a < b ? -1 : a > b ? 1 : (i > j) - (i < j);
}

int *env_nearest_order(const env_row_t *rows, int n) {
  int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof(*order));
  if (!order) {
    fprintf(stderr, "nsccl-envelope: out of memory\n");
    return NULL;
  }
  for (int i = 0; i < n; i++) order[i] = i;
  sort_rows = rows;
  qsort(order, (size_t)n, sizeof(*order), by_distance);
  return order;
}

void env_print_facts(FILE *f) {
  fprintf(f, "# uncertain facts sampled (each uniform in its range; counts uniform in log), with the\n"
             "# docs/hardware-facts.md row each range comes from; 'likeliest' is the reading of the public\n"
             "# facts the LIKELIEST line prices\n");
  for (int k = 0; k < env_nfacts; k++) {
    const env_fact_t *x = &env_facts[k];
    char range[192];
    if (x->kind == ENV_CHOICE) {
      size_t len = 0;
      range[0] = '\0';
      for (int c = 0; c < x->nchoices && len < sizeof(range); c++)
        len += (size_t)snprintf(range + len, sizeof(range) - len, "%s%s", c ? " | " : "", x->choices[c].name);
    } else {
      snprintf(range, sizeof(range), "%g..%g %s%s", x->lo, x->hi, x->unit, x->kind == ENV_LOG_INT ? " (log)" : "");
    }
    env_sample_t l;
    env_likeliest(&l);
    char lv[64];
    fprintf(f, "# %-20s %-34s likeliest %-12s row: %s\n", x->name, range, env_value_str(&l, k, lv, sizeof(lv)), x->row);
  }
  for (int k = 0; env_not_sampled[k]; k++) fprintf(f, "# not sampled: %s\n", env_not_sampled[k]);
}

/* One fact's values over the rows selected by `in` (mask of 0/1 per sample): "lo..hi (median m)" or
 * "reading:share ...", "-" when empty. */
static void fact_range(const env_row_t *rows, int n, const unsigned char *in, int want, int f, char *buf, size_t len) {
  const env_fact_t *x = &env_facts[f];
  int cnt = 0;
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(*v));
  if (!v) {
    snprintf(buf, len, "?");
    return;
  }
  for (int i = 0; i < n; i++)
    if (in[i] == want) v[cnt++] = rows[i].s.v[f];
  if (cnt == 0) {
    snprintf(buf, len, "-");
  } else if (x->kind == ENV_CHOICE) {
    size_t used = 0;
    for (int c = 0; c < x->nchoices && used < len; c++) {
      int k = 0;
      for (int i = 0; i < cnt; i++) k += (int)v[i] == c;
      used += (size_t)snprintf(buf + used, len - used, "%s%s:%.2f", c ? " " : "", x->choices[c].name, (double)k / cnt);
    }
  } else {
    double lo = v[0], hi = v[0];
    for (int i = 1; i < cnt; i++) lo = v[i] < lo ? v[i] : lo, hi = v[i] > hi ? v[i] : hi;
    /* median by counting (n is small): the smallest value with at least half the values <= it */
    double med = hi;
    for (int i = 0; i < cnt; i++) {
      int le = 0;
      for (int j = 0; j < cnt; j++) le += v[j] <= v[i];
      if (2 * le >= cnt && v[i] < med) med = v[i];
    }
    snprintf(buf, len, "%.4g..%.4g (median %.4g)", lo, hi, med);
  }
  free(v);
}

static void print_sample(FILE *f, const char *tag, int id, const env_row_t *r) {
  fprintf(f, "%s id=%d", tag, id);
  for (int c = 0; c < ENV_NCOLLS; c++) {
    const env_peak_t *p = &r->model[c];
    fprintf(f, " %s=%.3f at=%zu algos=%s,%s", c ? "ar" : "ag", p->peak, p->at, p->talgo, p->salgo);
  }
  if (r->confirmed)
    fprintf(f, " sim_ag=%.3f at=%zu algos=%s,%s sim_ar=%.3f at=%zu algos=%s,%s", r->sim[0].peak, r->sim[0].at,
            r->sim[0].talgo, r->sim[0].salgo, r->sim[1].peak, r->sim[1].at, r->sim[1].talgo, r->sim[1].salgo);
  fprintf(f, "\n%s-FACTS", tag);
  char v[64];
  for (int k = 0; k < env_nfacts; k++) fprintf(f, " %s=%s", env_facts[k].name, env_value_str(&r->s, k, v, sizeof(v)));
  fprintf(f, "\n");
}

void env_report(FILE *f, const env_opts_t *o, const env_sizes_t *sz, const env_row_t *rows, const int *order) {
  int n = o->samples, ag = 0, ar = 0, both = 0;
  unsigned char *in = malloc((size_t)n + 1);
  if (!in) return;
  for (int i = 0; i < n; i++) {
    int a = env_in_ag6(rows[i].model), b = env_in_ar2(rows[i].model);
    ag += a, ar += b, both += a && b;
    in[i] = (unsigned char)(a && b);
  }
  fprintf(f,
          "# nsccl-envelope: MODELLED, not measured. %d samples (seed %llu) of the uncertain facts; each priced\n"
          "# by the cost model's selector (the family and variant the library would run) on %s against\n"
          "# the sampled Trn3 layout, %zu sizes %zu..%zu bytes; peak = largest torus time / switch time.\n",
          n, (unsigned long long)o->seed, o->torus, (size_t)sz->nsizes, o->min, o->max);
  env_print_facts(f);
  for (int k = 0; k < env_nfacts; k++)
    if (o->is_pinned[k]) {
      char v[64];
      fprintf(f, "# pinned: %s=%s\n", env_facts[k].name, env_value_str(&o->pinned, k, v, sizeof(v)));
    }
  const env_row_t *near = &rows[order[0]];
  fprintf(f, "ENVELOPE samples=%d ag6=%.3f ar2=%.3f both=%.3f nearest=%.3f/%.3f\n", n, (double)ag / n, (double)ar / n,
          (double)both / n, near->model[0].peak, near->model[1].peak);
  print_sample(f, "NEAREST", order[0], near);

  /* Which facts the claim region needs: each fact inside "both" against outside it, and inside each
   * half of the claim on its own (they can be empty). */
  fprintf(f,
          "# each fact over the samples inside the claim box ('both': ag >= %.1f and ar in %.1f..%.1f, n=%d)\n"
          "# against the samples outside it (n=%d); then inside each half alone (ag6 n=%d, ar2 n=%d)\n",
          ENV_AG_MIN, ENV_AR_LO, ENV_AR_HI, both, n - both, ag, ar);
  unsigned char *ina = malloc((size_t)n + 1), *inr = malloc((size_t)n + 1);
  for (int i = 0; ina && inr && i < n; i++)
    ina[i] = (unsigned char)env_in_ag6(rows[i].model), inr[i] = (unsigned char)env_in_ar2(rows[i].model);
  for (int k = 0; ina && inr && k < env_nfacts; k++) {
    char a[160], b[160], c[160], d[160];
    fact_range(rows, n, in, 1, k, a, sizeof(a));
    fact_range(rows, n, in, 0, k, b, sizeof(b));
    fact_range(rows, n, ina, 1, k, c, sizeof(c));
    fact_range(rows, n, inr, 1, k, d, sizeof(d));
    fprintf(f, "FACT %-20s both: %-36s outside: %-36s ag6: %-36s ar2: %s\n", env_facts[k].name, a, b, c, d);
  }
  free(ina);
  free(inr);

  /* The simulator's confirmations, model against simulation. */
  /* per kind (1 nearest, 2 random): confirmed, in ag6, in ar2, in both, by simulation */
  int cnt[3][4] = {{0}};
  double worst[ENV_NCOLLS] = {0, 0}, mean[ENV_NCOLLS] = {0, 0};
  fprintf(f,
          "# simulator confirmations (selected family/variant on both sides, %s sizes per collective):\n"
          "#   kind    id  model ag   sim ag  model ar   sim ar\n",
          o->sim_sizes ? "the model's top" : "all");
  for (int k = 0; k < n; k++) {
    const env_row_t *r = &rows[order[k]];
    if (!r->confirmed) continue;
    int a = env_in_ag6(r->sim), b = env_in_ar2(r->sim), *c = cnt[r->confirmed];
    c[0]++, c[1] += a, c[2] += b, c[3] += a && b;
    for (int x = 0; x < ENV_NCOLLS; x++) {
      double e = r->sim[x].peak / r->model[x].peak - 1;
      worst[x] = fabs(e) > fabs(worst[x]) ? e : worst[x];
      mean[x] += e;
    }
    fprintf(f, "CONFIRM %-7s %4d %9.3f %8.3f %9.3f %8.3f\n", r->confirmed == 1 ? "nearest" : "random", order[k],
            r->model[0].peak, r->sim[0].peak, r->model[1].peak, r->sim[1].peak);
  }
  int nc = cnt[1][0] + cnt[2][0], simulations = 0;
  for (int k = 0; k <= n; k++) simulations += rows[k].simulations;
  if (nc) {
    /* the random subset alone estimates the shares by simulation without the nearest ones' bias */
    fprintf(f, "SIMULATED");
    const char *kind[3] = {"", "nearest", "random"};
    for (int k = 1; k <= 2; k++) {
      const int *c = cnt[k];
      double d = c[0] ? c[0] : 1;
      fprintf(f, " %s=%d ag6=%.3f ar2=%.3f both=%.3f", kind[k], c[0], c[1] / d, c[2] / d, c[3] / d);
    }
    fprintf(f, " sim_vs_model ag=%+.1f%%(worst %+.1f%%) ar=%+.1f%%(worst %+.1f%%) simulations=%d\n", 100 * mean[0] / nc,
            100 * worst[0], 100 * mean[1] / nc, 100 * worst[1], simulations);
  }
  print_sample(f, "LIKELIEST", -1, &rows[n]);
  for (int k = 0; env_not_sampled[k]; k++) fprintf(f, "# not sampled: %s\n", env_not_sampled[k]);
  free(in);
}

int env_write_csv(const char *path, const env_row_t *rows, int n) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "nsccl-envelope: --csv %s: %s\n", path, strerror(errno));
    return 0;
  }
  fprintf(f, "kind,id");
  for (int k = 0; k < env_nfacts; k++) fprintf(f, ",%s", env_facts[k].name);
  const char *cn[ENV_NCOLLS] = {"ag", "ar"};
  for (int c = 0; c < ENV_NCOLLS; c++)
    fprintf(f, ",%s_peak,%s_at,%s_torus_algo,%s_switch_algo", cn[c], cn[c], cn[c], cn[c]);
  fprintf(f, ",in_ag6,in_ar2,confirmed,sim_ag_peak,sim_ag_at,sim_ar_peak,sim_ar_at\n");
  for (int i = 0; i <= n; i++) {
    const env_row_t *r = &rows[i];
    char v[64];
    fprintf(f, "%s,%d", i == n ? "likeliest" : "sample", i == n ? -1 : i);
    for (int k = 0; k < env_nfacts; k++) fprintf(f, ",%s", env_value_str(&r->s, k, v, sizeof(v)));
    for (int c = 0; c < ENV_NCOLLS; c++)
      fprintf(f, ",%.6f,%zu,%s,%s", r->model[c].peak, r->model[c].at, r->model[c].talgo, r->model[c].salgo);
    fprintf(f, ",%d,%d,%d", env_in_ag6(r->model), env_in_ar2(r->model), r->confirmed);
    if (r->confirmed)
      fprintf(f, ",%.6f,%zu,%.6f,%zu\n", r->sim[0].peak, r->sim[0].at, r->sim[1].peak, r->sim[1].at);
    else
      fprintf(f, ",nan,nan,nan,nan\n");
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "nsccl-envelope: --csv %s: %s\n", path, strerror(errno));
    return 0;
  }
  return 1;
}
