/* The uncertain facts of the claims envelope (docs/claims.md, "The envelope"): each fact, its sourced
 * range (docs/hardware-facts.md rows), how a sample of it becomes topology overrides, and a seeded
 * sampler. Adding a reading (a Trn3 layout preset, a reduction figure, a ranks-per-chip case) is one
 * line in a table of envelope_facts.c. */
#ifndef NSCCL_PERF_ENVELOPE_FACTS_H
#define NSCCL_PERF_ENVELOPE_FACTS_H

#include <stdint.h>

#define ENV_MAX_FACTS   16
#define ENV_MAX_CHOICES 8
#define ENV_MAX_SETS    24

typedef enum {
  ENV_UNIFORM, /* a real number, uniform in [lo, hi] */
  ENV_LOG_INT, /* an integer in [lo, hi], uniform in log (a count spanning orders of magnitude) */
  ENV_CHOICE,  /* one of a few readings, equally likely */
} env_kind_t;

/* One reading of a discrete fact: its name and what it sets on each side. */
typedef struct {
  const char *name;
  const char *torus_preset;  /* the torus side's preset for this reading (NULL: unchanged) */
  const char *switch_preset; /* the switch side's preset (NULL: unchanged) */
  const char *torus_sets;    /* space-separated overrides (NULL: none) */
  const char *switch_sets;
  /* Bandwidth convention: every bandwidth key of the torus / switch side is scaled by this (0: not
   * a convention reading). Keys per preset: env_bw_keys(). */
  double bw_factor[2];
  /* Reduction in the DMA path: reduce_bandwidth of the torus / switch side = this rate x the sampled
   * dma_engines x dma_engine_bandwidth (0: not this reading). */
  double reduce_dma_rate[2];
  /* Ranks per chip (0: not this fact). The chip's engines are shared by its ranks: a rank drives
   * dma_engines / ranks_per_chip of them (at least one); see env_overrides. */
  int ranks_per_chip;
} env_choice_t;

typedef struct {
  const char *name; /* CSV column and --fix name */
  const char *unit; /* printed unit of the value ("us", "GB/s", "" ...) */
  const char *row;  /* the docs/hardware-facts.md row the range comes from */
  env_kind_t kind;
  double lo, hi;    /* range in printed units (UNIFORM, LOG_INT) */
  double likeliest; /* the likeliest reading of the public facts (value, or choice index) */
  double to_key;    /* printed unit -> key unit (1e-6 for us -> s, 1e9 for GB/s -> B/s) */
  const char *key;  /* the topology key it overrides (UNIFORM, LOG_INT) */
  int sides;        /* ENV_SIDE_TORUS | ENV_SIDE_SWITCH */
  const env_choice_t *choices;
  int nchoices;
} env_fact_t;

#define ENV_SIDE_TORUS  1
#define ENV_SIDE_SWITCH 2

/* The fact table, in sampling order. */
extern const env_fact_t env_facts[];
extern const int env_nfacts;
/* The space-separated bandwidth keys of a preset (what a convention factor scales), or NULL. */
const char *env_bw_keys(const char *preset);
/* Facts the envelope cannot sample yet, with why (printed and documented). */
extern const char *const env_not_sampled[];

typedef struct {
  double v[ENV_MAX_FACTS]; /* value in printed units, or choice index */
} env_sample_t;

/* splitmix64: a small, well-mixed, seedable generator (the same seed gives the same stream). */
typedef struct {
  uint64_t s;
} env_rng_t;
uint64_t env_rng_next(env_rng_t *r);
double env_rng_unit(env_rng_t *r); /* uniform in [0, 1) */

/* Draw every fact (pinned ones keep their value) into *out. */
void env_draw(env_rng_t *r, const env_sample_t *pinned, const int *is_pinned, env_sample_t *out);
/* The likeliest reading of every fact (env_fact_t.likeliest). */
void env_likeliest(env_sample_t *out);

/* Parse "NAME=VALUE" (a number in the fact's unit, or a choice name) into pinned/is_pinned;
 * 0 and a message on stderr if the fact or value is unknown or out of its range. */
int env_parse_fix(const char *arg, env_sample_t *pinned, int *is_pinned);

/* The two topology names and override lists of a sample (pointers into `store`, valid while it
 * lives). Returns 0 when an override list would overflow. */
typedef struct {
  char store[4096];
  const char *preset[2]; /* 0 torus, 1 switch */
  const char *sets[2][ENV_MAX_SETS];
  int nsets[2];
} env_overrides_t;
int env_overrides(const env_sample_t *s, const char *torus_base, const char *switch_base, env_overrides_t *o);

/* Apply what two facts cannot both hold (engines per message <= engines; no torus store-and-forward
 * with several ranks per chip): the sample then records what is priced. */
void env_constrain(env_sample_t *s, const int *is_pinned);
/* 1 if the pins ask for two facts that cannot both hold (torus store-and-forward with 4 ranks per chip). */
int env_pins_conflict(const env_sample_t *pinned, const int *is_pinned);
/* Ranks per chip of a sample (1 unless its ranks_per_chip fact says otherwise). */
int env_ranks_per_chip(const env_sample_t *s);

/* The value of fact f in s, printed into buf (choice name or number). */
const char *env_value_str(const env_sample_t *s, int f, char *buf, int len);
/* 1 if fact f's value in s lies inside the fact's range (choices: a valid index). */
int env_in_range(const env_sample_t *s, int f);

#endif
