/* Bounding the memory a schedule needs, independently of the message size (docs/algorithms.md,
 * "Memory bound").
 *
 * Slots: a builder that parks data in scratch (partial sums, operands of a local reduction) takes
 * fixed-size slots from a small ring of them instead of giving every chunk of the message its own
 * place. Taking a slot returns the step that released its previous content; the refill must depend
 * on it. Builders emit in an order where that release step is always earlier in the program (for
 * example in rounds of NSCCL_ALGO_SLOTS chunks), so the rule "dependencies point backwards" holds.
 *
 * Window: nsccl_algo_window adds the flow-control dependencies to a finished program, so each
 * builder only has to get its slots right. */
#ifndef NSCCL_ALGO_MEMBOUND_H
#define NSCCL_ALGO_MEMBOUND_H

#include "algo/algo.h"

typedef struct {
  nsccl_buf_t buf;          /* where the slots live (scratch) */
  size_t base, slot_bytes;  /* slot i is buf[base + i * slot_bytes, + slot_bytes) */
  uint32_t n, next;         /* slot count; the slot nsccl_slots_take hands out next */
  nsccl_step_id_t *release; /* [n]: the step after which slot i's content is dead */
} nsccl_slots_t;

/* n slots of slot_bytes at scratch offset base; grows the program's scratch to cover them. */
nscclResult_t nsccl_slots_init(nsccl_slots_t *s, nsccl_program_t *p, size_t base, size_t slot_bytes, uint32_t n);
void nsccl_slots_free(nsccl_slots_t *s);
/* The next slot, round robin: its index; *wait is the step its previous content was last used by
 * (NSCCL_NO_STEP the first time), which whatever writes the slot now must depend on. */
uint32_t nsccl_slots_take(nsccl_slots_t *s, nsccl_step_id_t *wait);
/* Region of `bytes` at `offset` inside slot i. */
nsccl_region_t nsccl_slots_region(const nsccl_slots_t *s, uint32_t i, size_t offset, size_t bytes);
/* Record the step that last uses slot i's current content (it must depend, directly or not, on
 * every other step that reads or writes it). */
void nsccl_slots_release(nsccl_slots_t *s, uint32_t i, nsccl_step_id_t step);

/* Does step s need staging (RECV_REDUCE) or scratch (RECV into scratch) while it is posted? */
bool nsccl_algo_windowed(const nsccl_step_t *s);

/* Flow control: the k-th windowed receive of the program (k >= NSCCL_ALGO_WINDOW) gets a dependency
 * on the (k - NSCCL_ALGO_WINDOW)-th, unless it already has it. Programs whose windowed receives
 * total at most NSCCL_ALGO_WINDOW * chunk_bytes are left alone (all of them fit the budget at
 * once; this keeps one-chunk schedules exactly as they were). Idempotent. */
nscclResult_t nsccl_algo_window(nsccl_program_t *p, size_t chunk_bytes);

#endif
