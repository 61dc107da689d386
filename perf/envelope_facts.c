/* The uncertain facts of the claims envelope and their sourced ranges (envelope_facts.h). Every range
 * is a row of docs/hardware-facts.md; never a value chosen to reach the claim. */
#include "envelope_facts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- readings of the discrete facts: one line each ---- */

/* Bandwidth direction: the presets read Trn2's 1,024 GB/s per chip as 256 GB/s per link per direction
 * and Trn3's port as the one-way 1.2 TB/s. One convention on both sides: "two-way" (every per-chip
 * figure counts both directions, as the lane arithmetic fits: Trn2 links halved, Trn3 stays 1.2 TB/s)
 * or "per-direction" (Trn2 as in the preset, Trn3 port = the 2.56 TB/s headline: x 2.56 / 1.2). */
static const env_choice_t conventions[] = {
    {.name = "two-way", .bw_factor = {0.5, 1.0}},
    {.name = "per-direction", .bw_factor = {1.0, 2.56 / 1.2}},
};

/* How a torus chip passes a message on (row "Mesh (direct writes routed through intermediate chips)"
 * and the Trn3 page's "require no intermediate routing"): in its router, or by receiving and re-sending. */
static const env_choice_t forwards[] = {
    {.name = "routed", .torus_sets = "forward=routed"},
    {.name = "store", .torus_sets = "forward=store"},
};

/* Trn3 UltraServer Gen1 layout readings (rows "Trn3 UltraServer Gen1", "NeuronSwitch-v1"): the switch
 * side's preset. Add a reading by adding its preset here (and its bandwidth keys in bw_keys below). */
static const env_choice_t layouts[] = {
    {.name = "crossbar", .switch_preset = "trn3-u64"},
};

/* Where a reduction runs (row "reduction in the DMA path"; row "chip HBM"): in the DMA path (Trn2 at
 * 50% of the chip's 3.5 TB/s DMA throughput, Trn3 at its full 4.9 TB/s) or HBM-bound (two reads and a
 * write: 2.9 / 3 and 4.9 / 3 TB/s). */
static const env_choice_t reductions[] = {
    {.name = "dma-path", .torus_sets = "reduce_bandwidth=1.75e12", .switch_sets = "reduce_bandwidth=4.9e12"},
    {.name = "hbm", .torus_sets = "reduce_bandwidth=0.97e12", .switch_sets = "reduce_bandwidth=1.63e12"},
};

#define NCH(a) (int)(sizeof(a) / sizeof(a[0]))
#define BOTH   (ENV_SIDE_TORUS | ENV_SIDE_SWITCH)

const env_fact_t env_facts[] = {
    {"alpha_torus", "us", "fixed cost of one DMA (0.6 us descriptor generation .. ~1.3 us); per-hop 1-2 us",
     ENV_UNIFORM, 0.6, 2.0, 1.3, 1e-6, "endpoint_overhead", ENV_SIDE_TORUS, NULL, 0},
    {"alpha_switch", "us", "fixed cost of one DMA (Trn3: not stated; the Trn2 range reused)", ENV_UNIFORM, 0.6, 2.0,
     1.3, 1e-6, "endpoint_overhead", ENV_SIDE_SWITCH, NULL, 0},
    {"dma_engines", "", "DMA engines: 128 per chip; how many one collective drives is not stated", ENV_LOG_INT, 1, 128,
     128, 1, "dma_engines", BOTH, NULL, 0},
    {"engines_per_message", "", "DMA engines: one transfer spread over up to 16 engines", ENV_LOG_INT, 1, 16, 16, 1,
     "engines_per_message", BOTH, NULL, 0},
    {"engine_bw_trn2", "GB/s", "bandwidth of one DMA engine, Trn2: 23 B/ns .. 27.2 GB/s", ENV_UNIFORM, 23, 27.2, 27.2,
     1e9, "dma_engine_bandwidth", ENV_SIDE_TORUS, NULL, 0},
    {"engine_bw_trn3", "GB/s", "bandwidth of one DMA engine, Trn3: 33 B/ns .. 38.4 GB/s", ENV_UNIFORM, 33, 38.4, 38.4,
     1e9, "dma_engine_bandwidth", ENV_SIDE_SWITCH, NULL, 0},
    {"switch_latency", "us", "switch port-to-port latency: not published; 105 ns PCIe, 100-150 ns UALink; up to 0.5",
     ENV_UNIFORM, 0.1, 0.5, 0.15, 1e-6, "switch_latency", ENV_SIDE_SWITCH, NULL, 0},
    {"bw_convention", "", "Bandwidth direction, reconsidered (lane arithmetic)", ENV_CHOICE, 0, 0, 0, 0, NULL, BOTH,
     conventions, NCH(conventions)},
    {"torus_forward", "", "Mesh: direct writes routed through intermediate chips", ENV_CHOICE, 0, 0, 0, 0, NULL,
     ENV_SIDE_TORUS, forwards, NCH(forwards)},
    {"trn3_layout", "", "Trn3 UltraServer Gen1 layout (AWS diagram; teardown)", ENV_CHOICE, 0, 0, 0, 0, NULL,
     ENV_SIDE_SWITCH, layouts, NCH(layouts)},
    {"reduction", "", "reduction in the DMA path; chip HBM", ENV_CHOICE, 0, 0, 0, 0, NULL, BOTH, reductions,
     NCH(reductions)},
};
const int env_nfacts = NCH(env_facts);

const char *const env_not_sampled[] = {
    "ranks per chip: no preset has ranks_per_chip > 1 yet (Neuron runs 4 ranks per Trn2 chip at LNC=2); "
    "one rank per chip on both sides",
    NULL,
};

/* The bandwidth keys of each preset a convention factor scales. */
static const struct {
  const char *preset, *keys;
} bw_keys[] = {
    {"trn2-u64", "dim_bandwidth"},
    {"trn2-16", "link_bandwidth"},
    {"trn3-u64", "link_bandwidth"},
    {"trn3-u144", "link_bandwidth spine_bandwidth"},
};

const char *env_bw_keys(const char *preset) {
  for (int i = 0; i < NCH(bw_keys); i++)
    if (!strcmp(bw_keys[i].preset, preset)) return bw_keys[i].keys;
  return NULL;
}

/* ---- sampler ---- */

uint64_t env_rng_next(env_rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double env_rng_unit(env_rng_t *r) { return (double)(env_rng_next(r) >> 11) * 0x1.0p-53; }

/* A message cannot take more engines than its rank has (the topology refuses it): engines_per_message
 * is clamped to dma_engines, so a sample records what is applied. */
static void clamp_engines(env_sample_t *s) {
  int ne = -1, nm = -1;
  for (int f = 0; f < env_nfacts; f++)
    if (env_facts[f].key && !strcmp(env_facts[f].key, "dma_engines"))
      ne = f;
    else if (env_facts[f].key && !strcmp(env_facts[f].key, "engines_per_message"))
      nm = f;
  if (ne >= 0 && nm >= 0 && s->v[nm] > s->v[ne]) s->v[nm] = s->v[ne];
}

void env_draw(env_rng_t *r, const env_sample_t *pinned, const int *is_pinned, env_sample_t *out) {
  for (int f = 0; f < env_nfacts; f++) {
    const env_fact_t *x = &env_facts[f];
    double u = env_rng_unit(r); /* drawn even when pinned, so pinning one fact leaves the others' stream */
    if (is_pinned && is_pinned[f]) {
      out->v[f] = pinned->v[f];
    } else if (x->kind == ENV_UNIFORM) {
      out->v[f] = x->lo + u * (x->hi - x->lo);
    } else if (x->kind == ENV_LOG_INT) {
      /* log-uniform over the integers lo..hi: floor of exp(uniform in [ln lo, ln(hi + 1))) */
      double v = floor(exp(log(x->lo) + u * (log(x->hi + 1) - log(x->lo))));
      out->v[f] = v > x->hi ? x->hi : v;
    } else {
      int k = (int)(u * x->nchoices);
      out->v[f] = k >= x->nchoices ? x->nchoices - 1 : k;
    }
  }
  clamp_engines(out);
}

void env_likeliest(env_sample_t *out) {
  for (int f = 0; f < env_nfacts; f++) out->v[f] = env_facts[f].likeliest;
  clamp_engines(out);
}

int env_parse_fix(const char *arg, env_sample_t *pinned, int *is_pinned) {
  const char *eq = strchr(arg, '=');
  for (int f = 0; eq && f < env_nfacts; f++) {
    const env_fact_t *x = &env_facts[f];
    if (strlen(x->name) != (size_t)(eq - arg) || strncmp(x->name, arg, (size_t)(eq - arg))) continue;
    const char *v = eq + 1;
    if (x->kind == ENV_CHOICE) {
      for (int k = 0; k < x->nchoices; k++)
        if (!strcmp(x->choices[k].name, v)) {
          pinned->v[f] = k;
          is_pinned[f] = 1;
          return 1;
        }
      fprintf(stderr, "nsccl-envelope: --fix %s: '%s' is not a reading of %s (", arg, v, x->name);
      for (int k = 0; k < x->nchoices; k++) fprintf(stderr, "%s%s", k ? ", " : "", x->choices[k].name);
      fprintf(stderr, ")\n");
      return 0;
    }
    char *end;
    double d = strtod(v, &end);
    if (*end || !(d >= x->lo && d <= x->hi) || (x->kind == ENV_LOG_INT && d != floor(d))) {
      fprintf(stderr, "nsccl-envelope: --fix %s: %s needs a %s in %g..%g %s\n", arg, x->name,
              x->kind == ENV_LOG_INT ? "whole number" : "number", x->lo, x->hi, x->unit);
      return 0;
    }
    pinned->v[f] = d;
    is_pinned[f] = 1;
    return 1;
  }
  fprintf(stderr, "nsccl-envelope: --fix %s: expected FACT=VALUE with a fact of --list-facts\n", arg);
  return 0;
}

int env_in_range(const env_sample_t *s, int f) {
  const env_fact_t *x = &env_facts[f];
  double v = s->v[f];
  if (x->kind == ENV_CHOICE) return v == floor(v) && v >= 0 && v < x->nchoices;
  if (x->kind == ENV_LOG_INT && v != floor(v)) return 0;
  return v >= x->lo && v <= x->hi;
}

const char *env_value_str(const env_sample_t *s, int f, char *buf, int len) {
  const env_fact_t *x = &env_facts[f];
  if (x->kind == ENV_CHOICE)
    snprintf(buf, (size_t)len, "%s", x->choices[(int)s->v[f]].name);
  else if (x->kind == ENV_LOG_INT)
    snprintf(buf, (size_t)len, "%d", (int)s->v[f]);
  else
    snprintf(buf, (size_t)len, "%.4g", s->v[f]);
  return buf;
}

/* ---- a sample as overrides ---- */

typedef struct {
  env_overrides_t *o;
  size_t used;
  int ok;
} builder_t;

static const char *keep(builder_t *b, const char *text) {
  size_t n = strlen(text) + 1;
  if (b->used + n > sizeof(b->o->store)) {
    b->ok = 0;
    return "";
  }
  char *p = b->o->store + b->used;
  memcpy(p, text, n);
  b->used += n;
  return p;
}

static void add_set(builder_t *b, int side, const char *kv) {
  if (b->o->nsets[side] == ENV_MAX_SETS) {
    b->ok = 0;
    return;
  }
  b->o->sets[side][b->o->nsets[side]++] = keep(b, kv);
}

static void add_list(builder_t *b, int side, const char *list) { /* space-separated */
  if (!list) return;
  char buf[512];
  snprintf(buf, sizeof(buf), "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
    add_set(b, side, tok);
}

int env_overrides(const env_sample_t *s, const char *torus_base, const char *switch_base, env_overrides_t *o) {
  memset(o, 0, sizeof(*o));
  builder_t b = {o, 0, 1};
  o->preset[0] = torus_base;
  o->preset[1] = switch_base;
  const double *factor = NULL;
  for (int f = 0; f < env_nfacts; f++) /* presets first: a convention's keys depend on them */
    if (env_facts[f].kind == ENV_CHOICE) {
      const env_choice_t *c = &env_facts[f].choices[(int)s->v[f]];
      if (c->torus_preset) o->preset[0] = c->torus_preset;
      if (c->switch_preset) o->preset[1] = c->switch_preset;
      if (c->bw_factor[0] > 0) factor = c->bw_factor;
    }
  char kv[160];
  for (int f = 0; f < env_nfacts; f++) {
    const env_fact_t *x = &env_facts[f];
    if (x->kind == ENV_CHOICE) {
      const env_choice_t *c = &x->choices[(int)s->v[f]];
      add_list(&b, 0, c->torus_sets);
      add_list(&b, 1, c->switch_sets);
      continue;
    }
    double v = s->v[f];
    if (x->kind == ENV_LOG_INT)
      snprintf(kv, sizeof(kv), "%s=%d", x->key, (int)v);
    else
      snprintf(kv, sizeof(kv), "%s=%.9g", x->key, v * x->to_key);
    for (int side = 0; side < 2; side++)
      if (x->sides & (1 << side)) add_set(&b, side, kv);
  }
  for (int side = 0; factor && side < 2; side++) {
    if (factor[side] == 1.0) continue;
    const char *keys = env_bw_keys(o->preset[side]);
    if (!keys) {
      fprintf(stderr, "nsccl-envelope: no bandwidth keys known for preset %s (envelope_facts.c, bw_keys)\n",
              o->preset[side]);
      return 0;
    }
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", keys);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      snprintf(kv, sizeof(kv), "%s*=%.9g", tok, factor[side]);
      add_set(&b, side, kv);
    }
  }
  return b.ok;
}
