/* The one logger. NSCCL_DEBUG=WARN|INFO|TRACE sets the level (default: WARN is printed only for
 * errors the caller may not see); NSCCL_DEBUG_SUBSYS=INIT,NET,COLL,ALL picks subsystems. Lines carry
 * host:pid, rank when known, file:line. */
#ifndef NSCCL_BASE_LOG_H
#define NSCCL_BASE_LOG_H

typedef enum { NSCCL_LOG_NONE = 0, NSCCL_LOG_WARN = 1, NSCCL_LOG_INFO = 2, NSCCL_LOG_TRACE = 3 } nsccl_log_level_t;

typedef enum {
  NSCCL_SUBSYS_INIT = 1u << 0,
  NSCCL_SUBSYS_NET = 1u << 1,
  NSCCL_SUBSYS_COLL = 1u << 2,
  NSCCL_SUBSYS_TOPO = 1u << 3,
  NSCCL_SUBSYS_MODEL = 1u << 4,
  NSCCL_SUBSYS_ALL = ~0u
} nsccl_subsys_t;

int nsccl_log_enabled(nsccl_log_level_t level, unsigned subsys);
/* The rank printed in front of log lines of this process (-1 = unknown). */
void nsccl_log_set_rank(int rank);
void nsccl_log(nsccl_log_level_t level, unsigned subsys, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define NSCCL_WARN(subsys, ...)                                                                                        \
  do {                                                                                                                 \
    if (nsccl_log_enabled(NSCCL_LOG_WARN, (subsys)))                                                                   \
      nsccl_log(NSCCL_LOG_WARN, (subsys), __FILE__, __LINE__, __VA_ARGS__);                                            \
  } while (0)
#define NSCCL_INFO(subsys, ...)                                                                                        \
  do {                                                                                                                 \
    if (nsccl_log_enabled(NSCCL_LOG_INFO, (subsys)))                                                                   \
      nsccl_log(NSCCL_LOG_INFO, (subsys), __FILE__, __LINE__, __VA_ARGS__);                                            \
  } while (0)
#define NSCCL_TRACE(subsys, ...)                                                                                       \
  do {                                                                                                                 \
    if (nsccl_log_enabled(NSCCL_LOG_TRACE, (subsys)))                                                                  \
      nsccl_log(NSCCL_LOG_TRACE, (subsys), __FILE__, __LINE__, __VA_ARGS__);                                           \
  } while (0)

#endif
