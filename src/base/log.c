/* The logger: level and subsystems from NSCCL_DEBUG / NSCCL_DEBUG_SUBSYS, read once. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static nsccl_log_level_t log_level = NSCCL_LOG_NONE;
static unsigned log_subsys = NSCCL_SUBSYS_ALL;
static int log_rank = -1;
static char log_host[64];

static void log_init(void) {
  const char *lvl = getenv("NSCCL_DEBUG");
  if (lvl) {
    if (!strcasecmp(lvl, "WARN"))
      log_level = NSCCL_LOG_WARN;
    else if (!strcasecmp(lvl, "INFO"))
      log_level = NSCCL_LOG_INFO;
    else if (!strcasecmp(lvl, "TRACE"))
      log_level = NSCCL_LOG_TRACE;
    else if (!strcasecmp(lvl, "VERSION") || !strcasecmp(lvl, "NONE") || !*lvl)
      log_level = NSCCL_LOG_NONE;
    else {
      fprintf(stderr, "nsccl: NSCCL_DEBUG=%s not understood (use WARN, INFO or TRACE); using WARN\n", lvl);
      log_level = NSCCL_LOG_WARN;
    }
  }
  const char *sub = getenv("NSCCL_DEBUG_SUBSYS");
  if (sub && *sub) {
    static const struct {
      const char *name;
      unsigned bit;
    } names[] = {{"INIT", NSCCL_SUBSYS_INIT}, {"NET", NSCCL_SUBSYS_NET},     {"COLL", NSCCL_SUBSYS_COLL},
                 {"TOPO", NSCCL_SUBSYS_TOPO}, {"MODEL", NSCCL_SUBSYS_MODEL}, {"ALL", NSCCL_SUBSYS_ALL}};
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", sub);
    log_subsys = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      unsigned bit = 0;
      for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(tok, names[i].name)) bit = names[i].bit;
      if (!bit) fprintf(stderr, "nsccl: NSCCL_DEBUG_SUBSYS: unknown subsystem '%s' ignored\n", tok);
      log_subsys |= bit;
    }
  }
  if (gethostname(log_host, sizeof(log_host)) != 0) snprintf(log_host, sizeof(log_host), "?");
  log_host[sizeof(log_host) - 1] = '\0';
}

int nsccl_log_enabled(nsccl_log_level_t level, unsigned subsys) {
  pthread_once(&log_once, log_init);
  return level <= log_level && (subsys & log_subsys);
}

void nsccl_log_set_rank(int rank) { log_rank = rank; }

void nsccl_log(nsccl_log_level_t level, unsigned subsys, const char *file, int line, const char *fmt, ...) {
  (void)subsys;
  static const char *const tags[] = {"", "WARN", "INFO", "TRACE"};
  const char *base = strrchr(file, '/');
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* One fprintf per line so lines of concurrent ranks do not interleave mid-line. */
  fprintf(stderr, "%s:%d [%d] NSCCL %s %s:%d %s\n", log_host, (int)getpid(), log_rank, tags[level],
          base ? base + 1 : file, line, msg);
}
