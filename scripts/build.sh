#!/usr/bin/env bash
# Configures and builds bnb-mlir into ./build (or $BNB_BUILD_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"
venv="${BNB_VENV:-$root/.venv}"

if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DPython3_EXECUTABLE="$venv/bin/python" ${BNB_CMAKE_ARGS:-} >&2
fi
ninja -C "$build" "$@" >&2
