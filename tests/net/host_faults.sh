#!/bin/bash
# Faults between hosts (docs/reliability.md, "Dead peers"): 2 hosts (network namespaces,
# tests/net/netns.sh) with 2 ranks each, all-reduces of 1 MiB in a loop (test_dead_peer), through
# NSCCL_COMM_ID. NSCCL_TIMEOUT_MS is 30 s, so only the peer watcher can end the loop in time.
#   host_faults.sh kill TEST_DEAD_PEER      rank 2 (host 1) SIGKILLs itself mid-collective; every
#                                           survivor must fail with nscclRemoteError naming it
#                                           within 1000 ms (rank 3, on its host, as well)
#   host_faults.sh linkdown TEST_DEAD_PEER  host 1's interface goes down (ip link set down); with
#                                           NSCCL_LINK_TIMEOUT_MS=500 every rank must fail with
#                                           nscclRemoteError naming a host within 1500 ms
# Exit 77 (skipped) where namespaces cannot be made.
set -u
mode=$1 prog=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
# No launcher runs in the root namespace here (NSCCL_COMM_ID): leave it untouched.
NETNS_ROOT_LINK=0
netns_up 2
dir=$(mktemp -d)
trap 'netns_down; rm -rf "$dir"' EXIT
export NSCCL_COMM_ID="${NETNS_NET}1:$((20000 + $$ % 20000))" NSCCL_NRANKS=4 NSCCL_TIMEOUT_MS=30000
export NSCCL_SOCKET_IFNAME=nsv${NETNS_TAG}h NSCCL_LINK_TIMEOUT_MS=500
stamp=$dir/linkdown.stamp
pids=()
for rank in 0 1 2 3; do
  if [ "$mode" = kill ]; then args=(kill 2 1000); else args=(linkdown "$stamp" 1500); fi
  NSCCL_RANK=$rank netns_exec $((rank / 2)) timeout 90 "$prog" "${args[@]}" >"$dir/out$rank" 2>"$dir/err$rank" &
  pids+=($!)
done
if [ "$mode" = linkdown ]; then
  for ((t = 0; t < 600; t++)); do
    [ "$(cat "$dir"/out* 2>/dev/null | grep -c ready)" = 4 ] && break
    sleep 0.1
  done
  sleep 0.2 # inside the next collectives
  cut -d' ' -f1 /proc/uptime >"$stamp"
  netns_link_down 1
  echo "host_faults: host 1's link set down"
fi
fail=0
for rank in 0 1 2 3; do
  wait "${pids[$rank]}"
  rc=$?
  cat "$dir/out$rank" "$dir/err$rank" | grep -v '^ready$'
  if [ "$mode" = kill ] && [ $rank = 2 ]; then continue; fi
  [ $rc = 0 ] || { fail=1; echo "rank $rank: exit status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")"; }
done
echo "host_faults $mode: $([ $fail = 0 ] && echo passed || echo FAILED)"
exit $fail
