#!/usr/bin/env python3
"""Quantized generation against the numpy reference of bitsandbytes'
numerics, on the real-weights model (SmolLM2-135M-Instruct,
examples/real-model): top-1 agreement per step and the largest logit error.

    quantized_agreement.py WORKDIR [--prompt TEXT] [--new-tokens N]

For each config (LLM.int8(), NF4, NF4 + double quantization; float32
compute, lm_head kept, as transformers' defaults say), the script
  1. compiles the model for the CPU and lets `bnb-run --generate` produce N
     greedy tokens after the prompt;
  2. runs the artifact's `forward` on prompt + those tokens, which gives the
     logits of every step at once (incremental decoding equals forward:
     python_frontend/tests/test_generation.py);
  3. runs the same sequence through the numpy reference forward
     (bnb_mlir.reference) whose quantized linears are computed from the
     float checkpoint by bnbref.py, the test suite's independent model of
     bitsandbytes (test/Tools/bnb-quantize/Inputs), via
     test/Tools/Inputs/quantized_reference.py, which also checks that the
     artifact's quantized bytes equal bnbref's;
  4. reports, over the N generation steps (teacher-forced on the artifact's
     tokens): the share of steps whose arg-max agrees with the quantized
     reference, the largest |logit error| against it, and, for scale, the
     share that agrees with the unquantized float32 model.

Prints a Markdown table (docs/benchmarks.md records it). Needs the tools
built (BNB_BUILD_DIR, default ./build) and the package of
examples/real-model installed (scripts/bootstrap.sh does it).
"""
import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python_frontend"))
sys.path.insert(0, str(ROOT / "test" / "Tools" / "Inputs"))

from safetensors.numpy import load_file, save_file  # noqa: E402

import quantized_reference as qr  # noqa: E402
from bnb_mlir import reference  # noqa: E402

CONFIGS = {
    "LLM.int8()": ["--load-in-8bit"],
    "NF4": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4"],
    "NF4 + double quant": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                           "--bnb-4bit-use-double-quant"],
}


def run(*args, **kw):
    """Runs a command, failing loudly with its stderr."""
    p = subprocess.run([str(a) for a in args], capture_output=True,
                       text=True, **kw)
    if p.returncode:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{p.stderr}")
    return p.stdout


def tool(name):
    return pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build")) \
        / "bin" / name


def quantized_forward(hf_dir, artifact, ids, noise=0.0):
    """The numpy reference logits [S, V] of `ids` with the linears quantized
    as the artifact's config says (float32 model)."""
    return qr.reference_logits(hf_dir, artifact, ids, "float32", noise)[0][0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir")
    p.add_argument("--prompt", default="Once upon a time")
    p.add_argument("--new-tokens", type=int, default=32)
    a = p.parse_args()
    work = pathlib.Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python_frontend"))
    model = work / "smol"
    if not (model / "config.json").exists():
        run(py, ROOT / "examples" / "real-model" / "get_model.py", model,
            "--dtype", "float32", "--prompt", a.prompt, env=env)
    prompt = load_file(str(model / "input_ids.safetensors"))["input_ids"]
    plen, n = prompt.shape[1], a.new_tokens
    seq = plen + n
    graph = work / "smol.mlir"
    run(py, "-m", "bnb_mlir", "import", model, "--seq", seq,
        "--max-seq-len", 128, "-o", graph, env=env)
    rows = []
    for name, flags in CONFIGS.items():
        cfg = work / f"{len(rows)}.json"
        art = work / f"{len(rows)}.bnb"
        run(py, "-m", "bnb_mlir", "config", *flags, "-o", cfg, env=env)
        run(tool("bnb-compile"), graph, "--config", cfg, "--target", "cpu",
            "-o", art, "--force")
        out = run(tool("bnb-run"), art, "--generate", "--prompt-ids",
                  ",".join(str(int(t)) for t in prompt[0]),
                  "--max-new-tokens", n)
        tokens = [int(t) for t in out.split()]
        if len(tokens) != n:
            sys.exit(f"{name}: bnb-run generated {len(tokens)} tokens, "
                     f"expected {n}")
        ids = np.concatenate([prompt, np.array([tokens], np.int64)], axis=1)
        save_file({"input_ids": ids}, str(work / "ids.safetensors"))
        run(tool("bnb-run"), art, "--input", work / "ids.safetensors",
            "--output", work / f"out{len(rows)}.safetensors")
        got = load_file(str(work / f"out{len(rows)}.safetensors"))["logits"]
        got = got.reshape(seq, -1).astype(np.float32)
        # The same artifact with the portable microkernels: another float
        # summation order of the same model, for scale.
        portable = work / f"out{len(rows)}-generic.safetensors"
        run(tool("bnb-run"), art, "--input", work / "ids.safetensors",
            "--output", portable,
            env=dict(os.environ, BNB_UKERNEL_ISA="generic"))
        other = load_file(str(portable))["logits"].reshape(seq, -1)
        ref = quantized_forward(model, art, ids)
        float_logits = reference.reference_forward(model, ids,
                                                   "float32")[0]
        # Step t predicts token t+1: rows plen-1 .. seq-2 are the N steps
        # (teacher-forced on the artifact's own tokens).
        steps = slice(plen - 1, seq - 1)
        g, r = got[steps], ref[steps]
        agree = np.mean(g.argmax(-1) == r.argmax(-1))
        err = float(np.abs(g - r).max())
        scale = float(np.abs(r).max())
        agree_float = np.mean(g.argmax(-1) ==
                              float_logits[steps].argmax(-1))
        self_err = float(np.abs(g - other[steps]).max())
        # The reference against itself with its quantized linears' inputs
        # moved by ~1 ulp (relative 1e-7): LLM.int8() rounds activations to
        # int8 codes, so such a move can flip codes and change the logits.
        shaken = quantized_forward(model, art, ids, noise=1e-7)[steps]
        noise_err = float(np.abs(r - shaken).max())
        rows.append((name, agree, err, scale, agree_float, self_err, noise_err))
    print(f"prompt: {a.prompt!r} ({plen} tokens), {n} greedy steps, "
          "float32 compute")
    print()
    print("| config | top-1 agreement with the bnb-numerics reference | "
          "max \\|logit error\\| (largest \\|logit\\|) | max \\|logit "
          "difference\\|, portable vs native microkernels | max \\|logit "
          "change\\| of the reference under 1e-7 input noise | top-1 "
          "agreement with the float32 model |")
    print("|---|---|---|---|---|---|")
    for name, agree, err, scale, agree_float, self_err, noise_err in rows:
        print(f"| {name} | {agree:.3f} ({round(agree * n)}/{n}) | "
              f"{err:.2e} ({scale:.1f}) | {self_err:.2e} | {noise_err:.2e} | "
              f"{agree_float:.3f} |")


if __name__ == "__main__":
    main()
