/* The message walk of an all-gather plan for the cost model (gather_walk.c): the price functions of
 * the mapped tree (tree_mapped_price.c) and of the exchange plans (xchg_price.c) tell it, step by
 * step, the runs of blocks each rank sends; it times every chunk of every run from when the bytes it
 * carries arrived (the builders' byte-range dependencies issue a chunk then), through the model's
 * pair queues (model/price.h, nsccl_model_walk_send). docs/model.md, "All-gather phases". */
#ifndef NSCCL_ALGO_GATHER_WALK_H
#define NSCCL_ALGO_GATHER_WALK_H

struct nsccl_model;

/* Which earlier step brought block q to rank r before step s: returns the sender and sets *step, or
 * -1 when r held q from the start (its own block). */
typedef int (*nsccl_gwalk_source_fn)(const void *ctx, int r, int s, int q, int *step);

typedef struct nsccl_gwalk nsccl_gwalk_t;

/* A walk of L steps over blocks of B bytes (the builder's chunk: m->chunk). NULL (and m->rc set)
 * when out of memory. */
nsccl_gwalk_t *nsccl_gwalk_new(struct nsccl_model *m, int L, double B, nsccl_gwalk_source_fn source, const void *ctx);
/* Rank r's step s: runs [runs[i][0], runs[i][1]) of blocks, in the order the builder lays them out
 * (each run one message, cut into chunks), sent to `to`. Walk the steps in order (ranks in any
 * order within a step), each after its flows were told (nsccl_model_flow: the step's link loads
 * set each message's share of its links). */
void nsccl_gwalk_send(nsccl_gwalk_t *w, int s, int r, int to, const int (*runs)[2], int nruns);
void nsccl_gwalk_free(nsccl_gwalk_t *w);

#endif
