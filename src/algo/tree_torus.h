/* Torus exchange variants of the tree family (ids allocated in algo/variants.c): Neuron's RDH
 * (tree_rdh.c) and Swing (tree_swing.c), both built on the pairwise-exchange plans of
 * algo/xchg_plan.h. */
#ifndef NSCCL_ALGO_TREE_TORUS_H
#define NSCCL_ALGO_TREE_TORUS_H

#include "topologies/topo.h"

#define NSCCL_TREE_RDH       0x400 /* RDH: hypercube on ring-coordinate bits; all-reduce halving + doubling */
#define NSCCL_TREE_SWING_LAT 0x401 /* Swing, latency-optimal: whole-vector exchanges */
#define NSCCL_TREE_SWING_BW  0x402 /* Swing, bandwidth-optimal: halving + doubling on every port at once */
#define NSCCL_TREE_RDH_RD    0x403 /* RDH all-reduce exchanging whole vectors (recursive doubling) */

/* Does the torus suit them: one rank per vertex (nranks = product of dims), every dimension a power
 * of two, one longer than 1? If not and why is given, a sentence saying what fails. */
int nsccl_tree_torus_pow2(const nsccl_topo_t *t, int nranks, char *why, size_t len);

#endif
