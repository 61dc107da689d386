/* Topology parameters: INI files through libinih, spec strings, typed getters with file:line errors. */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "topologies/params.h"

static int find_index(const nsccl_params_t *p, const char *key) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->kv[i].key, key)) return i;
  return -1;
}

nscclResult_t nsccl_params_error(const nsccl_params_t *p, const char *key, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  int i = key ? find_index(p, key) : -1;
  const char *file = p->file ? p->file : "<topology>";
  if (i >= 0 && p->kv[i].line > 0)
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s:%d: %s", file, p->kv[i].line, msg);
  else
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "%s: %s", file, msg);
  return nscclInvalidArgument;
}

nscclResult_t nsccl_params_set(nsccl_params_t *p, const char *key, const char *value, int line) {
  const char *file = p->file ? p->file : "<topology>";
  if (find_index(p, key) >= 0) NSCCL_FAIL(nscclInvalidArgument, "%s:%d: key '%s' given twice", file, line, key);
  if (p->n >= (int)(sizeof(p->kv) / sizeof(p->kv[0])))
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: too many keys (at most %d)", file, line,
               (int)(sizeof(p->kv) / sizeof(p->kv[0])));
  if (strlen(key) >= sizeof(p->kv[0].key) || strlen(value) >= sizeof(p->kv[0].value))
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: key or value of '%.40s' too long", file, line, key);
  snprintf(p->kv[p->n].key, sizeof(p->kv[0].key), "%s", key);
  snprintf(p->kv[p->n].value, sizeof(p->kv[0].value), "%s", value);
  p->kv[p->n].line = line;
  p->kv[p->n].used = 0;
  p->n++;
  return nscclSuccess;
}

/* libinih calls the handler right after reading a line, so a reader that counts newlines knows
 * the line of every key (the installed libinih is built without INI_HANDLER_LINENO). */
typedef struct {
  FILE *f;
  int line;
  nsccl_params_t *p;
  nscclResult_t rc;
} ini_ctx_t;

static char *counting_reader(char *str, int num, void *stream) {
  ini_ctx_t *c = stream;
  char *r = fgets(str, num, c->f);
  if (r && strchr(r, '\n')) c->line++;
  return r;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value) {
  ini_ctx_t *c = user;
  if (c->rc != nscclSuccess) return 0;
  int line = c->line; /* the line just read holds this key */
  char key[80];
  if (!strcmp(section, "topology")) {
    snprintf(key, sizeof(key), "%s", name);
  } else if (!strcmp(section, "inner")) {
    snprintf(key, sizeof(key), "inner.%s", name);
  } else {
    nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument,
                    "%s:%d: key '%s' in section [%s]; keys belong in [topology] (or [inner] for efa)", c->p->file, line,
                    name, section);
    c->rc = nscclInvalidArgument;
    return 0;
  }
  c->rc = nsccl_params_set(c->p, key, value, line);
  return c->rc == nscclSuccess;
}

nscclResult_t nsccl_params_parse_file(const char *path, nsccl_params_t *p) {
  memset(p, 0, sizeof(*p));
  p->file = path;
  FILE *f = fopen(path, "r");
  if (!f) NSCCL_FAIL(nscclInvalidArgument, "%s: cannot open topology file: %s", path, strerror(errno));
  ini_ctx_t c = {f, 0, p, nscclSuccess};
  int rc = ini_parse_stream(counting_reader, &c, ini_handler_fn, &c);
  fclose(f);
  if (c.rc != nscclSuccess) return c.rc;
  if (rc > 0)
    NSCCL_FAIL(nscclInvalidArgument, "%s:%d: malformed line (expected 'key = value' or '[section]')", path, rc);
  if (rc < 0) NSCCL_FAIL(nscclSystemError, "%s: cannot read topology file", path);
  return nscclSuccess;
}

nscclResult_t nsccl_params_parse_spec(const char *spec, nsccl_params_t *p) {
  memset(p, 0, sizeof(*p));
  p->file = spec;
  const char *colon = strchr(spec, ':');
  if (!colon || colon == spec)
    NSCCL_FAIL(nscclInvalidArgument, "topology spec '%s': expected 'module:key=value,...'", spec);
  char module[64];
  if ((size_t)(colon - spec) >= sizeof(module))
    NSCCL_FAIL(nscclInvalidArgument, "topology spec '%s': module name too long", spec);
  memcpy(module, spec, colon - spec);
  module[colon - spec] = '\0';
  NSCCL_CHECK(nsccl_params_set(p, "module", module, 0));
  /* Split on commas; a piece without '=' continues the previous value (lists such as 1e9,1e9). */
  const char *s = colon + 1;
  while (*s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    char piece[256];
    if (len >= sizeof(piece)) NSCCL_FAIL(nscclInvalidArgument, "topology spec '%s': item too long", spec);
    memcpy(piece, s, len);
    piece[len] = '\0';
    char *eq = strchr(piece, '=');
    if (eq) {
      *eq = '\0';
      NSCCL_CHECK(nsccl_params_set(p, piece, eq + 1, 0));
    } else if (p->n > 1 && len > 0) {
      char *v = p->kv[p->n - 1].value;
      size_t vl = strlen(v);
      if (vl + 1 + len >= sizeof(p->kv[0].value))
        NSCCL_FAIL(nscclInvalidArgument, "topology spec '%s': value too long", spec);
      v[vl] = ',';
      memcpy(v + vl + 1, piece, len + 1);
    } else if (len > 0) {
      NSCCL_FAIL(nscclInvalidArgument, "topology spec '%s': '%s' is not key=value", spec, piece);
    }
    s += len + (end ? 1 : 0);
  }
  return nscclSuccess;
}

const char *nsccl_params_find(const nsccl_params_t *p, const char *key, int *line) {
  int i = find_index(p, key);
  if (i < 0) return NULL;
  if (line) *line = p->kv[i].line;
  return p->kv[i].value;
}

static const char *take(nsccl_params_t *p, const char *key) {
  int i = find_index(p, key);
  if (i < 0) return NULL;
  p->kv[i].used = 1;
  return p->kv[i].value;
}

static int parse_number(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno == ERANGE || !isfinite(v)) return 0;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return 0;
  *out = v;
  return 1;
}

nscclResult_t nsccl_params_string(nsccl_params_t *p, const char *key, int required, const char **out) {
  const char *v = take(p, key);
  if (!v) {
    /* Point at the module line: the file is where the key should have been. */
    if (required) return nsccl_params_error(p, "module", "missing key '%s' in [topology]", key);
    return nscclSuccess;
  }
  *out = v;
  return nscclSuccess;
}

nscclResult_t nsccl_params_double(nsccl_params_t *p, const char *key, int required, double *out) {
  const char *v = NULL;
  NSCCL_CHECK(nsccl_params_string(p, key, required, &v));
  if (!v) return nscclSuccess;
  if (!parse_number(v, out)) return nsccl_params_error(p, key, "key '%s': '%s' is not a number", key, v);
  return nscclSuccess;
}

nscclResult_t nsccl_params_bw(nsccl_params_t *p, const char *key, int required, double *out) {
  double v = *out;
  const char *raw = nsccl_params_find(p, key, NULL);
  NSCCL_CHECK(nsccl_params_double(p, key, required, &v));
  if (raw && !(v > 0)) return nsccl_params_error(p, key, "key '%s': bandwidth must be > 0 bytes/s, got %s", key, raw);
  *out = v;
  return nscclSuccess;
}

nscclResult_t nsccl_params_time(nsccl_params_t *p, const char *key, int required, double *out) {
  double v = *out;
  const char *raw = nsccl_params_find(p, key, NULL);
  NSCCL_CHECK(nsccl_params_double(p, key, required, &v));
  if (raw && v < 0) return nsccl_params_error(p, key, "key '%s': time must be >= 0 seconds, got %s", key, raw);
  *out = v;
  return nscclSuccess;
}

nscclResult_t nsccl_params_int(nsccl_params_t *p, const char *key, int required, int min, int *out) {
  const char *v = NULL;
  NSCCL_CHECK(nsccl_params_string(p, key, required, &v));
  if (!v) return nscclSuccess;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  while (*end == ' ' || *end == '\t') end++;
  if (end == v || *end || errno == ERANGE || x > 1000000)
    return nsccl_params_error(p, key, "key '%s': '%s' is not an integer", key, v);
  if (x < min) return nsccl_params_error(p, key, "key '%s': %ld is below the minimum %d", key, x, min);
  *out = (int)x;
  return nscclSuccess;
}

nscclResult_t nsccl_params_list(nsccl_params_t *p, const char *key, int required, double *vals, int max, int *n) {
  const char *v = NULL;
  NSCCL_CHECK(nsccl_params_string(p, key, required, &v));
  if (!v) return nscclSuccess;
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", v);
  int k = 0;
  for (char *save = NULL, *tok = strtok_r(buf, "x, \t", &save); tok; tok = strtok_r(NULL, "x, \t", &save)) {
    if (k >= max) return nsccl_params_error(p, key, "key '%s': more than %d values in '%s'", key, max, v);
    if (!parse_number(tok, &vals[k])) return nsccl_params_error(p, key, "key '%s': '%s' is not a number", key, tok);
    k++;
  }
  if (k == 0) return nsccl_params_error(p, key, "key '%s': empty list", key);
  *n = k;
  return nscclSuccess;
}

nscclResult_t nsccl_params_check_unused(const nsccl_params_t *p, const char *module) {
  for (int i = 0; i < p->n; i++)
    if (!p->kv[i].used)
      return nsccl_params_error(p, p->kv[i].key, "unknown key '%s' for module '%s'", p->kv[i].key, module);
  return nscclSuccess;
}

/* ---- overrides (owner: claims) ---- */

/* value * factor for every number of a list value, keeping the list's first separator style. */
static nscclResult_t scale_value(nsccl_params_t *p, int i, const char *kv, double factor) {
  char out[sizeof(p->kv[0].value)], buf[sizeof(p->kv[0].value)];
  snprintf(buf, sizeof(buf), "%s", p->kv[i].value);
  size_t len = 0;
  int k = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save), k++) {
    double v;
    if (!parse_number(tok, &v))
      NSCCL_FAIL(nscclInvalidArgument, "override '%s': '%s' in '%s' is not a number to scale", kv, tok, p->kv[i].value);
    int w = snprintf(out + len, sizeof(out) - len, "%s%.17g", k ? ", " : "", v * factor);
    if (w < 0 || (size_t)w >= sizeof(out) - len) NSCCL_FAIL(nscclInvalidArgument, "override '%s': value too long", kv);
    len += (size_t)w;
  }
  if (k == 0) NSCCL_FAIL(nscclInvalidArgument, "override '%s': key '%s' has an empty value", kv, p->kv[i].key);
  snprintf(p->kv[i].value, sizeof(p->kv[i].value), "%s", out);
  return nscclSuccess;
}

nscclResult_t nsccl_params_override(nsccl_params_t *p, const char *kv) {
  const char *eq = kv ? strchr(kv, '=') : NULL;
  if (!eq || eq == kv)
    NSCCL_FAIL(nscclInvalidArgument, "override '%s': expected key=value or key*=factor", kv ? kv : "(null)");
  int scale = eq[-1] == '*';
  size_t klen = (size_t)(eq - kv) - (size_t)scale;
  char key[sizeof(p->kv[0].key)];
  if (klen == 0 || klen >= sizeof(key)) NSCCL_FAIL(nscclInvalidArgument, "override '%s': bad key length", kv);
  memcpy(key, kv, klen);
  key[klen] = '\0';
  if (!strcmp(key, "module")) NSCCL_FAIL(nscclInvalidArgument, "override '%s': the module cannot be overridden", kv);
  const char *value = eq + 1;
  int i = find_index(p, key);
  if (scale) {
    double f;
    if (!parse_number(value, &f))
      NSCCL_FAIL(nscclInvalidArgument, "override '%s': factor '%s' is not a number", kv, value);
    if (i < 0)
      NSCCL_FAIL(nscclInvalidArgument, "override '%s': %s has no key '%s' to scale (set it with %s=VALUE)", kv,
                 p->file ? p->file : "the topology", key, key);
    NSCCL_CHECK(scale_value(p, i, kv, f));
    p->kv[i].line = 0;
    return nscclSuccess;
  }
  if (!*value) NSCCL_FAIL(nscclInvalidArgument, "override '%s': empty value", kv);
  if (i < 0) return nsccl_params_set(p, key, value, 0);
  if (strlen(value) >= sizeof(p->kv[i].value)) NSCCL_FAIL(nscclInvalidArgument, "override '%s': value too long", kv);
  snprintf(p->kv[i].value, sizeof(p->kv[i].value), "%s", value);
  p->kv[i].line = 0;
  return nscclSuccess;
}
