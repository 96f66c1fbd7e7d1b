#!/usr/bin/env bash
# One run of every CPU benchmark, back to back, for docs/benchmarks.md:
# bnb-cpu-bench (microkernels against a STREAM-like copy), with the weights
# out of cache and in cache; bitsandbytes 0.50 and torch on the same shapes
# (bench/cpu/bnb_torch_baseline.py, in its own venv; skipped unless
# bench/cpu/setup_baseline_venv.sh was run); and bench_models.py (compile
# time and forward latency of whole models). Results go to OUT (default
# out/cpu-bench) with the load average before and after each step.
#   bench/cpu/run_cpu_bench.sh [OUT]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"
out="${1:-$root/out/cpu-bench}"
mkdir -p "$out"
load() { echo "$1: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"; }
: > "$out/load.txt"
bench="$build/bench/bnb-cpu-bench"
common=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)

load "start"
"$bench" "${common[@]}" --benchmark_format=json > "$out/ukernels-out-of-cache.json"
load "ukernels out of cache"
BNB_BENCH_IN_CACHE=1 "$bench" "${common[@]}" --benchmark_format=json \
  > "$out/ukernels-in-cache.json"
load "ukernels in cache"
baseline="$root/bench/.venv-baseline/bin/python"
if [ -x "$baseline" ]; then
  "$baseline" "$root/bench/cpu/bnb_torch_baseline.py" --threads 2 \
    --json "$out/bnb-torch-in-cache.json" > "$out/bnb-torch-in-cache.md" 2>/dev/null
  load "bitsandbytes/torch in cache"
  "$baseline" "$root/bench/cpu/bnb_torch_baseline.py" --threads 2 --flush \
    --json "$out/bnb-torch-flushed.json" > "$out/bnb-torch-flushed.md" 2>/dev/null
  load "bitsandbytes/torch flushed"
else
  echo "bench: no bench/.venv-baseline; bitsandbytes/torch skipped" >&2
fi
"$root/.venv/bin/python" "$root/bench/cpu/bench_models.py" --build "$build" \
  --json "$out/models.json" > "$out/models.md"
load "models"
echo "results in $out"
