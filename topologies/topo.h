/* Topology modules: a topology is a graph of ranks and switches/NICs with directed links; a module
 * builds it from key/value parameters and answers routes and a ring embedding. Topologies know
 * nothing of algorithms, schedules or engines.
 *
 * Vertices [0, nranks) are ranks; further vertices are switches, NICs or the network. */
#ifndef NSCCL_TOPOLOGIES_TOPO_H
#define NSCCL_TOPOLOGIES_TOPO_H

#include <stddef.h>

#include "nsccl.h"

#define NSCCL_TOPO_MAX_DIMS 8

/* How a message passes an intermediate rank of a direct network (torus). */
typedef enum {
  NSCCL_FORWARD_ROUTED = 0, /* passes with only the link latency (cut-through in the chip's router) */
  NSCCL_FORWARD_STORE = 1,  /* the chip receives and re-sends it: another endpoint_overhead per hop */
} nsccl_forward_t;

typedef struct {
  int src, dst;     /* vertices */
  double bandwidth; /* bytes/s in this direction */
  double latency;   /* seconds this link adds (wire, port or switch traversal) */
} nsccl_link_t;

struct nsccl_topo_module;

typedef struct nsccl_topo {
  const struct nsccl_topo_module *module;
  char name[512]; /* preset name or file path it came from (a path of any usual length, with overrides) */
  int nranks;
  int nvertices; /* ranks + switches/NICs */
  nsccl_link_t *links;
  int nlinks;
  /* Endpoint parameters (per rank). */
  double endpoint_overhead; /* alpha: seconds a rank spends per message it sends */
  double reduce_bandwidth;  /* bytes/s a rank reduces locally (gamma = 1 / this) */
  nsccl_forward_t forward;  /* torus: how intermediate chips pass messages */
  /* Endpoint concurrency (docs/topologies.md, "Endpoint keys"; docs/model.md, "DMA engines"). A rank
   * moves at most dma_engines messages at once: a message takes up to engines_per_message free
   * engines (at least one; it waits in FIFO order when none is free) and pays endpoint_overhead on
   * them once; when its turn in its (rank, peer) DMA queue comes it takes engines again and streams
   * at (engines taken) x dma_engine_bandwidth, capped by its links, holding them until its last
   * byte has left the rank (a message waiting for its turn holds none; docs/simulator.md).
   * Defaults: 1 engine, 1 per message, unlimited bandwidth (0), i.e. one message after another,
   * each paying alpha. */
  int dma_engines;
  int engines_per_message;     /* at most; and one per NSCCL_DMA_SPREAD_BYTES of the message */
  double dma_engine_bandwidth; /* bytes/s of one engine; 0: unlimited */
  /* Dimension structure (torus): ndims > 0 lets per-dimension algorithms run. Rank r's coordinate
   * in dimension d is (r / stride[d]) % dims[d], stride[0] = 1. */
  int ndims;
  int dims[NSCCL_TOPO_MAX_DIMS];
  /* Chips (torus, switch, tray; docs/topologies.md "Ranks per chip"): ranks [c*ranks_per_chip,
   * (c+1)*ranks_per_chip) run on chip c, chip_of_rank[r] = r / ranks_per_chip. With ranks_per_chip > 1
   * every chip is a vertex of its own (nranks + c: the chip's on-chip fabric, where its external links
   * start and end) joined to each of its ranks by an intra-chip link per direction; dims, coordinates
   * and rings of a torus then describe chips, not ranks, and the hierarchy below groups ranks by chip.
   * 1 (default): a rank is a chip and no chip vertices exist. */
  int ranks_per_chip;
  int nchips;
  int *chip_of_rank;           /* [nranks] */
  double intra_chip_bandwidth; /* bytes/s per direction of one rank's link to its chip's fabric */
  double intra_chip_latency;   /* seconds that link adds */
  /* Hierarchy (efa, two-level switch, host, chips): ranks [g*group_size, (g+1)*group_size) form
   * group g (a server, a first-level switch or a chip); 0 means flat. */
  int group_size;
  const struct nsccl_topo *inner; /* efa: the topology inside one server (ranks 0..group_size-1) */
  void *priv;                     /* module private */
  /* ---- descriptive parameters (read by the cost model and tools; the links above are the truth) ---- */
  double link_bandwidth;                     /* bytes/s per direction of one link / rank port */
  double link_latency;                       /* seconds one link hop adds */
  double dim_bandwidth[NSCCL_TOPO_MAX_DIMS]; /* torus: bytes/s per direction of a link in dimension d */
  double switch_latency;                     /* switch: seconds one switch traversal adds (cut-through) */
  int levels;                                /* switch: 1 or 2 levels; others (tray included) 0 */
  int nswitches;                             /* switch, levels 1: separate switches (2 on Trn3 Gen1); tray: trays */
  double cross_bandwidth;                    /* switch: bytes/s per direction of a direct chip-chip link; 0 none */
  int ngroups;                               /* servers / first-level switches / hosts (1 if flat) */
  int *group_of_rank;                        /* [nranks]: group (server, leaf switch, host) of each rank */
  double nic_bandwidth;                      /* efa/host: bytes/s per NIC per direction */
  double network_latency;                    /* efa/host: seconds from one NIC to another */
  int nic_per_rank;                          /* efa: 1 a NIC per rank, 0 one per server */
  /* host on one machine: a message is a copy the receiving rank's own CPU makes (shared memory,
   * cross-memory attach), so a rank's message costs, copies and reductions take turns on one core
   * instead of overlapping as they do when a NIC or DMA engine moves the bytes. */
  int cpu_copies;
} nsccl_topo_t;

/* A message is spread over one engine per this many bytes (at most engines_per_message): the
 * collective DMA packet of Trainium is 64 KiB by default and at most (docs/hardware-facts.md,
 * T2-DMA-PKT), so a message smaller than a packet keeps to one engine and leaves the others free for
 * concurrent messages. */
#define NSCCL_DMA_SPREAD_BYTES 65536.0
static inline int nsccl_dma_engines_for(double bytes, int engines_per_message) {
  double want = bytes / NSCCL_DMA_SPREAD_BYTES;
  if (want < 1) return 1;
  return want >= engines_per_message ? engines_per_message : (int)(want + 0.999999);
}

/* Key/value parameters (from a preset file or a "module:key=v,key=v" string). */
typedef struct {
  const char *file; /* for messages: where the keys came from */
  int n;
  struct {
    char key[64];
    char value[192];
    int line; /* line in file, 0 if from a string */
    int used; /* set by the module when it consumed the key; unused keys are errors */
  } kv[64];
} nsccl_params_t;

typedef struct nsccl_topo_module {
  const char *name;
  /* Fill t (module, nranks, links, parameters) from params. Errors name file:line. */
  nscclResult_t (*build)(nsccl_topo_t *t, nsccl_params_t *params);
  /* Links a message from src to dst crosses, in order (indices into t->links); returns how many,
   * or -1 if max is too small. src != dst, both ranks. */
  int (*route)(const nsccl_topo_t *t, int src, int dst, int *links, int max);
  /* A ring embedding: order[0..nranks) with neighbours one hop apart where the topology allows. */
  void (*ring)(const nsccl_topo_t *t, int *order);
  void (*destroy)(nsccl_topo_t *t);
  /* Optional (NULL: no symmetry declared). The topology's translations: p maps T_v (v a rank,
   * T_v(0) = v) that carry ranks to ranks, links to links of equal bandwidth and latency, and
   * routes to routes (route(T_v a, T_v b) = T_v route(a, b)). Returns the class of `link` under
   * them (links of one class are images of each other; 0 <= class < nsccl_topo_orbits). The cost
   * model prices a step in which every rank sends the same to every other from the p - 1 routes
   * out of rank 0 (model/cost.c, nsccl_model_all_to_all): exact, not an approximation. With one rank
   * per vertex, T_v must also be the addition of v's coordinates (nsccl_topo_coord, modulo dims):
   * the model's two-block-size all-to-all (model/cost_symmetry.c) relies on it. */
  int (*link_orbit)(const nsccl_topo_t *t, int link);
  int (*orbits)(const nsccl_topo_t *t); /* classes link_orbit returns (with link_orbit) */
} nsccl_topo_module_t;

/* Load a topology by preset name (topologies/presets/NAME.conf, searched in NSCCL_PRESET_DIR, then
 * the source tree from a build tree or the install data dir when installed), by file path, or by spec string
 * "torus:dims=4x4,...". */
nscclResult_t nsccl_topo_load(const char *name_or_path, nsccl_topo_t **out);
void nsccl_topo_free(nsccl_topo_t *t);
/* Convenience wrappers over the module. */
int nsccl_topo_route(const nsccl_topo_t *t, int src, int dst, int *links, int max);
void nsccl_topo_ring(const nsccl_topo_t *t, int *order);

/* ---- added helpers (topo.c) ---- */
/* Longest route any module produces (in links); a buffer of this size always suffices. */
#define NSCCL_TOPO_MAX_ROUTE 256

/* Registered modules by name ("torus", "switch", "efa", "host"); NULL if unknown. */
const nsccl_topo_module_t *nsccl_topo_module_find(const char *name);
/* Build a topology from parsed parameters (key "module" picks the module). Errors name file:line;
 * unused keys are errors. */
nscclResult_t nsccl_topo_from_params(nsccl_params_t *params, const char *name, nsccl_topo_t **out);
/* Allocate an empty topology (links added with nsccl_topo_add_link) for modules to fill. */
nscclResult_t nsccl_topo_alloc(nsccl_topo_t **out);
/* Append a directed link; returns its index or -1 when memory ran out. */
int nsccl_topo_add_link(nsccl_topo_t *t, int src, int dst, double bandwidth, double latency);

/* What a message from src to dst sees on its route (src != dst):
 *   hops      links crossed;
 *   forwards  intermediate RANK vertices it passes (torus chips; switches and NICs are not counted);
 *   latency   sum of link latencies, plus endpoint_overhead per forward when t->forward is STORE;
 *   bandwidth the smallest link bandwidth on the route. */
typedef struct {
  int hops, forwards;
  double latency, bandwidth;
} nsccl_path_t;
nscclResult_t nsccl_topo_path(const nsccl_topo_t *t, int src, int dst, nsccl_path_t *out);

/* Torus coordinates (ndims > 0): coord[d] = (rank / stride_d) % dims[d]; and back. */
void nsccl_topo_coord(const nsccl_topo_t *t, int rank, int *coord);
int nsccl_topo_rank_at(const nsccl_topo_t *t, const int *coord);
/* The torus dimensions longer than 1, thinnest (lowest dim_bandwidth) first, ties by index; returns
 * how many. Per-dimension algorithms run their phases in this order and the model prices them so. */
int nsccl_topo_dims_by_bandwidth(const nsccl_topo_t *t, int *dims);

/* Directories searched for presets, in order; n filled, returns how many (at most max, 2 suffice):
 * $NSCCL_PRESET_DIR if set, then the source tree's presets when this code runs from the build tree
 * it was compiled in, else the installed <datadir>/nsccl/presets (never both). */
int nsccl_topo_preset_dirs(const char **dirs, int max);
/* 1 if the file `file` lies inside directory `root` (both resolved with realpath; 0 if either does
 * not exist). Decides whether a copy of the library is the build tree's or an installed one. */
int nsccl_topo_file_in_tree(const char *file, const char *root);

/* ---- parameter overrides (owner: claims; docs/topologies.md "Overrides") ---- */
/* Load a topology like nsccl_topo_load (preset name, file path or "module:..." spec), with n key
 * overrides applied to its parameters before the module builds it. kv[i] is "key=value" (replaces the
 * key's value, or adds the key) or "key*=factor" (multiplies every number of the key's existing value,
 * lists included: "dim_bandwidth*=0.5"). A key the module does not read, a malformed override or a
 * scaled key the preset does not have is nscclInvalidArgument, and the last error names it. The
 * topology's name becomes "NAME?key=value&..." (truncated to fit name[]). nsccl_topo_load accepts the
 * same form as one string: "trn2-u64?endpoint_overhead=2e-6&forward=store". */
nscclResult_t nsccl_topo_load_overrides(const char *name_or_path, const char *const *kv, int n, nsccl_topo_t **out);

/* ---- vertex names (owner: trace; vertex_name.c) ---- */
/* A vertex's name for people: "rank 3", "chip 1", "switch 0", "host 1", "NIC 5", "network",
 * "server 2 switch 0", else "vertex 17". Link tables and trace tracks use it. */
void nsccl_topo_vertex_name(const nsccl_topo_t *t, int v, char *buf, size_t len);

#endif
