#!/bin/sh
# nsccl-perf end to end under mpirun (suite 'mpi'): perf_test.sh MODE NSCCL_PERF
#   run     2 ranks, every collective, --vs-mpi, --csv: columns, #wrong 0, CSV header and rows,
#           the floor column positive and %floor consistent with it
#   registered 2 ranks, --registered (nscclMemAlloc + nscclCommRegister) and --batch, checked
#   types   2 ranks, other datatypes and ops, checked
#   one     1 rank works
#   fastpath 3 ranks, 8 B .. 256 KiB (one to several fast-path fragments, then libfabric), checked,
#           with the same-host fast path on (default) and off (NSCCL_SHM_FASTPATH=0)
#   calibrate 3 ranks, --calibrate on a short sweep: a host file with positive alpha, bandwidths
#           and a link latency >= 0, loadable by the topology loader (nsccl-model), the model's
#           median error per collective printed
#   vsalgo  3 ranks, --vs-algo: nsccl (ring) against nsccl (direct) on a second communicator, both
#           checked (a corrupted element counts once per communicator and placement), the peer column
#           and ratio = time / peer time
#   corrupt one output element flipped (NSCCL_PERF_CORRUPT): the checker must count it and fail
#   help    --help prints the usage and exits 0
#   badopt  unknown option, -c 1 and a bad size: exit status != 0 and a message naming the problem
set -u
mode=$1
perf=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export NSCCL_TIMEOUT_MS=${NSCCL_TIMEOUT_MS:-60000}
mpirun="mpirun --oversubscribe --mca mpi_yield_when_idle 1"

fail() {
  echo "FAIL: $*"
  echo "---- stdout"; cat "$tmp/out" 2>/dev/null
  echo "---- stderr"; cat "$tmp/err" 2>/dev/null
  exit 1
}

# Every data row (lines not starting with '#') must have #wrong = 0 in both placements.
# Columns: size count type redop root | time algbw busbw #wrong [mpi ratio] %floor | same | floor algo
# The floor (measured at start, docs/performance.md "Floor") must be positive with 2 or more ranks
# and %floor = 100 floor / time (to the printed precision).
check_rows() { # $1 = 1 with --vs-mpi, $2 = 1 when the floor must be positive
  awk -v vs="$1" -v pos="${2:-1}" '
    /^#/ || NF == 0 { next }
    { n++; w1 = $9; w2 = vs ? $16 : $14; want = vs ? 21 : 17
      if (NF != want) { print "row has " NF " fields, want " want ": " $0; bad = 1 }
      if (w1 != "0" || w2 != "0") { print "wrong elements in: " $0; bad = 1 }
      fl = $(NF - 1); t = $6; pf = vs ? $12 : $10
      if (pos && fl <= 0) { print "floor not positive: " $0; bad = 1 }
      # time has 2 decimals, floor 3, %floor 1: the printed %floor lies between the extremes.
      if (t > 0.005) { lo = 100 * (fl - 0.0005) / (t + 0.005) - 0.05; hi = 100 * (fl + 0.0005) / (t - 0.005) + 0.05
        if (pf < lo || pf > hi) { print "%floor is not 100 floor / time: " $0; bad = 1 } } }
    END { if (n == 0) { print "no data rows"; bad = 1 }; exit bad }' "$tmp/out"
}

case $mode in
registered)
  # nscclMemAlloc buffers registered with the communicator (direct reads), every collective from
  # one fast-path fragment to the rendezvous, both placements checked; --batch times 3 calls a row.
  for min in 0 16384; do
    NSCCL_SHM_DIRECT_MIN=$min $mpirun -x NSCCL_SHM_DIRECT_MIN -n 2 "$perf" -c all -b 8 -e 2M -f 16 -n 3 -w 1 --batch 3 \
      --registered >"$tmp/out" 2>"$tmp/err" || fail "--registered (direct minimum $min) exited with $?"
    grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "--registered (direct minimum $min): results wrong"
    check_rows 0 || fail "--registered (direct minimum $min): bad rows"
  done
  ;;
run)
  $mpirun -n 2 "$perf" -c all -b 8 -e 256K -f 8 -n 3 -w 1 -C 1 --vs-mpi --csv "$tmp/r.csv" >"$tmp/out" 2>"$tmp/err" ||
    fail "nsccl-perf exited with $?"
  for col in size count type redop root time algbw busbw '#wrong' 'mpi(us)' ratio '%floor' floor out-of-place in-place; do
    grep '^#' "$tmp/out" | grep -qF -- "$col" || fail "column '$col' missing from the header"
  done
  for c in allreduce allgather reducescatter; do
    grep -q "^# Collective: $c" "$tmp/out" || fail "no section for $c"
  done
  grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "no '# Out of bounds values : 0 OK' line"
  grep -q '^# Avg bus bandwidth    : [0-9.e+-]* *$' "$tmp/out" || fail "no '# Avg bus bandwidth' line"
  grep -q '^# Peak RSS per rank' "$tmp/out" || fail "no peak RSS line"
  check_rows 1 || fail "bad data rows"
  want='collective,bytes,count,type,redop,algo,time_us,algbw_GBps,busbw_GBps,wrong,mpi_time_us,ratio,floor_us,pct_floor'
  [ "$(head -n 1 "$tmp/r.csv")" = "$want" ] || fail "CSV header is '$(head -n 1 "$tmp/r.csv")'"
  rows=$(grep -vc '^#' "$tmp/out")
  csvrows=$(($(wc -l <"$tmp/r.csv") - 1))
  [ "$csvrows" -eq $((2 * rows)) ] || fail "CSV has $csvrows rows for $rows table rows (want 2 per row)"
  awk -F, 'NR > 1 && (NF != 14 || $10 != "0" || $11 == "" || $12 == "" || $13 <= 0) { print "bad CSV row: " $0; bad = 1 }
           END { exit bad }' "$tmp/r.csv" || fail "bad CSV rows"
  grep -q '^allgather_inplace,' "$tmp/r.csv" || fail "no in-place CSV rows"
  ;;
types)
  for spec in "-d int32 -o max" "-d double -o avg" "-d half -o prod --algo ring" "-d uint8 -o min" \
    "-d bfloat16 -o sum --algo direct" "-d float -o avg --algo tree"; do
    # shellcheck disable=SC2086
    $mpirun -n 2 "$perf" -c all -b 4 -e 40000 -f 10 -n 2 -w 0 -C 1 $spec >"$tmp/out" 2>"$tmp/err" ||
      fail "'$spec' exited with $?"
    grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "'$spec': results wrong"
    check_rows 0 || fail "'$spec': bad rows"
  done
  ;;
one)
  $mpirun -n 1 "$perf" -c all -b 8 -e 64K -f 16 -n 2 -w 1 --vs-mpi >"$tmp/out" 2>"$tmp/err" || fail "1 rank exited with $?"
  grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "1 rank: results wrong"
  check_rows 1 0 || fail "1 rank: bad rows"
  ;;
fastpath)
  for fp in 1 0; do
    NSCCL_SHM_FASTPATH=$fp $mpirun -x NSCCL_SHM_FASTPATH -n 3 "$perf" -c all -b 8 -e 256K -f 3 -n 3 -w 1 -C 1 \
      >"$tmp/out" 2>"$tmp/err" || fail "NSCCL_SHM_FASTPATH=$fp exited with $?"
    grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "NSCCL_SHM_FASTPATH=$fp: results wrong"
    check_rows 0 || fail "NSCCL_SHM_FASTPATH=$fp: bad rows"
    for a in ring tree direct; do
      NSCCL_SHM_FASTPATH=$fp $mpirun -x NSCCL_SHM_FASTPATH -n 3 "$perf" -c all -b 1000 -e 200K -f 14 -n 2 -w 0 \
        -d int32 --algo $a >"$tmp/out" 2>"$tmp/err" || fail "NSCCL_SHM_FASTPATH=$fp --algo $a exited with $?"
      grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "NSCCL_SHM_FASTPATH=$fp --algo $a: results wrong"
    done
  done
  ;;
calibrate)
  $mpirun -n 3 "$perf" --calibrate -c all -b 8 -e 64K -f 16 -n 3 --topo-out "$tmp/host.conf" >"$tmp/out" 2>"$tmp/err" ||
    fail "--calibrate exited with $?"
  for k in endpoint_overhead link_bandwidth reduce_bandwidth; do
    awk -v k="$k" '$1 == k && $3 + 0 > 0 { ok = 1 } END { exit !ok }' "$tmp/host.conf" || fail "$k missing or not > 0"
  done
  awk '$1 == "link_latency" && $3 + 0 >= 0 { ok = 1 } END { exit !ok }' "$tmp/host.conf" || fail "link_latency missing"
  grep -q '^ranks = 3$' "$tmp/host.conf" || fail "the file does not describe 3 ranks"
  model=$(dirname "$perf")/nsccl-model
  "$model" --topo "$tmp/host.conf" --coll allgather -b 8 -e 8 >"$tmp/model" 2>&1 || fail "nsccl-model cannot load the file: $(cat "$tmp/model")"
  for c in allreduce allgather reducescatter; do
    grep -Eq "^#   $c +[0-9.]+% \\| +[0-9.]+%" "$tmp/out" || fail "no median error line for $c"
  done
  ;;
vsalgo)
  $mpirun -n 3 "$perf" -c all -b 8 -e 64K -f 64 -n 3 -w 1 --algo ring --vs-algo direct --csv "$tmp/csv" \
    >"$tmp/out" 2>"$tmp/err" || fail "--vs-algo exited with $?"
  grep -q '^# Out of bounds values : 0 OK$' "$tmp/out" || fail "results wrong"
  grep -q '^# peer: nsccl with algorithm direct$' "$tmp/out" || fail "the peer is not named"
  grep -q 'peer(us)' "$tmp/out" || fail "no peer(us) column"
  check_rows 1 || fail "bad rows"
  awk -F, 'NR > 1 { n++; if (!($11 > 0) || ($12 - $7 / $11) ^ 2 > 1e-4 + 1e-4 * $12 ^ 2) bad = 1 } END { exit bad || n != 18 }' \
    "$tmp/csv" || fail "CSV: want 18 rows with a peer time and ratio = time / peer time: $(cat "$tmp/csv")"
  NSCCL_PERF_CORRUPT=1 $mpirun -x NSCCL_PERF_CORRUPT -n 2 "$perf" -c allreduce -b 64 -e 64 -n 1 -w 0 --vs-algo tree \
    >"$tmp/out" 2>"$tmp/err" && fail "a corrupted result did not fail the run"
  grep -q '^# Out of bounds values : 4 FAILED$' "$tmp/out" || fail "want 4 wrong values (2 communicators x 2 placements)"
  ;;
corrupt)
  NSCCL_PERF_CORRUPT=1 $mpirun -x NSCCL_PERF_CORRUPT -n 2 "$perf" -c allreduce -b 64 -e 64 -n 1 -w 0 -C 1 \
    >"$tmp/out" 2>"$tmp/err" && fail "a corrupted result did not make nsccl-perf fail"
  grep -q '^# Out of bounds values : 2 FAILED$' "$tmp/out" || fail "want 2 wrong values (one per placement)"
  ;;
help)
  "$perf" --help >"$tmp/out" 2>"$tmp/err" || fail "--help exited with $?"
  for w in usage: -c -b -e -f -n -w -C -d -o --algo --vs-mpi --vs-algo --csv --calibrate; do
    grep -qF -- "$w" "$tmp/out" || fail "--help does not mention $w"
  done
  ;;
badopt)
  "$perf" --no-such-option >"$tmp/out" 2>"$tmp/err" && fail "an unknown option was accepted"
  grep -q "unknown option '--no-such-option'" "$tmp/err" || fail "no clear message for an unknown option"
  "$perf" -c 1 >"$tmp/out" 2>"$tmp/err" && fail "-c 1 was accepted"
  grep -q -- "-C" "$tmp/err" || fail "-c 1 does not point at -C"
  "$perf" -b 12Q >"$tmp/out" 2>"$tmp/err" && fail "-b 12Q was accepted"
  grep -q -- "-b: '12Q' is not a size" "$tmp/err" || fail "no clear message for a bad size"
  "$perf" -d half --vs-mpi >"$tmp/out" 2>"$tmp/err" && fail "--vs-mpi with half was accepted"
  grep -q "MPI has no datatype" "$tmp/err" || fail "no clear message for --vs-mpi with half"
  "$perf" --vs-mpi --vs-algo ring >"$tmp/out" 2>"$tmp/err" && fail "--vs-mpi with --vs-algo was accepted"
  grep -q "one peer at a time" "$tmp/err" || fail "no clear message for --vs-mpi with --vs-algo"
  ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "ok: $mode"
