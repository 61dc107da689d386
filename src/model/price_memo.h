/* An exact memo of model prices (price_memo.c): a price is kept together with the whole input it was
 * computed from, as bytes, and handed back only for an input equal to it byte for byte. A price
 * function that writes down everything it reads (topology numbers, routes, sizes) into its key
 * therefore returns from the memo exactly what it would compute again. The heap-tree walk
 * (cost_rooted.c) uses it: the selector prices the same walk at many vector sizes (every size past
 * the walked chunks extrapolates from the same two walks), and the walk is the model's dearest step.
 * Bounded (entries and bytes, oldest dropped first), thread-safe, process-wide. */
#ifndef NSCCL_MODEL_PRICE_MEMO_H
#define NSCCL_MODEL_PRICE_MEMO_H

#include <stddef.h>

/* Keys longer than this are not kept (the price is computed every time). */
#define NSCCL_PRICE_MEMO_MAX_KEY (1u << 20)

/* 1 and *seconds set if a price for exactly this key is kept; else 0. */
int nsccl_price_memo_get(const void *key, size_t len, double *seconds);
/* Keep seconds for key (a copy of it); silently nothing when it does not fit or memory runs out. */
void nsccl_price_memo_put(const void *key, size_t len, double seconds);
/* 1 (default): get and put work; 0: the memo is emptied and stays empty (tests compare the two).
 * Returns the previous setting. */
int nsccl_price_memo_enable(int on);

/* Prices handed back so far (tests check that the memo is used). */
unsigned long nsccl_price_memo_hits(void);

/* A key under construction, started as {.ok = 1}: bytes appended in order; ok = 0 once memory ran
 * out or it grew past NSCCL_PRICE_MEMO_MAX_KEY (then it is neither looked up nor kept). */
typedef struct {
  unsigned char *buf;
  size_t len, cap;
  int ok;
} nsccl_memo_key_t;

void nsccl_memo_key_add(nsccl_memo_key_t *k, const void *bytes, size_t len);
void nsccl_memo_key_free(nsccl_memo_key_t *k);

#endif
