/* The bootstrap's wire format and its parsers.
 *
 * Everything rank 0 reads from a socket before it knows who is on the other end goes through these
 * pure functions (bytes in, parsed struct or a reason out): no I/O, no allocation, no global state,
 * so they can be fuzzed (tests/fuzz) and a stranger's bytes can never crash or stall the job.
 *
 * Messages:
 *   hello  (joining rank -> rank 0, once): nsccl_hello_t, fixed size. Its second word declares that
 *          size, so a hello of another size (oversized, another library version) is refused after 8
 *          bytes, before anything else is read.
 *   frame  (both ways, after init): nsccl_frame_t header + payload of `bytes`. kind DATA carries an
 *          out-of-band exchange, kind ERROR an int32 result code and a NUL-terminated text.
 *   host table (rank 0 -> every rank, once): nranks x nsccl_host_entry_t inside a DATA frame. */
#ifndef NSCCL_BOOTSTRAP_WIRE_H
#define NSCCL_BOOTSTRAP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "bootstrap/bootstrap.h"

#define NSCCL_HELLO_MAGIC  0x4f4c4548u /* "HELO" */
#define NSCCL_FRAME_MAGIC  0x4d415246u /* "FRAM" */
#define NSCCL_WIRE_VERSION 2u
#define NSCCL_FRAME_DATA   1u
#define NSCCL_FRAME_ERROR  2u
/* Longest error text rank 0 forwards; a longer ERROR frame is malformed. */
#define NSCCL_WIRE_ERROR_MAX 1024u

typedef struct {
  uint32_t magic;   /* NSCCL_HELLO_MAGIC */
  uint32_t bytes;   /* sizeof(nsccl_hello_t) */
  uint32_t version; /* NSCCL_WIRE_VERSION */
  uint8_t secret[16];
  int32_t rank, nranks, pid;
  char hostid[NSCCL_HOSTID_BYTES];     /* NUL-terminated */
  char hostname[NSCCL_HOSTNAME_BYTES]; /* NUL-terminated */
} nsccl_hello_t;

typedef struct {
  uint32_t magic, kind;
  uint64_t bytes;
} nsccl_frame_t;

typedef struct {
  int32_t host, pid;
  char hostname[NSCCL_HOSTNAME_BYTES];
} nsccl_host_entry_t;

typedef enum {
  NSCCL_WIRE_OK = 0,   /* a complete, well-formed message */
  NSCCL_WIRE_MORE = 1, /* well-formed so far: read more bytes */
  NSCCL_WIRE_BAD = 2,  /* malformed: why holds the reason */
} nsccl_wire_status_t;

/* A hello of which the first len bytes arrived. Checks, as soon as the bytes are there: magic,
 * declared size, version; once complete: the secret (constant time), 0 <= rank < nranks, and that
 * both strings are NUL-terminated. len beyond sizeof(nsccl_hello_t) is BAD (trailing bytes). On OK
 * *out holds the hello. */
nsccl_wire_status_t nsccl_wire_parse_hello(const void *buf, size_t len, const uint8_t secret[16], nsccl_hello_t *out,
                                           char *why, size_t why_len);

/* A frame header of which len bytes arrived. DATA frames must carry exactly want_bytes; ERROR
 * frames 5 .. 4 + NSCCL_WIRE_ERROR_MAX bytes. */
nsccl_wire_status_t nsccl_wire_parse_frame(const void *buf, size_t len, uint64_t want_bytes, nsccl_frame_t *out,
                                           char *why, size_t why_len);

/* The payload of an ERROR frame: a result code (anything outside the error range becomes
 * nscclRemoteError) and the text (cut at msg_len - 1, always NUL-terminated in msg). */
void nsccl_wire_parse_error(const void *buf, size_t len, nscclResult_t *code, char *msg, size_t msg_len);

/* The host table for nranks ranks: host indices numbered in order of each host's lowest rank
 * (rank 0 on host 0, every index at most one above the largest before it). Terminates the host
 * names in place; *nhosts receives the number of hosts. */
nsccl_wire_status_t nsccl_wire_check_host_table(nsccl_host_entry_t *table, int nranks, int *nhosts, char *why,
                                                size_t why_len);

/* A hello for this rank (the encoder tests and fuzz seeds share with the library). */
void nsccl_wire_make_hello(nsccl_hello_t *h, const uint8_t secret[16], int rank, int nranks, int pid,
                           const char *hostid, const char *hostname);

#endif
