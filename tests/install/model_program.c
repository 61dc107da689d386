/* A user's program of the modelling API, built by tests/install/install_test.sh against the
 * installed nsccl_model.h and nsccl.pc only: load a preset file, check its rank count against the
 * number the caller knows, and price one all-reduce. Usage: model_program PRESET.conf RANKS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <nsccl_model.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: model_program PRESET.conf RANKS\n");
    return 2;
  }
  nscclTopo_t *topo = NULL;
  if (nscclModelTopoLoad(argv[1], &topo) != nscclSuccess) {
    fprintf(stderr, "model_program: %s: %s\n", argv[1], nscclGetLastError(NULL));
    return 1;
  }
  int want = atoi(argv[2]), got = nscclModelTopoRanks(topo);
  double seconds = 0;
  const char *variant = NULL;
  nscclResult_t rc = nscclModelPredict(topo, 0, nscclModelAllReduce, nscclModelRing, 1 << 20, &seconds, &variant);
  printf("%s: %d ranks, 1 MiB all-reduce (ring) predicted %.3g s with %s\n", nscclModelTopoName(topo), got, seconds,
         variant ? variant : "?");
  nscclModelTopoFree(topo);
  if (got != want) {
    fprintf(stderr, "model_program: %d ranks, want %d\n", got, want);
    return 1;
  }
  if (rc != nscclSuccess || !(seconds > 0) || !isfinite(seconds)) {
    fprintf(stderr, "model_program: prediction failed (%d, %g s)\n", (int)rc, seconds);
    return 1;
  }
  return 0;
}
