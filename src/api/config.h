/* Communicator settings: nscclConfig_t fields first, the environment for what they leave unset. */
#ifndef NSCCL_API_CONFIG_H
#define NSCCL_API_CONFIG_H

#include "model/select.h"
#include "nsccl.h"

#define NSCCL_DEFAULT_TIMEOUT_MS 60000

typedef struct {
  int timeout_ms;            /* config->timeoutMs, else NSCCL_TIMEOUT_MS, else the default */
  char algo_spec[256];       /* config->algo, else NSCCL_ALGO ("" = let the selector choose) */
  nsccl_algo_override_t ovr; /* algo_spec parsed */
  char provider[64];         /* config->provider, else NSCCL_PROVIDER ("" = per-peer default) */
  size_t chunk_bytes;        /* NSCCL_CHUNK_BYTES: pipelining chunk of the schedules (0 = the default) */
} nsccl_comm_config_t;

/* Check a user config (NULL is allowed: all defaults) and resolve every setting. A config not made
 * from NSCCL_CONFIG_INITIALIZER (size or magic wrong), a negative timeout, or an unparsable
 * algorithm or environment value is nscclInvalidArgument naming the field or variable. */
nscclResult_t nsccl_config_resolve(const nscclConfig_t *config, nsccl_comm_config_t *out);

/* Bytes from environment variable `name` (an integer with an optional K, M or G suffix, powers of
 * 1024), or 0 when unset. Not a positive size: nscclInvalidArgument naming the variable. */
nscclResult_t nsccl_env_bytes(const char *name, size_t *out);

/* Milliseconds from environment variable `name`, or def when unset. Not a positive integer:
 * nscclInvalidArgument naming the variable. */
nscclResult_t nsccl_env_timeout_ms(const char *name, int def, int *out);

#endif
