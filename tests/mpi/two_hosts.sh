#!/bin/sh
# Two "hosts" on one machine: network namespaces A and B joined by a veth pair, each with its own
# host name (unshare -u), ranks 0-1 in A and 2-3 in B, launched through NSCCL_COMM_ID. Peers in the
# other namespace go through the network provider, peers in the same one through shm, and every
# rank must see 2 hosts. Exit 77 (meson's "skipped") where namespaces cannot be made.
#   two_hosts.sh path/to/nsccl_worker
set -u
WORKER=$1
skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "creating network namespaces needs root"
command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is not installed"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"

A=nsccl_a_$$
B=nsccl_b_$$
VA=nsva$$
VB=nsvb$$
NET=10.213.$(($$ % 200 + 20))
cleanup() {
  ip netns del "$A" 2>/dev/null
  ip netns del "$B" 2>/dev/null
}
trap cleanup EXIT INT TERM
ip netns add "$A" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip netns add "$B" 2>/dev/null || skip "cannot create a second network namespace"
ip link add "$VA" type veth peer name "$VB" 2>/dev/null || skip "cannot create a veth pair"
ip link set "$VA" netns "$A" && ip link set "$VB" netns "$B" || skip "cannot move veth ends into the namespaces"
ip -n "$A" addr add "$NET.1/24" dev "$VA" && ip -n "$B" addr add "$NET.2/24" dev "$VB" || skip "cannot add addresses"
ip -n "$A" link set lo up && ip -n "$B" link set lo up
ip -n "$A" link set "$VA" up && ip -n "$B" link set "$VB" up || skip "cannot bring the veth pair up"
ip netns exec "$A" unshare -u true 2>/dev/null || skip "cannot create UTS namespaces (unshare -u) for host names"

export NSCCL_COMM_ID="$NET.1:$((20000 + $$ % 20000))"
export NSCCL_NRANKS=4
export NSCCL_TIMEOUT_MS=${NSCCL_TIMEOUT_MS:-30000}
# Both veth ends start with "nsv": the bootstrap and the network provider use them, not loopback.
export NSCCL_SOCKET_IFNAME=nsv
echo "namespaces $A ($NET.1) and $B ($NET.2), NSCCL_COMM_ID=$NSCCL_COMM_ID"

pids=""
for rank in 0 1 2 3; do
  if [ $rank -lt 2 ]; then ns=$A host=nsccl-host-a; else ns=$B host=nsccl-host-b; fi
  ip netns exec "$ns" unshare -u sh -c "hostname $host && NSCCL_RANK=$rank exec timeout 240 \"$WORKER\" check 2" &
  pids="$pids $!"
done
fail=0
for p in $pids; do
  wait "$p" || fail=1
done
[ $fail = 0 ] && echo "two hosts: every rank correct" || echo "two hosts: FAILED"
exit $fail
