#!/bin/bash
# Calibration across hosts (docs/performance.md, "Between hosts"): nsccl-perf --calibrate on 2
# namespace hosts x 2 ranks (tests/net/hosts-run). The host file must describe that shape (ranks 4,
# ranks_per_host 2), carry the network's latency and NIC bandwidth (> 0) besides the same-host
# keys, and its network latency must be what the printed network probe gives by the documented fit
# (the one-rank-per-host step, minus alpha and the same-host link latency, at least 1 ns); the
# topology loader must take it (nsccl-model), and the runtime must price with it when
# NSCCL_HOST_TOPO names it (its INIT log says so), and with 4 ranks on 2-3 PUs the INIT log must
# say that waits yield (hosts sharing the machine). The probes' rounds are interleaved with the
# sweep's: the printed probe time must lie within its printed rounds. Exit 77 where namespaces
# cannot be made.
#   calibrate.sh NSCCL_PERF NSCCL_MODEL
set -u
perf=$1 model=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*"
  echo "---- stdout"; cat "$tmp/out" 2>/dev/null
  echo "---- stderr"; cat "$tmp/err" 2>/dev/null
  echo "---- file"; cat "$tmp/host.conf" 2>/dev/null
  exit 1
}
export NSCCL_TIMEOUT_MS=${NSCCL_TIMEOUT_MS:-60000}
"$here/hosts-run" --hosts 2 --ranks-per-host 2 -- "$perf" --calibrate -c all -b 8 -e 64K -f 64 -n 5 -q \
  --topo-out "$tmp/host.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 77 ] && exit 77
grep -q '^SKIP' "$tmp/out" && exit 77
[ $rc = 0 ] || fail "--calibrate exited with $rc"
grep -q '^# nsccl-perf --calibrate on 4 ranks (2 hosts, 2 ranks each)$' "$tmp/out" || fail "no header naming 2 hosts x 2"
grep -q '^#   same host, 2 ranks: tree all-gather' "$tmp/out" || fail "no same-host probe line"
grep -q '^#   network (one rank per host), 2 ranks: tree all-gather' "$tmp/out" || fail "no network probe line"
grep -q '^ranks = 4$' "$tmp/host.conf" || fail "the file does not describe 4 ranks"
grep -q '^ranks_per_host = 2$' "$tmp/host.conf" || fail "the file does not describe 2 ranks per host"
for k in endpoint_overhead link_bandwidth reduce_bandwidth network_latency nic_bandwidth; do
  awk -v k="$k" '$1 == k && $3 + 0 > 0 { ok = 1 } END { exit !ok }' "$tmp/host.conf" || fail "$k missing or not > 0"
done
# The probes run in rounds interleaved with the sweep; each printed probe time is the median of its
# round medians (at 2 ranks the mean of the tree and the direct probe's, the same exchange), so it
# must lie within the printed range of those rounds.
spread=$(sed -n 's/^#   network (one rank per host): the [0-9]* round medians ranged over tree \([0-9.]*\)-\([0-9.]*\) us, direct \([0-9.]*\)-\([0-9.]*\) us.*/\1 \2 \3 \4/p' "$tmp/out")
[ -n "$spread" ] || fail "no range of the network probe's rounds"
tree=$(sed -n 's/^#   network (one rank per host), 2 ranks: tree all-gather of 2 floats \([0-9.]*\) us.*/\1/p' "$tmp/out")
awk -v t="$tree" -v s="$spread" 'BEGIN { split(s, r, " "); lo = r[1] < r[3] ? r[1] : r[3]; hi = r[2] > r[4] ? r[2] : r[4]
  exit !(t + 0.06 >= lo && t - 0.06 <= hi) }' ||
  fail "the network probe's time $tree us is outside its rounds' range (tree, direct: $spread us)"
grep -q '^# per placement the median over [0-9]* rounds of [0-9]* iterations each' "$tmp/out" ||
  fail "the model table does not say how the rows were measured"
# The fit, from the printed network probe (2 hosts: one step = the tree probe) and the file's
# alpha and link latency, to the printed precision (probe times to 0.01 us).
step=$(sed -n 's/^#   network (one rank per host), 2 ranks: tree all-gather of 2 floats \([0-9.]*\) us.*/\1/p' "$tmp/out")
awk -v step="$step" '$1 == "endpoint_overhead" { a = $3 } $1 == "link_latency" { l = $3 } $1 == "network_latency" { n = $3 }
  END { want = step * 1e-6 - a - l; if (want < 1e-9) want = 1e-9
        d = n - want; if (d < 0) d = -d; exit !(d <= 1.5e-8 + 1e-3 * want) }' "$tmp/host.conf" ||
  fail "network_latency is not the probe's step ($step us) minus alpha and link latency"
"$model" --topo "$tmp/host.conf" --coll allreduce -b 8 -e 8 >"$tmp/model" 2>&1 || fail "nsccl-model cannot load the file: $(cat "$tmp/model")"
NSCCL_HOST_TOPO=$tmp/host.conf NSCCL_DEBUG=INFO NSCCL_DEBUG_SUBSYS=INIT "$here/hosts-run" --hosts 2 --ranks-per-host 2 -- \
  "$perf" -c allreduce -b 8 -e 8 -n 2 -w 1 -q >"$tmp/out" 2>"$tmp/err" || fail "a run with NSCCL_HOST_TOPO failed"
grep -q "host topology from $tmp/host.conf" "$tmp/out" "$tmp/err" || fail "the runtime did not load NSCCL_HOST_TOPO"
# 4 ranks of 2 hosts on one machine: oversubscribed only by the hosts sharing it, at most two ranks
# per PU on this 2-core machine or larger: the engine yields instead of sleeping (engine/fabric_run.c).
case $(nproc --all) in
2 | 3) grep -q "oversubscribed by hosts sharing the machine (waits yield)" "$tmp/out" "$tmp/err" ||
  fail "2 hosts x 2 ranks on $(nproc --all) PUs: the INIT log does not say that waits yield" ;;
esac
echo "ok: calibrate across 2 hosts x 2 ranks"
