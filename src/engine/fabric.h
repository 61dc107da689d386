/* The fabric engine: runs one rank's program (sched/sched.h) on real buffers, moving bytes through
 * the transport. It knows nothing of the algorithm that made the program.
 *
 * Tags. Messages of one ordered pair of ranks match in program order, so the k-th message a rank
 * sends to a peer in collective number `seq` of the communicator carries
 *     tag = (seq mod 2^S) << 32 | k
 * with S = min(24, nsccl_transport_tag_bits() - 33): the bits above stay 0 (the top usable one marks
 * point-to-point messages, NSCCL_FABRIC_P2P_TAG), the rest free for the
 * transport (which may carry the sender's rank there when a provider lacks directed receive)
 * and the peer's k-th receive from that rank posts the same tag. Sequence numbers keep messages of
 * consecutive collectives apart; k counts every message step of the pair, including empty ones
 * (those complete locally without touching the transport, on both sides alike).
 *
 * Memory. The scratch buffer and the staging buffers (RECV_REDUCE receives into staging, then
 * reduces into the destination) belong to the engine and are reused from one collective to the
 * next; staging buffers come from power-of-two size classes, and what is cached beyond
 * NSCCL_FABRIC_STAGING_CACHE bytes is released after each collective. */
#ifndef NSCCL_ENGINE_FABRIC_H
#define NSCCL_ENGINE_FABRIC_H

#include <stdint.h>

#include "sched/sched.h"
#include "transport/transport.h"

#define NSCCL_FABRIC_SEQ_BITS              24
#define NSCCL_FABRIC_TAG(seq, k, seq_mask) ((((uint64_t)(seq) & (seq_mask)) << 32) | (uint64_t)(uint32_t)(k))
#define NSCCL_FABRIC_STAGING_CACHE         ((size_t)64 << 20)
/* Point-to-point messages (nscclSend/nscclRecv, src/core/p2p.c) carry the top usable tag bit, which
 * collectives never set (their sequence field stops below it), and the number of earlier messages
 * of the same direction between the pair in the low 32 bits. tag_bits: nsccl_transport_tag_bits. */
#define NSCCL_FABRIC_P2P_TAG(tag_bits, k) (((uint64_t)1 << ((tag_bits)-1)) | (uint64_t)(uint32_t)(k))

typedef struct nsccl_fabric nsccl_fabric_t;
/* What the engine derives from one program (checked regions, successors, message numbers), made
 * once by nsccl_fabric_prepare for programs that run many times (the communicator's program cache)
 * and freed with nsccl_fabric_plan_free before the program changes or goes. */
typedef struct nsccl_fabric_plan nsccl_fabric_plan_t;

/* tp may be NULL for a single-rank communicator (programs without messages). timeout_ms: a
 * collective that makes no progress for this long is cancelled. */
nscclResult_t nsccl_fabric_create(nsccl_transport_t *tp, int timeout_ms, nsccl_fabric_t **out);
/* More ranks on this host than cores it may use: wait by sleeping sooner (oversubscribed 1), or,
 * for ranks that share their machine's cores at most two to one with ranks of other hosts
 * (network namespaces of one machine), by yielding without ever sleeping (2; see fabric_run.c). */
void nsccl_fabric_set_oversubscribed(nsccl_fabric_t *f, int oversubscribed);
/* Call after the transport is closed: posted operations may point into engine memory. */
void nsccl_fabric_destroy(nsccl_fabric_t *f);

/* Run prog with sendbuff/recvbuff as the send and recv buffers (aliased as the in-place rules say,
 * exactly as the caller passed them). op is the reduction (nscclAvg: sum, then one division of
 * the output by nranks). seq: the communicator's collective sequence number.
 * Errors: nscclTimeout (no progress for timeout_ms) or nscclRemoteError (a transfer failed), with
 * a message naming the collective, seq and the peers whose messages never completed; everything
 * still posted is cancelled first. */
nscclResult_t nsccl_fabric_run(nsccl_fabric_t *f, const nsccl_program_t *prog, const void *sendbuff, void *recvbuff,
                               nscclRedOp_t op, uint64_t seq);
/* The same in two parts: prepare once (the plan points to prog, which must stay unchanged while the
 * plan lives), run as often as needed. nsccl_fabric_run is prepare + run + free. */
nscclResult_t nsccl_fabric_prepare(const nsccl_fabric_t *f, const nsccl_program_t *prog, nsccl_fabric_plan_t **out);
nscclResult_t nsccl_fabric_run_plan(nsccl_fabric_t *f, const nsccl_fabric_plan_t *plan, const void *sendbuff,
                                    void *recvbuff, nscclRedOp_t op, uint64_t seq);
void nsccl_fabric_plan_free(nsccl_fabric_plan_t *plan);

#endif
