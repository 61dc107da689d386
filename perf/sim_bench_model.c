/* nsccl-sim-bench --model: how fast the cost model is. For one collective and each size, prices
 * every variant the selector offers on the topology (nsccl_model_predict) and then runs the
 * selector itself (nsccl_select, which prices every family), printing the CPU milliseconds of each.
 * The target is the selector's row: one (collective, size) at 4,096 ranks in 10 ms. With
 * --algo, only that family's variants (or that one variant) are priced, and no selector row. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "algo/variant.h"
#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "perf/sim_bench.h"

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nsccl_sim_bench_model(const nsccl_topo_t *topo, nsccl_coll_t coll, const size_t *sizes, int nsizes, int family,
                          const char *only) {
  int n = topo->nranks;
  printf("# cost model on %s (%d ranks), %s: CPU ms per variant priced, and per selector row\n", topo->name, n,
         nsccl_coll_name(coll));
  printf("%12s %-26s %14s %12s\n", "bytes", "variant", "model_us", "cpu_ms");
  double worst_row = 0;
  for (int i = 0; i < nsizes; i++) {
    for (int k = 0; k < nsccl_variant_count(); k++) {
      const nsccl_variant_t *v = nsccl_variant_at(k);
      if (!nsccl_variant_offered(v, topo, coll, n) || (family >= 0 && (int)v->family != family) ||
          (only && strcmp(only, v->name) != 0))
        continue;
      double s = 0, c0 = cpu_s();
      if (nsccl_model_predict(topo, NULL, coll, v->family, v->id, sizes[i], n, &s) != nscclSuccess) {
        fprintf(stderr, "nsccl-sim-bench: pricing %s: %s\n", v->name, nsccl_last_error());
        return 1;
      }
      printf("%12zu %-26s %14.3f %12.3f\n", sizes[i], v->name, s * 1e6, (cpu_s() - c0) * 1e3);
    }
    if (family >= 0) continue; /* one family or variant: no selector row (it prices every family) */
    nsccl_choice_t ch;
    double c0 = cpu_s();
    if (nsccl_select(topo, NULL, coll, sizes[i], n, &ch) != nscclSuccess) {
      fprintf(stderr, "nsccl-sim-bench: selecting: %s\n", nsccl_last_error());
      return 1;
    }
    double row = (cpu_s() - c0) * 1e3;
    if (row > worst_row) worst_row = row;
    printf("%12zu %-26s %14.3f %12.3f\n", sizes[i], "selector", ch.predicted_s[ch.algo] * 1e6, row);
  }
  if (family < 0) printf("# slowest selector row: %.3f ms CPU\n", worst_row);
  return 0;
}
