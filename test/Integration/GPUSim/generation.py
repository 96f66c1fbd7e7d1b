# RUN: %python %s %t
# Generation on the GPU path: @prefill and @decode (rotary embeddings or
# learned positions at a run-time position, the in-place KV cache insert,
# attention over the cache, the last row's logits) through the GPU
# pipeline's device preparation, run in the simulator step by step with the
# caches carried from call to call: the tiny LLaMA (GQA, f16) quantized with
# NF4 (f16 compute: the tensor-core GEMV) and LLM.int8(), and a small GPT-2
# (learned positions, LayerNorm, GELU, biases, f32) with NF4.
#
# Each step runs the CPU artifact's entry point on the same inputs (ids,
# position and the caches the simulator left), so the logits are compared
# without error carried over from earlier steps: relative L2 difference
# below 5e-3 and the same next token. The greedy tokens of the simulated
# prompt + decode loop equal those of `bnb-run --generate` on the CPU
# artifact, and each call writes only its cache slots [p, p + C).

import os
import re
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from simtest import PREPARE, Runner, check, workdir

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..",
                                    ".."))
env = dict(os.environ,
           PYTHONPATH=os.path.join(root, "python_frontend") + os.pathsep +
           os.environ.get("PYTHONPATH", ""))
work = workdir()
run = Runner(os.path.join(work, "sim"))


def sh(*args, cwd=None):
    return subprocess.run(list(args), check=True, env=env, cwd=cwd,
                          stdout=subprocess.PIPE, text=True).stdout


sys.path.insert(0, os.path.join(root, "python_frontend", "tests"))
from helpers import gpt2_checkpoint  # noqa: E402

llama = os.path.join(work, "tiny-llama")
sh(sys.executable, os.path.join(root, "examples", "tiny-llama",
                                "make_model.py"), llama)
gpt2 = str(gpt2_checkpoint(os.path.join(work, "gpt2")))
graphs = {}
for model, checkpoint in (("llama", llama), ("gpt2", gpt2)):
    graphs[model] = os.path.join(work, model + ".mlir")
    # A short context and chunk keep the simulation small: S = 16, C = 4
    # (GPT-2's 16 learned positions bound S).
    sh(sys.executable, "-m", "bnb_mlir", "import", checkpoint, "-o",
       graphs[model], "--max-seq-len", "16", "--prefill-chunk", "4")

# One prefill chunk, then the two tokens left as bnb-run --generate runs
# them (include/bnb/Support/PromptSchedule.h): a second prefill call over
# positions 2..5, which writes slots 2 and 3 again.
PROMPT = [3, 14, 5, 26, 33, 8]
PROMPT_CALLS = [("prefill", 0, 4), ("prefill", 2, 4)]
NEW_TOKENS = 4
NF4_F16 = (["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
            "--bnb-4bit-compute-dtype", "float16"],
           "load-in-4bit=true bnb-4bit-quant-type=nf4 "
           "bnb-4bit-compute-dtype=float16")
INT8 = (["--load-in-8bit"], "load-in-8bit=true")
NF4 = (["--load-in-4bit", "--bnb-4bit-quant-type", "nf4"],
       "load-in-4bit=true bnb-4bit-quant-type=nf4")
CONFIGS = {
    "llama-nf4-f16": ("llama", NF4_F16),
    "llama-int8": ("llama", INT8),
    "gpt2-nf4": ("gpt2", NF4),
}
NPTYPE = {"f16": np.float16, "f32": np.float32}


def signature(text, entry):
    sig = re.search(r"func\.func @%s\((.*?)\)\s*(->|attributes|\{)" % entry,
                    text, re.S).group(1)
    names = re.findall(r'bnb\.name = "([^"]*)"', sig)
    weights = re.findall(r'bnb\.weight = "([^"]*)"', sig)
    return names, weights


def cache_type(text, name):
    """The shape and dtype of the KV cache argument `name`."""
    m = re.search(r'tensor<([0-9x]+)x(f16|f32)> \{bnb\.kv_cache, '
                  r'bnb\.name = "%s"' % re.escape(name), text)
    return tuple(int(d) for d in m.group(1).split("x")), NPTYPE[m.group(2)]


for name, (model, (flags, options)) in CONFIGS.items():
    graph = graphs[model]
    config = os.path.join(work, name + ".json")
    sh(sys.executable, "-m", "bnb_mlir", "config", *flags, "-o", config)
    artifact = os.path.join(work, name + ".bnb")
    sh("bnb-compile", graph, "--config", config, "--target", "cpu", "--force",
       "--quiet", "-o", artifact)
    expected = [int(t) for t in sh(
        "bnb-run", artifact, "--generate", "--prompt-ids",
        ",".join(map(str, PROMPT)), "--max-new-tokens",
        str(NEW_TOKENS)).split()]

    weights = os.path.join(work, name + ".weights.safetensors")
    quantized = os.path.join(work, name + ".quantized.mlir")
    sh("bnb-opt", graph, f"--bnb-quantize={options} output={weights}",
       "--bnb-externalize-weights", "--bnb-prepare-entry-points", "-o",
       quantized, cwd=work)
    text = open(quantized).read()
    lowered = run.lower(text, PREPARE)
    tensors = load_file(weights)
    entries = {e: signature(text, e) for e in ("prefill", "decode")}
    cache_names = [n for n in entries["decode"][0]
                   if n.startswith("past_key_values.")]
    caches = {n: np.zeros(*cache_type(text, n)) for n in cache_names}
    slots = caches[cache_names[0]].shape[2]

    def step(entry, ids, position):
        names, keys = entries[entry]
        feed = {"input_ids": np.array([ids], np.int64),
                "position": np.array([position], np.int64), **caches}
        inputs = [feed[n] for n in names] + [tensors[k] for k in keys]
        cache_idx = [names.index(n) for n in cache_names]
        out = run.run(lowered, entry, inputs, 1, updated=cache_idx)
        gpu = out[0].astype(np.float32)
        # The CPU artifact's entry point on the same inputs.
        fed = os.path.join(work, "%s.%s.%d.in.safetensors" %
                           (name, entry, position))
        res = fed.replace(".in.", ".out.")
        save_file(feed, fed)
        sh("bnb-run", artifact, "--entry", entry, "--input", fed, "--output",
           res)
        cpu = load_file(res)["logits"].astype(np.float32)
        check(gpu.shape == cpu.shape and gpu.shape[:2] == (1, 1),
              f"{name}: logits shape")
        rel = np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu)
        where = f"{name} {entry}@{position}"
        check(rel < 5e-3, f"{where}: relative L2 difference {rel:.2e}")
        check(gpu.argmax() == cpu.argmax(), f"{where}: next tokens differ")
        # Only slots [p, p + C) changed; the new keys and values are there.
        n = len(ids)
        for cname, new in zip(cache_names, out[1:]):
            old = caches[cname]
            check(new.shape == old.shape, f"{where}: {cname} shape")
            keep = np.ones(slots, bool)
            keep[position:position + n] = False
            check(np.array_equal(new[:, :, keep], old[:, :, keep]),
                  f"{where}: {cname} changed outside [p, p + C)")
            check(np.all(np.any(new[:, :, ~keep] != 0, axis=-1)),
                  f"{where}: {cname} slots [p, p + C) not written")
            caches[cname] = new
        print(f"{where}: relative L2 difference to the CPU artifact "
              f"{rel:.2e}")
        return gpu

    # The prompt as bnb-run --generate schedules it, then greedy decoding.
    logits = None
    for entry, p, n in PROMPT_CALLS:
        logits = step(entry, PROMPT[p:p + n], p)
    pos = len(PROMPT)
    tokens = []
    while True:
        tokens.append(int(logits.argmax()))
        if len(tokens) == NEW_TOKENS:
            break
        logits = step("decode", [tokens[-1]], pos)
        pos += 1
    check(tokens == expected,
          f"{name}: greedy tokens {tokens}, the CPU artifact's {expected}")
    print(f"{name}: greedy tokens {tokens} equal the CPU artifact's")
print("ok")
