/* Helpers for the hand-built schedules of the sched tests. */
#ifndef NSCCL_TESTS_SCHED_UTIL_H
#define NSCCL_TESTS_SCHED_UTIL_H

#include <criterion/criterion.h>
#include <string.h>

#include "sched/sched.h"

#define MAXR 64

static nsccl_program_t progs[MAXR];
static int nprogs;
static char err[1024];

static inline void setup_progs(int nranks, nsccl_coll_t coll, size_t count, nscclDataType_t dt, bool in_place) {
  nsccl_coll_args_t args = {.coll = coll, .count = count, .dtype = dt, .in_place = in_place};
  nprogs = nranks;
  for (int r = 0; r < nranks; r++) cr_assert_eq(nsccl_prog_init(&progs[r], r, nranks, &args), nscclSuccess);
  err[0] = '\0';
}

static inline void free_progs(void) {
  for (int r = 0; r < nprogs; r++) nsccl_prog_free(&progs[r]);
  nprogs = 0;
}

static inline nscclResult_t validate(void) { return nsccl_sched_validate(progs, nprogs, err, sizeof(err)); }

/* The schedule must be accepted. */
#define expect_ok()                                                                                                    \
  do {                                                                                                                 \
    nscclResult_t rc_ = validate();                                                                                    \
    cr_assert_eq(rc_, nscclSuccess, "validator rejected a correct schedule: %s", err);                                 \
  } while (0)

/* The schedule must be rejected with a message containing every given fragment. */
#define expect_bad(...)                                                                                                \
  do {                                                                                                                 \
    nscclResult_t rc_ = validate();                                                                                    \
    cr_assert_eq(rc_, nscclInvalidUsage, "validator accepted a broken schedule (rc %d)", (int)rc_);                    \
    const char *frags_[] = {__VA_ARGS__};                                                                              \
    for (size_t i_ = 0; i_ < sizeof(frags_) / sizeof(frags_[0]); i_++)                                                 \
      cr_assert(strstr(err, frags_[i_]) != NULL, "message \"%s\" lacks \"%s\"", err, frags_[i_]);                      \
  } while (0)

static inline nsccl_region_t SND(size_t off, size_t bytes) { return nsccl_region(NSCCL_BUF_SEND, off, bytes); }
static inline nsccl_region_t RCV(size_t off, size_t bytes) { return nsccl_region(NSCCL_BUF_RECV, off, bytes); }
static inline nsccl_region_t SCR(size_t off, size_t bytes) { return nsccl_region(NSCCL_BUF_SCRATCH, off, bytes); }

/* A ring all-gather written by hand (not by src/algo): copy own block, then nranks-1 rounds of
 * "send the block received last round to the right, receive the next one from the left", each
 * block split into `chunks` messages. */
static inline void build_ring_allgather(int nranks, size_t count, int chunks) {
  for (int r = 0; r < nranks; r++) {
    nsccl_program_t *p = &progs[r];
    size_t blk = p->buf_bytes[NSCCL_BUF_SEND];
    int right = (r + 1) % nranks, left = (r + nranks - 1) % nranks;
    (void)count;
    nsccl_step_id_t own = nsccl_prog_copy(p, SND(0, blk), RCV((size_t)r * blk, blk), NSCCL_NODEPS);
    nsccl_step_id_t prev[64];
    for (int c = 0; c < chunks; c++) prev[c] = own;
    for (int k = 0; k < nranks - 1; k++) {
      int sb = (r - k + nranks) % nranks, rb = (r - k - 1 + nranks) % nranks;
      for (int c = 0; c < chunks; c++) {
        size_t lo = blk * (size_t)c / (size_t)chunks, hi = blk * (size_t)(c + 1) / (size_t)chunks;
        nsccl_prog_send(p, right, RCV((size_t)sb * blk + lo, hi - lo), NSCCL_DEP1(prev[c]));
        prev[c] = nsccl_prog_recv(p, left, RCV((size_t)rb * blk + lo, hi - lo), NSCCL_NODEPS);
      }
    }
  }
}

#endif
