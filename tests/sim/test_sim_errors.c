/* The simulator refuses schedules that cannot finish and bad arguments with a message, never a hang
 * or a crash. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/check.h"
#include "sim_hand.h"

static nsccl_sim_result_t res;

static void two(nsccl_program_t *progs, size_t m) {
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, m, nscclUint8, false};
  nsccl_prog_init(&progs[0], 0, 2, &args);
  nsccl_prog_init(&progs[1], 1, 2, &args);
}

Test(sim_errors, unmatched_send) {
  hand_topo_t *h = hand_pair(1e9, 1e-6, 1e-6);
  nsccl_program_t progs[2];
  two(progs, 8);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidUsage);
  cr_assert(strstr(nsccl_last_error(), "never receives"), "message: %s", nsccl_last_error());
  hand_progs_free(progs, 2);
  hand_free(h);
}

Test(sim_errors, unmatched_receive) {
  hand_topo_t *h = hand_pair(1e9, 1e-6, 1e-6);
  nsccl_program_t progs[2];
  two(progs, 8);
  nsccl_prog_recv(&progs[0], 1, nsccl_region(NSCCL_BUF_RECV, 0, 8), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidUsage);
  cr_assert(strstr(nsccl_last_error(), "rank 0 step 0 (RECV) receives message 1 from rank 1, which sends only 0"),
            "message: %s", nsccl_last_error());
  hand_progs_free(progs, 2);
  hand_free(h);
}

Test(sim_errors, size_mismatch) {
  hand_topo_t *h = hand_pair(1e9, 1e-6, 1e-6);
  nsccl_program_t progs[2];
  two(progs, 8);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, nsccl_region(NSCCL_BUF_RECV, 0, 4), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidUsage);
  cr_assert(strstr(nsccl_last_error(), "rank 1 step 0 receives 4 bytes from rank 0, which sends 8"), "message: %s",
            nsccl_last_error());
  hand_progs_free(progs, 2);
  hand_free(h);
}

/* Sends to several peers in mixed order: the k-th send from a to b meets the k-th receive at b from
 * a whatever the other peers' messages in between (sizes differ, so a wrong pairing is refused). */
Test(sim_errors, interleaved_peers_match_in_pair_order) {
  hand_topo_t *h = hand_star(3, 1e9, 1e-6, 1e-6);
  nsccl_program_t progs[3];
  nsccl_coll_args_t args = {NSCCL_COLL_ALLGATHER, 32, nscclUint8, false};
  for (int r = 0; r < 3; r++) nsccl_prog_init(&progs[r], r, 3, &args);
  nsccl_prog_send(&progs[0], 2, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_NODEPS);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, 16), NSCCL_NODEPS);
  nsccl_prog_send(&progs[0], 2, nsccl_region(NSCCL_BUF_SEND, 0, 4), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[2], 0, nsccl_region(NSCCL_BUF_RECV, 0, 8), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, nsccl_region(NSCCL_BUF_RECV, 0, 16), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[2], 0, nsccl_region(NSCCL_BUF_RECV, 8, 4), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 3, NULL, &res), nscclSuccess, "%s", nsccl_last_error());
  cr_assert_eq(res.messages, 3);
  hand_progs_free(progs, 3);
  for (int r = 0; r < 3; r++) nsccl_prog_init(&progs[r], r, 3, &args);
  /* the same, but rank 2 expects the small one first: its first receive is the one refused */
  nsccl_prog_send(&progs[0], 2, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_NODEPS);
  nsccl_prog_send(&progs[0], 2, nsccl_region(NSCCL_BUF_SEND, 0, 4), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[2], 0, nsccl_region(NSCCL_BUF_RECV, 0, 4), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[2], 0, nsccl_region(NSCCL_BUF_RECV, 8, 8), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 3, NULL, &res), nscclInvalidUsage);
  cr_assert(strstr(nsccl_last_error(), "rank 2 step 0 receives 4 bytes from rank 0, which sends 8"), "message: %s",
            nsccl_last_error());
  hand_progs_free(progs, 3);
  hand_free(h);
}

/* Each rank's send waits for its receive: nothing can start. */
Test(sim_errors, receives_waiting_on_each_other) {
  hand_topo_t *h = hand_pair(1e9, 1e-6, 1e-6);
  nsccl_program_t progs[2];
  two(progs, 8);
  for (int r = 0; r < 2; r++) {
    nsccl_step_id_t rv = nsccl_prog_recv(&progs[r], 1 - r, nsccl_region(NSCCL_BUF_RECV, 0, 8), NSCCL_NODEPS);
    nsccl_prog_send(&progs[r], 1 - r, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_DEP1(rv));
  }
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidUsage);
  cr_assert(strstr(nsccl_last_error(), "never completed"), "message: %s", nsccl_last_error());
  hand_progs_free(progs, 2);
  hand_free(h);
}

static int no_route(const nsccl_topo_t *t, int src, int dst, int *links, int max) {
  (void)t, (void)src, (void)dst, (void)links, (void)max;
  return -1;
}

Test(sim_errors, bad_arguments) {
  hand_topo_t *h = hand_pair(1e9, 1e-6, 1e-6);
  nsccl_program_t progs[2];
  two(progs, 8);
  nsccl_prog_send(&progs[0], 1, nsccl_region(NSCCL_BUF_SEND, 0, 8), NSCCL_NODEPS);
  nsccl_prog_recv(&progs[1], 0, nsccl_region(NSCCL_BUF_RECV, 0, 8), NSCCL_NODEPS);
  cr_assert_eq(nsccl_sim_run(NULL, progs, 2, NULL, &res), nscclInvalidArgument);
  cr_assert_eq(nsccl_sim_run(&h->t, NULL, 2, NULL, &res), nscclInvalidArgument);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, NULL), nscclInvalidArgument);
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 3, NULL, &res), nscclInvalidArgument);     /* more ranks than the topology */
  cr_assert_eq(nsccl_sim_run(&h->t, progs + 1, 1, NULL, &res), nscclInvalidArgument); /* progs[0] is rank 1 */
  h->t.links[0].bandwidth = 0;
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidArgument);
  h->t.links[0].bandwidth = 1e9;
  h->mod.route = no_route;
  cr_assert_eq(nsccl_sim_run(&h->t, progs, 2, NULL, &res), nscclInvalidArgument);
  cr_assert(strstr(nsccl_last_error(), "no route"), "message: %s", nsccl_last_error());
  hand_progs_free(progs, 2);
  hand_free(h);
}

Test(sim_errors, packet_size_rule) {
  nsccl_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  cr_assert_eq(nsccl_sim_packet_bytes(NULL, 100, 0), 100);
  cr_assert_eq(nsccl_sim_packet_bytes(NULL, 1 << 20, 0), 64 << 10);
  cr_assert_eq(nsccl_sim_packet_bytes(NULL, 64 << 20, 0), 4 << 20); /* at most 16 packets */
  o.packet_bytes = NSCCL_SIM_WHOLE_MESSAGE;
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 64 << 20, 0), 64 << 20);
  o.packet_bytes = 1000;
  o.max_packets = NSCCL_SIM_UNLIMITED_PACKETS;
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 64 << 20, 0), 1000);
  o.max_packets = 4;
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 4001, 0), 1001);
  /* the run's budget: 2^17 packets by default */
  o.max_packets = 0;
  o.packet_bytes = 0;
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 1 << 20, (uint64_t)1 << 40), 1 << 20);
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 16 << 20, (uint64_t)1 << 40), 8 << 20);
  o.packet_budget = NSCCL_SIM_UNLIMITED_BUDGET;
  cr_assert_eq(nsccl_sim_packet_bytes(&o, 16 << 20, (uint64_t)1 << 40), 1 << 20);
}
