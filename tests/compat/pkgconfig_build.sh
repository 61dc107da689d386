#!/bin/sh
# Build an NCCL program exactly as a user would, with the installed nsccl-nccl pkg-config module:
# install this build tree into a scratch destdir, compile the program with
#   mpicc prog.c $(pkg-config --cflags --libs nsccl-nccl)
# and run it under mpirun. Usage: pkgconfig_build.sh <build dir> <program.c> <nranks>
set -eu
build=$1 prog=$2 n=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; exit 1; }
pc=$(dirname "$(find "$tmp/root" -name nsccl-nccl.pc | head -n 1)")
libdir=$(dirname "$(find "$tmp/root" -name 'libnsccl.so' | head -n 1)")
flags=$(PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs nsccl-nccl)
echo "mpicc $(basename "$prog") $flags"
mpicc "$prog" $flags -o "$tmp/prog"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LD_LIBRARY_PATH="$libdir"
mpirun --oversubscribe --mca pml ob1 --mca btl self,vader --mca mtl '^ofi' --mca mpi_yield_when_idle 1 \
  -x LD_LIBRARY_PATH -n "$n" "$tmp/prog"
