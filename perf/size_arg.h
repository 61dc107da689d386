/* Command-line sizes for the tools: "8", "64K", "1M", "1GB" (K, M, G = 2^10, 2^20, 2^30). */
#ifndef NSCCL_PERF_SIZE_ARG_H
#define NSCCL_PERF_SIZE_ARG_H

#include <stddef.h>

/* Parse s into *out (bytes). Returns 1 on success, 0 if s is not a non-negative size. */
int nsccl_parse_size(const char *s, size_t *out);

#endif
