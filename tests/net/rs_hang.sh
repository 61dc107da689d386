#!/bin/bash
# Stranded messages, counted by hand (docs/transport.md, "Found and fixed"; CI checks the cause
# itself, the interface, in ifname.sh): 2 ranks on this host, every peer over the network provider
# (NSCCL_PROVIDER, default net) on NSCCL_SOCKET_IFNAME (default lo; empty: nsccl's own choice),
# 2-rank reduce-scatters of 16 and 32 KiB, ITERS (default 1,500) iterations per size and placement,
# RUNS (default 4) runs. Counts the runs that stopped at the timeout with "messages from rank N
# never arrived". Run a namespace harness beside it (scripts/bench --hosts 2 1) to recreate the
# conditions of the hang.
#   tests/net/rs_hang.sh NSCCL_PERF [RUNS [ITERS]]
set -u
perf=$1 runs=${2:-4} iters=${3:-1500}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export NSCCL_PROVIDER=${NSCCL_PROVIDER:-net} NSCCL_SHM_FASTPATH=0 NSCCL_SHM_CMA=0 NSCCL_SOCKET_IFNAME=${NSCCL_SOCKET_IFNAME-lo}
export NSCCL_TIMEOUT_MS=${NSCCL_TIMEOUT_MS:-10000}
hung=0 failed=0
for ((i = 1; i <= runs; i++)); do
  mpirun -n 2 --oversubscribe --bind-to none --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
    --mca oob_tcp_if_include lo --mca mpi_yield_when_idle 1 \
    -x NSCCL_PROVIDER -x NSCCL_SHM_FASTPATH -x NSCCL_SHM_CMA -x NSCCL_SOCKET_IFNAME -x NSCCL_TIMEOUT_MS \
    "$perf" -c reducescatter -b 16K -e 32K -f 2 -n "$iters" -w 10 -T 0 -q >"$tmp/out" 2>&1
  if grep -q 'never arrived' "$tmp/out"; then
    hung=$((hung + 1))
    grep -m 1 'never arrived' "$tmp/out"
  elif ! grep -q '^# Out of bounds values : 0 OK$' "$tmp/out"; then
    failed=$((failed + 1))
  fi
done
echo "$NSCCL_PROVIDER: $hung of $runs runs hung, $failed failed otherwise"
[ $hung = 0 ] && [ $failed = 0 ]
