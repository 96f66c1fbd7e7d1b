#!/usr/bin/env bash
# Sets everything up and runs every test: bootstrap, configure, build, lit,
# ctest (GoogleTest) and pytest. Exits non-zero on any failure; the last line
# is "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"
venv="${BNB_VENV:-$root/.venv}"
results="$build/test-results"

fail() { echo "error: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

bash "$root/scripts/bootstrap.sh" || fail "bootstrap failed"
start=$(date +%s)
bash "$root/scripts/build.sh" || fail "build failed"
echo "build: $(( $(date +%s) - start ))s" >&2
rm -rf "$results" && mkdir -p "$results"

status=0
echo "== lit" >&2
/usr/lib/llvm-22/bin/lit -sv --xunit-xml-output="$results/lit.xml" \
  "$build/test" >&2 || status=1
echo "== ctest" >&2
(cd "$build" && ctest --output-on-failure --output-junit "$results/ctest.xml" \
  -j"$(nproc)") >&2 || status=1
echo "== pytest" >&2
(cd "$root" && BNB_BUILD_DIR="$build" PYTHONPATH="$root/python_frontend" \
  "$venv/bin/python" -m pytest -q python_frontend/tests \
  --junitxml="$results/pytest.xml") >&2 || status=1

summary=$("$venv/bin/python" "$root/scripts/summarize_junit.py" "$results"/*.xml) ||
  fail "could not read the test results"
echo "$summary"
# A failed runner with no failed test case (a crash, a collection error) still fails.
case "$summary" in *" 0 failed") exit $status ;; *) exit 1 ;; esac
