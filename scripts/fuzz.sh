#!/usr/bin/env bash
# Builds every fuzz target (cargo-fuzz, stable, no sanitizer) and runs each one: for RUNS
# executions (default 10 million: the long runs of RELIABILITY.md), or for SECONDS each with
# `--seconds N` (CI). Corpora grow in a scratch directory; the seeds in fuzz/corpus/ are read.
#   scripts/fuzz.sh [--seconds N | --runs N] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${HASHRIG_TOOLS:-$HOME/.cache/hashrig/tools}"
TARGET_DIR="${HASHRIG_FUZZ_TARGET:-$HOME/.cache/hashrig/fuzz-target}"
WORK="${HASHRIG_FUZZ_WORK:-$HOME/.cache/hashrig/fuzz-corpus}"
limit="-runs=10000000"
case "${1:-}" in
    --seconds) limit="-max_total_time=$2"; shift 2 ;;
    --runs) limit="-runs=$2"; shift 2 ;;
esac
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
    cargo install cargo-fuzz --version 0.13.2 --locked --root "$TOOLS"
fi
(cd fuzz && "$TOOLS/bin/cargo-fuzz" build -s none --target-dir "$TARGET_DIR")
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($("$TOOLS/bin/cargo-fuzz" list --fuzz-dir fuzz))
status=0
for t in "${targets[@]}"; do
    mkdir -p "$WORK/$t" "$WORK/artifacts/$t"
    echo "== $t ($limit)"
    log="$WORK/$t.log"
    if "$TARGET_DIR/x86_64-unknown-linux-gnu/release/$t" "$WORK/$t" "fuzz/corpus/$t" \
        "$limit" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$WORK/artifacts/$t/" >"$log" 2>&1; then
        grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$log" || true
    else
        status=1
        echo "FAILED: $t (artifacts in $WORK/artifacts/$t/)"
        grep -E -A20 "panicked|ERROR: libFuzzer|SUMMARY" "$log" | head -60
    fi
done
exit $status
