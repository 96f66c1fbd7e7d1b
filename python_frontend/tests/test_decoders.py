"""Qwen2, Phi-3 and GPT-NeoX: import, the graph's structure, forward and
generation against the independent numpy references (ref_qwen2.py,
ref_phi3.py, ref_gpt_neox.py), compiled artifacts with no quantization,
LLM.int8(), NF4 and NF4 + double quantization run on the CPU, and one-line
errors for what is not supported.

Tolerances (as in test_numerics.py / test_generation.py), T the model
dtype:
- graphs lowered with upstream passes and run under mlir-runner, float32:
  |Δ| ≤ 2e-5 + 1e-5·|ref| (measured ≤ 1.2e-6 on logits up to 3.4);
  float16: |Δ| < 0.1 (the naive lowering accumulates the linears in
  float16; measured ≤ 0.0071 on logits up to 3.5);
- the incremental reference against the full forward reference: float32
  1e-5 + 1e-5·|ref|; float16/bfloat16 2 ulp of T at |ref| plus 2 ulp of T at
  the largest logit, since a float32 summation-order difference can flip
  one rounding to T that later layers carry (measured 0 except Phi-3 in
  float16: 0.0034 on logits up to 3, 1.1 ulp);
- artifacts compiled by bnb-compile and run by bnb-run, float16 checkpoints:
  unquantized against the float16 reference to the same 2 ulp bound
  (measured ≤ 0.0034 on logits up to 3.3); int8, nf4 and nf4 + double
  quant against the float16 reference whose linears are quantized by the
  independent bnbref.py (test/Tools/Inputs/quantized_reference.py, whose
  bytes the artifact must hold exactly) to 0.05, the example model's lit
  test bound (measured ≤ 0.0021, mostly 0), while quantization moves the
  logits by 0.04 (int8) to 0.64 (nf4) from the unquantized ones.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bnb_mlir import BnbMlirError, import_checkpoint
from bnb_mlir import reference_forward
from bnb_mlir.reference import ReferenceDecoder, generation_schedule, \
    reference_generate
from bnb_mlir.tools import run_forward_cpu, run_generation_cpu
from decoder_checkpoints import (gpt_neox_checkpoint, phi3_checkpoint,
                                 qwen2_checkpoint)
from helpers import ROOT, bnb_opt, global_loads, matmuls
from test_cli import assert_one_line_error, cli

BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))
ELEM = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
ULP = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}

# name -> checkpoint builder. The sliding windows (3) are shorter than the
# sequences; qwen2_sliding slides on layer 1 only (max_window_layers 1).
VARIANTS = {
    "qwen2": lambda p, **kw: qwen2_checkpoint(p, **kw),
    "qwen2_tied_mha": lambda p, **kw: qwen2_checkpoint(
        p, tied=True, kv_heads=4, **kw),
    "qwen2_sliding": lambda p, **kw: qwen2_checkpoint(
        p, extra={"use_sliding_window": True, "sliding_window": 3,
                  "max_window_layers": 1}, **kw),
    "phi3": lambda p, **kw: phi3_checkpoint(p, **kw),
    "phi3_full_rotary_window": lambda p, **kw: phi3_checkpoint(
        p, partial=1.0, window=3, **kw),
    "gpt_neox": lambda p, **kw: gpt_neox_checkpoint(p, **kw),
    "gpt_neox_sequential_tied": lambda p, **kw: gpt_neox_checkpoint(
        p, parallel=False, tied=True, rotary_pct=0.25, **kw),
}
# The linears of one layer, in graph order, and the output embedding.
LINEARS = {
    "qwen2": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
              "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
              "mlp.down_proj"],
    "phi3": ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj",
             "mlp.down_proj"],
    "gpt_neox": ["attention.query_key_value", "attention.dense",
                 "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"],
}
PREFIX = {"qwen2": "model.layers.", "phi3": "model.layers.",
          "gpt_neox": "gpt_neox.layers."}


def arch_of(variant):
    return "gpt_neox" if variant.startswith("gpt_neox") else \
        variant.split("_")[0]


def make(variant, tmp_path, dtype="float32"):
    return VARIANTS[variant](tmp_path / variant, dtype=dtype)


def vocab_of(ckpt):
    return json.loads((ckpt / "config.json").read_text())["vocab_size"]


def ids_for(ckpt, seed, n):
    return np.random.RandomState(seed).randint(0, vocab_of(ckpt),
                                               size=(1, n))


# -- the graph ----------------------------------------------------------------

@pytest.mark.parametrize("variant", ["qwen2", "qwen2_tied_mha", "phi3",
                                     "gpt_neox", "gpt_neox_sequential_tied"])
def test_graph_linears_and_verification(tmp_path, variant):
    """Every linear is one contract matmul on its checkpoint tensor: the
    fused qkv_proj / gate_up_proj / query_key_value stay one linear each;
    biases are the following adds; a tied output embedding is the input
    embedding with bnb.module naming the output module."""
    arch = arch_of(variant)
    ckpt = make(variant, tmp_path, "float16")
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    result = bnb_opt(text)
    assert result.returncode == 0, result.stderr
    loads = global_loads(text)
    forward = re.search(r"func\.func @forward\(.*?^  }$", text,
                        re.M | re.S).group(0)
    names = [loads[mm["rhs"]] for mm in matmuls(forward)]
    expected = [f"{PREFIX[arch]}{i}.{n}.weight" for i in range(2)
                for n in LINEARS[arch]]
    tied = "tied" in variant
    head = {"qwen2": "model.embed_tokens.weight" if tied else
            "lm_head.weight", "phi3": "lm_head.weight",
            "gpt_neox": "gpt_neox.embed_in.weight" if tied else
            "embed_out.weight"}[arch]
    assert names == expected + [head]
    attrs = matmuls(forward)[-1]["attrs"]
    module = "embed_out" if arch == "gpt_neox" else "lm_head"
    assert attrs == (f'{{bnb.module = "{module}"}}' if tied else "")
    biases = set(re.findall(r'@"([^"]+\.bias)"', forward))
    if arch == "qwen2":
        assert biases == {f"model.layers.{i}.self_attn.{n}_proj.bias"
                          for i in range(2) for n in "qkv"}
    elif arch == "phi3":
        assert not biases
    else:
        assert {b for b in biases if "norm" not in b} == {
            f"gpt_neox.layers.{i}.{n}.bias" for i in range(2)
            for n in LINEARS["gpt_neox"]}


@pytest.mark.parametrize("variant,kv,dim", [("qwen2", 2, 8), ("phi3", 2, 12),
                                             ("gpt_neox", 4, 8)])
def test_generation_signatures(tmp_path, variant, kv, dim):
    """@prefill/@decode have the contract's signatures: one key and one
    value cache [1, KV, S, D] per layer (GPT-NeoX: KV = heads)."""
    from test_generation import step_signature
    ckpt = make(variant, tmp_path, "bfloat16")
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    assert bnb_opt(text).returncode == 0
    for entry, chunk in (("prefill", 4), ("decode", 1)):
        sig = step_signature(entry, chunk, 2, kv, 16, dim, 48, "bf16")
        assert re.search(r"^  " + re.escape(sig) + "$", text, re.M), entry
    assert text.count("bnb.layer = ") == 3 * 2


def test_partial_rotary_is_one_generic(tmp_path):
    """Phi-3 with 6 of 12 dims rotated: one generic per q/k over [B, S, H, D]
    reading the rotate_half partner through (d3 + 3) mod 6 and [S, D]
    tables whose pass-through columns are cos 1, sin 0."""
    text, _ = import_checkpoint(make("phi3", tmp_path), inline_weights=True)
    assert "#rope_partner6 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, " \
        "(d3 + 3) mod 6)>" in text
    assert re.search(r"%rope_cos = arith\.constant dense<.*> : "
                     r"tensor<8x12xf32>", text)
    assert text.count(" mod 6)") == 1
    rot = re.findall(r"%l\d_[qk]_rot = linalg\.generic \{indexing_maps = "
                     r"\[#id4, #rope_partner6, #rope_row, #rope_row, #id4\]",
                     text)
    assert len(rot) == 4


# -- numerics of the lowered graphs -------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_matches_reference(tmp_path, variant):
    ckpt = make(variant, tmp_path)
    ids = ids_for(ckpt, 21, 8)
    text, _ = import_checkpoint(ckpt, inline_weights=True)
    got = run_forward_cpu(text, ids, (1, 8, vocab_of(ckpt)), "f32")
    ref = reference_forward(ckpt, ids)
    assert np.abs(ref).max() > 1.0
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("variant", ["qwen2", "phi3", "gpt_neox"])
def test_forward_float16(tmp_path, variant):
    ckpt = make(variant, tmp_path, "float16")
    ids = ids_for(ckpt, 22, 8)
    text, _ = import_checkpoint(ckpt, inline_weights=True)
    got = run_forward_cpu(text, ids, (1, 8, vocab_of(ckpt)), "f16")
    np.testing.assert_array_equal(got, got.astype(np.float16))
    ref = reference_forward(ckpt, ids)
    assert np.abs(got - ref).max() < 0.1


def test_sliding_window_and_residual_order_matter(tmp_path):
    """The options change the logits (they are applied, in the graph and in
    the reference alike)."""
    ids = np.random.RandomState(5).randint(0, 48, size=(1, 8))

    def logits(ckpt):
        text, _ = import_checkpoint(ckpt, inline_weights=True)
        got = run_forward_cpu(text, ids, (1, 8, 48), "f32")
        np.testing.assert_allclose(got, reference_forward(ckpt, ids),
                                   rtol=1e-5, atol=2e-5)
        return got

    full = logits(qwen2_checkpoint(tmp_path / "full"))
    slide = logits(make("qwen2_sliding", tmp_path))
    # Positions < 3 see the same keys either way.
    np.testing.assert_array_equal(full[0, :3], slide[0, :3])
    assert np.abs(full[0, 3:] - slide[0, 3:]).max() > 1e-3
    par = reference_forward(gpt_neox_checkpoint(tmp_path / "par"), ids)
    seq = reference_forward(gpt_neox_checkpoint(tmp_path / "seq",
                                                parallel=False), ids)
    assert np.abs(par - seq).max() > 1e-2


def test_fused_layouts_follow_transformers(tmp_path):
    """The reference splits the fused outputs as transformers does: a
    GPT-NeoX checkpoint whose query_key_value rows are permuted from
    [heads, 3, D] to [3, heads, D] is a different model, and a Phi-3 whose
    gate_up_proj halves are swapped is too (up·act(gate))."""
    ids = np.random.RandomState(6).randint(0, 48, size=(1, 6))
    neox = gpt_neox_checkpoint(tmp_path / "neox")
    tensors = load_file(str(neox / "model.safetensors"))
    key = "gpt_neox.layers.0.attention.query_key_value."
    # Rows of head h, part t at h*3D + t*D: regroup them part-major.
    order = np.arange(3 * 32).reshape(4, 3, 8).transpose(1, 0, 2).reshape(-1)
    for suffix in ("weight", "bias"):
        tensors[key + suffix] = tensors[key + suffix][order]
    other = tmp_path / "neox_part_major"
    other.mkdir()
    (other / "config.json").write_text((neox / "config.json").read_text())
    save_file(tensors, str(other / "model.safetensors"))
    assert np.abs(reference_forward(neox, ids) -
                  reference_forward(other, ids)).max() > 1e-2
    phi = phi3_checkpoint(tmp_path / "phi")
    tensors = load_file(str(phi / "model.safetensors"))
    key = "model.layers.0.mlp.gate_up_proj.weight"
    tensors[key] = np.concatenate([tensors[key][40:], tensors[key][:40]])
    swapped = tmp_path / "phi_swapped"
    swapped.mkdir()
    (swapped / "config.json").write_text((phi / "config.json").read_text())
    save_file(tensors, str(swapped / "model.safetensors"))
    assert np.abs(reference_forward(phi, ids) -
                  reference_forward(swapped, ids)).max() > 1e-2


# -- generation ---------------------------------------------------------------

def last_positions(prompt, total, chunk):
    return [p + n - 1 for _, p, n in generation_schedule(prompt, total,
                                                         chunk)]


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_incremental_reference_equals_forward(tmp_path, variant, dtype):
    ckpt = make(variant, tmp_path, dtype)
    ids = ids_for(ckpt, 11, 13)
    got = reference_generate(ckpt, ids, 7, 3, 16)
    ref = reference_forward(ckpt, ids)[0, last_positions(7, 13, 3)]
    assert got.shape == ref.shape == (9, vocab_of(ckpt))
    if dtype == "float32":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    else:
        ulp = ULP[dtype]
        # A float32 summation-order difference can flip one rounding to T
        # that later layers carry: 2 ulp of T at the largest logit.
        np.testing.assert_allclose(got, ref, rtol=2 * ulp,
                                   atol=2 * ulp * np.abs(ref).max())


@pytest.mark.parametrize("variant", ["qwen2_sliding", "phi3",
                                     "phi3_full_rotary_window", "gpt_neox"])
def test_graph_generation_matches_references(tmp_path, variant):
    """@prefill/@decode lowered with upstream passes, caches threaded from
    call to call: the incremental reference's logits, which are the full
    forward pass's."""
    ckpt = make(variant, tmp_path)
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=3, inline_weights=True)
    ids = ids_for(ckpt, 12, 12)
    calls = [(entry, ids[:, p:p + n], p) for entry, p, n in
             generation_schedule(7, 12, 3)]
    got = np.concatenate([r[0] for r in run_generation_cpu(text, calls,
                                                           "f32")])
    np.testing.assert_allclose(got, reference_generate(ckpt, ids, 7, 3, 16),
                               rtol=1e-5, atol=2e-5)
    full = reference_forward(ckpt, ids)[0, last_positions(7, 12, 3)]
    np.testing.assert_allclose(got, full, rtol=1e-5, atol=2e-5)


# -- compiled artifacts on the CPU --------------------------------------------

def _quantized_reference():
    """test/Tools/Inputs/quantized_reference.py (bnbref.py's quantization
    and LLM.int8() of bitsandbytes written from the specification)."""
    sys.path.insert(0, str(ROOT / "test" / "Tools" / "Inputs"))
    try:
        import quantized_reference
    finally:
        sys.path.pop(0)
    return quantized_reference


def quantized_forward(ckpt, ids, artifact):
    """The float16 reference of `ckpt` with its linears quantized as the
    artifact's config says; the artifact's quantized tensors must equal the
    independent quantization byte for byte."""
    logits, count = _quantized_reference().reference_logits(ckpt, artifact,
                                                            ids)
    assert count  # every decoder linear but the output embedding
    return logits, count


def _run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


CONFIGS = {
    "none": ["--load-in-8bit", "--llm-int8-skip-modules"],
    "int8": ["--load-in-8bit"],
    "nf4": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4"],
    "nf4_dq": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
               "--bnb-4bit-use-double-quant"],
}


@pytest.mark.parametrize("variant", ["qwen2_sliding", "phi3", "gpt_neox"])
def test_compiled_artifacts(tmp_path, variant):
    """bnb-compile for the CPU with no quantization, int8, NF4 and NF4 +
    double quantization; bnb-run's logits against the (quantized) numpy
    reference; greedy generation from the unquantized float32 artifact is
    the incremental reference's."""
    compiler, runner = BUILD / "bin" / "bnb-compile", BUILD / "bin" / "bnb-run"
    if not compiler.is_file() or not runner.is_file():
        pytest.skip(f"{compiler} is not built")
    arch = arch_of(variant)
    ckpt = make(variant, tmp_path, "float16")
    ids = ids_for(ckpt, 31, 8)
    save_file({"input_ids": ids.astype(np.int64)},
              str(tmp_path / "ids.safetensors"))
    model = tmp_path / "model.mlir"
    assert cli("import", ckpt, "-o", model, "--max-seq-len", 32,
               "--prefill-chunk", 4).returncode == 0
    plain = reference_forward(ckpt, ids, "float16")
    outs = {}
    for name, flags in CONFIGS.items():
        if name == "none":
            flags = flags + ["gpt_neox,embed_out" if arch == "gpt_neox"
                             else "model,lm_head"]
        config = tmp_path / f"{name}.json"
        assert cli("config", *flags, "-o", config).returncode == 0
        artifact = tmp_path / f"{name}.bnb"
        _run(compiler, model, "--config", config, "--target", "cpu",
             "--quiet", "-o", artifact)
        out = tmp_path / f"{name}.safetensors"
        _run(runner, artifact, "--input", tmp_path / "ids.safetensors",
             "--output", out, "--threads", 2)
        got = load_file(str(out))["logits"].astype(np.float32)
        assert got.shape == plain.shape and np.isfinite(got).all()
        outs[name] = got
        if name == "none":
            ulp = ULP["float16"]
            np.testing.assert_allclose(got, plain, rtol=2 * ulp,
                                       atol=2 * ulp * np.abs(plain).max())
            continue
        ref, count = quantized_forward(ckpt, ids, artifact)
        assert count == 2 * len(LINEARS[arch])
        assert np.abs(got - ref).max() <= 0.05, (name,
                                                 np.abs(got - ref).max())
        assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.75
    for name in ("int8", "nf4", "nf4_dq"):  # quantization happened
        assert np.abs(outs[name] - outs["none"]).max() > 0.01, name

    # Greedy generation (prefill chunks of 4, then decode steps).
    model32 = tmp_path / "model32.mlir"
    assert cli("import", ckpt, "-o", model32, "--dtype", "float32",
               "--max-seq-len", 32, "--prefill-chunk", 4).returncode == 0
    none32 = tmp_path / "none32.bnb"
    _run(compiler, model32, "--config", tmp_path / "none.json", "--target",
         "cpu", "--quiet", "-o", none32)
    prompt = [int(t) for t in ids_for(ckpt, 32, 9)[0]]
    tokens = _run(runner, none32, "--generate", "--prompt-ids",
                  ",".join(map(str, prompt)), "--max-new-tokens", 12,
                  "--threads", 2).split()
    assert [int(t) for t in tokens] == greedy(ckpt, prompt, 12, 4, 32)


def greedy(ckpt, prompt, new, chunk, max_seq):
    out = []
    with ReferenceDecoder(ckpt, max_seq, "float32") as dec:
        for _, p, n in generation_schedule(len(prompt), len(prompt), chunk):
            logits = dec.step(np.array([prompt[p:p + n]]), p)
        while len(out) < new:
            out.append(int(np.argmax(logits.reshape(-1))))
            logits = dec.step(np.array([[out[-1]]]), len(prompt) + len(out)
                              - 1)
    return out


@pytest.mark.parametrize("arch", ["phi3", "gpt_neox"])
def test_fused_linears_are_one_module_each(tmp_path, arch):
    """The linear replacement, the skip list and the memory report see the
    fused projections as one module each, as transformers does."""
    compiler = BUILD / "bin" / "bnb-compile"
    if not compiler.is_file():
        pytest.skip(f"{compiler} is not built")
    ckpt = make(arch, tmp_path, "float16")
    model = tmp_path / "model.mlir"
    assert cli("import", ckpt, "-o", model, "--no-generation").returncode == 0
    fused = "self_attn.qkv_proj" if arch == "phi3" else \
        "attention.query_key_value"
    config = tmp_path / "nf4.json"
    assert cli("config", "--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
               "--llm-int8-skip-modules", fused.split(".")[1], "-o",
               config).returncode == 0
    report = _run(compiler, model, "--config", config, "--target", "cpu",
                  "--quiet", "--memory-report", "-o", tmp_path / "m.bnb")
    rows = {}
    for line in report.splitlines():
        if line.startswith(PREFIX[arch]):
            module, kind = line.split()[:2]
            rows[module] = (kind, re.search(r" (\d+x\d+) ", line).group(1))
    layer = PREFIX[arch] + "0."
    assert sorted(k for k in rows if k.startswith(layer)) == sorted(
        layer + n for n in LINEARS[arch])
    # One skipped [H·D + 2·KV·D, hidden] / [3·hidden, hidden] layer.
    assert rows[layer + fused] == ("16-bit", "96x48" if arch == "phi3"
                                   else "96x32")
    up = "mlp.gate_up_proj" if arch == "phi3" else "mlp.dense_h_to_4h"
    assert rows[layer + up] == ("nf4", "80x48" if arch == "phi3"
                                else "64x32")


# -- errors -------------------------------------------------------------------

def _edit_config(ckpt, **fields):
    path = ckpt / "config.json"
    config = json.loads(path.read_text())
    config.update(fields)
    path.write_text(json.dumps(config))
    return ckpt


@pytest.mark.parametrize("builder,fields,message", [
    (qwen2_checkpoint, {"hidden_act": "gelu"},
     "hidden_act 'gelu' is not supported (silu)"),
    (qwen2_checkpoint, {"layer_types": ["full_attention"]},
     "'layer_types' must list full_attention or sliding_attention for each "
     "of the 2 layers"),
    (qwen2_checkpoint, {"layer_types": ["full_attention",
                                        "sliding_attention"]},
     "'layer_types' has sliding_attention layers but use_sliding_window is "
     "false"),
    (qwen2_checkpoint, {"use_sliding_window": True, "sliding_window": 0},
     "'sliding_window' must be an integer >= 1, got 0"),
    (qwen2_checkpoint, {"rope_scaling": {"rope_type": "yarn",
                                         "factor": 4.0}},
     "rope type 'yarn' is not supported (default, linear, llama3)"),
    (phi3_checkpoint, {"rope_scaling": {"type": "longrope",
                                        "short_factor": [1.0] * 3,
                                        "long_factor": [1.0] * 3}},
     "rope type 'longrope' is not supported (default, linear, llama3)"),
    (phi3_checkpoint, {"rope_scaling": {"type": "su", "short_factor": [1.0],
                                        "long_factor": [1.0]}},
     "rope type 'su' is not supported (default, linear, llama3)"),
    (phi3_checkpoint, {"partial_rotary_factor": 0.25},
     "partial_rotary_factor 0.25 gives 3 rotary dims of head_dim 12; an "
     "even number >= 2 is needed"),
    (phi3_checkpoint, {"hidden_act": "gelu_new"},
     "hidden_act 'gelu_new' is not supported (silu)"),
    (phi3_checkpoint, {"num_key_value_heads": 3},
     "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
    (gpt_neox_checkpoint, {"hidden_act": "relu"},
     "hidden_act 'relu' is not supported (gelu, gelu_new)"),
    (gpt_neox_checkpoint, {"rotary_pct": 0.0},
     "'rotary_pct' must be in (0, 1], got 0.0"),
    (gpt_neox_checkpoint, {"num_attention_heads": 3},
     "hidden_size 32 is not a multiple of num_attention_heads 3"),
    (gpt_neox_checkpoint, {"rope_scaling": {"rope_type": "dynamic",
                                            "factor": 2.0}},
     "rope type 'dynamic' is not supported (default, linear, llama3)"),
    (gpt_neox_checkpoint, {"use_parallel_residual": "yes"},
     "'use_parallel_residual' must be true or false, got 'yes'"),
])
def test_unsupported_options(tmp_path, builder, fields, message):
    ckpt = _edit_config(builder(tmp_path / "m"), **fields)
    with pytest.raises(BnbMlirError) as e:
        import_checkpoint(ckpt)
    assert str(e.value) == f"{ckpt / 'config.json'}: {message}"


@pytest.mark.parametrize("builder,kwargs,message", [
    (qwen2_checkpoint, {"drop": ["model.layers.1.self_attn.k_proj.bias"]},
     "model.layers.1.self_attn.k_proj.bias"),
    (phi3_checkpoint, {"reshape": {"model.layers.0.self_attn.qkv_proj.weight":
                                   (72, 48)}},
     "tensor 'model.layers.0.self_attn.qkv_proj.weight' has shape [72, 48], "
     "but config.json implies [96, 48]"),
    (gpt_neox_checkpoint, {"drop": ["embed_out.weight"]},
     "embed_out.weight"),
])
def test_bad_tensors_are_one_line_cli_errors(tmp_path, builder, kwargs,
                                             message):
    ckpt = builder(tmp_path / "m", **kwargs)
    out = tmp_path / "m.mlir"
    assert_one_line_error(cli("import", ckpt, "-o", out), message)
    assert not out.exists()


def test_unsupported_option_is_a_one_line_cli_error(tmp_path):
    ckpt = _edit_config(phi3_checkpoint(tmp_path / "m"),
                        rope_scaling={"type": "longrope"})
    out = tmp_path / "m.mlir"
    assert_one_line_error(cli("import", ckpt, "-o", out),
                          "rope type 'longrope' is not supported")
    assert not out.exists()
