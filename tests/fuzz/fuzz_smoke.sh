#!/bin/sh
# fuzz_smoke.sh TARGET SEED_DIR SECONDS: run a libFuzzer target for SECONDS from the seeds, keeping
# what it finds in a scratch corpus next to the binary (never in the source tree). A crash leaves
# crash-* (the input) in the scratch directory and fails.
set -eu
target=$1 seeds=$2 seconds=$3
work="$(dirname "$target")/$(basename "$target")-work"
mkdir -p "$work/corpus"
cd "$work"
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
