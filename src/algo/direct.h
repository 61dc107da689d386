/* Variants of the direct (all-to-all, one step) family, chosen with nsccl_algo_opts_t.variant. */
#ifndef NSCCL_ALGO_DIRECT_H
#define NSCCL_ALGO_DIRECT_H

#include <stddef.h>

/* All-reduce only; reduce-scatter and all-gather have one direct schedule each. */
#define NSCCL_DIRECT_AUTO    0 /* one-shot up to NSCCL_DIRECT_ONESHOT_MAX_BYTES, else RS + AG */
#define NSCCL_DIRECT_ONESHOT 1 /* every rank sends its whole vector to every other and reduces all n */
#define NSCCL_DIRECT_RSAG    2 /* direct reduce-scatter, then direct all-gather of the reduced blocks */

/* Largest all-reduce (bytes of the vector) that NSCCL_DIRECT_AUTO runs one-shot. */
#define NSCCL_DIRECT_ONESHOT_MAX_BYTES ((size_t)64 << 10)

#endif
