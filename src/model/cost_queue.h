/* The DMA queues of a pipelined phase (cost_queue.c): a pair's messages stream one after another
 * through its one DMA queue, so the phase lasts at least as long as its busiest pair queue streams.
 * The step accumulator notes each flow's queue time (nsccl_model_queue_note), scales a closed step's
 * notes by its repeat (nsccl_model_queue_step_end) and at the phase's end takes the busiest pair's
 * sum (nsccl_model_queue_phase_end), which also frees the message walk's pair queues. */
#ifndef NSCCL_MODEL_COST_QUEUE_H
#define NSCCL_MODEL_COST_QUEUE_H

#include "model/cost_internal.h"
#include "model/price.h"

/* Seconds the engines of one DMA queue stream `bytes` sent as messages of per_msg bytes. */
static inline double nsccl_model_queue_seconds(const nsccl_model_t *m, double bytes, double per_msg) {
  return bytes / (nsccl_model_message_engines(m->t, per_msg) * m->t->dma_engine_bandwidth);
}

/* The current step's flow from src to dst takes its queue `seconds` (once per repeat). */
void nsccl_model_queue_note(nsccl_model_t *m, int src, int dst, double seconds);
/* The current step closes and happens `repeat` times: its notes count repeat times. */
void nsccl_model_queue_step_end(nsccl_model_t *m, double repeat);
/* The phase ends: the seconds of its busiest pair queue over its closed steps. */
double nsccl_model_queue_phase_end(nsccl_model_t *m);

#endif
