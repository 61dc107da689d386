/* The transport as a whole: which provider serves which peer, the address blob the bootstrap
 * exchanges, connecting (AV inserts) and closing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/log.h"
#include "transport/tp_internal.h"

/* Address blob: magic, version, number of entries, then per provider: name length, name, address
 * length (2 bytes, little endian), address. Zero padded to NSCCL_TRANSPORT_ADDR_BYTES. */
static const unsigned char blob_magic[4] = {'N', 'S', 'T', 'A'};
#define BLOB_VERSION 1

static nscclResult_t parse_size_env(const char *name, size_t *out) {
  const char *v = getenv(name);
  *out = 0;
  if (!v || !*v) return nscclSuccess;
  char *end = NULL;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  size_t mult = 1;
  if (end && (*end == 'k' || *end == 'K'))
    mult = 1024, end++;
  else if (end && (*end == 'm' || *end == 'M'))
    mult = 1024 * 1024, end++;
  if (errno || end == v || *end || n == 0 || v[0] == '-')
    NSCCL_FAIL(nscclInvalidArgument, "transport: %s='%s' is not a positive byte count (e.g. 65536 or 64K)", name, v);
  *out = (size_t)n * mult;
  return nscclSuccess;
}

static nscclResult_t open_provider(nsccl_transport_t *t, const char *want, const char *origin, int npeers, int force_mr,
                                   int *index) {
  struct fi_info *info = NULL;
  NSCCL_CHECK(nsccl_tp_select(want, origin, getenv("NSCCL_SOCKET_IFNAME"), &info));
  nsccl_tp_prov_t *p = &t->provs[t->nprovs];
  NSCCL_CHECK(nsccl_tp_prov_open(p, info, npeers, force_mr));
  *index = t->nprovs++;
  return nscclSuccess;
}

/* libfabric's shm provider names its segment /dev/shm/<pid>:<n>:<m> and refuses to open when that
 * file exists. A process killed earlier (a lost peer) leaves its segment behind, and when its pid
 * is reused the new process could not open shm while its peers could, so they would disagree on
 * the provider. No live process but this one has our pid, and before our first shm endpoint
 * nothing of ours is there: whatever carries our pid then is stale and can go. */
static pthread_once_t stale_shm_once = PTHREAD_ONCE_INIT;
static void remove_stale_shm_segments(void) {
  char prefix[32];
  int len = snprintf(prefix, sizeof(prefix), "%d:", (int)getpid());
  DIR *d = opendir("/dev/shm");
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, (size_t)len) != 0) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0)
      NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: removed stale shm segment /dev/shm/%s of an earlier process", e->d_name);
  }
  closedir(d);
}

static nscclResult_t open_all(nsccl_transport_t *t, const nsccl_transport_config_t *cfg) {
  const char *want = cfg->provider, *origin = "set in the transport config";
  if (!want || !*want) want = getenv("NSCCL_PROVIDER"), origin = "NSCCL_PROVIDER";
  if (want && !*want) want = NULL;
  int force_mr = getenv("NSCCL_TRANSPORT_FORCE_MR") && atoi(getenv("NSCCL_TRANSPORT_FORCE_MR")) != 0;
  NSCCL_CHECK(parse_size_env("NSCCL_TRANSPORT_MAX_MSG", &t->max_msg_override));
  const int *host = cfg->host_of_rank;
  int me = t->rank;
  int remote = -1, local = 0; /* some peer on another host, if any; ranks on this host */
  for (int r = 0; r < t->nranks; r++) {
    if (host && host[r] != host[me]) {
      if (remote < 0) remote = r;
    } else {
      local++;
    }
  }

  if (want) {
    if (!strcmp(want, "shm") && remote >= 0)
      NSCCL_FAIL(nscclInvalidArgument,
                 "transport: provider shm (%s) cannot reach rank %d, which is on another host than rank %d", origin,
                 remote, me);
    int i;
    NSCCL_CHECK(open_provider(t, want, origin, t->nranks, force_mr, &i));
    for (int r = 0; r < t->nranks; r++) t->prov_of_peer[r] = i;
    return nscclSuccess;
  }
  /* Same host (ourselves included): shm. If shm is not offered (FI_PROVIDER may hide it), every
   * rank on this host falls back to the network provider alike, so peers still agree. */
  int shm = -1, net = -1;
  pthread_once(&stale_shm_once, remove_stale_shm_segments);
  nscclResult_t rc = open_provider(t, "shm", "same-host peers", local, force_mr, &shm);
  if (rc != nscclSuccess) {
    NSCCL_WARN(NSCCL_SUBSYS_NET, "transport: shm unusable (%s); same-host peers use the network provider",
               nsccl_last_error());
    nsccl_clear_error();
    shm = -1;
  }
  if (remote >= 0 || shm < 0) NSCCL_CHECK(open_provider(t, NULL, "network", t->nranks, force_mr, &net));
  for (int r = 0; r < t->nranks; r++) t->prov_of_peer[r] = (shm >= 0 && (!host || host[r] == host[me])) ? shm : net;
  return nscclSuccess;
}

nscclResult_t nsccl_transport_open(const nsccl_transport_config_t *cfg, nsccl_transport_t **out) {
  if (!out) NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_open: out is NULL");
  *out = NULL;
  if (!cfg) NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_open: config is NULL");
  if (cfg->nranks < 1 || cfg->nranks > NSCCL_TP_MAX_RANKS)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_open: nranks %d outside [1, %ld]", cfg->nranks,
               (long)NSCCL_TP_MAX_RANKS);
  if (cfg->rank < 0 || cfg->rank >= cfg->nranks)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_open: rank %d outside [0, %d)", cfg->rank, cfg->nranks);
  nsccl_transport_t *t = calloc(1, sizeof(*t));
  if (!t) NSCCL_FAIL(nscclSystemError, "nsccl_transport_open: out of memory");
  t->rank = cfg->rank;
  t->nranks = cfg->nranks;
  t->timeout_ms = cfg->timeout_ms;
  while ((1L << t->rank_bits) < t->nranks) t->rank_bits++;
  t->cancel_status = nscclInternalError;
  t->prov_of_peer = calloc((size_t)t->nranks, sizeof(*t->prov_of_peer));
  t->peer_addr = malloc((size_t)t->nranks * sizeof(*t->peer_addr));
  if (!t->prov_of_peer || !t->peer_addr) {
    nsccl_transport_close(t);
    NSCCL_FAIL(nscclSystemError, "nsccl_transport_open: out of memory for %d peers", t->nranks);
  }
  for (int r = 0; r < t->nranks; r++) t->peer_addr[r] = FI_ADDR_NOTAVAIL;
  nscclResult_t rc = open_all(t, cfg);
  if (rc != nscclSuccess) {
    nsccl_transport_close(t);
    return rc;
  }
  /* The fast path serves the peers reached through shm (never a forced network provider). */
  for (int r = 0; r < t->nranks && !t->fp; r++)
    if (!strcmp(t->provs[t->prov_of_peer[r]].name, "shm")) t->fp = nsccl_fp_open(t->rank, t->nranks);
  *out = t;
  return nscclSuccess;
}

nscclResult_t nsccl_transport_local_address(nsccl_transport_t *t, void *blob) {
  if (!t || !blob)
    NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_local_address: %s is NULL", t ? "blob" : "transport");
  unsigned char *b = blob;
  memset(b, 0, NSCCL_TRANSPORT_ADDR_BYTES);
  size_t off = 0;
  memcpy(b, blob_magic, 4);
  b[4] = BLOB_VERSION;
  b[5] = (unsigned char)t->nprovs;
  off = 6;
  for (int i = 0; i < t->nprovs; i++) {
    nsccl_tp_prov_t *p = &t->provs[i];
    size_t nl = strlen(p->name);
    if (off + 1 + nl + 2 + p->addrlen > NSCCL_TRANSPORT_ADDR_BYTES)
      NSCCL_FAIL(nscclInternalError, "transport: addresses do not fit in %d bytes (provider %s needs %zu)",
                 NSCCL_TRANSPORT_ADDR_BYTES, p->name, p->addrlen);
    b[off++] = (unsigned char)nl;
    memcpy(b + off, p->name, nl);
    off += nl;
    b[off++] = (unsigned char)(p->addrlen & 0xff);
    b[off++] = (unsigned char)(p->addrlen >> 8);
    memcpy(b + off, p->addr, p->addrlen);
    off += p->addrlen;
  }
  /* After the providers: "NSFP" and the fast path's segment name, when it has one. */
  if (t->fp && off + 4 + NSCCL_FP_BLOB_BYTES <= NSCCL_TRANSPORT_ADDR_BYTES) {
    memcpy(b + off, "NSFP", 4);
    nsccl_fp_describe(t->fp, b + off + 4);
  }
  return nscclSuccess;
}

/* The fast-path part of a well-formed blob (after its provider entries), or NULL. */
static const unsigned char *blob_fastpath(const unsigned char *b) {
  size_t off = 6;
  for (int i = 0; i < b[5]; i++) {
    if (off + 1 > NSCCL_TRANSPORT_ADDR_BYTES) return NULL;
    off += 1 + b[off];
    if (off + 2 > NSCCL_TRANSPORT_ADDR_BYTES) return NULL;
    off += 2 + ((size_t)b[off] | ((size_t)b[off + 1] << 8));
  }
  if (off + 4 + NSCCL_FP_BLOB_BYTES > NSCCL_TRANSPORT_ADDR_BYTES || memcmp(b + off, "NSFP", 4)) return NULL;
  return b + off + 4;
}

nscclResult_t nsccl_transport_register(nsccl_transport_t *t, const void *buf, size_t len, uint64_t *id) {
  *id = 0;
  if (!t || !t->fp) return nscclSuccess; /* nothing maps other processes' memory: nothing to record */
  return nsccl_fp_register(t->fp, buf, len, id);
}

void nsccl_transport_deregister(nsccl_transport_t *t, uint64_t id) {
  if (t && t->fp && id) nsccl_fp_deregister(t->fp, id);
}

nscclResult_t nsccl_transport_calibrate_pairs(nsccl_transport_t *t) {
  return t ? nsccl_fp_pair_calibrate(t->fp, t->timeout_ms) : nscclSuccess;
}

void nsccl_transport_fp_thresholds(const nsccl_transport_t *t, size_t *eager_max, size_t *rndv_min,
                                   size_t *direct_min) {
  nsccl_fp_thresholds(t ? t->fp : NULL, eager_max, rndv_min, direct_min);
}

int nsccl_transport_enable_fastpath(nsccl_transport_t *t) {
  if (!t || !t->fp) return 0;
  nsccl_fp_enable(t->fp);
  return nsccl_fp_enabled(t->fp);
}

/* Find provider `name` in a peer's blob. Returns 1 and the address when found, 0 when absent, -1
 * when the blob is malformed. `names` collects what the blob offers, for the error message. */
static int blob_find(const unsigned char *b, const char *name, const unsigned char **addr, size_t *addrlen, char *names,
                     size_t names_len) {
  if (memcmp(b, blob_magic, 4) || b[4] != BLOB_VERSION || b[5] > NSCCL_TP_MAX_PROVS) return -1;
  size_t off = 6, used = 0;
  names[0] = '\0';
  int found = 0;
  for (int i = 0; i < b[5]; i++) {
    if (off + 1 > NSCCL_TRANSPORT_ADDR_BYTES) return -1;
    size_t nl = b[off++];
    if (nl == 0 || nl >= NSCCL_TP_NAME_LEN || off + nl + 2 > NSCCL_TRANSPORT_ADDR_BYTES) return -1;
    const char *n = (const char *)b + off;
    off += nl;
    size_t al = (size_t)b[off] | ((size_t)b[off + 1] << 8);
    off += 2;
    if (al == 0 || off + al > NSCCL_TRANSPORT_ADDR_BYTES) return -1;
    int k = snprintf(names + used, names_len - used, "%s%.*s", used ? ", " : "", (int)nl, n);
    if (k > 0 && (size_t)k < names_len - used) used += (size_t)k;
    if (!found && strlen(name) == nl && !memcmp(n, name, nl)) {
      *addr = b + off;
      *addrlen = al;
      found = 1;
    }
    off += al;
  }
  return found;
}

nscclResult_t nsccl_transport_connect(nsccl_transport_t *t, const void *blobs) {
  if (!t || !blobs) NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_connect: %s is NULL", t ? "blobs" : "transport");
  if (t->connected) NSCCL_FAIL(nscclInvalidUsage, "nsccl_transport_connect: already connected");
  for (int r = 0; r < t->nranks; r++) {
    const unsigned char *b = (const unsigned char *)blobs + (size_t)r * NSCCL_TRANSPORT_ADDR_BYTES;
    nsccl_tp_prov_t *p = &t->provs[t->prov_of_peer[r]];
    const unsigned char *addr = NULL;
    size_t alen = 0;
    char names[128];
    int f = blob_find(b, p->name, &addr, &alen, names, sizeof(names));
    if (f < 0) NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_connect: address blob of rank %d is malformed", r);
    if (f == 0)
      NSCCL_FAIL(nscclInvalidUsage,
                 "nsccl_transport_connect: rank %d has no %s address (it opened: %s); ranks must agree on providers "
                 "(set NSCCL_PROVIDER alike everywhere)",
                 r, p->name, names[0] ? names : "none");
    const unsigned char *fpb = t->fp && !strcmp(p->name, "shm") ? blob_fastpath(b) : NULL;
    if (fpb) NSCCL_CHECK(nsccl_fp_connect(t->fp, r, fpb));
    int n = fi_av_insert(p->av, addr, 1, &t->peer_addr[r], 0, NULL);
    if (n != 1)
      NSCCL_FAIL(nscclSystemError, "nsccl_transport_connect: fi_av_insert of rank %d's %s address failed: %s (%d)", r,
                 p->full_name, n < 0 ? fi_strerror(-n) : "address rejected", n);
    size_t fsz = nsccl_transport_max_msg(t, r);
    if (fsz == SIZE_MAX)
      NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: rank %d -> rank %d via %s (messages not split)", t->rank, r,
                 p->full_name);
    else
      NSCCL_INFO(NSCCL_SUBSYS_NET, "transport: rank %d -> rank %d via %s (fragments of %zu bytes)", t->rank, r,
                 p->full_name, fsz);
  }
  t->connected = 1;
  return nscclSuccess;
}

const char *nsccl_transport_provider_of(const nsccl_transport_t *t, int peer) {
  if (!t || peer < 0 || peer >= t->nranks || !t->prov_of_peer) return "none";
  return t->provs[t->prov_of_peer[peer]].name;
}

nscclResult_t nsccl_transport_set_max_msg(nsccl_transport_t *t, size_t bytes) {
  if (!t) NSCCL_FAIL(nscclInvalidArgument, "nsccl_transport_set_max_msg: transport is NULL");
  t->max_msg_override = bytes;
  return nscclSuccess;
}

size_t nsccl_transport_max_msg(const nsccl_transport_t *t, int peer) {
  if (!t || peer < 0 || peer >= t->nranks || !t->prov_of_peer) return 0;
  size_t m = t->provs[t->prov_of_peer[peer]].max_msg;
  if (t->max_msg_override && t->max_msg_override < m) m = t->max_msg_override;
  return m ? m : 1;
}

int nsccl_transport_tag_bits(const nsccl_transport_t *t) {
  if (!t) return 0;
  for (int i = 0; i < t->nprovs; i++)
    if (!t->provs[i].directed) return 64 - t->rank_bits;
  return 64;
}

void nsccl_transport_stats(const nsccl_transport_t *t, nsccl_transport_stats_t *out) {
  if (!out) return;
  memset(out, 0, sizeof(*out));
  if (!t) return;
  *out = t->stats;
  nsccl_fp_stats_t fs;
  nsccl_fp_stats(t->fp, &fs);
  out->fp_direct_reads = fs.direct_reads;
  out->fp_cma_reads = fs.cma_reads;
  out->fp_reduced = fs.reduced;
  out->fp_map_failures = fs.map_failures;
  out->fp_pulled = fs.pulled;
  for (int i = 0; i < t->nprovs; i++) {
    out->mr_registrations += t->provs[i].mrc.registrations;
    out->mr_hits += t->provs[i].mrc.hits;
    out->mr_evictions += t->provs[i].mrc.evictions;
  }
}

void nsccl_transport_close(nsccl_transport_t *t) {
  if (!t) return;
  int busy = t->posted != NULL;
  for (int i = 0; i < t->nprovs; i++) busy |= t->provs[i].dq_head[0] || t->provs[i].dq_head[1];
  if (busy) nsccl_transport_cancel_all(t, nscclInvalidUsage);
  for (int i = 0; i < t->nprovs; i++) nsccl_tp_prov_close(&t->provs[i]);
  nsccl_fp_close(t->fp);
  nsccl_tp_xfer_release(t);
  free(t->prov_of_peer);
  free(t->peer_addr);
  free(t);
}
