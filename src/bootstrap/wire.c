/* Parsers of the bootstrap's wire format (see wire.h). Pure: they read only the bytes they are
 * given and never trust a length or index from the wire before checking it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bootstrap/wire.h"

static nsccl_wire_status_t bad(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static nsccl_wire_status_t bad(char *why, size_t why_len, const char *fmt, ...) {
  if (why && why_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
  }
  return NSCCL_WIRE_BAD;
}

static uint32_t read_u32(const void *buf, size_t offset) {
  uint32_t v;
  memcpy(&v, (const char *)buf + offset, sizeof(v));
  return v;
}

/* Compare secrets in constant time: a stranger learns nothing from how fast it is dropped. */
static int secrets_equal(const uint8_t *a, const uint8_t *b) {
  uint8_t diff = 0;
  for (int i = 0; i < 16; i++) diff |= (uint8_t)(a[i] ^ b[i]);
  return diff == 0;
}

nsccl_wire_status_t nsccl_wire_parse_hello(const void *buf, size_t len, const uint8_t secret[16], nsccl_hello_t *out,
                                           char *why, size_t why_len) {
  if (len >= 4 && read_u32(buf, offsetof(nsccl_hello_t, magic)) != NSCCL_HELLO_MAGIC)
    return bad(why, why_len, "not an nsccl bootstrap hello (magic 0x%08x)", read_u32(buf, 0));
  if (len >= 8) {
    uint32_t bytes = read_u32(buf, offsetof(nsccl_hello_t, bytes));
    if (bytes != sizeof(nsccl_hello_t))
      return bad(why, why_len, "hello declares %u bytes, expected %zu", bytes, sizeof(nsccl_hello_t));
  }
  if (len >= 12) {
    uint32_t version = read_u32(buf, offsetof(nsccl_hello_t, version));
    if (version != NSCCL_WIRE_VERSION)
      return bad(why, why_len, "hello of wire version %u, this library speaks version %u", version, NSCCL_WIRE_VERSION);
  }
  if (len < sizeof(nsccl_hello_t)) return NSCCL_WIRE_MORE;
  if (len > sizeof(nsccl_hello_t))
    return bad(why, why_len, "%zu bytes where a hello has %zu", len, sizeof(nsccl_hello_t));
  nsccl_hello_t h;
  memcpy(&h, buf, sizeof(h));
  if (!secrets_equal(h.secret, secret)) return bad(why, why_len, "wrong secret (not this job's unique id)");
  if (h.nranks < 1 || h.rank < 0 || h.rank >= h.nranks)
    return bad(why, why_len, "rank %d of nranks %d is out of range", (int)h.rank, (int)h.nranks);
  if (!memchr(h.hostid, '\0', sizeof(h.hostid)) || !memchr(h.hostname, '\0', sizeof(h.hostname)))
    return bad(why, why_len, "host identity is not NUL-terminated");
  *out = h;
  return NSCCL_WIRE_OK;
}

nsccl_wire_status_t nsccl_wire_parse_frame(const void *buf, size_t len, uint64_t want_bytes, nsccl_frame_t *out,
                                           char *why, size_t why_len) {
  if (len >= 4 && read_u32(buf, offsetof(nsccl_frame_t, magic)) != NSCCL_FRAME_MAGIC)
    return bad(why, why_len, "garbled frame (magic 0x%08x)", read_u32(buf, 0));
  if (len >= 8) {
    uint32_t kind = read_u32(buf, offsetof(nsccl_frame_t, kind));
    if (kind != NSCCL_FRAME_DATA && kind != NSCCL_FRAME_ERROR)
      return bad(why, why_len, "frame of unknown kind %u", kind);
  }
  if (len < sizeof(nsccl_frame_t)) return NSCCL_WIRE_MORE;
  if (len > sizeof(nsccl_frame_t))
    return bad(why, why_len, "%zu bytes where a frame header has %zu", len, sizeof(nsccl_frame_t));
  nsccl_frame_t f;
  memcpy(&f, buf, sizeof(f));
  if (f.kind == NSCCL_FRAME_DATA && f.bytes != want_bytes)
    return bad(why, why_len, "message of %llu bytes, expected %llu", (unsigned long long)f.bytes,
               (unsigned long long)want_bytes);
  if (f.kind == NSCCL_FRAME_ERROR && (f.bytes <= sizeof(int32_t) || f.bytes > sizeof(int32_t) + NSCCL_WIRE_ERROR_MAX))
    return bad(why, why_len, "error report of %llu bytes (at most %u)", (unsigned long long)f.bytes,
               (unsigned)(sizeof(int32_t) + NSCCL_WIRE_ERROR_MAX));
  *out = f;
  return NSCCL_WIRE_OK;
}

void nsccl_wire_parse_error(const void *buf, size_t len, nscclResult_t *code, char *msg, size_t msg_len) {
  int32_t c = nscclRemoteError;
  if (len >= sizeof(c)) memcpy(&c, buf, sizeof(c));
  if (c <= nscclSuccess || c >= nscclNumResults) c = nscclRemoteError;
  *code = (nscclResult_t)c;
  if (!msg || !msg_len) return;
  size_t text = len > sizeof(c) ? len - sizeof(c) : 0;
  if (text > msg_len - 1) text = msg_len - 1;
  if (text) memcpy(msg, (const char *)buf + sizeof(c), text);
  msg[text] = '\0';
  /* The text may hold a NUL early (fine) or control bytes (shown as '?', they would garble a log). */
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20 && *p != '\n') *p = '?';
}

nsccl_wire_status_t nsccl_wire_check_host_table(nsccl_host_entry_t *table, int nranks, int *nhosts, char *why,
                                                size_t why_len) {
  int n = 0;
  for (int r = 0; r < nranks; r++) {
    if (table[r].host < 0 || table[r].host > n)
      return bad(why, why_len, "host table: rank %d on host %d, expected 0..%d", r, (int)table[r].host, n);
    if (table[r].host == n) n++;
    table[r].hostname[NSCCL_HOSTNAME_BYTES - 1] = '\0';
  }
  *nhosts = n;
  return NSCCL_WIRE_OK;
}

void nsccl_wire_make_hello(nsccl_hello_t *h, const uint8_t secret[16], int rank, int nranks, int pid,
                           const char *hostid, const char *hostname) {
  memset(h, 0, sizeof(*h));
  h->magic = NSCCL_HELLO_MAGIC;
  h->bytes = sizeof(*h);
  h->version = NSCCL_WIRE_VERSION;
  memcpy(h->secret, secret, sizeof(h->secret));
  h->rank = rank;
  h->nranks = nranks;
  h->pid = pid;
  snprintf(h->hostid, sizeof(h->hostid), "%s", hostid ? hostid : "");
  snprintf(h->hostname, sizeof(h->hostname), "%s", hostname ? hostname : "");
}
