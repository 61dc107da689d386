#!/bin/bash
# The interface NSCCL_SOCKET_IFNAME names is the one the network provider's endpoint opens on
# (docs/transport.md, "Providers and how the choice is made"): 2 ranks of this host, every peer
# forced onto PROVIDER (net, or tcp: tcp;ofi_rxm), NSCCL_SOCKET_IFNAME=lo; each rank's NET log line
# for the opened provider must name domain lo. libfabric 1.17's net answers the second, refining
# fi_getinfo with every interface it has, and taking its first answer had opened net on eth0
# (or on a veth of a namespace harness, whose removal then stranded messages in flight).
#   ifname.sh NSCCL_PERF PROVIDER
set -u
perf=$1 prov=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fi_info -p "$prov" >/dev/null 2>&1 || { echo "SKIP: libfabric offers no $prov provider"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 NSCCL_TIMEOUT_MS=60000
export NSCCL_PROVIDER=$prov NSCCL_SHM_FASTPATH=0 NSCCL_SOCKET_IFNAME=lo NSCCL_DEBUG=INFO NSCCL_DEBUG_SUBSYS=NET
mpirun -n 2 --oversubscribe --bind-to none --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
  --mca oob_tcp_if_include lo -x NSCCL_PROVIDER -x NSCCL_SHM_FASTPATH -x NSCCL_SOCKET_IFNAME -x NSCCL_DEBUG \
  -x NSCCL_DEBUG_SUBSYS -x NSCCL_TIMEOUT_MS "$perf" -c allreduce -b 8 -e 64K -f 64 -n 3 -w 1 -q >"$tmp/out" 2>&1 ||
  { echo "FAIL: the run failed"; tail -n 20 "$tmp/out"; exit 1; }
grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || { echo "FAIL: wrong results"; exit 1; }
lines=$(grep -c "transport: provider $prov[^ ]* fabric " "$tmp/out")
onlo=$(grep -c "transport: provider $prov[^ ]* fabric [^ ]* domain lo:" "$tmp/out")
[ "$lines" = 2 ] || { echo "FAIL: want one NET line per rank for $prov, got $lines"; grep "transport: provider" "$tmp/out"; exit 1; }
[ "$onlo" = 2 ] || { echo "FAIL: NSCCL_SOCKET_IFNAME=lo, but:"; grep "transport: provider" "$tmp/out"; exit 1; }
echo "ok: $prov opened on lo on both ranks"
