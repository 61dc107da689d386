/* Two-process harness for transport tests: fork two ranks, exchange address blobs through pipes
 * (no bootstrap), run a body in each, report each rank's exit status to the parent. */
#ifndef NSCCL_TESTS_TRANSPORT_PAIR_H
#define NSCCL_TESTS_TRANSPORT_PAIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport/transport.h"

typedef struct {
  int rank;
  int to_peer, from_peer; /* pipe ends for small sync messages after the address exchange */
  nsccl_transport_t *t;
  void *arg;
} pair_ctx_t;

/* A body returns 0 on success; anything else is reported (and printed by the body). */
typedef int (*pair_body_t)(pair_ctx_t *c);

typedef struct {
  const char *provider; /* NULL: automatic choice */
  int host[2];          /* host index of ranks 0 and 1 */
  size_t max_msg;       /* fragment size override (0: none) */
  int timeout_s;        /* the parent kills both ranks after this long */
} pair_opts_t;

/* Runs body in two forked ranks. Returns 0 when both exit 0, else a description is printed and
 * the first failing rank's status is returned (negative for a signal or a timeout). */
int pair_run(const pair_opts_t *o, pair_body_t body, void *arg);

/* In a rank: open the transport and connect through the pipes. */
int pair_connect(pair_ctx_t *c, const pair_opts_t *o);

/* Wait until all n xfers are done or timeout_ms passes, polling progress. Returns 0, or the
 * negative nscclResult_t progress reported, or 1 on timeout. */
int wait_xfers(nsccl_transport_t *t, nsccl_xfer_t *x, int n, int timeout_ms);

/* Both ranks send and receive one n-byte message with this tag at once; checks status, byte
 * counts, content (pattern) and that nothing was written past the message. 0, or 1 after printing
 * what went wrong. */
int pair_exchange(pair_ctx_t *c, size_t n, uint64_t tag);

/* Blocking one-byte sync over the pipes. */
int pair_signal(pair_ctx_t *c);
int pair_wait(pair_ctx_t *c);

/* The expected content of message `tag` from `src`: an independent pattern, checkable by value. */
unsigned char pattern_byte(int src, uint64_t tag, size_t i);
void pattern_fill(void *buf, size_t len, int src, uint64_t tag);
/* Returns the index of the first wrong byte, or len when all are right. */
size_t pattern_check(const void *buf, size_t len, int src, uint64_t tag);

double now_seconds(void);

#endif
