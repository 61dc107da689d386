#!/bin/sh
# The link route of NCCL programs' own Makefiles, from an installed tree: install this build into a
# scratch destdir, then
#  1. nsccl-nccl.pc gives libdir, compathome, compatlibdir and compatincludedir;
#  2. compatlibdir holds libnccl.so and libcudart.so, both resolving to libnsccl, and only
#     nsccl-nccl.pc puts it on the link path (nsccl.pc does not), so a real CUDA install is not
#     shadowed;
#  3. g++ prog.cc $(pkg-config --cflags --libs nsccl-nccl) -lnccl -lcudart links prog against
#     libnsccl alone, and it runs;
#  4. the flags NVIDIA's example Makefiles derive from CUDA_HOME and NCCL_HOME, both set to
#     compathome (-I$H/include, -L$H/lib64 -L$H/lib, -lcudart -lnccl, -rpath $H/lib), build it too,
#     and that binary finds libnsccl through its rpath alone.
# Usage: link_route.sh <build dir> <program.cc> [program arguments...]
set -eu
build=$1 prog=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "link_route: $*" >&2; exit 1; }
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; exit 1; }
pcdir=$(dirname "$(find "$tmp/root" -name nsccl-nccl.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir"
# Variables as installed (the sysroot is added below, as pkgconf would add it to -I/-L flags).
libdir=$(pkg-config --variable=libdir nsccl-nccl)
compatlib=$(pkg-config --variable=compatlibdir nsccl-nccl)
compatinc=$(pkg-config --variable=compatincludedir nsccl-nccl)
home=$(pkg-config --variable=compathome nsccl-nccl)
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
[ -n "$libdir" ] && [ -n "$compatlib" ] && [ -n "$compatinc" ] && [ -n "$home" ] ||
  fail "a variable of nsccl-nccl.pc is empty"
for l in libnccl.so libcudart.so; do
  [ -e "$tmp/root$compatlib/$l" ] || fail "$compatlib/$l is missing"
  [ "$(readlink -f "$tmp/root$compatlib/$l")" = "$(readlink -f "$tmp/root$libdir/libnsccl.so")" ] ||
    fail "$compatlib/$l does not resolve to libnsccl.so"
done
pkg-config --libs nsccl | grep -q "nsccl/compat" && fail "nsccl.pc puts the compat library directory on the link path"
flags="$(pkg-config --cflags --libs nsccl-nccl)"
echo "g++ $(basename "$prog") $flags -lnccl -lcudart"
g++ "$prog" $flags -lnccl -lcudart -pthread -o "$tmp/prog"
needed=$(readelf -d "$tmp/prog" | grep NEEDED)
echo "$needed" | grep -q "libnsccl.so" || fail "prog does not need libnsccl: $needed"
echo "$needed" | grep -q -e "libcudart" -e "libnccl" && fail "prog needs a CUDA or NCCL library: $needed"
LD_LIBRARY_PATH="$tmp/root$libdir" "$tmp/prog" "$@"
H="$tmp/root$home"
echo "g++ -I\$H/include $(basename "$prog") -L\$H/lib64 -L\$H/lib -lcudart -lnccl -Wl,-rpath,\$H/lib"
g++ -I"$H/include" "$prog" -L"$H/lib64" -L"$H/lib" -lcudart -lnccl -pthread -Wl,-rpath,"$H/lib" -o "$tmp/prog2" ||
  fail "the compat home does not build the program"
env -u LD_LIBRARY_PATH "$tmp/prog2" "$@"
