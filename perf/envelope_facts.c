/* The uncertain facts of the claims envelope and their sourced ranges (envelope_facts.h). Every range
 * is a row of docs/hardware-facts.md; never a value chosen to reach the claim. */
#include "envelope_facts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- readings of the discrete facts: one line each ---- */

/* Bandwidth direction (rows DIR-BOTH, DIR-ONE): the presets read every NeuronLink figure as both
 * directions added (DIR-BOTH, as the lane counts T2-LANES / T3-LANES fit); the other convention reads
 * them one way, doubling every NeuronLink bandwidth, on both sides alike. */
static const env_choice_t conventions[] = {
    {.name = "two-way", .bw_factor = {1.0, 1.0}},
    {.name = "per-direction", .bw_factor = {2.0, 2.0}},
};

/* How a torus chip passes a message on (row T2-FORWARD): in its router, or by receiving and re-sending. */
static const env_choice_t forwards[] = {
    {.name = "routed", .torus_sets = "forward=routed"},
    {.name = "store", .torus_sets = "forward=store"},
};

/* Trn3 UltraServer Gen1 layout readings: the switch side's preset. AWS's diagram (T3-GEN1-LAYOUT:
 * two switches of 32 chips + direct partner links), one crossbar (T3-ALL2ALL), the teardown's trays
 * (T3-TRAY: 1 / 2 / 3 hops). Add a reading by adding its preset here and its keys in preset_keys. */
static const env_choice_t layouts[] = {
    {.name = "gen1", .switch_preset = "trn3-u64"},
    {.name = "crossbar", .switch_preset = "trn3-u64-crossbar"},
    {.name = "tray", .switch_preset = "trn3-u64-tray"},
};

/* Where a reduction runs: in the DMA path (RED-DMA: rate x the rank's engines x engine bandwidth,
 * 50% on Trn2 (T2-DMA-RED), full on Trn3 (T3-DMA-RED), so it follows the sampled engines), or bound
 * by HBM (RED-HBM: two reads and a write, 2.9 / 3 and 4.9 / 3 TB/s). */
static const env_choice_t reductions[] = {
    {.name = "dma-path", .reduce_dma_rate = {0.5, 1.0}},
    {.name = "hbm", .torus_sets = "reduce_bandwidth=0.967e12", .switch_sets = "reduce_bandwidth=1.633e12"},
};

/* Ranks per chip (T2-LNC2, T3-LNC2): one rank drives the whole chip, or Neuron's LNC=2 reading of 4
 * ranks per chip (64 chips = 256 ranks a side), the ranks of a chip joined by intra-chip links
 * (INTRA-CHIP: HBM-bound, 362 GB/s per rank each way on Trn2, 612 GB/s on Trn3; no latency published).
 * The switch presets count ranks, the torus counts chips (dims), hence ranks*=4 on one side only. */
static const env_choice_t chip_ranks[] = {
    {.name = "1", .ranks_per_chip = 1},
    {.name = "4",
     .ranks_per_chip = 4,
     .torus_sets = "ranks_per_chip=4 intra_chip_bandwidth=362e9 intra_chip_latency=0",
     .switch_sets = "ranks*=4 ranks_per_chip=4 intra_chip_bandwidth=612e9 intra_chip_latency=0"},
};

#define NCH(a) (int)(sizeof(a) / sizeof(a[0]))
#define BOTH   (ENV_SIDE_TORUS | ENV_SIDE_SWITCH)

/* Keys with ENV_KEY_WIRE set the wire share of a hop through each preset's latency keys (preset_keys). */
#define ENV_KEY_WIRE "wire"

const env_fact_t env_facts[] = {
    {"alpha_torus", "us", "T2-DMA-START (0.6 us descriptor generation .. 1.3 us); T2-HOP (a step of 1-2 us)",
     ENV_UNIFORM, 0.6, 2.0, 1.3, 1e-6, "endpoint_overhead", ENV_SIDE_TORUS, NULL, 0},
    {"alpha_switch", "us", "T3-DMA-START (not published: the T2-DMA-START range reused)", ENV_UNIFORM, 0.6, 2.0, 1.3,
     1e-6, "endpoint_overhead", ENV_SIDE_SWITCH, NULL, 0},
    {"wire", "us", "T2-WIRE (0 .. 0.7 us of a 1-2 us step); T3-WIRE (half per chip-switch link)", ENV_UNIFORM, 0.0, 0.7,
     0.2, 1e-6, ENV_KEY_WIRE, BOTH, NULL, 0},
    {"dma_engines", "", "ENGINES-PER-COLL (1..128 of T2-DMA-ENGINES / T3-DMA-ENGINES)", ENV_LOG_INT, 1, 128, 128, 1,
     "dma_engines", BOTH, NULL, 0},
    {"engines_per_message", "", "T2-DMA-SPREAD (up to 16 engines per transfer)", ENV_LOG_INT, 1, 16, 16, 1,
     "engines_per_message", BOTH, NULL, 0},
    {"engine_bw_trn2", "GB/s", "T2-DMA-BW (23 B/ns .. 27.2 GB/s)", ENV_UNIFORM, 23, 27.2, 27.2, 1e9,
     "dma_engine_bandwidth", ENV_SIDE_TORUS, NULL, 0},
    {"engine_bw_trn3", "GB/s", "T3-DMA-BW (33 B/ns .. 38.4 GB/s)", ENV_UNIFORM, 33, 38.4, 38.4, 1e9,
     "dma_engine_bandwidth", ENV_SIDE_SWITCH, NULL, 0},
    {"switch_latency", "us", "T3-SW-LAT (not published; 105 ns PCIe, 100-150 ns UALink; 0.5 us a slow bound)",
     ENV_UNIFORM, 0.1, 0.5, 0.15, 1e-6, "switch_latency", ENV_SIDE_SWITCH, NULL, 0},
    {"bw_convention", "", "DIR-BOTH / DIR-ONE", ENV_CHOICE, 0, 0, 0, 0, NULL, BOTH, conventions, NCH(conventions)},
    {"torus_forward", "", "T2-FORWARD", ENV_CHOICE, 0, 0, 0, 0, NULL, ENV_SIDE_TORUS, forwards, NCH(forwards)},
    {"trn3_layout", "", "T3-GEN1-LAYOUT / T3-ALL2ALL / T3-TRAY", ENV_CHOICE, 0, 0, 0, 0, NULL, ENV_SIDE_SWITCH, layouts,
     NCH(layouts)},
    {"reduction", "", "RED-DMA / RED-HBM", ENV_CHOICE, 0, 0, 0, 0, NULL, BOTH, reductions, NCH(reductions)},
    /* likeliest 1: the claim is a chip-to-chip comparison (the LIKELIEST-PERRANK line prices 4) */
    {"ranks_per_chip", "", "T2-LNC2 / T3-LNC2 (1 or 4 ranks per chip)", ENV_CHOICE, 0, 0, 0, 0, NULL, BOTH, chip_ranks,
     NCH(chip_ranks)},
};
const int env_nfacts = NCH(env_facts);

const char *const env_not_sampled[] = {
    "torus store-and-forward with 4 ranks per chip (the torus module refuses it: which rank of a passing chip "
    "re-sends is not modelled); such samples apply routed forwarding and record it",
    "link latencies other than the wire share (intra-chip, tray uplinks): preset values",
    NULL,
};

/* Per preset: its NeuronLink bandwidth keys (what a convention factor scales) and its wire latency keys
 * with the share of the sampled wire each gets (a switched path crosses two chip-switch links, so
 * each gets half, T3-WIRE; a Gen1 partner link is one chip-to-chip wire). */
static const struct {
  const char *preset, *bw, *wire;
} preset_keys[] = {
    {"trn2-u64", "dim_bandwidth", "link_latency:1"},
    {"trn2-16", "link_bandwidth", "link_latency:1"},
    {"trn3-u64", "link_bandwidth cross_bandwidth", "link_latency:0.5 cross_latency:1"},
    {"trn3-u64-crossbar", "link_bandwidth", "link_latency:0.5"},
    {"trn3-u64-tray", "link_bandwidth plane_bandwidth rack_bandwidth", "link_latency:0.5"},
    {"trn3-u144", "link_bandwidth spine_bandwidth", "link_latency:0.5"},
};

static int preset_index(const char *preset) {
  for (int i = 0; i < NCH(preset_keys); i++)
    if (!strcmp(preset_keys[i].preset, preset)) return i;
  return -1;
}

const char *env_bw_keys(const char *preset) {
  int i = preset_index(preset);
  return i < 0 ? NULL : preset_keys[i].bw;
}

/* ---- sampler ---- */

uint64_t env_rng_next(env_rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double env_rng_unit(env_rng_t *r) { return (double)(env_rng_next(r) >> 11) * 0x1.0p-53; }

static int fact_index(const char *name) {
  for (int f = 0; f < env_nfacts; f++)
    if (!strcmp(env_facts[f].name, name)) return f;
  return -1;
}

int env_ranks_per_chip(const env_sample_t *s) {
  for (int f = 0; f < env_nfacts; f++)
    if (env_facts[f].kind == ENV_CHOICE && env_facts[f].choices[(int)s->v[f]].ranks_per_chip > 0)
      return env_facts[f].choices[(int)s->v[f]].ranks_per_chip;
  return 1;
}

static int routed_reading(int fw) {
  for (int k = 0; k < env_facts[fw].nchoices; k++)
    if (env_facts[fw].choices[k].torus_sets && !strcmp(env_facts[fw].choices[k].torus_sets, "forward=routed")) return k;
  return 0;
}

static int is_store(const env_sample_t *s, int fw) { return fw >= 0 && (int)s->v[fw] != routed_reading(fw); }

/* What a sample applies where two facts cannot both hold, so it records what is priced:
 * - a message cannot take more engines than its rank has (the topology refuses it): engines_per_message
 *   is clamped to dma_engines;
 * - the torus module refuses store-and-forward with several ranks per chip: such a sample forwards in
 *   the routers, unless store was pinned and ranks per chip was not (then one rank per chip). */
void env_constrain(env_sample_t *s, const int *is_pinned) {
  int fw = fact_index("torus_forward"), rc = fact_index("ranks_per_chip");
  if (fw >= 0 && rc >= 0 && env_ranks_per_chip(s) > 1 && is_store(s, fw)) {
    if (is_pinned && is_pinned[fw] && !is_pinned[rc])
      s->v[rc] = 0; /* the "1" reading */
    else
      s->v[fw] = routed_reading(fw);
  }
  int ne = fact_index("dma_engines"), nm = fact_index("engines_per_message");
  if (ne >= 0 && nm >= 0 && s->v[nm] > s->v[ne]) s->v[nm] = s->v[ne];
}

int env_pins_conflict(const env_sample_t *pinned, const int *is_pinned) {
  int fw = fact_index("torus_forward"), rc = fact_index("ranks_per_chip");
  if (fw < 0 || rc < 0 || !is_pinned[fw] || !is_pinned[rc]) return 0;
  return is_store(pinned, fw) && env_facts[rc].choices[(int)pinned->v[rc]].ranks_per_chip > 1;
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
  env_constrain(out, is_pinned);
}

void env_likeliest(env_sample_t *out) {
  for (int f = 0; f < env_nfacts; f++) out->v[f] = env_facts[f].likeliest;
  env_constrain(out, NULL);
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

/* What a rank gets of a chip's sampled engines: its share with several ranks per chip (at least one),
 * and a message at most what its rank has. */
static double per_rank(const env_sample_t *s, const char *key, double v) {
  int rpc = env_ranks_per_chip(s);
  if (rpc <= 1) return v;
  double engines = floor(v / rpc) > 1 ? floor(v / rpc) : 1;
  if (!strcmp(key, "dma_engines")) return engines;
  if (!strcmp(key, "engines_per_message")) {
    int ne = fact_index("dma_engines");
    double rank_engines = ne >= 0 ? per_rank(s, "dma_engines", s->v[ne]) : v;
    return v < rank_engines ? v : rank_engines;
  }
  return v;
}

/* The value of the fact overriding `key` as applied (NaN if no fact does). */
static double fact_value(const env_sample_t *s, const char *key, int side) {
  for (int f = 0; f < env_nfacts; f++)
    if (env_facts[f].key && !strcmp(env_facts[f].key, key) && (env_facts[f].sides & (1 << side)))
      return per_rank(s, key, s->v[f]) * env_facts[f].to_key;
  return NAN;
}

int env_overrides(const env_sample_t *s, const char *torus_base, const char *switch_base, env_overrides_t *o) {
  memset(o, 0, sizeof(*o));
  builder_t b = {o, 0, 1};
  o->preset[0] = torus_base;
  o->preset[1] = switch_base;
  const double *factor = NULL, *dma_rate = NULL;
  for (int f = 0; f < env_nfacts; f++) /* presets first: the keys of a convention or the wire follow them */
    if (env_facts[f].kind == ENV_CHOICE) {
      const env_choice_t *c = &env_facts[f].choices[(int)s->v[f]];
      if (c->torus_preset) o->preset[0] = c->torus_preset;
      if (c->switch_preset) o->preset[1] = c->switch_preset;
      if (c->bw_factor[0] > 0) factor = c->bw_factor;
      if (c->reduce_dma_rate[0] > 0) dma_rate = c->reduce_dma_rate;
    }
  int pk[2] = {preset_index(o->preset[0]), preset_index(o->preset[1])};
  for (int side = 0; side < 2; side++)
    if (pk[side] < 0) {
      fprintf(stderr, "nsccl-envelope: preset %s has no entry in preset_keys (perf/envelope_facts.c)\n",
              o->preset[side]);
      return 0;
    }
  char kv[160], buf[256];
  for (int f = 0; f < env_nfacts; f++) {
    const env_fact_t *x = &env_facts[f];
    if (x->kind == ENV_CHOICE) {
      const env_choice_t *c = &x->choices[(int)s->v[f]];
      add_list(&b, 0, c->torus_sets);
      add_list(&b, 1, c->switch_sets);
      continue;
    }
    for (int side = 0; side < 2; side++) {
      if (!(x->sides & (1 << side))) continue;
      if (!strcmp(x->key, ENV_KEY_WIRE)) { /* key:share pairs of the preset */
        snprintf(buf, sizeof(buf), "%s", preset_keys[pk[side]].wire);
        for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
          char *colon = strchr(tok, ':');
          *colon = '\0';
          snprintf(kv, sizeof(kv), "%s=%.9g", tok, s->v[f] * x->to_key * strtod(colon + 1, NULL));
          add_set(&b, side, kv);
        }
        continue;
      }
      if (x->kind == ENV_LOG_INT)
        snprintf(kv, sizeof(kv), "%s=%d", x->key, (int)per_rank(s, x->key, s->v[f]));
      else
        snprintf(kv, sizeof(kv), "%s=%.9g", x->key, s->v[f] * x->to_key);
      add_set(&b, side, kv);
    }
  }
  for (int side = 0; dma_rate && side < 2; side++) { /* RED-DMA: rate x engines x engine bandwidth */
    double r = dma_rate[side] * fact_value(s, "dma_engines", side) * fact_value(s, "dma_engine_bandwidth", side);
    if (!(r > 0)) {
      fprintf(stderr, "nsccl-envelope: the dma-path reduction needs sampled engines and engine bandwidth\n");
      return 0;
    }
    snprintf(kv, sizeof(kv), "reduce_bandwidth=%.9g", r);
    add_set(&b, side, kv);
  }
  for (int side = 0; factor && side < 2; side++) {
    if (factor[side] == 1.0) continue;
    snprintf(buf, sizeof(buf), "%s", preset_keys[pk[side]].bw);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      snprintf(kv, sizeof(kv), "%s*=%.9g", tok, factor[side]);
      add_set(&b, side, kv);
    }
  }
  return b.ok;
}
