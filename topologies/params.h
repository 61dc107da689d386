/* Key/value parameters of a topology: parsed from a preset file (libinih) or from a spec string
 * "module:key=value,key=value", then read by a module with typed getters that mark keys used and
 * report bad values as "file:line: message". */
#ifndef NSCCL_TOPOLOGIES_PARAMS_H
#define NSCCL_TOPOLOGIES_PARAMS_H

#include "topologies/topo.h"

/* Parse an INI file: keys of section [topology] keep their names, keys of section [inner] become
 * "inner.KEY" (efa). Other sections, keys outside a section, malformed lines, a missing file or more
 * than 64 keys are nscclInvalidArgument naming file:line. */
nscclResult_t nsccl_params_parse_file(const char *path, nsccl_params_t *p);
/* Parse "module:key=v,key=v" (a value may itself hold commas: "dim_bandwidth=1e9,1e9,5e8"). */
nscclResult_t nsccl_params_parse_spec(const char *spec, nsccl_params_t *p);
/* Add one key (line 0 = not from a file). */
nscclResult_t nsccl_params_set(nsccl_params_t *p, const char *key, const char *value, int line);

/* The entry for key, or NULL. Does not mark it used. */
const char *nsccl_params_find(const nsccl_params_t *p, const char *key, int *line);

/* Getters: mark the key used. required = 0 leaves *out unchanged when the key is absent and
 * returns success; required = 1 fails naming the file. Numbers must parse entirely. */
nscclResult_t nsccl_params_double(nsccl_params_t *p, const char *key, int required, double *out);
/* A double that must be > 0 (bandwidths) or >= 0 (latencies): positive = 1 or 0. */
nscclResult_t nsccl_params_bw(nsccl_params_t *p, const char *key, int required, double *out);
nscclResult_t nsccl_params_time(nsccl_params_t *p, const char *key, int required, double *out);
nscclResult_t nsccl_params_int(nsccl_params_t *p, const char *key, int required, int min, int *out);
nscclResult_t nsccl_params_string(nsccl_params_t *p, const char *key, int required, const char **out);
/* A list of up to max numbers separated by 'x', ',' or blanks ("4x4x4", "256e9, 256e9, 128e9"). */
nscclResult_t nsccl_params_list(nsccl_params_t *p, const char *key, int required, double *vals, int max, int *n);

/* Fail with "file:line: message" for key (or "file: message" when the key is absent / line 0). */
nscclResult_t nsccl_params_error(const nsccl_params_t *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail on the first key no module used ("unknown key"). */
nscclResult_t nsccl_params_check_unused(const nsccl_params_t *p, const char *module);

/* ---- overrides (owner: claims) ---- */
/* Apply one override to parsed parameters: "key=value" replaces the value of key (or adds key);
 * "key*=factor" multiplies every number in key's existing value (a list stays a list). The entry
 * loses its file line (line 0): it no longer comes from the file. */
nscclResult_t nsccl_params_override(nsccl_params_t *p, const char *kv);

#endif
