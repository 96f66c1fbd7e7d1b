#!/usr/bin/env bash
# The one command for a GPU machine.
#
#   scripts/gpu-check.sh prepare [DIR]   on the build machine (LLVM/MLIR present):
#       builds, writes the check cases (scripts/gpu_check/cases.py), compiles
#       each for cuda:sm_90 and for the CPU, runs the CPU build to get the
#       expected outputs, and gathers everything the GPU machine needs in DIR
#       (default gpu-check/): artifacts, inputs, expected outputs, bnb-run,
#       libbnb_runtime.so, the GPU benchmark and its kernels.
#   scripts/gpu-check.sh run [DIR]       on the GPU machine (no LLVM needed):
#       runs every case (kernels at model shapes and the whole demo model in
#       int8, nf4 and nf4 + double quant) with bnb-run --device cuda and
#       compares it with the CPU build, reruns each under compute-sanitizer
#       memcheck and the shared-memory kernels under racecheck, measures the
#       GPU's fast-math reciprocal against bnb-mlir's, generates 32
#       tokens greedily from the tiny LLaMA (scripts/gpu_check/generation.py:
#       tokens compared with the CPU build's, prefill and decode tok/s),
#       runs the GPU benchmark, and prints one summary. Exits non-zero if
#       anything failed.
#       BNB_GPU_CHECK_STEPS chooses what run does, in that order (default
#       "cases sanitize probe generation bench"): a lease too short for all
#       of it can run the checks and the benchmark first and the slow
#       sanitizers in a second call. Each sanitizer run is stopped after
#       BNB_GPU_SANITIZE_TIMEOUT seconds (default 120) and counts as failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-}"
dir="${2:-$root/gpu-check}"
chip="${BNB_GPU_CHIP:-sm_90}"

case "$mode" in
prepare)
  set -e
  build="${BNB_BUILD_DIR:-$root/build}"
  venv="${BNB_VENV:-$root/.venv}"
  bash "$root/scripts/bootstrap.sh"
  bash "$root/scripts/build.sh"
  rm -rf "$dir" && mkdir -p "$dir/cases" "$dir/bin" "$dir/lib"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$venv/bin/python" "$root/scripts/gpu_check/cases.py" "$work"
  for case_dir in "$work"/*/; do
    name="$(basename "$case_dir")"
    out="$dir/cases/$name"
    mkdir -p "$out"
    echo "prepare: $name" >&2
    "$build/bin/bnb-compile" "$case_dir/model.mlir" --config "$case_dir/config.json" \
      --target "cuda:$chip" -o "$out/gpu.bnb" --quiet
    "$build/bin/bnb-compile" "$case_dir/model.mlir" --config "$case_dir/config.json" \
      --target cpu -o "$work/$name-cpu.bnb" --quiet
    "$build/bin/bnb-run" "$work/$name-cpu.bnb" --input "$case_dir/inputs.safetensors" \
      --output "$out/expected.safetensors"
    cp "$case_dir/inputs.safetensors" "$case_dir/case.json" "$out/"
  done
  echo "prepare: generation" >&2
  "$venv/bin/python" "$root/scripts/gpu_check/generation.py" prepare "$dir/generation" \
    --chip "$chip" --bin "$build/bin" --python "$venv/bin/python" >&2
  cp "$build/bin/bnb-run" "$dir/bin/"
  cp "$build/lib/libbnb_runtime.so" "$dir/lib/"
  cp "$root/scripts/gpu_check/compare.py" "$root/scripts/gpu_check/generation.py" \
    "$root/scripts/gpu_check/reciprocal_probe.cu" "$root/scripts/gpu-check.sh" "$dir/"
  if [ -x "$build/bin/bnb-gpu-bench" ]; then
    cp "$build/bin/bnb-gpu-bench" "$dir/bin/"
    cp "$root/bench/gpu/cublas_baseline.py" "$dir/"
  fi
  du -sh "$dir" >&2
  echo "prepared $dir; on the GPU machine run: bash $(basename "$dir")/gpu-check.sh run $(basename "$dir")" >&2
  ;;
run)
  here="$(cd "$dir" && pwd)"
  export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  py="$(command -v python3)"
  steps=" ${BNB_GPU_CHECK_STEPS:-cases sanitize probe generation bench} "
  want() { case "$steps" in *" $1 "*) return 0 ;; esac; return 1; }
  summary=()
  failed=0
  # Each verdict is printed as it comes, so a run stopped early still tells.
  record() { summary+=("$1"); echo "$1"; case "$1" in FAIL*) failed=$((failed + 1)) ;; esac; }
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no GPU: nvidia-smi does not list a device" >&2
    exit 1
  fi
  nvidia-smi -L
  sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
  # sanitize TOOL NAME CASE_DIR [TOOL OPTIONS]: reruns a case under
  # compute-sanitizer's TOOL and records the verdict.
  sanitize() {
    local tool="$1" name="$2" case_dir="$3"
    shift 3
    if timeout "${BNB_GPU_SANITIZE_TIMEOUT:-120}" \
        "$sanitizer" --tool "$tool" --error-exitcode 1 "$@" \
        "$here/bin/bnb-run" "$case_dir/gpu.bnb" --device cuda \
        --input "$case_dir/inputs.safetensors" --output "$case_dir/$tool.safetensors" \
        >"$case_dir/$tool.log" 2>&1; then
      record "PASS $name: compute-sanitizer $tool clean"
    else
      record "FAIL $name: compute-sanitizer $tool: $(grep -m1 -E 'ERROR|Race|error' "$case_dir/$tool.log")"
    fi
  }
  for case_dir in "$here"/cases/*/; do
    name="$(basename "$case_dir")"
    log="$case_dir/run.log"
    if want cases; then
      if ! "$here/bin/bnb-run" "$case_dir/gpu.bnb" --device cuda --report \
          --input "$case_dir/inputs.safetensors" --output "$case_dir/actual.safetensors" >"$log" 2>&1; then
        record "FAIL $name: bnb-run: $(tail -1 "$log")"
        continue
      fi
      verdict="$("$py" "$here/compare.py" "$case_dir/case.json" \
        "$case_dir/expected.safetensors" "$case_dir/actual.safetensors" 2>&1 | tail -1)"
      case "$verdict" in ok*) record "PASS $name: $verdict" ;; *) record "FAIL $name: $verdict" ;; esac
    fi
    want sanitize || continue
    if [ -n "$sanitizer" ]; then
      sanitize memcheck "$name" "$case_dir" --leak-check full
    else
      record "SKIP $name: compute-sanitizer not found"
    fi
    # racecheck (shared-memory hazards) is slow: the kernels with shared
    # memory, once each, through the cases that use them.
    case "$name" in primitives|nf4_dq_gemv_4096x4096|nf4_dq_gemm_m16|int8_outliers_m256|tiny_llama_nf4_dq)
      [ -n "$sanitizer" ] && sanitize racecheck "$name" "$case_dir" --racecheck-report hazard ;;
    esac
  done
  # How often the GPU's fast-math reciprocal differs from the correctly
  # rounded one bnb-mlir uses (information for docs/numerics.md, not a check).
  if want probe && { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }; then
    nvcc_bin="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
    if "$nvcc_bin" --use_fast_math -o "$here/reciprocal_probe" "$here/reciprocal_probe.cu" \
        >"$here/reciprocal_probe.log" 2>&1 && "$here/reciprocal_probe" >>"$here/reciprocal_probe.log" 2>&1; then
      record "INFO $(tail -1 "$here/reciprocal_probe.log")"
    else
      record "SKIP reciprocal probe: $(tail -1 "$here/reciprocal_probe.log")"
    fi
  fi
  gen="$here/generation"
  if ! want generation && ! want sanitize; then
    :
  elif [ -f "$gen/generation.json" ]; then
    echo "== generation"
    if want generation; then
      verdict="$("$py" "$here/generation.py" check "$gen" --bnb-run "$here/bin/bnb-run" 2>&1 | tail -1)"
      case "$verdict" in PASS*|FAIL*) record "$verdict" ;; *) record "FAIL generation: $verdict" ;; esac
      cat "$gen/run.log" 2>/dev/null
    fi
    if want sanitize && [ -n "$sanitizer" ]; then
      if timeout "${BNB_GPU_SANITIZE_TIMEOUT:-120}" "$sanitizer" --tool memcheck --error-exitcode 1 --leak-check full \
          "$here/bin/bnb-run" "$gen/gpu.bnb" --device cuda --generate \
          --prompt-ids 1,7,42,3,99,5,6,200,8,9,10,11,12,13,14,15,16,17,18,19 \
          --max-new-tokens 4 >"$gen/memcheck.log" 2>&1; then
        record "PASS generation: compute-sanitizer memcheck clean"
      else
        record "FAIL generation: compute-sanitizer memcheck: $(grep -m1 -E 'ERROR|error' "$gen/memcheck.log")"
      fi
    fi
  else
    record "SKIP generation: not prepared"
  fi
  if ! want bench; then
    :
  elif [ -x "$here/bin/bnb-gpu-bench" ]; then
    echo "== GPU benchmark"
    # cuBLAS for the f16 baseline: the one PyTorch ships, unless given.
    if [ -z "${BNB_CUBLAS:-}" ]; then
      BNB_CUBLAS="$("$py" -c 'import glob, os, site
for d in site.getsitepackages():
    for f in sorted(glob.glob(os.path.join(d, "nvidia/cublas/lib/libcublas.so*"))):
        print(f); raise SystemExit' 2>/dev/null || true)"
      export BNB_CUBLAS
    fi
    if "$here/bin/bnb-gpu-bench" --json="$here/bench.json" | tee "$here/bench.txt"; then
      record "PASS bnb-gpu-bench (figures in $here/bench.txt)"
    else
      record "FAIL bnb-gpu-bench"
    fi
    if "$py" "$here/cublas_baseline.py" | tee -a "$here/bench.txt"; then
      record "PASS cublas_baseline.py (PyTorch f16 baselines in $here/bench.txt)"
    else
      record "SKIP cublas_baseline.py: PyTorch with CUDA not available"
    fi
  else
    record "SKIP bnb-gpu-bench: not built"
  fi
  echo
  echo "== summary"
  printf '%s\n' "${summary[@]}"
  echo "$(( ${#summary[@]} - failed )) ok or skipped, $failed failed"
  [ "$failed" -eq 0 ]
  ;;
*)
  echo "usage: scripts/gpu-check.sh prepare|run [DIR]" >&2
  exit 2
  ;;
esac
