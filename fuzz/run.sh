#!/usr/bin/env bash
# Runs the fuzz targets named as arguments (all four by default) in turn, one process each,
# SECONDS_PER_TARGET seconds each (600 by default), from the committed seeds plus the corpus
# earlier runs grew, with the target's dictionary from fuzz/dicts if it has one. Logs go to
# fuzz/logs/<target>.log. Stable Rust needs RUSTC_BOOTSTRAP=1 for the sanitizer flags that
# cargo-fuzz passes; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_TARGET:-600}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(envelope report join_code csv_import)
fi
mkdir -p fuzz/logs
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    dict=()
    if [ -f "fuzz/dicts/$target.dict" ]; then
        dict=(-dict="fuzz/dicts/$target.dict")
    fi
    echo "== $target: $seconds s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" 2>&1 |
        tee "fuzz/logs/$target.log" |
        grep -E '^(Done|stat::|==[0-9]+==|thread .* panicked|SUMMARY|artifact_prefix)' || true
done
