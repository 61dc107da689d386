/* Option checks the tools share, so that a mistyped option is named as unknown rather than as
 * an option that lacks its value. */
#ifndef NSCCL_PERF_TOOL_ARGS_H
#define NSCCL_PERF_TOOL_ARGS_H

/* Before an option's value is read: a is the option, v the next argument (NULL at the end),
 * valued the tool's options that take a value, separated by spaces. Returns 1 if a is one of them and
 * has a value; otherwise prints "TOOL: unknown option A (see TOOL --help)" or "TOOL: A needs a
 * value (see TOOL --help)" on stderr and returns 0. */
int nsccl_tool_value(const char *tool, const char *a, const char *v, const char *valued);

#endif
