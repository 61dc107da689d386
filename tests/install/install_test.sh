#!/bin/sh
# What `meson install` puts in place, and that a user builds against it (suite 'mpi'):
#  1. install this build tree into a scratch DESTDIR;
#  2. there: libnsccl (shared and static), nsccl.h and nsccl_model.h, the compat headers
#     (nsccl/compat/nccl.h, nccl_newer_calls.h, cuda_runtime.h, nsccl.h), nsccl.pc and
#     nsccl-nccl.pc, every preset of topologies/presets under <datadir>/nsccl/presets, and each
#     tool named on the command line;
#  3. the README's commands: mpicc examples/allreduce_mpi.c $(pkg-config --cflags --libs nsccl)
#     builds against the installed tree alone, and the program's own check passes on 2 ranks;
#  4. a program of the modelling API (cc, pkg-config nsccl, no MPI) loads the installed trn2-16
#     preset file and finds its 16 ranks (a 4x4 torus) and a positive prediction;
#  5. the installed nsccl-model answers --help and prices on an installed preset;
#  6. by preset name it never reads the source tree's presets, and NSCCL_PRESET_DIR comes first.
# (An NCCL program through nsccl-nccl.pc: compat_example_pkgconfig_n4 and compat_link_route.)
# Usage: install_test.sh <build dir> <source dir> TOOL...
set -u
build=$1 src=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
root=$tmp/root
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; fail "meson install --destdir failed"; }

# 2. The files, found wherever the prefix and libdir put them.
one() { # the one file matching the find -path pattern $1 under the destdir
  f=$(find "$root" -path "$1" | head -n 1)
  [ -n "$f" ] || { echo "FAIL: not installed: $1" >&2; exit 1; }
  echo "$f"
}
header() { # installed include/$1 is the source tree's include/$2
  f=$(one "*/include/$1") || exit 1
  cmp -s "$f" "$src/include/$2" || fail "include/$1 differs from the source tree's include/$2"
}
f=$(one '*/pkgconfig/nsccl.pc') || exit 1
pcdir=${f%/*}
one '*/pkgconfig/nsccl-nccl.pc' >/dev/null || exit 1
f=$(one '*/libnsccl.so') || exit 1
libdir=${f%/*}
one '*/libnsccl.so.0' >/dev/null || exit 1
one '*/libnsccl.a' >/dev/null || exit 1
header nsccl.h nsccl.h
header nsccl_model.h nsccl_model.h
header nsccl/compat/nccl.h compat/nccl.h
header nsccl/compat/nccl_newer_calls.h compat/nccl_newer_calls.h
header nsccl/compat/cuda_runtime.h compat/cuda_runtime.h
header nsccl/compat/nsccl.h nsccl.h
f=$(one '*/nsccl/presets/trn2-16.conf') || exit 1
presets=${f%/*}
for p in "$src"/topologies/presets/*.conf; do
  cmp -s "$p" "$presets/${p##*/}" || fail "preset ${p##*/} not installed in $presets"
done
f=$(one '*/bin/nsccl-model') || exit 1
bindir=${f%/*}
for t in "$@"; do
  [ -x "$bindir/$t" ] || fail "tool $t not installed in $bindir"
done
echo "installed: library, headers, nsccl.pc, nsccl-nccl.pc, $(ls "$presets" | wc -l) presets, tools: $*"

export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root" LD_LIBRARY_PATH="$libdir"
flags=$(pkg-config --cflags --libs nsccl) || fail "pkg-config nsccl"
case $flags in *"$root"*) ;; *) fail "pkg-config nsccl points outside the installed tree: $flags" ;; esac

# 3. The README's MPI program.
echo "mpicc allreduce_mpi.c $flags"
mpicc "$src/examples/allreduce_mpi.c" $flags -o "$tmp/allreduce_mpi" || fail "mpicc against the installed nsccl.pc"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe --mca pml ob1 --mca btl self,vader --mca mtl '^ofi' --mca mpi_yield_when_idle 1 \
  -x LD_LIBRARY_PATH -n 2 "$tmp/allreduce_mpi" || fail "allreduce_mpi built against the installed tree failed"

# 4. The modelling API without MPI.
cc "$src/tests/install/model_program.c" $flags -lm -o "$tmp/model_program" || fail "cc against the installed nsccl.pc"
"$tmp/model_program" "$presets/trn2-16.conf" 16 || fail "model_program on the installed trn2-16 preset"

# 5. The installed tool.
"$bindir/nsccl-model" --help >/dev/null || fail "installed nsccl-model --help"
"$bindir/nsccl-model" --topo "$presets/trn3-u64.conf" --coll allgather -b 1K -e 1K --csv >"$tmp/model.csv" ||
  fail "installed nsccl-model on an installed preset"
grep -q ',allgather,direct,1024,model,[0-9]' "$tmp/model.csv" || { cat "$tmp/model.csv"; fail "no CSV row from the installed nsccl-model"; }
# 6. An installed copy looks preset names up in NSCCL_PRESET_DIR and its own data dir, never in the
#    source tree it was built from (which may have moved on since the install).
unset NSCCL_PRESET_DIR
NSCCL_DEBUG=INFO NSCCL_DEBUG_SUBSYS=TOPO "$bindir/nsccl-model" --topo trn2-16 --coll allgather -b 1K -e 1K --csv \
  >/dev/null 2>"$tmp/byname.err" || true
if grep -q "$src/topologies/presets" "$tmp/byname.err"; then
  cat "$tmp/byname.err"; fail "the installed nsccl-model read or searched the source tree's presets"
fi
NSCCL_PRESET_DIR="$presets" NSCCL_DEBUG=INFO NSCCL_DEBUG_SUBSYS=TOPO "$bindir/nsccl-model" --topo trn2-16 \
  --coll allgather -b 1K -e 1K --csv >/dev/null 2>"$tmp/byenv.err" || { cat "$tmp/byenv.err"; fail "NSCCL_PRESET_DIR"; }
grep -q "preset file $presets/trn2-16.conf" "$tmp/byenv.err" ||
  { cat "$tmp/byenv.err"; fail "the installed nsccl-model did not load trn2-16 from NSCCL_PRESET_DIR"; }
echo "ok: built and ran against the installed tree"
