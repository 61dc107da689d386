/* Option checks shared by the tools (tool_args.h). */
#include "tool_args.h"

#include <stdio.h>
#include <string.h>

int nsccl_tool_value(const char *tool, const char *a, const char *v, const char *valued) {
  size_t n = strlen(a);
  int known = 0;
  for (const char *p = valued; n && !known && (p = strstr(p, a)) != NULL; p += n)
    known = (p == valued || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0);
  if (!known) {
    fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", tool, a, tool);
    return 0;
  }
  if (!v) {
    fprintf(stderr, "%s: %s needs a value (see %s --help)\n", tool, a, tool);
    return 0;
  }
  return 1;
}
