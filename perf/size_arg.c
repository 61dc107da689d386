/* One parser for size arguments, shared by nsccl-perf, nsccl-model and nsccl-claims. */
#include "size_arg.h"

#include <errno.h>
#include <stdlib.h>

int nsccl_parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-') return 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0) return 0;
  double mul = 1;
  if (*end) {
    switch (*end) {
    case 'k':
    case 'K': mul = 1024.0; break;
    case 'm':
    case 'M': mul = 1024.0 * 1024; break;
    case 'g':
    case 'G': mul = 1024.0 * 1024 * 1024; break;
    default: return 0;
    }
    end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return 0;
  }
  v *= mul;
  if (v > 1e15) return 0; /* beyond any buffer; also keeps the cast defined */
  *out = (size_t)v;
  return 1;
}
