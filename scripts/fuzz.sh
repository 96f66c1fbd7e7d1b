#!/usr/bin/env bash
# Builds and runs one libFuzzer target of test/fuzz for a given time:
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   scripts/fuzz.sh --list
#   scripts/fuzz.sh --build-only TARGET...
#
# TARGET is safetensors, quant-config, manifest, mlir or pass-options. The
# targets are built with clang-22 (-fsanitize=fuzzer,address,undefined) into
# build-fuzz/ (or $BNB_FUZZ_BUILD_DIR), never into build/. Each run starts
# from the seed corpus test/fuzz/corpus/TARGET and the regression inputs
# test/fuzz/regression/TARGET, grows a working corpus under
# build-fuzz/fuzz-corpus/TARGET, and writes crashing inputs to
# build-fuzz/fuzz-findings/TARGET/. It runs at the lowest CPU priority.
# Needs clang-22 and its sanitizer runtimes (Debian: libclang-rt-22-dev).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNB_FUZZ_BUILD_DIR:-$root/build-fuzz}"
venv="${BNB_VENV:-$root/.venv}"
targets="safetensors quant-config manifest mlir pass-options"

usage() {
  echo "usage: $0 TARGET SECONDS [libFuzzer options...] | --list | --build-only TARGET..." >&2
  echo "targets: $targets" >&2
  exit 2
}

configure() {
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang-22 CXX=clang++-22 cmake -G Ninja -S "$root" -B "$build" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
      -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
      -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
      -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
      -DPython3_EXECUTABLE="$venv/bin/python" \
      -DBNB_ENABLE_FUZZERS=ON -DBNB_BUILD_TESTS=OFF \
      -DBNB_BUILD_BENCHMARKS=OFF >&2
  fi
}

check_target() {
  case " $targets " in *" $1 "*) ;; *) echo "error: unknown fuzz target '$1'" >&2; usage ;; esac
}

[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then
  echo "$targets"
  exit 0
fi
if [ "$1" = "--build-only" ]; then
  shift
  [ $# -ge 1 ] || usage
  configure
  bins=()
  for t in "$@"; do check_target "$t"; bins+=("bnb-fuzz-$t"); done
  nice -n 19 ninja -C "$build" "${bins[@]}" >&2
  exit 0
fi
[ $# -ge 2 ] || usage
target="$1" seconds="$2"
shift 2
check_target "$target"
case "$seconds" in ''|*[!0-9]*) echo "error: SECONDS must be a number, got '$seconds'" >&2; exit 2 ;; esac
configure
nice -n 19 ninja -C "$build" "bnb-fuzz-$target" >&2

corpus="$build/fuzz-corpus/$target"
findings="$build/fuzz-findings/$target"
mkdir -p "$corpus" "$findings"
seeds=("$root/test/fuzz/corpus/$target")
[ -d "$root/test/fuzz/regression/$target" ] && seeds+=("$root/test/fuzz/regression/$target")
# Leaks are reported by the regression tests' own sanitizer build; here a
# leak in the upstream libraries would stop the run. allow_user_poisoning=0:
# LLVM's BumpPtrAllocator poisons its free slab space when inlined into our
# instrumented code, but libMLIR.so (not instrumented) allocates from the
# same slabs with its own copy, which ASan then reports as use-after-poison.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:allow_user_poisoning=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
exec nice -n 19 "$build/bin/bnb-fuzz-$target" "$corpus" "${seeds[@]}" \
  -max_total_time="$seconds" -artifact_prefix="$findings/" \
  -rss_limit_mb=4096 -max_len=65536 -timeout=20 -print_final_stats=1 "$@"
