"""Checks the architecture tests share: the emitted graph against the numpy
reference (upstream lowering + mlir-runner), incremental decoding against
the full forward pass, and the compiled artifact (bnb-compile + bnb-run,
unquantized, LLM.int8(), NF4 and NF4 + double quant) against the reference.

Tolerances (documented per check below, measured on the tests' models):

- graph vs reference, float32: |Δ| ≤ 2e-5 + 1e-5·|ref| (summation order,
  exp/rsqrt/tanh implementations; the graph's tanh is 1 - 2/(e^{2u} + 1));
- incremental reference vs forward reference: float32 1e-5 + 1e-5·|ref|;
  float16/bfloat16 2 ulp of T at the logit's magnitude (roundings can flip
  when float32 sums are ordered differently);
- the unquantized artifact (CPU microkernels, float32) vs the reference:
  1e-4 + 1e-4·|ref|;
- NF4 and NF4 + double-quant artifacts vs the reference run on a copy of
  the checkpoint whose quantized linears hold their dequantized NF4 weights
  (quantized and dequantized by bnbref.py, bitsandbytes' numerics written
  from the specification; compute dtype float32, so the 4-bit linear is
  x·dequant(W)ᵀ in float32): 1e-4 + 1e-4·|ref|, as unquantized; they differ
  from the unquantized model by far more (checked);
- the LLM.int8() artifact (activations quantized per row, outliers in
  float16) vs the unquantized reference: the largest error relative to the
  largest reference logit ≤ 0.05, the bound of the example model's
  end-to-end test, and > 0.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

from bnb_mlir import BitsAndBytesConfig, import_checkpoint, reference_forward
from bnb_mlir.reference import (ReferenceDecoder, generation_schedule,
                                reference_generate)
from bnb_mlir.tools import run_forward_cpu, run_generation_cpu
from helpers import BUILD, ROOT, write_checkpoint

sys.path.insert(0, str(ROOT / "test" / "Tools" / "bnb-quantize" / "Inputs"))
import bnbref  # noqa: E402  (independent numpy model of bitsandbytes)

ULP = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}

QUANT_CONFIGS = {
    "none": dict(load_in_8bit=True, llm_int8_skip_modules=["model",
                                                           "lm_head"]),
    "int8": dict(load_in_8bit=True),
    "nf4": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4"),
    "nf4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                   bnb_4bit_use_double_quant=True),
}
INT8_MAX_REL = 0.05


def vocab_of(ckpt) -> int:
    return json.loads((pathlib.Path(ckpt) / "config.json").read_text())[
        "vocab_size"]


def graph_forward(ckpt, ids, dtype="float32"):
    """@forward of the emitted graph (inline weights) under mlir-runner."""
    bsz, seq = ids.shape
    text, _ = import_checkpoint(ckpt, batch=bsz, seq=seq, dtype=dtype,
                                inline_weights=True)
    elem = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}[dtype]
    return run_forward_cpu(text, ids, (bsz, seq, vocab_of(ckpt)), elem)


def check_graph_forward(ckpt, ids):
    got = graph_forward(ckpt, ids)
    ref = reference_forward(ckpt, ids)
    assert np.abs(ref).max() > 1.0  # not a degenerate model
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)


def last_positions(prompt, total, chunk):
    return [p + n - 1 for _, p, n in generation_schedule(prompt, total,
                                                         chunk)]


def check_incremental_reference(ckpt, dtype, total=13, prompt=7, chunk=3,
                                max_seq=16):
    """prefill(C) + decode steps of the reference decoder give the logits of
    the full forward reference at the same positions."""
    ids = np.random.RandomState(11).randint(0, vocab_of(ckpt),
                                            size=(1, total))
    got = reference_generate(ckpt, ids, prompt, chunk, max_seq)
    ref = reference_forward(ckpt, ids)[0, last_positions(prompt, total,
                                                         chunk)]
    assert got.shape == ref.shape
    if dtype == "float32":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    else:
        ulp = ULP[dtype]
        np.testing.assert_allclose(got, ref, rtol=2 * ulp, atol=2 * ulp)


def check_graph_generation(ckpt, total=12, prompt=7, chunk=3, max_seq=16):
    """The emitted @prefill/@decode under mlir-runner, caches threaded from
    call to call, give the incremental reference's logits (and so the
    forward pass's)."""
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=max_seq,
                                prefill_chunk=chunk, inline_weights=True)
    ids = np.random.RandomState(12).randint(0, vocab_of(ckpt),
                                            size=(1, total))
    calls = [(entry, ids[:, p:p + n], p) for entry, p, n in
             generation_schedule(prompt, total, chunk)]
    got = np.concatenate([r[0] for r in run_generation_cpu(text, calls,
                                                           "f32")])
    ref = reference_generate(ckpt, ids, prompt, chunk, max_seq)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)
    full = reference_forward(ckpt, ids)[0, last_positions(prompt, total,
                                                          chunk)]
    np.testing.assert_allclose(got, full, rtol=1e-5, atol=2e-5)


def _run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True,
                            text=True)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def compile_artifacts(ckpt, tmp, max_seq=32, chunk=4):
    """Imports `ckpt` (float32, with @prefill/@decode) and compiles it for
    the CPU with every QUANT_CONFIGS entry; returns {name: NAME.bnb}."""
    tmp = pathlib.Path(tmp)
    model = tmp / "model.mlir"
    import_checkpoint(ckpt, model, dtype="float32", generation=True,
                      max_seq_len=max_seq, prefill_chunk=chunk)
    out = {}
    for name, fields in QUANT_CONFIGS.items():
        config = tmp / f"{name}.json"
        config.write_text(BitsAndBytesConfig(**fields).to_json_string())
        artifact = tmp / f"{name}.bnb"
        _run(BUILD / "bin" / "bnb-compile", model, "--config", config,
             "--target", "cpu", "--quiet", "-o", artifact)
        out[name] = artifact
    return out


def run_artifact(artifact, ids, tmp):
    """bnb-run's @forward logits for input_ids [1, 8]."""
    tmp = pathlib.Path(tmp)
    inp, outp = tmp / "ids.safetensors", tmp / f"{artifact.stem}.out"
    save_file({"input_ids": np.ascontiguousarray(ids, np.int64)}, str(inp))
    _run(BUILD / "bin" / "bnb-run", artifact, "--threads", "1", "--input",
         inp, "--output", outp)
    return load_file(str(outp))["logits"].astype(np.float32)


def generate(artifact, prompt, max_new):
    text = _run(BUILD / "bin" / "bnb-run", artifact, "--threads", "1",
                "--generate", "--prompt-ids", ",".join(map(str, prompt)),
                "--max-new-tokens", max_new)
    return [int(t) for t in text.split()]


def reference_greedy(ckpt, prompt, max_new, chunk, max_seq):
    """Greedy tokens of the reference decoder, the schedule bnb-run uses."""
    out = []
    with ReferenceDecoder(ckpt, max_seq, "float32") as dec:
        for _, p, n in generation_schedule(len(prompt), len(prompt), chunk):
            logits = dec.step(np.array([prompt[p:p + n]], np.int64), p)
        pos = len(prompt)
        while True:
            out.append(int(np.argmax(logits.reshape(-1))))
            if len(out) == max_new:
                return out
            logits = dec.step(np.array([[out[-1]]], np.int64), pos)
            pos += 1


def quantized_by_default(key: str, shape) -> bool:
    """The linears BitsAndBytesConfig quantizes: every nn.Linear but the
    (tied or untied) lm_head; embeddings are not linears."""
    return len(shape) == 2 and "embed" not in key and \
        not key.startswith("lm_head")


def dequantized_checkpoint(ckpt, dst, double_quant, quantized=None):
    """A float32 copy of `ckpt` whose quantized linear weights are replaced
    by their NF4 round trip (blocksize 64), computed by bnbref."""
    quantized = quantized or quantized_by_default
    tensors = load_file(str(pathlib.Path(ckpt) / "model.safetensors"))
    out = {}
    for key, w in tensors.items():
        w = w.astype(np.float32)
        if quantized(key, w.shape):
            packed, absmax = bnbref.quantize_4bit(w.reshape(-1), "nf4", 64)
            if double_quant:
                codes, nested, offset = bnbref.double_quantize(absmax)
                block = np.repeat(nested, 256)[:absmax.size]
                absmax = ((bnbref.DYNAMIC_MAP[codes] * block).astype(
                    np.float32) + offset).astype(np.float32)
            codes = np.empty(packed.size * 2, np.uint8)
            codes[0::2], codes[1::2] = packed >> 4, packed & 0xF
            scale = np.repeat(absmax, 64)[:w.size]
            w = (bnbref.NF4_TABLE[codes[:w.size]] * scale).astype(
                np.float32).reshape(w.shape)
        out[key] = w
    config = json.loads((pathlib.Path(ckpt) / "config.json").read_text())
    config["torch_dtype"] = "float32"
    write_checkpoint(dst, config, out, "float32")
    return pathlib.Path(dst)


def check_compiled(ckpt, tmp, prompt_len=6, max_new=10, quantized=None):
    """Every artifact's @forward against its reference (bounds in the module
    docstring); greedy generation of the unquantized artifact equals the
    reference decoder's tokens, and of the NF4 + double quant one the
    reference decoder's on the dequantized weights; the int8 one generates.
    Returns {config: max error relative to the largest logit}."""
    tmp = pathlib.Path(tmp)
    artifacts = compile_artifacts(ckpt, tmp)
    vocab = vocab_of(ckpt)
    ids = np.random.RandomState(21).randint(0, vocab, size=(1, 8))
    ref = reference_forward(ckpt, ids, "float32")
    scale = np.abs(ref).max()
    dequantized = {name: dequantized_checkpoint(ckpt, tmp / f"{name}-ref",
                                                name == "nf4-dq", quantized)
                   for name in ("nf4", "nf4-dq")}
    errors = {}
    for name, artifact in artifacts.items():
        got = run_artifact(artifact, ids, tmp)
        assert got.shape == ref.shape and np.isfinite(got).all()
        errors[name] = float(np.abs(got - ref).max() / scale)
        if name == "none":
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        elif name == "int8":
            assert 0 < errors[name] <= INT8_MAX_REL, errors[name]
        else:
            own = reference_forward(dequantized[name], ids, "float32")
            np.testing.assert_allclose(got, own, rtol=1e-4, atol=1e-4)
            assert errors[name] > 100 * 1e-4
    prompt = [int(t) for t in np.random.RandomState(22).randint(
        0, vocab, size=prompt_len)]
    assert generate(artifacts["none"], prompt, max_new) == \
        reference_greedy(ckpt, prompt, max_new, 4, 32)
    assert generate(artifacts["nf4-dq"], prompt, max_new) == \
        reference_greedy(dequantized["nf4-dq"], prompt, max_new, 4, 32)
    tokens = generate(artifacts["int8"], prompt, max_new)
    assert len(tokens) == max_new and all(0 <= t < vocab for t in tokens)
    return errors


def check_prequantized(ckpt, tmp, name):
    """The round trip of pre-quantized input: `ckpt` through bnb-quantize
    (bitsandbytes' serialized state + quantization_config), imported and
    compiled, gives the logits of `ckpt` compiled with the same config, bit
    for bit on the CPU."""
    from prequantized_helpers import CONFIGS, prequantize
    tmp = pathlib.Path(tmp)
    config = BitsAndBytesConfig(**CONFIGS[name])
    quant = tmp / "quant.json"
    config.to_json_file(quant)
    ids = np.random.RandomState(23).randint(0, vocab_of(ckpt), size=(1, 8))
    logits = []
    for label, src in (("float", ckpt),
                       ("pq", prequantize(ckpt, tmp / "pq", config))):
        model = tmp / f"{label}.mlir"
        import_checkpoint(src, model, generation=False)
        cfg = quant if label == "float" else src / "config.json"
        artifact = tmp / f"{label}.bnb"
        _run(BUILD / "bin" / "bnb-compile", model, "--config", cfg,
             "--target", "cpu", "--quiet", "-o", artifact)
        logits.append(run_artifact(artifact, ids, tmp))
    assert np.isfinite(logits[0]).all()
    assert logits[0].tobytes() == logits[1].tobytes()
