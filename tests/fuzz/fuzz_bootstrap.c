/* libFuzzer target: every parser of bytes that reach rank 0 (or a joining rank) from a socket,
 * and the unique id decoder. The first byte picks the parser; the rest is the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/bootstrap.h"
#include "bootstrap/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fnv1a(const uint8_t *p, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t which = data[0] % 5;
  data++, size--;
  char why[200];
  switch (which) {
  case 0: { /* a hello, fed as rank 0 reads it: in growing prefixes until it is judged */
    static const uint8_t secret[16] = {0};
    nsccl_hello_t out;
    for (size_t len = 0; len <= size; len += 1 + len / 4) {
      nsccl_wire_status_t st = nsccl_wire_parse_hello(data, len, secret, &out, why, sizeof(why));
      if (st == NSCCL_WIRE_OK && (out.rank < 0 || out.rank >= out.nranks)) abort();
      if (st != NSCCL_WIRE_MORE) break;
    }
    nsccl_wire_parse_hello(data, size, secret, &out, why, sizeof(why));
    break;
  }
  case 1: { /* a frame header; the wanted size comes from the input too */
    nsccl_frame_t out;
    uint64_t want = 0;
    if (size >= 8) memcpy(&want, data + size - 8, 8);
    for (size_t len = 0; len <= size && len <= sizeof(nsccl_frame_t) + 1; len++) {
      nsccl_wire_status_t st = nsccl_wire_parse_frame(data, len, want, &out, why, sizeof(why));
      if (st == NSCCL_WIRE_OK && out.kind == NSCCL_FRAME_ERROR && out.bytes > 4 + NSCCL_WIRE_ERROR_MAX) abort();
      if (st == NSCCL_WIRE_OK && out.kind == NSCCL_FRAME_DATA && out.bytes != want) abort();
    }
    break;
  }
  case 2: { /* an error report's payload (the frame parser bounds it) */
    char msg[768];
    nscclResult_t code;
    size_t len = size > 4 + NSCCL_WIRE_ERROR_MAX ? 4 + NSCCL_WIRE_ERROR_MAX : size;
    nsccl_wire_parse_error(data, len, &code, msg, sizeof(msg));
    if (code <= nscclSuccess || code >= nscclNumResults || strlen(msg) >= sizeof(msg)) abort();
    break;
  }
  case 3: { /* a host table */
    int nranks = (int)(size / sizeof(nsccl_host_entry_t)), nhosts = -1;
    if (nranks == 0) break;
    nsccl_host_entry_t *t = malloc((size_t)nranks * sizeof(*t));
    if (!t) break;
    memcpy(t, data, (size_t)nranks * sizeof(*t));
    if (nsccl_wire_check_host_table(t, nranks, &nhosts, why, sizeof(why)) == NSCCL_WIRE_OK) {
      if (nhosts < 1 || nhosts > nranks) abort();
      for (int r = 0; r < nranks; r++)
        if (t[r].host < 0 || t[r].host >= nhosts || !memchr(t[r].hostname, 0, NSCCL_HOSTNAME_BYTES)) abort();
    }
    free(t);
    break;
  }
  default: { /* a unique id; half of the inputs get a valid checksum so the later checks run */
    nscclUniqueId id;
    nsccl_id_info_t info;
    memset(&id, 0, sizeof(id));
    memcpy(id.internal, data, size < sizeof(id.internal) ? size : sizeof(id.internal));
    if (size && (data[0] & 1)) {
      uint32_t sum = fnv1a((const uint8_t *)id.internal, 124);
      memcpy(id.internal + 124, &sum, 4);
    }
    if (nsccl_bootstrap_decode_id(&id, &info) == nscclSuccess && info.root.len > sizeof(info.root.u)) abort();
    break;
  }
  }
  return 0;
}
