#!/usr/bin/env bash
# Times bnb-compile of a (sharded) checkpoint against reading its input bytes
# once from the page cache, in the same run.
#
#   bench/compile/run_compile_bench.sh CKPT_DIR WORK_DIR [REPS] [CONFIGS...]
#
# CKPT_DIR is what make_llama_7b_shape.py wrote (config.json + shards). The
# graph is imported once into WORK_DIR; then, REPS times (default 3), the
# shards are read once with `cat > /dev/null` and each config (nf4, nf4dq,
# int8 by default; `none` skips every linear) is compiled for the CPU under
# /usr/bin/time. Every line of WORK_DIR/results.txt carries the load average;
# the summary at the end gives medians, the ratio compile / read and the
# CPU time (user + sys, less sensitive than wall time to other tenants). With
# BASE_BIN=DIR, DIR/bnb-compile (an older build) also compiles every config
# in the same loop, as "CONFIG-base", for before/after figures.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CKPT=$(cd "$1" && pwd)
WORK=$2
REPS=${3:-3}
shift $(( $# >= 3 ? 3 : $# ))
CONFIGS=("$@")
[ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=(nf4 nf4dq int8)
BIN=${BNB_BIN:-$ROOT/build/bin}
PY=${PYTHON:-$ROOT/.venv/bin/python}

mkdir -p "$WORK"
cd "$WORK"
OUT=results.txt
: > "$OUT"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Quantization configs as transformers writes them (bf16 compute).
write_config() {
  case $1 in
  nf4) echo '{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_compute_dtype": "bfloat16"}' ;;
  nf4dq) echo '{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_use_double_quant": true, "bnb_4bit_compute_dtype": "bfloat16"}' ;;
  fp4) echo '{"load_in_4bit": true, "bnb_4bit_quant_type": "fp4",
      "bnb_4bit_compute_dtype": "bfloat16"}' ;;
  int8) echo '{"load_in_8bit": true}' ;;
  none) echo '{"load_in_8bit": true, "llm_int8_skip_modules": ["model", "lm_head"]}' ;;
  *) echo "unknown config $1" >&2; exit 2 ;;
  esac > "$1.json"
}

{
  echo "commit $(git -C "$ROOT" log -1 --format=%h) $(date -u '+%F %T') UTC"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores"
  echo "input $(du -cb "$CKPT"/*.safetensors | tail -1 | cut -f1) bytes"
} >> "$OUT"
"$PY" -c 'import sys' # Fail early without the venv.
env PYTHONPATH="$ROOT/python_frontend" "$PY" -m bnb_mlir import "$CKPT" \
  --max-seq-len 2048 -o model.mlir > /dev/null
for cfg in "${CONFIGS[@]}"; do write_config "$cfg"; done

# Warm the page cache, so every read and compile below starts from it.
cat "$CKPT"/*.safetensors > /dev/null
for rep in $(seq "$REPS"); do
  /usr/bin/time -f "read %e s cpu %U+%S s" -a -o "$OUT" \
    sh -c "cat '$CKPT'/*.safetensors > /dev/null"
  echo "  load $(load)" >> "$OUT"
  for cfg in "${CONFIGS[@]}"; do
    rm -rf "out-$cfg.bnb"
    /usr/bin/time -f "compile $cfg %e s %M KB cpu %U+%S s" -a -o "$OUT" \
      "$BIN/bnb-compile" model.mlir --config "$cfg.json" --target cpu \
      -o "out-$cfg.bnb" --force 2> "progress-$cfg-$rep.txt"
    echo "  load $(load) $(tr '\n' ' ' < "progress-$cfg-$rep.txt")" >> "$OUT"
    rm -rf "out-$cfg.bnb"
    if [ -n "${BASE_BIN:-}" ]; then
      /usr/bin/time -f "compile $cfg-base %e s %M KB cpu %U+%S s" -a -o "$OUT" \
        "$BASE_BIN/bnb-compile" model.mlir --config "$cfg.json" --target cpu \
        -o "out-$cfg.bnb" --force 2> "progress-$cfg-base-$rep.txt"
      echo "  load $(load) $(tr '\n' ' ' < "progress-$cfg-base-$rep.txt")" >> "$OUT"
      rm -rf "out-$cfg.bnb"
    fi
  done
done

# Medians of the reads and of each config's compiles, and the ratios.
"$PY" - "$OUT" <<'EOF'
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
reads = [float(m.group(1)) for l in lines if (m := re.match(r"read ([\d.]+) s", l))]
runs = {}
for l in lines:
    if m := re.match(r"compile (\S+) ([\d.]+) s (\d+) KB cpu ([\d.]+)\+([\d.]+) s", l):
        runs.setdefault(m.group(1), []).append(
            (float(m.group(2)), int(m.group(3)), float(m.group(4)) + float(m.group(5))))
read = statistics.median(reads)
out = ["reads: %s s, median %.2f s" % (", ".join("%.2f" % r for r in reads), read)]
for cfg, rs in runs.items():
    wall = statistics.median(r[0] for r in rs)
    rss = max(r[1] for r in rs) / 1e6
    cpu = statistics.median(r[2] for r in rs)
    out.append("%s: %s s, median %.2f s = %.2fx read, CPU (user+sys) median "
               "%.2f s, peak RSS %.2f GB" % (
                   cfg, ", ".join("%.2f" % r[0] for r in rs), wall, wall / read,
                   cpu, rss))
print("\n".join(out))
open(sys.argv[1], "a").write("\n".join(out) + "\n")
EOF
