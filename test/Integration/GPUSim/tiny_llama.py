# RUN: %python %s %t
# A whole LLaMA-style decoder (examples/tiny-llama: embedding, RMS norms,
# rotary embeddings, grouped-query attention, SiLU MLP, lm_head) quantized
# with LLM.int8(), NF4 (f16 compute: the tensor-core GEMV) and NF4 + double
# quantization (f32 compute: the SIMT GEMV), lowered by the GPU pipeline's
# device preparation and run in the simulator. Its logits must match the
# CPU artifact of the same quantized weights (bnb-compile --target cpu,
# bnb-run) up to the summation order of the matmuls.

import os
import re
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file
from simtest import PREPARE, Runner, check, workdir

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                    ".."))
env = dict(os.environ,
           PYTHONPATH=os.path.join(root, "python_frontend") + os.pathsep +
           os.environ.get("PYTHONPATH", ""))
work = workdir()
run = Runner(os.path.join(work, "sim"))


def sh(*args, cwd=None):
    subprocess.run(list(args), check=True, env=env, cwd=cwd,
                   stdout=subprocess.DEVNULL)


model = os.path.join(work, "tiny-llama")
sh(sys.executable, os.path.join(root, "examples", "tiny-llama",
                                "make_model.py"), model)
graph = os.path.join(work, "tiny-llama.mlir")
sh(sys.executable, "-m", "bnb_mlir", "import", model, "-o", graph,
   "--no-generation")
input_ids = load_file(os.path.join(model, "input_ids.safetensors"))

CONFIGS = {
    "int8": (["--load-in-8bit"], "load-in-8bit=true"),
    "nf4-f16": (["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                 "--bnb-4bit-compute-dtype", "float16"],
                "load-in-4bit=true bnb-4bit-quant-type=nf4 "
                "bnb-4bit-compute-dtype=float16"),
    "nf4-dq": (["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                "--bnb-4bit-use-double-quant"],
               "load-in-4bit=true bnb-4bit-quant-type=nf4 "
               "bnb-4bit-use-double-quant=true"),
}

for name, (flags, options) in CONFIGS.items():
    # The CPU artifact.
    config = os.path.join(work, name + ".json")
    sh(sys.executable, "-m", "bnb_mlir", "config", *flags, "-o", config)
    artifact = os.path.join(work, name + ".bnb")
    sh("bnb-compile", graph, "--config", config, "--target", "cpu", "--force",
       "-o", artifact)
    cpu_out = os.path.join(work, name + ".cpu.safetensors")
    sh("bnb-run", artifact, "--input",
       os.path.join(model, "input_ids.safetensors"), "--output", cpu_out)
    cpu = load_file(cpu_out)["logits"].astype(np.float32)

    # The same quantized graph through the GPU lowering, in the simulator.
    weights = os.path.join(work, name + ".weights.safetensors")
    quantized = os.path.join(work, name + ".quantized.mlir")
    sh("bnb-opt", graph, f"--bnb-quantize={options} output={weights}",
       "--bnb-externalize-weights", "--bnb-prepare-entry-points", "-o",
       quantized, cwd=work)
    text = open(quantized).read()
    signature = re.search(r"func\.func @forward\((.*?)\)\s*->", text,
                          re.S).group(1)
    keys = re.findall(r'bnb\.weight = "([^"]*)"', signature)
    tensors = load_file(weights)
    inputs = [input_ids["input_ids"]] + [tensors[k] for k in keys]
    (gpu,) = run.run(run.lower(text, PREPARE), "forward", inputs, 1)
    gpu = gpu.astype(np.float32)

    rel = np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu)
    check(gpu.shape == cpu.shape, name + ": logits shape")
    check(rel < 5e-3, f"{name}: relative L2 difference {rel:.2e}")
    check(np.array_equal(gpu.argmax(-1), cpu.argmax(-1)),
          name + ": next-token predictions differ")
    print(f"{name}: relative L2 difference to the CPU artifact {rel:.2e}")
print("ok")
