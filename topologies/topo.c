/* The topology registry and loader, plus helpers every module and the cost model share. */
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/check.h"
#include "base/log.h"
#include "topologies/common.h"

extern const nsccl_topo_module_t nsccl_topo_torus_module;
extern const nsccl_topo_module_t nsccl_topo_switch_module;
extern const nsccl_topo_module_t nsccl_topo_efa_module;
extern const nsccl_topo_module_t nsccl_topo_host_module;
extern const nsccl_topo_module_t nsccl_topo_tray_module;

static const nsccl_topo_module_t *const modules[] = {
    &nsccl_topo_torus_module, &nsccl_topo_switch_module, &nsccl_topo_efa_module,
    &nsccl_topo_host_module,  &nsccl_topo_tray_module,
};

const nsccl_topo_module_t *nsccl_topo_module_find(const char *name) {
  for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
    if (name && !strcmp(modules[i]->name, name)) return modules[i];
  return NULL;
}

nscclResult_t nsccl_topo_alloc(nsccl_topo_t **out) {
  nsccl_topo_t *t = calloc(1, sizeof(*t));
  if (!t) NSCCL_FAIL(nscclSystemError, "out of memory allocating a topology");
  t->ngroups = 1;
  t->dma_engines = 1; /* one message at a time, each paying alpha (topo.h) */
  t->engines_per_message = 1;
  t->ranks_per_chip = 1; /* a rank is a chip unless the module says otherwise */
  *out = t;
  return nscclSuccess;
}

int nsccl_topo_add_link(nsccl_topo_t *t, int src, int dst, double bandwidth, double latency) {
  /* Grow by doubling; capacity is implied by nlinks being a power of two or zero. */
  if ((t->nlinks & (t->nlinks - 1)) == 0) {
    size_t cap = t->nlinks ? (size_t)t->nlinks * 2 : 16;
    nsccl_link_t *l = realloc(t->links, cap * sizeof(*l));
    if (!l) return -1;
    t->links = l;
  }
  t->links[t->nlinks] = (nsccl_link_t){src, dst, bandwidth, latency};
  return t->nlinks++;
}

void nsccl_topo_free(nsccl_topo_t *t) {
  if (!t) return;
  if (t->module && t->module->destroy) t->module->destroy(t);
  free(t->links);
  free(t->group_of_rank);
  free(t->chip_of_rank);
  free(t);
}

int nsccl_topo_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  return t->module->route(t, src, dst, links, max);
}

void nsccl_topo_ring(const nsccl_topo_t *t, int *order) { t->module->ring(t, order); }

nscclResult_t nsccl_topo_path(const nsccl_topo_t *t, int src, int dst, nsccl_path_t *out) {
  int links[NSCCL_TOPO_MAX_ROUTE];
  if (src < 0 || dst < 0 || src >= t->nranks || dst >= t->nranks || src == dst)
    NSCCL_FAIL(nscclInvalidArgument, "path %d -> %d: ranks must differ and lie in [0, %d)", src, dst, t->nranks);
  int n = nsccl_topo_route(t, src, dst, links, NSCCL_TOPO_MAX_ROUTE);
  if (n <= 0) NSCCL_FAIL(nscclInternalError, "topology %s: no route %d -> %d", t->name, src, dst);
  nsccl_path_t p = {n, 0, 0.0, 0.0};
  for (int i = 0; i < n; i++) {
    const nsccl_link_t *l = &t->links[links[i]];
    p.latency += l->latency;
    if (i == 0 || l->bandwidth < p.bandwidth) p.bandwidth = l->bandwidth;
    if (i > 0 && l->src < t->nranks) p.forwards++;
  }
  if (t->forward == NSCCL_FORWARD_STORE) p.latency += p.forwards * t->endpoint_overhead;
  *out = p;
  return nscclSuccess;
}

void nsccl_topo_coord(const nsccl_topo_t *t, int rank, int *coord) {
  for (int d = 0; d < t->ndims; d++) {
    coord[d] = rank % t->dims[d];
    rank /= t->dims[d];
  }
}

int nsccl_topo_rank_at(const nsccl_topo_t *t, const int *coord) {
  int r = 0;
  for (int d = t->ndims - 1; d >= 0; d--) r = r * t->dims[d] + coord[d];
  return r;
}

nscclResult_t nsccl_topo_from_params(nsccl_params_t *params, const char *name, nsccl_topo_t **out) {
  const char *modname = NULL;
  NSCCL_CHECK(nsccl_params_string(params, "module", 1, &modname));
  const nsccl_topo_module_t *m = nsccl_topo_module_find(modname);
  if (!m)
    return nsccl_params_error(params, "module", "unknown module '%s' (use torus, switch, tray, efa or host)", modname);
  nsccl_topo_t *t;
  NSCCL_CHECK(nsccl_topo_alloc(&t));
  t->module = m;
  snprintf(t->name, sizeof(t->name), "%s", name);
  nscclResult_t rc = m->build(t, params);
  if (rc == nscclSuccess) rc = nsccl_params_check_unused(params, modname);
  if (rc == nscclSuccess && !t->group_of_rank) {
    /* Modules without groups: one group holding every rank. */
    t->group_of_rank = calloc(t->nranks > 0 ? t->nranks : 1, sizeof(int));
    if (!t->group_of_rank) rc = nscclSystemError;
  }
  if (rc == nscclSuccess && !t->chip_of_rank) { /* modules without chips (efa fills its own): a rank each */
    nsccl_chip_links_t none = {NULL, NULL};
    t->ranks_per_chip = 1;
    rc = nsccl_topo_add_chip_links(t, &none);
  }
  if (rc != nscclSuccess) {
    nsccl_topo_free(t);
    return rc;
  }
  NSCCL_INFO(NSCCL_SUBSYS_TOPO, "topology %s: module %s, %d ranks, %d vertices, %d links", t->name, m->name, t->nranks,
             t->nvertices, t->nlinks);
  *out = t;
  return nscclSuccess;
}

#ifndef NSCCL_SOURCE_PRESET_DIR
#define NSCCL_SOURCE_PRESET_DIR ""
#endif
#ifndef NSCCL_INSTALL_PRESET_DIR
#define NSCCL_INSTALL_PRESET_DIR ""
#endif
#ifndef NSCCL_BUILD_ROOT
#define NSCCL_BUILD_ROOT ""
#endif

int nsccl_topo_file_in_tree(const char *file, const char *root) {
  if (!file || !root || !*root) return 0;
  char froot[PATH_MAX], ffile[PATH_MAX];
  if (!realpath(root, froot) || !realpath(file, ffile)) return 0;
  size_t n = strlen(froot);
  return !strncmp(ffile, froot, n) && (ffile[n] == '/' || ffile[n] == '\0');
}

/* The file holding the code at `addr`: a shared object's path, or for the program itself (whose
 * name the dynamic linker leaves empty) /proc/self/exe, as argv[0] may be relative or rewritten. */
typedef struct {
  uintptr_t addr;
  char path[PATH_MAX];
  int found;
} code_file_t;

static int find_code_file(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  code_file_t *c = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type != PT_LOAD || c->addr < lo || c->addr >= lo + ph->p_memsz) continue;
    const char *name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "/proc/self/exe";
    snprintf(c->path, sizeof(c->path), "%s", name);
    c->found = 1;
    return 1;
  }
  return 0;
}

/* Where this copy of the code lives: the shared library holding this function, or the program it is
 * linked into statically. A copy inside the build tree it was compiled in is "uninstalled" and reads
 * the source tree's presets; an installed copy must read the installed presets only, or it would
 * follow a source tree that may have moved on (or been deleted) since `meson install`. */
static int running_uninstalled(void) {
  static int cached = -1;
  if (cached < 0) {
    code_file_t c = {.addr = (uintptr_t)&running_uninstalled};
    dl_iterate_phdr(find_code_file, &c);
    cached = c.found && nsccl_topo_file_in_tree(c.path, NSCCL_BUILD_ROOT);
  }
  return cached;
}

int nsccl_topo_preset_dirs(const char **dirs, int max) {
  const char *cand[2] = {getenv("NSCCL_PRESET_DIR"),
                         running_uninstalled() ? NSCCL_SOURCE_PRESET_DIR : NSCCL_INSTALL_PRESET_DIR};
  int n = 0;
  for (int i = 0; i < 2 && n < max; i++)
    if (cand[i] && *cand[i]) dirs[n++] = cand[i];
  return n;
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_preset_name(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
          *s == '.'))
      return 0;
  return 1;
}

/* The parameters of a preset name, file path or "module:..." spec, parsed but not built. params->file
 * may point into *file_out (a heap copy of the preset path, or NULL): free it after building. */
static nscclResult_t load_params(const char *name_or_path, nsccl_params_t *params, char **file_out) {
  char path[1024];
  *file_out = NULL;
  if (strchr(name_or_path, ':') && strchr(name_or_path, '=') && !strchr(name_or_path, '/') && !is_file(name_or_path))
    return nsccl_params_parse_spec(name_or_path, params); /* "module:key=value,...": a spec string. */
  if (strchr(name_or_path, '/') || is_file(name_or_path) || !is_preset_name(name_or_path))
    return nsccl_params_parse_file(name_or_path, params);
  const char *dirs[2];
  int nd = nsccl_topo_preset_dirs(dirs, 2);
  for (int i = 0; i < nd; i++) {
    snprintf(path, sizeof(path), "%s/%s.conf", dirs[i], name_or_path);
    if (!is_file(path)) continue;
    char *saved = strdup(path); /* params->file points at it for messages during the build */
    if (!saved) NSCCL_FAIL(nscclSystemError, "out of memory loading topology %s", name_or_path);
    *file_out = saved;
    NSCCL_INFO(NSCCL_SUBSYS_TOPO, "topology %s: preset file %s", name_or_path, saved);
    return nsccl_params_parse_file(saved, params);
  }
  NSCCL_FAIL(nscclInvalidArgument, "topology '%s': no preset file %s.conf in %s%s%s, and no such file", name_or_path,
             name_or_path, nd > 0 ? dirs[0] : "(no preset directory)", nd > 1 ? " or " : "", nd > 1 ? dirs[1] : "");
}

/* "NAME?k=v&k=v" (overrides, docs/topologies.md): split at the last '?' and at every '&'. */
static nscclResult_t load_query(const char *spec, nsccl_topo_t **out) {
  char *copy = strdup(spec);
  if (!copy) NSCCL_FAIL(nscclSystemError, "out of memory loading topology %s", spec);
  char *q = strrchr(copy, '?');
  *q = '\0';
  const char *kv[64];
  int n = 0;
  nscclResult_t rc = nscclSuccess;
  for (char *save = NULL, *tok = strtok_r(q + 1, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
    if (n == 64) {
      nsccl_set_error(__FILE__, __LINE__, nscclInvalidArgument, "topology '%s': more than 64 overrides", spec);
      rc = nscclInvalidArgument;
      break;
    }
    kv[n++] = tok;
  }
  if (rc == nscclSuccess) rc = nsccl_topo_load_overrides(copy, kv, n, out);
  free(copy);
  return rc;
}

nscclResult_t nsccl_topo_load(const char *name_or_path, nsccl_topo_t **out) {
  if (!name_or_path || !*name_or_path || !out)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_topo_load: need a preset name, file path or spec, and an output pointer");
  *out = NULL;
  if (strchr(name_or_path, '?') && !is_file(name_or_path)) return load_query(name_or_path, out);
  return nsccl_topo_load_overrides(name_or_path, NULL, 0, out);
}

nscclResult_t nsccl_topo_load_overrides(const char *name_or_path, const char *const *kv, int n, nsccl_topo_t **out) {
  if (!name_or_path || !*name_or_path || !out || n < 0 || (n > 0 && !kv))
    NSCCL_FAIL(
        nscclInvalidArgument,
        "nsccl_topo_load_overrides: need a preset name, file path or spec, n >= 0 overrides and an output pointer");
  *out = NULL;
  nsccl_params_t *params = malloc(sizeof(*params));
  if (!params) NSCCL_FAIL(nscclSystemError, "out of memory loading topology %s", name_or_path);
  char *file = NULL, name[sizeof(((nsccl_topo_t *)0)->name)];
  nscclResult_t rc = load_params(name_or_path, params, &file);
  /* The name (and the "file" errors name) records the overrides: "trn2-u64?forward=store&...". */
  size_t len = (size_t)snprintf(name, sizeof(name), "%s", name_or_path);
  for (int i = 0; i < n && rc == nscclSuccess; i++) {
    if (len < sizeof(name)) len += (size_t)snprintf(name + len, sizeof(name) - len, "%c%s", i ? '&' : '?', kv[i]);
    rc = nsccl_params_override(params, kv[i]);
  }
  if (rc == nscclSuccess) rc = nsccl_topo_from_params(params, name, out);
  if (rc != nscclSuccess && n > 0) {
    /* Say which overrides were in play: an unknown key is usually a misspelt override. */
    char msg[768];
    const char *prev = nsccl_last_error(), *prefix = nscclGetErrorString(rc);
    size_t pl = strlen(prefix);
    if (!strncmp(prev, prefix, pl) && !strncmp(prev + pl, ": ", 2)) prev += pl + 2; /* set_error adds it again */
    snprintf(msg, sizeof(msg), "%s", prev);
    nsccl_set_error(__FILE__, __LINE__, rc, "%s (loading %s)", msg, name);
  }
  free(file);
  free(params);
  return rc;
}

int nsccl_topo_dims_by_bandwidth(const nsccl_topo_t *t, int *dims) {
  int n = 0;
  for (int d = 0; d < t->ndims; d++)
    if (t->dims[d] > 1) dims[n++] = d;
  for (int i = 1; i < n; i++) /* insertion sort: stable, at most NSCCL_TOPO_MAX_DIMS entries */
    for (int j = i; j > 0 && t->dim_bandwidth[dims[j]] < t->dim_bandwidth[dims[j - 1]]; j--) {
      int x = dims[j];
      dims[j] = dims[j - 1], dims[j - 1] = x;
    }
  return n;
}
