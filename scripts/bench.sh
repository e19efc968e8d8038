#!/bin/sh
# Runs every benchmark in BUILD/bench (each prints its figures beside its own baseline,
# measured in the same run), then one table of every "RESULT|..." line they printed.
#   sh scripts/bench.sh [BUILD]          defaults: quick runs (each <= ~60 s)
#   BENCH_FULL=1 sh scripts/bench.sh     the full targets (10,000 connections, 1M records)
set -u
BUILD=${1:-build}
OUT=$(mktemp "${TMPDIR:-/tmp}/fs-bench-XXXXXX")
trap 'rm -f "$OUT" "$OUT.one"' EXIT
status=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    args=""
    if [ "${BENCH_FULL:-0}" = 1 ]; then
        case "$name" in
        bench_conns) args="--conns 10000" ;;
        bench_pull) args="--records 1000000" ;;
        bench_ingest) args="--seconds 30" ;;
        esac
    fi
    echo "== $name $args"
    # Stream the output (RESULT lines kept for the table), and keep the bench's own status.
    # shellcheck disable=SC2086
    { "$b" $args; echo "EXIT|$?"; } 2>&1 | tee "$OUT.one" | grep -v '^RESULT|' | grep -v '^EXIT|'
    cat "$OUT.one" >>"$OUT"
    if ! grep -q '^EXIT|0$' "$OUT.one"; then
        echo "!! $name failed"
        echo "RESULT|${name#bench_}|FAILED|0|-|-|-|MISSED" >>"$OUT"
        status=1
    fi
done
echo
echo "== fieldsync benchmarks: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep '^RESULT|' "$OUT" | awk -F'|' '
    BEGIN { printf "%-10s %-40s %14s %-10s %-28s %-20s %s\n", "bench", "metric", "value", "unit",
            "baseline (same run)", "target", "verdict";
            printf "%-10s %-40s %14s %-10s %-28s %-20s %s\n", "-----", "------", "-----", "----",
            "-------------------", "------", "-------" }
    { printf "%-10s %-40s %14s %-10s %-28s %-20s %s\n", $2, $3, $4, $5, $6, $7, $8 }'
exit $status
