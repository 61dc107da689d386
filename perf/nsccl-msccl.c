/* nsccl-msccl: MSCCL-IR XML in and out (docs/msccl.md).
 *
 *   nsccl-msccl export --algo FAMILY[/VARIANT] --coll C (--nranks N | --topo T) [--count N] ... [-o FILE]
 *   nsccl-msccl check FILE [--count N] [--in-place] [--chunk BYTES]
 *
 * export writes any registered schedule as MSCCL-IR; check reads a file as nsccl would run it,
 * builds every rank's program, runs the validator and the local engine against a serial
 * reference, and prints one JSON line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/msccl.h"
#include "algo/variant.h"
#include "base/check.h"
#include "engine/local.h"
#include "reduce/reduce.h"
#include "size_arg.h"
#include "tool_args.h"
#include "topologies/topo.h"

static void usage(FILE *f) {
  fprintf(f, "usage: nsccl-msccl export --algo A --coll C (--nranks N | --topo T) [--count N] [--dtype T]\n"
             "                          [--in-place] [--chunk BYTES] [--name NAME] [-o FILE]\n"
             "       nsccl-msccl check FILE [--count N] [--in-place] [--chunk BYTES]\n"
             "\n"
             "MSCCL-IR XML interchange (docs/msccl.md).\n"
             "\n"
             "export   write the schedule of a registered variant as MSCCL-IR XML (stdout or -o FILE)\n"
             "  --algo A      ring | tree | direct | FAMILY/VARIANT (nsccl-model --list) | msccl:FILE\n"
             "  --coll C      allgather | reducescatter | allreduce (required)\n"
             "  --nranks N    ranks of a flat host, or --topo T: a preset, INI file or spec\n"
             "                (as nsccl-model --topo takes it; its rank count is used)\n"
             "  --count N     elements (NCCL's count for the collective; default: nranks, one chunk per rank)\n"
             "  --dtype T     datatype (default float32); the XML counts chunks, not elements\n"
             "  --in-place    export the in-place program (inplace=\"1\")\n"
             "  --chunk B     the builders' pipelining chunk in bytes (default 1M); K, M, G suffixes\n"
             "  --name NAME   the algo's name attribute (default the variant's name)\n"
             "check    read FILE as NSCCL_ALGO=msccl:FILE would, build every rank's program for --count\n"
             "         (default: nchunksperloop elements of the larger buffer), run the schedule validator\n"
             "         and the local engine on float32 data, compare with a serial reference (sum), and\n"
             "         print one JSON line: file, collective, ngpus, nchunksperloop, count, in_place,\n"
             "         steps, status (ok, invalid, build-failed, validator-rejected, engine-failed,\n"
             "         wrong-result), error. Exit 0 if ok.\n"
             "  -h, --help    this text\n"
             "\n"
             "Examples: nsccl-msccl export --algo ring --coll allreduce --nranks 4 -o ring4.xml\n"
             "          nsccl-msccl check ring4.xml\n");
}

typedef struct {
  const char *cmd, *file, *algo, *topo, *name, *out;
  int coll, nranks, in_place;
  size_t count, chunk;
  nscclDataType_t dtype;
} opts_t;

static int parse_coll(const char *v) {
  for (int c = 0; c < NSCCL_NUM_COLLS; c++)
    if (!strcmp(v, nsccl_coll_name((nsccl_coll_t)c))) return c;
  return -1;
}

static int parse_dtype(const char *v) {
  if (!strcmp(v, "float")) return nscclFloat32;
  for (int t = 0; t < nscclNumTypes; t++)
    if (!strcmp(v, nsccl_type_name((nscclDataType_t)t))) return t;
  return -1;
}

static int parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){NULL, NULL, NULL, NULL, NULL, NULL, -1, 0, 0, 0, 0, nscclFloat32};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(a, "--in-place")) {
      o->in_place = 1;
      continue;
    }
    if (a[0] != '-') {
      if (!o->cmd)
        o->cmd = a;
      else if (!o->file)
        o->file = a;
      else {
        fprintf(stderr, "nsccl-msccl: unexpected argument %s (see --help)\n", a);
        return 0;
      }
      continue;
    }
    const char *valued = "--algo --topo --name -o --coll --dtype --nranks --count --chunk";
    if (!nsccl_tool_value("nsccl-msccl", a, v, valued)) return 0;
    i++;
    if (!strcmp(a, "--algo")) {
      o->algo = v;
    } else if (!strcmp(a, "--topo")) {
      o->topo = v;
    } else if (!strcmp(a, "--name")) {
      o->name = v;
    } else if (!strcmp(a, "-o")) {
      o->out = v;
    } else if (!strcmp(a, "--coll")) {
      if ((o->coll = parse_coll(v)) < 0) {
        fprintf(stderr, "nsccl-msccl: --coll %s: use allgather, reducescatter or allreduce\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--dtype")) {
      int t = parse_dtype(v);
      if (t < 0) {
        fprintf(stderr, "nsccl-msccl: --dtype %s: unknown datatype (float32, int32, bfloat16, ...)\n", v);
        return 0;
      }
      o->dtype = (nscclDataType_t)t;
    } else if (!strcmp(a, "--nranks")) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end || n < 1 || n > 65536) {
        fprintf(stderr, "nsccl-msccl: --nranks %s: a rank count 1..65536\n", v);
        return 0;
      }
      o->nranks = (int)n;
    } else if (!strcmp(a, "--count") || !strcmp(a, "--chunk")) {
      size_t *dst = !strcmp(a, "--count") ? &o->count : &o->chunk;
      if (!nsccl_parse_size(v, dst) || *dst == 0) {
        fprintf(stderr, "nsccl-msccl: %s %s: a positive number (K, M, G suffixes)\n", a, v);
        return 0;
      }
    } else {
      fprintf(stderr, "nsccl-msccl: unknown option %s (see --help)\n", a);
      return 0;
    }
  }
  if (!o->cmd || (strcmp(o->cmd, "export") && strcmp(o->cmd, "check"))) {
    fprintf(stderr, "nsccl-msccl: give a command, export or check (see --help)\n");
    return 0;
  }
  return 1;
}

static int do_export(const opts_t *o) {
  if (!o->algo || o->coll < 0 || (!o->topo && !o->nranks)) {
    fprintf(stderr, "nsccl-msccl export: --algo, --coll and --nranks or --topo are required (see --help)\n");
    return 2;
  }
  nsccl_topo_t *t = NULL;
  if (o->topo && nsccl_topo_load(o->topo, &t) != nscclSuccess) {
    fprintf(stderr, "nsccl-msccl: %s\n", nsccl_last_error());
    return 1;
  }
  int n = t ? t->nranks : o->nranks;
  const nsccl_variant_t *v = strchr(o->algo, '/') || strchr(o->algo, ':') ? nsccl_variant_by_name(o->algo) : NULL;
  int family = v ? (int)v->family : nsccl_algo_from_name(o->algo), variant = v ? v->id : 0;
  int rc = 1;
  if (family < 0) {
    if (!strncmp(o->algo, NSCCL_MSCCL_PREFIX, strlen(NSCCL_MSCCL_PREFIX)))
      fprintf(stderr, "nsccl-msccl: --algo %s: %s\n", o->algo, nsccl_last_error());
    else
      fprintf(stderr, "nsccl-msccl: --algo %s: unknown algorithm (see nsccl-model --list)\n", o->algo);
    goto out;
  }
  nsccl_coll_args_t args = {.coll = (nsccl_coll_t)o->coll,
                            .count = o->count ? o->count : (size_t)n,
                            .dtype = o->dtype,
                            .in_place = o->in_place};
  FILE *f = o->out ? fopen(o->out, "w") : stdout;
  if (!f) {
    fprintf(stderr, "nsccl-msccl: cannot write %s: %s\n", o->out, strerror(errno));
    goto out;
  }
  nscclResult_t r =
      nsccl_msccl_export_variant((nsccl_algo_t)family, variant, t, n, &args, o->chunk, o->name ? o->name : o->algo, f);
  if (o->out) fclose(f);
  if (r != nscclSuccess) {
    fprintf(stderr, "nsccl-msccl: %s\n", nsccl_last_error());
    goto out;
  }
  rc = 0;
out:
  nsccl_topo_free(t);
  return rc;
}

/* Input element i of rank r, and the reference of the collective from them (sum). */
static double input(int r, size_t i) { return (double)((r * 7 + (int)(i % 13)) % 17); }

static int check_results(const nsccl_msccl_plan_t *plan, int n, size_t count, void **recv, size_t *bad_at) {
  for (int r = 0; r < n; r++) {
    const float *out = recv[r];
    size_t m = plan->coll == NSCCL_COLL_ALLGATHER ? count * (size_t)n : count;
    for (size_t i = 0; i < m; i++) {
      double want = 0;
      if (plan->coll == NSCCL_COLL_ALLGATHER)
        want = input((int)(i / count), i % count);
      else
        for (int q = 0; q < n; q++)
          want += input(q, plan->coll == NSCCL_COLL_REDUCESCATTER ? (size_t)r * count + i : i);
      if ((double)out[i] != want) {
        *bad_at = i;
        return r;
      }
    }
  }
  return -1;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", (unsigned char)*s);
    else
      putchar(*s);
  }
  putchar('"');
}

static int do_check(const opts_t *o) {
  if (!o->file) {
    fprintf(stderr, "nsccl-msccl check: give the XML file (see --help)\n");
    return 2;
  }
  const nsccl_variant_t *v;
  if (nsccl_msccl_load(o->file, &v) != nscclSuccess) {
    fprintf(stderr, "nsccl-msccl: %s\n", nsccl_last_error());
    printf("{\"file\":");
    json_str(o->file);
    printf(",\"status\":\"invalid\",\"error\":");
    json_str(nsccl_last_error());
    printf("}\n");
    return 1;
  }
  const nsccl_msccl_plan_t *plan = nsccl_msccl_plan_of(v->id);
  int n = plan->ngpus;
  size_t count = o->count;
  if (!count) count = plan->coll == NSCCL_COLL_ALLREDUCE ? (size_t)plan->nchunks : (size_t)plan->nchunks / n;
  nsccl_coll_args_t args = {.coll = plan->coll, .count = count, .dtype = nscclFloat32, .in_place = o->in_place};
  nsccl_program_t *progs = calloc((size_t)n, sizeof(*progs));
  void **send = calloc((size_t)n, sizeof(void *)), **recv = calloc((size_t)n, sizeof(void *));
  nsccl_algo_opts_t aopts = {o->chunk, v->id};
  const char *status = "ok";
  char err[1024] = "";
  int rc = 0, built = 0;
  size_t steps = 0;
  if (!progs || !send || !recv) {
    fprintf(stderr, "nsccl-msccl: out of memory\n");
    return 1;
  }
  for (; built < n; built++) {
    if (nsccl_prog_init(&progs[built], built, n, &args) != nscclSuccess ||
        nsccl_algo_build(v->family, NULL, &aopts, &progs[built]) != nscclSuccess) {
      snprintf(err, sizeof(err), "%s", nsccl_last_error());
      status = "build-failed";
      built++;
      break;
    }
    steps += progs[built].nsteps;
  }
  if (!*err && nsccl_sched_validate(progs, n, err, sizeof(err)) != nscclSuccess) status = "validator-rejected";
  if (!*err) {
    size_t S = nsccl_coll_send_bytes(&args, n), R = nsccl_coll_recv_bytes(&args, n);
    for (int r = 0; r < n; r++) {
      recv[r] = calloc(1, R + S);
      send[r] = o->in_place ? (char *)recv[r] + (plan->coll == NSCCL_COLL_ALLGATHER ? (size_t)r * S : 0)
                            : calloc(1, S ? S : 1);
      float *in = send[r];
      for (size_t i = 0; i < S / sizeof(float); i++) in[i] = (float)input(r, i);
    }
    if (o->in_place && plan->coll == NSCCL_COLL_REDUCESCATTER) {
      fprintf(stderr, "nsccl-msccl: check --in-place is not offered for reduce-scatter\n");
      status = "unsupported";
    } else if (nsccl_local_run(progs, n, (const void *const *)send, recv, nscclSum, err, sizeof(err)) != nscclSuccess) {
      status = "engine-failed";
    } else {
      size_t at = 0;
      int bad = check_results(plan, n, count, recv, &at);
      if (bad >= 0) {
        snprintf(err, sizeof(err), "rank %d: element %zu differs from the serial reference", bad, at);
        status = "wrong-result";
      }
    }
    for (int r = 0; r < n; r++) {
      if (!o->in_place) free(send[r]);
      free(recv[r]);
    }
  }
  if (strcmp(status, "ok")) {
    fprintf(stderr, "nsccl-msccl: %s: %s\n", o->file, err);
    rc = 1;
  }
  printf("{\"file\":");
  json_str(o->file);
  printf(",\"collective\":\"%s\",\"ngpus\":%d,\"nchunksperloop\":%d,\"count\":%zu,\"in_place\":%s,\"steps\":%zu,"
         "\"status\":\"%s\"",
         nsccl_coll_name(plan->coll), n, plan->nchunks, count, o->in_place ? "true" : "false", steps, status);
  if (*err) {
    printf(",\"error\":");
    json_str(err);
  }
  printf("}\n");
  for (int r = 0; r < built; r++) nsccl_prog_free(&progs[r]);
  free(progs);
  free(send);
  free(recv);
  return rc;
}

int main(int argc, char **argv) {
  opts_t o;
  if (!parse_args(argc, argv, &o)) return 2;
  return !strcmp(o.cmd, "export") ? do_export(&o) : do_check(&o);
}
