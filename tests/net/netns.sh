#!/bin/sh
# Several "hosts" on one machine (sourced by the harness scripts of tests/net and scripts/bench):
# network namespaces, each with its own host name (unshare -u at launch), joined through one
# bridge in a namespace of its own (the "switch"): host i has interface nsv<tag>h<i> with
# address $NETNS_NET.<i+1>/24; the switch has nsv<tag>s<i> on bridge br0. Nothing of the root
# namespace changes. This machine's kernel has no netem qdisc (tc ... netem fails): no delay or
# loss is emulated; what can be shaped (tbf rate) is applied only when NETNS_RATE is set.
#
#   . tests/net/netns.sh
#   netns_up N            create N hosts (fails with exit 77, "skipped", where it cannot)
#   netns_exec I CMD...   run CMD in host I with host name nsccl-host-I
#   netns_link_down I     cut host I off (its interface goes down)
#   netns_down            remove everything (also on EXIT through the trap netns_up installs)
# NETNS_TAG (default: this shell's pid) keeps concurrent harnesses apart.

NETNS_TAG=${NETNS_TAG:-$$}
NETNS_NET=10.$((NETNS_TAG % 200 + 20)).$((NETNS_TAG / 200 % 250)).
NETNS_N=0

netns_skip() {
  echo "SKIP: $*"
  exit 77
}

netns_name() { echo "nsccl_${NETNS_TAG}_$1"; }

netns_down() {
  i=0
  while [ "$i" -lt "$NETNS_N" ]; do
    ip netns del "$(netns_name h$i)" 2>/dev/null
    i=$((i + 1))
  done
  ip netns del "$(netns_name sw)" 2>/dev/null
  ip link del "nsv${NETNS_TAG}r" 2>/dev/null
  NETNS_N=0
}

netns_up() {
  n=$1
  [ "$(id -u)" = 0 ] || netns_skip "creating network namespaces needs root"
  command -v ip >/dev/null 2>&1 || netns_skip "the ip command (iproute2) is not installed"
  command -v unshare >/dev/null 2>&1 || netns_skip "unshare (util-linux) is not installed"
  trap netns_down EXIT
  trap 'netns_down; exit 1' INT TERM
  sw=$(netns_name sw)
  ip netns add "$sw" 2>/dev/null || netns_skip "cannot create network namespaces here (ip netns add failed)"
  ip -n "$sw" link add br0 type bridge 2>/dev/null || netns_skip "cannot create a bridge"
  ip -n "$sw" link set br0 up
  # The root namespace joins the switch too ($NETNS_NET.254 on nsv<tag>r): launchers that stay in
  # the root namespace (mpirun's PMIx server) must be reachable from every host.
  if [ "${NETNS_ROOT_LINK:-1}" = 1 ]; then
    ip link add "nsv${NETNS_TAG}r" type veth peer name "nsv${NETNS_TAG}sr" 2>/dev/null ||
      netns_skip "cannot create a veth pair"
    ip link set "nsv${NETNS_TAG}sr" netns "$sw" && ip -n "$sw" link set "nsv${NETNS_TAG}sr" master br0 up
    ip addr add "${NETNS_NET}254/24" dev "nsv${NETNS_TAG}r" && ip link set "nsv${NETNS_TAG}r" up
  fi
  i=0
  while [ "$i" -lt "$n" ]; do
    h=$(netns_name h$i)
    ip netns add "$h" || netns_skip "cannot create namespace $h"
    NETNS_N=$((i + 1))
    ip link add "nsv${NETNS_TAG}h$i" type veth peer name "nsv${NETNS_TAG}s$i" 2>/dev/null ||
      netns_skip "cannot create a veth pair"
    ip link set "nsv${NETNS_TAG}h$i" netns "$h" && ip link set "nsv${NETNS_TAG}s$i" netns "$sw" ||
      netns_skip "cannot move veth ends into the namespaces"
    ip -n "$sw" link set "nsv${NETNS_TAG}s$i" master br0 up
    ip -n "$h" addr add "$NETNS_NET$((i + 1))/24" dev "nsv${NETNS_TAG}h$i"
    ip -n "$h" link set lo up
    ip -n "$h" link set "nsv${NETNS_TAG}h$i" up
    if [ -n "${NETNS_RATE:-}" ]; then
      ip netns exec "$h" tc qdisc add dev "nsv${NETNS_TAG}h$i" root tbf rate "$NETNS_RATE" burst 256k latency 50ms ||
        echo "netns: rate shaping (tbf) is not available: running unshaped"
    fi
    i=$((i + 1))
  done
  ip netns exec "$(netns_name h0)" unshare -u true 2>/dev/null ||
    netns_skip "cannot create UTS namespaces (unshare -u) for host names"
}

netns_exec() {
  i=$1
  shift
  ip netns exec "$(netns_name h$i)" unshare -u sh -c 'hostname "$0" && exec "$@"' "nsccl-host-$i" "$@"
}

netns_link_down() { ip -n "$(netns_name h$1)" link set "nsv${NETNS_TAG}h$1" down; }
