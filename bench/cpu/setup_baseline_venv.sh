#!/usr/bin/env bash
# Creates bench/.venv-baseline with torch + bitsandbytes 0.50.x + numpy, used
# only by bench/cpu/bnb_torch_baseline.py. The test suite never needs it.
#
# Idempotent: does nothing when `import torch, bitsandbytes, numpy` already
# works in the venv. Only PyPI is reachable from our machines, so torch comes
# from PyPI (the Linux x86_64 wheel pulls the nvidia-* CUDA packages, several
# GiB; that is expected, they are unused on CPU).
#
# Usage: bench/cpu/setup_baseline_venv.sh   (from anywhere)
# Env:   BNB_BASELINE_VENV  override the venv path
#        PIP_JOBS_NICE      nice level for pip (default 10, keeps CPU modest)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${BNB_BASELINE_VENV:-$repo/bench/.venv-baseline}"
nice_lvl="${PIP_JOBS_NICE:-10}"

check() {
  "$venv/bin/python" - <<'EOF' 2>/dev/null
import torch, bitsandbytes, numpy
assert bitsandbytes.__version__.startswith("0.50"), bitsandbytes.__version__
print(f"torch {torch.__version__}, bitsandbytes {bitsandbytes.__version__}, numpy {numpy.__version__}")
EOF
}

if [[ -x "$venv/bin/python" ]] && check; then
  echo "baseline venv ready: $venv"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv $venv"
  python3 -m venv "$venv"
fi
# Keep the venv out of `git status` (Python >= 3.13 venv does this itself).
[[ -f "$venv/.gitignore" ]] || echo '*' > "$venv/.gitignore"

pip=("$venv/bin/python" -m pip)
nice -n "$nice_lvl" "${pip[@]}" install --quiet --upgrade pip
nice -n "$nice_lvl" "${pip[@]}" install --progress-bar off \
  torch 'bitsandbytes==0.50.*' numpy

check || { echo "error: install finished but import check failed" >&2; exit 1; }
end=$(date +%s)
echo "baseline venv installed in $((end - start)) s: $venv ($(du -sh "$venv" | cut -f1))"
