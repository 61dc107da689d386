/* nsccl-sim-bench: how fast the simulator is. Builds one collective's schedules with the library's
 * own builders on a topology preset and simulates a sweep of sizes, printing per size the simulated
 * time and the simulator's work, then events per second over the sweep.
 *
 *   nsccl-sim-bench [--topo trn3-u144] [--coll allgather] [--algo direct|FAMILY/VARIANT] [--sizes 30]
 *                   [--min 8] [--max 1073741824] [--packet BYTES|whole] [--max-packets N|unlimited]
 *                   [--budget N|unlimited] [--chunk BYTES] [--quiet] [--model]
 *
 * --model times the cost model instead (sim_bench_model.c): every offered variant and the selector's
 * row for each size, in CPU milliseconds.
 *
 * Sizes follow nccl-tests: the whole array (all-gather output), geometrically spaced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo/algo.h"
#include "algo/variant.h"
#include "base/check.h"
#include "engine/sim.h"
#include "perf/sim_bench.h"
#include "perf/size_arg.h"
#include "perf/tool_args.h"
#include "topologies/topo.h"

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU seconds of this process: on a shared machine, wall time also counts other people's work. */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int usage(FILE *f, int code) {
  fprintf(f, "usage: nsccl-sim-bench [--topo NAME] [--coll allgather|reducescatter|allreduce]\n"
             "                       [--algo ring|tree|direct|FAMILY/VARIANT] [--sizes N] [--min BYTES] [--max BYTES]\n"
             "                       [--packet BYTES|whole] [--max-packets N|unlimited] [--budget N|unlimited]\n"
             "                       [--chunk BYTES] [--quiet] [--model]\n"
             "\n"
             "How fast the simulator is (docs/simulator.md): builds one collective's schedules on a topology\n"
             "and simulates a sweep of sizes, printing per size the simulated time and the simulator's work,\n"
             "then events per second over the sweep. A benchmark, not a test.\n"
             "\n"
             "  --topo NAME       preset, INI file or spec (default trn3-u144)\n"
             "  --coll C          collective (default allgather)\n"
             "  --algo A          family or FAMILY/VARIANT (default direct)\n"
             "  --sizes N         sizes from --min to --max, geometrically spaced (default 30, 8 .. 1G)\n"
             "  --min B, --max B  sizes in bytes; K, M, G suffixes = 2^10, 2^20, 2^30\n"
             "  --packet B|whole  simulator packet size (default 64 KiB)\n"
             "  --max-packets N   at most N packets per message (default 16), or unlimited\n"
             "  --budget N        packets per run before packets grow, or unlimited\n"
             "  --chunk BYTES     the builders' pipelining chunk (default the library's)\n"
             "  --quiet           only the summary lines\n"
             "  --model           time the cost model (every offered variant, then the selector) instead;\n"
             "                    with --algo only that family or variant, and no selector row\n"
             "  -h, --help        this text\n"
             "\n"
             "Example: nsccl-sim-bench --topo trn2-u64 --coll allreduce --algo ring --sizes 10\n");
  return code;
}

static int coll_from_name(const char *s) {
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    if (strcmp(s, nsccl_coll_name((nsccl_coll_t)c)) == 0) return c;
  return -1;
}

int main(int argc, char **argv) {
  const char *topo_name = "trn3-u144";
  int coll = NSCCL_COLL_ALLGATHER, algo = NSCCL_ALGO_DIRECT, nsizes = 30, quiet = 0, model = 0;
  const char *variant_name = NULL;
  int algo_given = 0;
  double min_bytes = 8, max_bytes = 1073741824.0;
  nsccl_sim_opts_t opts;
  memset(&opts, 0, sizeof(opts));
  nsccl_algo_opts_t aopts;
  memset(&aopts, 0, sizeof(aopts));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "--model") == 0) {
      *(a[2] == 'q' ? &quiet : &model) = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return usage(stdout, 0);
    const char *valued = "--topo --coll --algo --sizes --min --max --budget --chunk --packet --max-packets";
    if (!nsccl_tool_value("nsccl-sim-bench", a, v, valued)) return 2;
    i++;
    if (strcmp(a, "--algo") == 0) algo_given = 1;
    if (strcmp(a, "--topo") == 0)
      topo_name = v;
    else if (strcmp(a, "--coll") == 0)
      coll = coll_from_name(v);
    else if (strcmp(a, "--algo") == 0 && strchr(v, '/')) { /* FAMILY/VARIANT, as NSCCL_ALGO takes it */
      const nsccl_variant_t *var = nsccl_variant_by_name(v);
      algo = var ? (int)var->family : -1;
      aopts.variant = var ? var->id : 0;
      variant_name = v;
    } else if (strcmp(a, "--algo") == 0)
      algo = nsccl_algo_from_name(v);
    else if (strcmp(a, "--sizes") == 0)
      nsizes = atoi(v);
    else if (strcmp(a, "--min") == 0 || strcmp(a, "--max") == 0 || strcmp(a, "--chunk") == 0 ||
             (strcmp(a, "--packet") == 0 && strcmp(v, "whole") != 0)) {
      /* sizes with K, M, G suffixes, as every tool takes them */
      size_t b;
      if (!nsccl_parse_size(v, &b)) {
        fprintf(stderr, "nsccl-sim-bench: %s %s: not a size (bytes, optionally with K, M or G)\n", a, v);
        return 2;
      }
      if (a[2] == 'm') *(a[3] == 'i' ? &min_bytes : &max_bytes) = (double)b;
      if (a[2] == 'c') aopts.chunk_bytes = b;
      if (a[2] == 'p') opts.packet_bytes = b;
    } else if (strcmp(a, "--packet") == 0)
      opts.packet_bytes = NSCCL_SIM_WHOLE_MESSAGE;
    else if (strcmp(a, "--budget") == 0)
      opts.packet_budget = strcmp(v, "unlimited") == 0 ? NSCCL_SIM_UNLIMITED_BUDGET : (uint64_t)atof(v);
    else if (strcmp(a, "--max-packets") == 0)
      opts.max_packets = strcmp(v, "unlimited") == 0 ? NSCCL_SIM_UNLIMITED_PACKETS : (uint32_t)atol(v);
  }
  if (coll < 0 || algo < 0 || nsizes < 1 || min_bytes < 1 || max_bytes < min_bytes) {
    fprintf(stderr, "nsccl-sim-bench: %s (see nsccl-sim-bench --help)\n",
            coll < 0     ? "--coll: use allgather, reducescatter or allreduce"
            : algo < 0   ? "--algo: use ring, tree, direct or FAMILY/VARIANT (nsccl-model --list)"
            : nsizes < 1 ? "--sizes: at least 1"
                         : "sizes: need 1 <= --min <= --max");
    return 2;
  }

  nsccl_topo_t *topo = NULL;
  if (nsccl_topo_load(topo_name, &topo) != nscclSuccess) {
    fprintf(stderr, "nsccl-sim-bench: %s\n", nsccl_last_error());
    return 1;
  }
  int n = topo->nranks;
  if (model) {
    size_t sizes[4096];
    if (nsizes > 4096) nsizes = 4096;
    for (int i = 0; i < nsizes; i++)
      sizes[i] =
          (size_t)llround(nsizes == 1 ? min_bytes : min_bytes * pow(max_bytes / min_bytes, (double)i / (nsizes - 1)));
    int mrc = nsccl_sim_bench_model(topo, (nsccl_coll_t)coll, sizes, nsizes, algo_given ? algo : -1, variant_name);
    nsccl_topo_free(topo);
    return mrc;
  }
  nsccl_program_t *progs = calloc((size_t)n, sizeof(nsccl_program_t));
  if (!progs) return 1;
  printf("# %s %s on %s (%d ranks), %d sizes, packets %s, at most %s per message\n",
         variant_name ? variant_name : nsccl_algo_name(algo), nsccl_coll_name(coll), topo->name, n, nsizes,
         opts.packet_bytes == NSCCL_SIM_WHOLE_MESSAGE ? "whole messages"
         : opts.packet_bytes                          ? "custom"
                                                      : "64 KiB",
         opts.max_packets == NSCCL_SIM_UNLIMITED_PACKETS ? "unlimited"
         : opts.max_packets                              ? "custom"
                                                         : "16");
  if (!quiet)
    printf("%12s %14s %10s %10s %10s %10s %12s\n", "bytes", "sim_us", "messages", "packets", "events", "wall_ms",
           "events/s");

  double build_wall = 0, sim_wall = 0, sim_cpu = 0;
  uint64_t events = 0;
  int rc = 0;
  for (int i = 0; i < nsizes && rc == 0; i++) {
    double target = nsizes == 1 ? min_bytes : min_bytes * pow(max_bytes / min_bytes, (double)i / (nsizes - 1));
    /* count per rank (NCCL's meaning for each collective) in bytes of uint8 */
    size_t bytes = (size_t)llround(target);
    nsccl_coll_args_t args = {(nsccl_coll_t)coll, bytes, nscclUint8, false};
    if (coll != NSCCL_COLL_ALLREDUCE) args.count = bytes / (size_t)n ? bytes / (size_t)n : 1;
    double t0 = now_s();
    for (int r = 0; r < n && rc == 0; r++) {
      if (nsccl_prog_init(&progs[r], r, n, &args) != nscclSuccess ||
          nsccl_algo_build((nsccl_algo_t)algo, topo, &aopts, &progs[r]) != nscclSuccess) {
        fprintf(stderr, "nsccl-sim-bench: building rank %d: %s\n", r, nsccl_last_error());
        rc = 1;
      }
    }
    double t1 = now_s();
    build_wall += t1 - t0;
    nsccl_sim_result_t res;
    memset(&res, 0, sizeof(res));
    double c0 = cpu_s();
    if (rc == 0 && nsccl_sim_run(topo, progs, n, &opts, &res) != nscclSuccess) {
      fprintf(stderr, "nsccl-sim-bench: simulating %zu bytes: %s\n", bytes, nsccl_last_error());
      rc = 1;
    }
    sim_cpu += cpu_s() - c0;
    sim_wall += res.wall_s;
    events += res.events;
    if (rc == 0 && !quiet)
      printf("%12zu %14.3f %10llu %10llu %10llu %10.2f %12.3g\n",
             coll == NSCCL_COLL_REDUCESCATTER ? nsccl_coll_send_bytes(&args, n) : nsccl_coll_recv_bytes(&args, n),
             res.time_s * 1e6, (unsigned long long)res.messages, (unsigned long long)res.packets,
             (unsigned long long)res.events, res.wall_s * 1e3, res.wall_s > 0 ? res.events / res.wall_s : 0.0);
    for (int r = 0; r < n; r++) nsccl_prog_free(&progs[r]);
  }
  if (rc == 0)
    printf("# simulated %llu events in %.3f s wall, %.3f s CPU (%.3g events per CPU second); building schedules "
           "took %.3f s wall; total %.3f s wall\n",
           (unsigned long long)events, sim_wall, sim_cpu, sim_cpu > 0 ? events / sim_cpu : 0.0, build_wall,
           sim_wall + build_wall);
  free(progs);
  nsccl_topo_free(topo);
  return rc;
}
