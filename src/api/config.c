/* Communicator settings from nscclConfig_t and the environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/config.h"
#include "base/check.h"
#include "base/error_detail.h"

nscclResult_t nsccl_env_timeout_ms(const char *name, int def, int *out) {
  const char *v = getenv(name);
  if (!v || !*v) {
    *out = def;
    return nscclSuccess;
  }
  char *end = NULL;
  errno = 0;
  long ms = strtol(v, &end, 10);
  if (errno || *end || ms <= 0 || ms > 0x7fffffffL)
    NSCCL_FAIL(nscclInvalidArgument, "%s='%s' is not a positive number of milliseconds", name, v);
  *out = (int)ms;
  return nscclSuccess;
}

nscclResult_t nsccl_env_bytes(const char *name, size_t *out) {
  const char *v = getenv(name);
  *out = 0;
  if (!v || !*v) return nscclSuccess;
  char *end = NULL;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  int shift = 0;
  if (*end == 'K' || *end == 'k')
    shift = 10, end++;
  else if (*end == 'M' || *end == 'm')
    shift = 20, end++;
  else if (*end == 'G' || *end == 'g')
    shift = 30, end++;
  if (errno || end == v || *end || n == 0 || v[0] == '-' || n > (~0ull >> 1 >> shift))
    NSCCL_FAIL(nscclInvalidArgument, "%s='%s' is not a positive size in bytes (e.g. 262144, 256K, 1M)", name, v);
  *out = (size_t)(n << shift);
  return nscclSuccess;
}

nscclResult_t nsccl_config_resolve(const nscclConfig_t *config, nsccl_comm_config_t *out) {
  memset(out, 0, sizeof(*out));
  if (config) {
    if (config->size != sizeof(nscclConfig_t))
      NSCCL_FAIL(nscclInvalidArgument,
                 "config->size is %zu, expected %zu: start the config from NSCCL_CONFIG_INITIALIZER", config->size,
                 sizeof(nscclConfig_t));
    if (config->magic != NSCCL_CONFIG_MAGIC)
      NSCCL_FAIL(nscclInvalidArgument,
                 "config->magic is 0x%08x, expected 0x%08x: start the config from NSCCL_CONFIG_INITIALIZER",
                 config->magic, NSCCL_CONFIG_MAGIC);
    if (config->version > NSCCL_VERSION_CODE)
      NSCCL_FAIL(nscclInvalidArgument, "config->version %u is newer than this library (%d)", config->version,
                 NSCCL_VERSION_CODE);
    if (config->timeoutMs < 0)
      NSCCL_FAIL(nscclInvalidArgument,
                 "config->timeoutMs is %d: use a positive number of milliseconds, or 0 for "
                 "the environment/default",
                 config->timeoutMs);
  }
  if (config && config->timeoutMs > 0)
    out->timeout_ms = config->timeoutMs;
  else
    NSCCL_CHECK(nsccl_env_timeout_ms("NSCCL_TIMEOUT_MS", NSCCL_DEFAULT_TIMEOUT_MS, &out->timeout_ms));

  const char *algo = config && config->algo ? config->algo : getenv("NSCCL_ALGO");
  const char *algo_from = config && config->algo ? "config->algo" : "NSCCL_ALGO";
  if (algo && strlen(algo) >= sizeof(out->algo_spec))
    NSCCL_FAIL(nscclInvalidArgument, "%s is longer than %zu characters", algo_from, sizeof(out->algo_spec) - 1);
  snprintf(out->algo_spec, sizeof(out->algo_spec), "%s", algo ? algo : "");
  if (nsccl_algo_override_parse(out->algo_spec, &out->ovr) != nscclSuccess) {
    char why[512];
    snprintf(why, sizeof(why), "%s", nsccl_error_detail());
    NSCCL_FAIL(nscclInvalidArgument, "%s: %s", algo_from, why);
  }

  const char *prov = config && config->provider ? config->provider : getenv("NSCCL_PROVIDER");
  if (prov && strlen(prov) >= sizeof(out->provider))
    NSCCL_FAIL(nscclInvalidArgument, "provider name '%.32s...' is too long", prov);
  snprintf(out->provider, sizeof(out->provider), "%s", prov ? prov : "");
  NSCCL_CHECK(nsccl_env_bytes("NSCCL_CHUNK_BYTES", &out->chunk_bytes));
  return nscclSuccess;
}
