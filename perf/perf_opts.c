/* nsccl-perf command line: options in nccl-tests' spelling where they exist (-b -e -f -n -w -d -o),
 * -c for the collective and therefore -C for the check flag. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "perf/perf.h"
#include "reduce/reduce.h"
#include "size_arg.h"

const nsccl_coll_t perf_coll_order[PERF_NCOLLS] = {NSCCL_COLL_ALLREDUCE, NSCCL_COLL_ALLGATHER,
                                                   NSCCL_COLL_REDUCESCATTER};

const char *perf_coll_name(nsccl_coll_t c) {
  switch (c) {
  case NSCCL_COLL_ALLREDUCE: return "allreduce";
  case NSCCL_COLL_ALLGATHER: return "allgather";
  case NSCCL_COLL_REDUCESCATTER: return "reducescatter";
  default: return "?";
  }
}

void perf_usage(FILE *f) {
  fprintf(f, "usage: mpirun -n N nsccl-perf [-c COLL] [-b MIN] [-e MAX] [-f FACTOR] [-n ITERS] [-w WARMUP]\n"
             "                              [-C 0|1] [-d TYPE] [-o OP] [--algo A] [--vs-mpi] [--csv FILE]\n"
             "       mpirun -n N nsccl-perf --calibrate [--topo-out FILE] [sweep options]\n"
             "\n"
             "Times nsccl collectives the way nccl-tests does (out-of-place and in-place columns, algbw,\n"
             "busbw, #wrong), optionally side by side with the matching MPI collective.\n"
             "\n"
             "  -c, --coll COLL      allreduce | allgather | reducescatter | all (default allreduce)\n"
             "  -b, --minbytes MIN   smallest size (default 8); K, M, G suffixes = 2^10, 2^20, 2^30\n"
             "  -e, --maxbytes MAX   largest size (default 32M)\n"
             "  -f, --stepfactor F   multiply the size by F each row (default 2; > 1 unless MIN == MAX)\n"
             "  -n, --iters N        timed iterations per size (default 20)\n"
             "  -w, --warmup N       untimed iterations before them (default 5)\n"
             "  -C, --check 0|1      1: fill inputs with a pattern and count wrong result elements against\n"
             "                       the exact result (default 1). -C, not -c: -c names the collective.\n"
             "  -d, --datatype T     int8 uint8 int32 uint32 int64 uint64 half bfloat16 float double\n"
             "                       f8e4m3 f8e5m2 (default float)\n"
             "  -o, --op OP          sum | prod | max | min | avg (default sum)\n"
             "      --algo A         ring | tree | direct | auto (default: NSCCL_ALGO, else auto)\n"
             "      --vs-mpi         also time MPI_Allreduce / MPI_Allgather / MPI_Reduce_scatter_block,\n"
             "                       alternating with nsccl iteration by iteration; adds 'mpi(us)' and\n"
             "                       'ratio' (nsccl time / MPI time) columns. MPI has no avg: MPI sums.\n"
             "      --vs-algo SPEC   like --vs-mpi, but the peer is nsccl on a second communicator whose\n"
             "                       algorithm is SPEC (NSCCL_ALGO syntax, e.g. allreduce:ring/topo): an A/B\n"
             "                       of two variants in one run; columns 'peer(us)' and 'ratio', the CSV's\n"
             "                       mpi_time_us holds the peer's time\n"
             "      --csv FILE       also write CSV rows (header collective,bytes,count,type,redop,algo,\n"
             "                       time_us,algbw_GBps,busbw_GBps,wrong,mpi_time_us,ratio,floor_us,\n"
             "                       pct_floor); in-place rows\n"
             "                       name the collective with an '_inplace' suffix\n"
             "      --calibrate      measure alpha, beta, gamma, write a host topology file, and report\n"
             "                       the cost model's median error over the sweep (docs/performance.md)\n"
             "      --topo-out FILE  where --calibrate writes the topology (default out/perf/host.conf)\n"
             "  -T, --time-budget S  per size and placement, cut the timed iterations (to no fewer than 3,\n"
             "                       after 1 warmup) when -w + -n would take longer than S seconds\n"
             "                       (default 1; 0 = always run -w and -n exactly)\n"
             "      --median         report the median iteration instead of the mean (robust on a\n"
             "                       loaded machine; the mean is the nccl-tests convention)\n"
             "      --registered     buffers from nscclMemAlloc, registered with nscclCommRegister: same-host\n"
             "                       peers read them directly (MPI uses the same buffers)\n"
             "      --batch K        each timed iteration is K back-to-back calls, time = elapsed / K\n"
             "                       (default 1: one call after a barrier); as the floor's h is measured\n"
             "  -q, --quiet          no progress line on stderr\n"
             "  -h, --help           this text\n"
             "\n"
             "Sizes are nccl-tests' 'size': the all-reduce vector, the all-gather output, the reduce-scatter\n"
             "input, rounded down to whole elements per rank (at least one). Time is, per iteration, the\n"
             "slowest rank's time after a barrier, averaged over the timed iterations.\n"
             "\n"
             "Example: mpirun -n 4 nsccl-perf -c all -b 8 -e 1M -f 4 --vs-mpi --csv perf.csv\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) return 0;
  *out = (int)v;
  return 1;
}

int perf_parse_type(const char *s) {
  static const struct {
    const char *name;
    nscclDataType_t t;
  } alias[] = {{"int8", nscclInt8},          {"char", nscclInt8},         {"uint8", nscclUint8},
               {"int32", nscclInt32},        {"int", nscclInt32},         {"uint32", nscclUint32},
               {"int64", nscclInt64},        {"uint64", nscclUint64},     {"half", nscclFloat16},
               {"float16", nscclFloat16},    {"fp16", nscclFloat16},      {"bfloat16", nscclBfloat16},
               {"bf16", nscclBfloat16},      {"float", nscclFloat32},     {"float32", nscclFloat32},
               {"double", nscclFloat64},     {"float64", nscclFloat64},   {"f8e4m3", nscclFloat8e4m3},
               {"fp8e4m3", nscclFloat8e4m3}, {"f8e5m2", nscclFloat8e5m2}, {"fp8e5m2", nscclFloat8e5m2}};
  for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
    if (!strcasecmp(s, alias[i].name)) return alias[i].t;
  for (int t = 0; t < nscclNumTypes; t++)
    if (!strcasecmp(s, nsccl_type_name((nscclDataType_t)t))) return t;
  return -1;
}

int perf_parse_op(const char *s) {
  static const char *names[] = {"sum", "prod", "max", "min", "avg"};
  for (int i = 0; i < 5; i++)
    if (!strcasecmp(s, names[i])) return i;
  return -1;
}

#define BAD(...)                                                                                                       \
  do {                                                                                                                 \
    if (print) {                                                                                                       \
      fprintf(stderr, "nsccl-perf: " __VA_ARGS__);                                                                     \
      fprintf(stderr, " (see nsccl-perf --help)\n");                                                                   \
    }                                                                                                                  \
    return -1;                                                                                                         \
  } while (0)

int perf_parse_opts(int argc, char **argv, perf_opts_t *o, int print) {
  memset(o, 0, sizeof(*o));
  o->coll_mask = 1 << NSCCL_COLL_ALLREDUCE;
  o->min_bytes = 8;
  o->max_bytes = 32u << 20;
  o->factor = 2;
  o->iters = 20;
  o->warmup = 5;
  o->check = 1;
  o->dtype = nscclFloat32;
  o->op = nscclSum;
  o->topo_out = "out/perf/host.conf";
  o->time_budget = 1.0;
  o->batch = 1;
  enum {
    OPT_ALGO = 256,
    OPT_VS_MPI,
    OPT_CSV,
    OPT_CALIBRATE,
    OPT_TOPO_OUT,
    OPT_MEDIAN,
    OPT_REGISTERED,
    OPT_BATCH,
    OPT_VS_ALGO
  };
  static const struct option longopts[] = {{"coll", required_argument, NULL, 'c'},
                                           {"minbytes", required_argument, NULL, 'b'},
                                           {"maxbytes", required_argument, NULL, 'e'},
                                           {"stepfactor", required_argument, NULL, 'f'},
                                           {"iters", required_argument, NULL, 'n'},
                                           {"warmup", required_argument, NULL, 'w'},
                                           {"check", required_argument, NULL, 'C'},
                                           {"datatype", required_argument, NULL, 'd'},
                                           {"op", required_argument, NULL, 'o'},
                                           {"algo", required_argument, NULL, OPT_ALGO},
                                           {"vs-mpi", no_argument, NULL, OPT_VS_MPI},
                                           {"vs-algo", required_argument, NULL, OPT_VS_ALGO},
                                           {"csv", required_argument, NULL, OPT_CSV},
                                           {"calibrate", no_argument, NULL, OPT_CALIBRATE},
                                           {"topo-out", required_argument, NULL, OPT_TOPO_OUT},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"time-budget", required_argument, NULL, 'T'},
                                           {"median", no_argument, NULL, OPT_MEDIAN},
                                           {"registered", no_argument, NULL, OPT_REGISTERED},
                                           {"batch", required_argument, NULL, OPT_BATCH},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":c:b:e:f:n:w:C:d:o:T:qh", longopts, NULL)) != -1) {
    switch (c) {
    case 'c':
      if (!strcasecmp(optarg, "all"))
        o->coll_mask = 7;
      else if (!strcasecmp(optarg, "allreduce") || !strcasecmp(optarg, "all_reduce"))
        o->coll_mask = 1 << NSCCL_COLL_ALLREDUCE;
      else if (!strcasecmp(optarg, "allgather") || !strcasecmp(optarg, "all_gather"))
        o->coll_mask = 1 << NSCCL_COLL_ALLGATHER;
      else if (!strcasecmp(optarg, "reducescatter") || !strcasecmp(optarg, "reduce_scatter"))
        o->coll_mask = 1 << NSCCL_COLL_REDUCESCATTER;
      else if (!strcmp(optarg, "0") || !strcmp(optarg, "1"))
        BAD("-c takes the collective (allreduce|allgather|reducescatter|all), got '%s'; the check flag is -C %s",
            optarg, optarg);
      else
        BAD("-c: unknown collective '%s' (allreduce, allgather, reducescatter, all)", optarg);
      break;
    case 'b':
      if (!nsccl_parse_size(optarg, &o->min_bytes)) BAD("-b: '%s' is not a size (e.g. 8, 64K, 1M)", optarg);
      break;
    case 'e':
      if (!nsccl_parse_size(optarg, &o->max_bytes)) BAD("-e: '%s' is not a size (e.g. 8, 64K, 1M)", optarg);
      break;
    case 'f': {
      char *end;
      errno = 0;
      o->factor = strtod(optarg, &end);
      if (end == optarg || *end || errno || !(o->factor >= 1.0) || o->factor > 1e6)
        BAD("-f: '%s' is not a factor >= 1", optarg);
      break;
    }
    case 'n':
      if (!parse_int(optarg, 1, 10000000, &o->iters)) BAD("-n: '%s' is not an iteration count >= 1", optarg);
      break;
    case 'w':
      if (!parse_int(optarg, 0, 10000000, &o->warmup)) BAD("-w: '%s' is not a warmup count >= 0", optarg);
      break;
    case 'C':
      if (!parse_int(optarg, 0, 1, &o->check)) BAD("-C: '%s' must be 0 or 1", optarg);
      break;
    case 'd': {
      int t = perf_parse_type(optarg);
      if (t < 0) BAD("-d: unknown datatype '%s'", optarg);
      o->dtype = (nscclDataType_t)t;
      break;
    }
    case 'o': {
      int op = perf_parse_op(optarg);
      if (op < 0) BAD("-o: unknown op '%s' (sum, prod, max, min, avg)", optarg);
      o->op = (nscclRedOp_t)op;
      break;
    }
    case OPT_ALGO:
      if (strcmp(optarg, "ring") && strcmp(optarg, "tree") && strcmp(optarg, "direct") && strcmp(optarg, "auto"))
        BAD("--algo: unknown algorithm '%s' (ring, tree, direct, auto)", optarg);
      o->algo = optarg;
      break;
    case OPT_VS_MPI: o->vs_mpi = 1; break;
    case OPT_VS_ALGO:
      if (!*optarg) BAD("--vs-algo: empty algorithm (e.g. ring, allreduce:ring/hier)");
      o->vs_algo = optarg;
      break;
    case OPT_CSV: o->csv = optarg; break;
    case OPT_CALIBRATE: o->calibrate = 1; break;
    case OPT_TOPO_OUT: o->topo_out = optarg; break;
    case 'q': o->quiet = 1; break;
    case OPT_MEDIAN: o->median = 1; break;
    case OPT_REGISTERED: o->registered = 1; break;
    case OPT_BATCH:
      if (!parse_int(optarg, 1, 1000000, &o->batch)) BAD("--batch: '%s' is not a count from 1 to 1000000", optarg);
      break;
    case 'T': {
      char *end;
      errno = 0;
      o->time_budget = strtod(optarg, &end);
      if (end == optarg || *end || errno || !(o->time_budget >= 0))
        BAD("-T: '%s' is not a number of seconds >= 0", optarg);
      break;
    }
    case 'h':
      if (print) perf_usage(stdout);
      return 1;
    case ':': BAD("option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt)
        BAD("unknown option '-%c'", optopt);
      else
        BAD("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) BAD("unexpected argument '%s'", argv[optind]);
  if (o->max_bytes < o->min_bytes) BAD("-e %zu is smaller than -b %zu", o->max_bytes, o->min_bytes);
  if (o->factor <= 1.0 && o->max_bytes > o->min_bytes) BAD("-f must be > 1 when -e > -b");
  if (o->vs_mpi && o->vs_algo) BAD("--vs-mpi and --vs-algo: one peer at a time");
  if (o->vs_algo && o->calibrate) BAD("--vs-algo does not combine with --calibrate");
  if (o->vs_mpi && perf_mpi_type(o->dtype) == MPI_DATATYPE_NULL)
    BAD("--vs-mpi: MPI has no datatype for %s; use an integer type, float or double", nsccl_type_name(o->dtype));
  return 0;
}
