#!/bin/sh
# Runs every libFuzzer target in BUILD/tests/fuzz for SECONDS each, starting from the
# committed seed corpus (tests/fuzz/corpus/<target>), which a run does not modify.
set -eu
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
dir="$BUILD/tests/fuzz"
[ -d "$dir" ] || { echo "fuzz: no targets in $dir" >&2; exit 0; }
found=0
for t in "$dir"/fuzz_*; do
    [ -x "$t" ] || continue
    found=1
    name=$(basename "$t")
    work=$(mktemp -d)
    seeds="tests/fuzz/corpus/$name"
    echo "fuzz: $name for ${SECONDS_EACH}s"
    if [ -d "$seeds" ]; then
        "$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$work" "$seeds" 2>"$work.log" \
            || { tail -50 "$work.log"; exit 1; }
    else
        "$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$work" 2>"$work.log" \
            || { tail -50 "$work.log"; exit 1; }
    fi
    grep -E "stat::number_of_executed_units" "$work.log" || true
    rm -rf "$work" "$work.log"
done
[ "$found" = 1 ] || echo "fuzz: no targets built" >&2
