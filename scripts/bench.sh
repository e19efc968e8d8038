#!/bin/sh
# Runs every benchmark in BUILD/bench; each prints its figures beside its own baseline.
set -eu
BUILD=${1:-build}
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
