/* Every registered variant that builds on a modelled topology, run for real: the communicator builds
 * its schedules for NSCCL_SCHED_TOPO (a torus of this run's rank count) and the fabric engine moves
 * the bytes over this machine's transport (shm or tcp). Each variant is forced through
 * nscclConfig_t.algo; all-gather, reduce-scatter and all-reduce of int32 sums and float max, several
 * sizes (not divisible by the ranks, several chunks), in place and out of place, are compared with
 * what MPI computes on the same inputs. With several ranks per chip the composed chip variants
 * (algo/compose.h) must be among them.
 *
 *   NSCCL_SCHED_TOPO=torus:dims=3x3,... mpirun -n 9 variants_mpi */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/compose.h"
#include "algo/variant.h"
#include "nsccl.h"
#include "topologies/topo.h"

static int rank, nranks, failures;

static int32_t input(int r, size_t i) { return (int32_t)((r * 131 + (int)(i % 977)) % 1000); }

static void check(const char *what, const void *got, const void *want, size_t bytes) {
  if (memcmp(got, want, bytes)) {
    failures++;
    fprintf(stderr, "rank %d: %s differs from MPI\n", rank, what);
  }
}

/* One variant, one collective, one count, one type. */
static void run(nscclComm_t comm, const char *name, int coll, size_t count, int isfloat, int in_place) {
  size_t total = coll == 2 ? count : count * (size_t)nranks; /* AG, RS: count per rank */
  size_t sendn = coll == 0 ? count : total, recvn = coll == 1 ? count : total;
  int32_t *send = malloc(sizeof(int32_t) * (sendn + 1)), *recv = malloc(sizeof(int32_t) * (recvn + total + 1));
  int32_t *want = malloc(sizeof(int32_t) * (recvn + 1));
  for (size_t i = 0; i < sendn; i++) send[i] = input(rank, i);
  if (isfloat)
    for (size_t i = 0; i < sendn; i++) ((float *)send)[i] = (float)input(rank, i) * 0.5f;
  MPI_Datatype mt = isfloat ? MPI_FLOAT : MPI_INT32_T;
  nscclDataType_t dt = isfloat ? nscclFloat32 : nscclInt32;
  nscclRedOp_t op = isfloat ? nscclMax : nscclSum;
  MPI_Op mop = isfloat ? MPI_MAX : MPI_SUM;
  void *sb = send, *rb = recv;
  nscclResult_t rc;
  if (coll == 0) { /* all-gather */
    MPI_Allgather(send, (int)count, mt, want, (int)count, mt, MPI_COMM_WORLD);
    if (in_place) memcpy((int32_t *)recv + (size_t)rank * count, send, count * 4), sb = (int32_t *)recv + rank * count;
    rc = nscclAllGather(sb, rb, count, dt, comm, NULL);
  } else if (coll == 1) { /* reduce-scatter */
    MPI_Reduce_scatter_block(send, want, (int)count, mt, mop, MPI_COMM_WORLD);
    if (in_place) memcpy(recv, send, total * 4), sb = recv, rb = (int32_t *)recv + (size_t)rank * count;
    rc = nscclReduceScatter(sb, rb, count, dt, op, comm, NULL);
  } else {
    MPI_Allreduce(send, want, (int)count, mt, mop, MPI_COMM_WORLD);
    if (in_place) memcpy(recv, send, count * 4), sb = recv;
    rc = nscclAllReduce(sb, rb, count, dt, op, comm, NULL);
  }
  char what[256];
  snprintf(what, sizeof(what), "%s %s count %zu %s %s", name,
           coll == 0   ? "allgather"
           : coll == 1 ? "reducescatter"
                       : "allreduce",
           count, isfloat ? "float max" : "int32 sum", in_place ? "in place" : "out of place");
  if (rc != nscclSuccess) {
    failures++;
    fprintf(stderr, "rank %d: %s: %s\n", rank, what, nscclGetLastError(comm));
  } else {
    check(what, rb, want, recvn * 4);
  }
  free(send);
  free(recv);
  free(want);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  const char *spec = getenv("NSCCL_SCHED_TOPO");
  nsccl_topo_t *t = NULL;
  if (!spec || nsccl_topo_load(spec, &t) != nscclSuccess || t->nranks != nranks) {
    if (rank == 0) fprintf(stderr, "variants_mpi: set NSCCL_SCHED_TOPO to a topology of %d ranks\n", nranks);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  nscclUniqueId id;
  int ran = 0, composed = 0;
  for (int i = 0; i < nsccl_variant_count(); i++) {
    const nsccl_variant_t *v = nsccl_variant_at(i);
    if (!strchr(v->name, '/') || v->id == 0) continue; /* the families' defaults run in coll_mpi */
    for (int coll = 0; coll < 3; coll++) {
      static const nsccl_coll_t map[3] = {NSCCL_COLL_ALLGATHER, NSCCL_COLL_REDUCESCATTER, NSCCL_COLL_ALLREDUCE};
      if (!nsccl_variant_applies(v, t, map[coll], nranks)) continue;
      if (rank == 0) nscclGetUniqueId(&id);
      MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
      nscclConfig_t cfg = NSCCL_CONFIG_INITIALIZER;
      char algo[96];
      snprintf(algo, sizeof(algo), "%s:%s",
               coll == 0   ? "allgather"
               : coll == 1 ? "reducescatter"
                           : "allreduce",
               v->name);
      cfg.algo = algo;
      nscclComm_t comm;
      if (nscclCommInitRankConfig(&comm, nranks, id, rank, &cfg) != nscclSuccess) {
        fprintf(stderr, "rank %d: init for %s failed: %s\n", rank, algo, nscclGetLastError(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      size_t counts[] = {1, 1001, 70001};
      for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
        for (int fl = 0; fl < 2; fl++)
          for (int ip = 0; ip < 2; ip++) run(comm, v->name, coll, counts[c], fl, ip);
      nscclCommDestroy(comm);
      ran++;
      composed += (v->id & NSCCL_VARIANT_CHIPS) != 0;
    }
  }
  /* Several ranks per chip: the composed chip variants must be among those that ran. */
  if (t->ranks_per_chip > 1 && composed == 0) {
    failures++;
    if (rank == 0) fprintf(stderr, "variants_mpi: no composed chip variant applies to %s\n", t->name);
  }
  int all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("variants_mpi: %d (variant, collective) pairs (%d composed) on %s, %d failures\n", ran, composed, t->name,
           all);
  nsccl_topo_free(t);
  MPI_Finalize();
  return all ? 1 : 0;
}
