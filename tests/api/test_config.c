/* Communicator settings from the environment: NSCCL_CHUNK_BYTES parsing and its way into the
 * resolved configuration. Expected values are written out by hand. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api/config.h"

static nscclResult_t bytes_of(const char *value, size_t *out) {
  if (value)
    setenv("NSCCL_TEST_BYTES", value, 1);
  else
    unsetenv("NSCCL_TEST_BYTES");
  *out = 12345;
  return nsccl_env_bytes("NSCCL_TEST_BYTES", out);
}

Test(config, sizes_with_suffixes) {
  static const struct {
    const char *in;
    size_t want;
  } ok[] = {{NULL, 0},        {"", 0},          {"1", 1},        {"262144", 262144},
            {"256K", 262144}, {"256k", 262144}, {"1M", 1048576}, {"2G", (size_t)2 << 30}};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    size_t got;
    cr_assert_eq(bytes_of(ok[i].in, &got), nscclSuccess, "'%s'", ok[i].in ? ok[i].in : "(unset)");
    cr_assert_eq(got, ok[i].want, "'%s': %zu, want %zu", ok[i].in ? ok[i].in : "(unset)", got, ok[i].want);
  }
}

Test(config, bad_sizes_name_the_variable) {
  static const char *bad[] = {"0", "-5", "12Q", "K", "1MB", "99999999999999999999", "17179869184G"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t got;
    cr_assert_eq(bytes_of(bad[i], &got), nscclInvalidArgument, "'%s' accepted", bad[i]);
    cr_assert(strstr(nscclGetLastError(NULL), "NSCCL_TEST_BYTES"), "'%s': %s", bad[i], nscclGetLastError(NULL));
  }
}

Test(config, chunk_bytes_reaches_the_configuration) {
  nsccl_comm_config_t cfg;
  setenv("NSCCL_CHUNK_BYTES", "64K", 1);
  cr_assert_eq(nsccl_config_resolve(NULL, &cfg), nscclSuccess);
  cr_assert_eq(cfg.chunk_bytes, 65536);
  unsetenv("NSCCL_CHUNK_BYTES");
  cr_assert_eq(nsccl_config_resolve(NULL, &cfg), nscclSuccess);
  cr_assert_eq(cfg.chunk_bytes, 0);
  setenv("NSCCL_CHUNK_BYTES", "lots", 1);
  cr_assert_eq(nsccl_config_resolve(NULL, &cfg), nscclInvalidArgument);
  unsetenv("NSCCL_CHUNK_BYTES");
}
