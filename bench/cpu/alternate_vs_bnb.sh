#!/usr/bin/env bash
# Batch-1 4-bit GEMVs, ours against bitsandbytes, alternated round by round
# so that both sides see the same load on a shared machine: each round runs
# bnb-cpu-bench (FILTER) then bnb_torch_baseline.py (KINDS, --rows 1), in
# cache and then out of cache (our ≥ 1 GiB of weight copies, their --flush).
# Prints one line per figure ("ours|bnb in|out NAME ms") and, at the end,
# the median over the rounds of each, with bitsandbytes' time over ours.
#   bench/cpu/alternate_vs_bnb.sh [ROUNDS] [FILTER] [KINDS]
# defaults: 4, 'BM_Nf4F32/M:1/', 'bnb_nf4_f32,bnb_nf4_dq_f32' (compute dtype
# f32); for bf16 compute: 'BM_Nf4/M:1/' 'bnb_nf4,bnb_nf4_dq'.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"
rounds="${1:-4}"
filter="${2:-BM_Nf4F32/M:1/}"
kinds="${3:-bnb_nf4_f32,bnb_nf4_dq_f32}"
baseline="$root/bench/.venv-baseline/bin/python"
if [ ! -x "$baseline" ]; then
  echo "alternate_vs_bnb: no bench/.venv-baseline (run bench/cpu/setup_baseline_venv.sh)" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "# $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg), $(git -C "$root" log --oneline -1 | cut -c1-60)"
for _ in $(seq "$rounds"); do
  for where in in out; do
    if [ "$where" = in ]; then cache=1; flush=(); else cache=0; flush=(--flush); fi
    BNB_BENCH_IN_CACHE=$cache "$build/bench/bnb-cpu-bench" \
      --benchmark_filter="$filter" --benchmark_repetitions=5 \
      --benchmark_report_aggregates_only=true 2>/dev/null |
      awk -v w="$where" '/_median/ { n = $1; sub(/_median/, "", n);
        sub(/\/real_time/, "", n); print "ours", w, n, $2 }' | tee -a "$log"
    "$baseline" "$root/bench/cpu/bnb_torch_baseline.py" --kinds "$kinds" \
      --rows 1 --runs 20 "${flush[@]}" 2>/dev/null |
      awk -F'|' -v w="$where" '/^\| bnb/ { gsub(/ /, "", $2); gsub(/ /, "", $4);
        gsub(/ /, "", $5); gsub(/ /, "", $6); print "bnb", w, $2 "/" $4 "x" $5, $6 }' |
      tee -a "$log"
  done
done
echo "# $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)"
# Pair ours (BM_x/M:1/N:n/K:k/dq:d) with bitsandbytes (kind/nxk) by shape,
# dq and where; medians over the rounds.
python3 - "$log" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, where, name, ms = line.split()
    m = re.search(r"N:(\d+)/K:(\d+)/dq:(\d)", name)
    if m:
        key = (where, f"{m[1]}x{m[2]}", m[3] == "1")
    else:
        m = re.search(r"bnb_nf4(_dq)?(_f32)?/(\d+x\d+)", name)
        if not m:
            continue
        key = (where, m[3], bool(m[1]))
    runs.setdefault(key, {}).setdefault(side, []).append(float(ms))
for (where, shape, dq), t in sorted(runs.items()):
    if "ours" in t and "bnb" in t:
        o, b = statistics.median(t["ours"]), statistics.median(t["bnb"])
        print(f"{where:3} {shape:10} {'nf4+dq' if dq else 'nf4':7}"
              f" ours {o:.3f} ms  bnb {b:.3f} ms  bnb/ours {b / o:.2f}")
PY
