#!/usr/bin/env bash
# Sets up bnb-mlir and runs the main job on the bundled example.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"

bash "$root/scripts/bootstrap.sh"
bash "$root/scripts/build.sh"

example="$root/examples/contract/up_proj.mlir"
echo "== $example through bnb-opt (parse, verify, print)"
"$build/bin/bnb-opt" "$example"
