/* libFuzzer target: the topology preset parser and the builders behind it. The first byte picks
 * the form: a preset file (the input is written to a temporary file and loaded by path), or a
 * "module:key=value,..." spec string. A parse error is fine; a crash, a leak or a hang is not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "topologies/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  uint8_t which = data[0] & 1;
  data++, size--;
  nsccl_topo_t *t = NULL;
  if (which == 0) {
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/nsccl-fuzz-params-%d.conf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (nsccl_topo_load(path, &t) == nscclSuccess) nsccl_topo_free(t);
  } else {
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    /* Only strings: a '/' would make it a path, and a bare word a preset lookup. */
    if (!strchr(spec, '/') && strchr(spec, ':') && nsccl_topo_load(spec, &t) == nscclSuccess) nsccl_topo_free(t);
    free(spec);
  }
  return 0;
}
