/* Shared by the claims tool tests: run a shell command and capture its output. */
#ifndef NSCCL_TESTS_CLAIMS_RUN_CMD_H
#define NSCCL_TESTS_CLAIMS_RUN_CMD_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Run `cmd` through the shell; returns its exit status (-1 if it did not exit) and its stdout in a
 * malloc'd string *out (redirect 2>&1 in cmd to capture stderr too). */
static inline int run(const char *cmd, char **out) {
  FILE *p = popen(cmd, "r");
  cr_assert(p, "popen %s", cmd);
  size_t cap = 1 << 16, len = 0, k;
  char *buf = malloc(cap);
  cr_assert(buf);
  while ((k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += k;
    if (cap - len < 4096) {
      buf = realloc(buf, cap *= 2);
      cr_assert(buf);
    }
  }
  buf[len] = '\0';
  int st = pclose(p);
  *out = buf;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
