#!/usr/bin/env bash
# Sets everything up and runs every test: bootstrap, configure, build, lit,
# ctest (GoogleTest) and pytest. Exits non-zero on any failure; the last line
# is "N passed, N failed, N skipped".
#   scripts/test.sh              # the release build in ./build
#   scripts/test.sh --sanitize   # AddressSanitizer + UBSan build in ./build-sanitize
# BNB_TEST_SUITES (default "lit ctest pytest") runs a subset.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--sanitize" ]; then
  export BNB_BUILD_DIR="${BNB_BUILD_DIR:-$root/build-sanitize}"
  export BNB_CMAKE_ARGS="-DBNB_SANITIZE=ON -DBNB_BUILD_BENCHMARKS=OFF"
  # Leak checking is off: MLIR's and LLVM's global registries live until
  # exit by design. Instrumented libraries (libbnb_runtime) are also loaded
  # into uninstrumented processes (mlir-runner, Python), hence the link
  # order check is off.
  export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/test.sh [--sanitize]" >&2
  exit 2
fi
build="${BNB_BUILD_DIR:-$root/build}"
venv="${BNB_VENV:-$root/.venv}"
results="$build/test-results"

fail() { echo "error: $*" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

bash "$root/scripts/bootstrap.sh" || fail "bootstrap failed"
start=$(date +%s)
bash "$root/scripts/build.sh" || fail "build failed"
echo "build: $(( $(date +%s) - start ))s" >&2
rm -rf "$results" && mkdir -p "$results"

suites=" ${BNB_TEST_SUITES:-lit ctest pytest} "
status=0
if [[ $suites == *" lit "* ]]; then
  echo "== lit" >&2
  /usr/lib/llvm-22/bin/lit -sv --xunit-xml-output="$results/lit.xml" \
    "$build/test" >&2 || status=1
fi
if [[ $suites == *" ctest "* ]]; then
  echo "== ctest" >&2
  (cd "$build" && ctest --output-on-failure --output-junit "$results/ctest.xml" \
    -j"$(nproc)") >&2 || status=1
fi
if [[ $suites == *" pytest "* ]]; then
  echo "== pytest" >&2
  (cd "$root" && BNB_BUILD_DIR="$build" PYTHONPATH="$root/python_frontend" \
    "$venv/bin/python" -m pytest -q python_frontend/tests \
    --junitxml="$results/pytest.xml") >&2 || status=1
fi

summary=$("$venv/bin/python" "$root/scripts/summarize_junit.py" "$results"/*.xml) ||
  fail "could not read the test results"
echo "$summary"
# A failed runner with no failed test case (a crash, a collection error) still fails.
case "$summary" in *" 0 failed, "*) exit $status ;; *) exit 1 ;; esac
