/* MSCCL-IR interchange (docs/msccl.md): algorithms written for MSCCL / MSCCLang as XML come in as
 * schedules, and any nsccl schedule goes out as XML.
 *
 * Import: nsccl_msccl_load reads a file (libxml2) into a plan: per GPU its thread blocks, per thread
 * block its steps in order. The plan is checked (attributes, peers, buffer bounds, every send meets
 * its receive on the same connection) and ordered once: a thread block runs its steps one after
 * another, a step waits for its depid/deps step, and the k-th send on a connection (sender, receiver,
 * channel) meets the k-th receive there. nsccl instead matches messages per ordered pair of ranks in
 * program order, so the importer lays every rank's steps out in one global topological order in
 * which each message is a single node: both ends then see the messages of a pair in the same order.
 * nsccl_msccl_build_rank turns the plan into one rank's program for any count the chunks divide.
 *
 * Export: nsccl_msccl_write writes every rank's program as one XML algorithm. */
#ifndef NSCCL_ALGO_MSCCL_H
#define NSCCL_ALGO_MSCCL_H

#include <stdio.h>

#include "algo/algo.h"

struct nsccl_model;

/* The instructions of MSCCL-IR that nsccl takes (the runtime's names in the comments). */
typedef enum {
  MSCCL_OP_SEND = 0, /* s:    send src to the thread block's send peer */
  MSCCL_OP_RECV,     /* r:    receive from the recv peer into dst */
  MSCCL_OP_RCS,      /* rcs:  receive into dst, then send dst on */
  MSCCL_OP_RRS,      /* rrs:  receive, reduce with src, send the sum on (not stored) */
  MSCCL_OP_RRC,      /* rrc:  dst = src (+) received */
  MSCCL_OP_RRCS,     /* rrcs: dst = src (+) received, then send dst on */
  MSCCL_OP_CPY,      /* cpy:  dst = src */
  MSCCL_OP_RE,       /* re:   dst = src (+) dst */
  MSCCL_OP_NOP,      /* nop:  only waits for its dependency */
  MSCCL_NUM_OPS
} msccl_op_kind_t;

/* One nsccl-level action of an MSCCL step: an MSCCL step becomes zero (nop), one or two parts
 * (fused steps: the receive part, then the send part). */
typedef struct {
  unsigned char kind;   /* nsccl_step_kind_t */
  unsigned char buf[3]; /* src, src2, dst: 'i', 'o', 's' or 't' (a temporary of an rrs), 0 unused */
  int off[3];           /* chunk offsets of src, src2, dst */
  int cnt;              /* chunks */
  int peer;             /* SEND / RECV / RECV_REDUCE */
  int tmp;              /* 't' regions: index of the temporary */
  int line;             /* of the XML step, for messages */
  int tb, s;            /* thread block and step index, for messages */
  int first_of_tb;      /* no earlier step in its thread block (waits for the previous slice's last) */
  int tb_index;         /* index into the rank's thread block list */
  int *deps;            /* parts of the same rank (indices into the rank's ordered list), all earlier */
  int ndeps;
  int level; /* the cost model's step: a part's depth in the graph of dependencies and messages
              * (the longest chain before it); a receive takes its message's send's, so a flow
              * and the reduction it feeds are priced in one step */
} msccl_part_t;

typedef struct {
  msccl_part_t *parts; /* in the global topological order */
  int nparts;
  int ntbs;
  /* per thread block: what its next slice waits for (its last step's done set, msccl_parts.c's
   * resolve): parts tb_end[tb_end_first[t] .. + tb_end_n[t]) */
  int *tb_end_first, *tb_end_n, *tb_end;
  int nscratch; /* s_chunks */
  int ntmp;     /* temporaries of rrs steps */
  int *tmp_cnt; /* chunks of each temporary */
} msccl_rank_plan_t;

typedef struct nsccl_msccl_plan {
  char *path; /* as given */
  char name[128];
  char proto[16];
  nsccl_coll_t coll;
  int ngpus, nchunks, nchannels, inplace;
  msccl_rank_plan_t *ranks; /* [ngpus] */
  int nlevels;
} nsccl_msccl_plan_t;

/* Read and check an MSCCL-IR XML file. Errors name the file and line ("f.xml:12: ..."). */
nscclResult_t nsccl_msccl_parse(const char *path, nsccl_msccl_plan_t **out);
void nsccl_msccl_plan_free(nsccl_msccl_plan_t *plan);

/* Chunk size in bytes for this call, or an error if the count does not split into the plan's
 * nchunksperloop equal chunks (or the rank count is not ngpus). */
nscclResult_t nsccl_msccl_chunk_bytes(const nsccl_msccl_plan_t *plan, const nsccl_program_t *prog, size_t *chunk);
/* Build prog->rank's program from the plan; opts->chunk_bytes bounds a message (MSCCL's slices). */
nscclResult_t nsccl_msccl_build_rank(const nsccl_msccl_plan_t *plan, const nsccl_algo_opts_t *opts,
                                     nsccl_program_t *prog);
/* Tell the cost model the plan's messages and reductions, level by level (msccl_price.c). */
void nsccl_msccl_price(const nsccl_msccl_plan_t *plan, struct nsccl_model *m, nsccl_coll_t coll, double bytes);

/* The registry of loaded files (msccl_variant.c): "msccl:PATH" names a variant of the direct
 * family with an id from NSCCL_MSCCL_ID_BASE on; a path is read once per process and kept. */
#define NSCCL_MSCCL_ID_BASE   0x800
#define NSCCL_MSCCL_MAX_FILES 16
#define NSCCL_MSCCL_PREFIX    "msccl:"
struct nsccl_variant;
/* Load (or find) "msccl:PATH" / "PATH". Errors name the file and line. */
nscclResult_t nsccl_msccl_load(const char *spec, const struct nsccl_variant **out);
/* The loaded variant with this id (NSCCL_ALGO_DIRECT family), or NULL. */
const struct nsccl_variant *nsccl_msccl_variant(int id);
/* Every forced variant (variant[0..n), ids as nsccl_algo_override_t holds them) that is a loaded
 * file written for nranks ranks? Else the error names the file and both counts. */
nscclResult_t nsccl_msccl_check_ranks(const int *variant, int n, int nranks);
/* The plan behind a loaded variant, or NULL. */
const nsccl_msccl_plan_t *nsccl_msccl_plan_of(int id);

/* Export (msccl_export.c): every rank's program (progs[0..nranks)) as one MSCCL-IR algorithm named
 * `name`, written to f. Regions become chunks of the largest unit that divides every offset and
 * size; each rank gets one thread block per send peer, one per receive peer and one for local
 * steps, all on channel 0; dependencies across thread blocks become depid/deps, extra ones nops. */
nscclResult_t nsccl_msccl_write(const nsccl_program_t *progs, int nranks, const char *name, FILE *f);
/* Build every rank's program of a registered variant (family, variant as nsccl_algo_build takes
 * them; topo NULL: flat) for args on nranks ranks, chunk_bytes as nsccl_algo_opts_t (0: default),
 * and write them with nsccl_msccl_write. */
struct nsccl_topo;
nscclResult_t nsccl_msccl_export_variant(nsccl_algo_t family, int variant, const struct nsccl_topo *topo, int nranks,
                                         const nsccl_coll_args_t *args, size_t chunk_bytes, const char *name, FILE *f);

#endif
