"""Pre-quantized checkpoints of every architecture that accepts them (LLaMA
itself is covered by test_prequantized.py, Gemma 2 and OPT by their own
files): the float16 checkpoint through bnb-quantize plus the config.json
transformers saves, imported and compiled, gives the outputs of the float16
checkpoint compiled with the same config, bit for bit on the CPU, and an
artifact holding the stored bytes.

GPT-2 is the special case: transformers replaces each `Conv1D` (weight
`[in, out]`) by a Linear4bit / Linear8bitLt and transposes the weight before
quantizing it, so the saved state is that of `[out, in]`; bnb-quantize
(`--conv1d`, on for a gpt2 config.json) writes the same."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bnb_mlir import BitsAndBytesConfig, import_checkpoint
from decoder_checkpoints import (gpt_neox_checkpoint, phi3_checkpoint,
                                 qwen2_checkpoint)
from helpers import gpt2_checkpoint, llama_checkpoint
from prequantized_helpers import (requires_tools, BNB_COMPILE, BNB_QUANTIZE, BNB_RUN, CONFIGS,
                                  cli, edit_blob, mutate, prequantize, run,
                                  same_bytes)
from test_arch_bert import bert_checkpoint
from test_arch_gemma import gemma_checkpoint
from test_cli import assert_one_line_error

pytestmark = requires_tools

#: name -> (float16 checkpoint builder, quantized linears of the graph: the
#: nn.Linear / Conv1D modules transformers replaces, lm_head excepted).
ARCHS = {
    # GPT2LMHeadModel keys; 4 Conv1D per layer.
    "gpt2": (lambda p: gpt2_checkpoint(p, prefix="transformer.",
                                       dtype="float16"), 8),
    # GPT2Model keys (the published gpt2 files).
    "gpt2-no-prefix": (lambda p: gpt2_checkpoint(p, dtype="float16"), 8),
    # The window (4) shorter than the sequence (8).
    "mistral": (lambda p: llama_checkpoint(
        p, model_type="mistral", layers=2, extra={"sliding_window": 4}), 14),
    "qwen2": (lambda p: qwen2_checkpoint(p, dtype="float16"), 14),
    # Fused qkv_proj and gate_up_proj: one quantized layer each.
    "phi3": (lambda p: phi3_checkpoint(p, dtype="float16"), 8),
    "gpt_neox": (lambda p: gpt_neox_checkpoint(p, dtype="float16"), 8),
    "gemma": (lambda p: gemma_checkpoint(p, dtype="float16"), 14),
    # The encoder's six linears per layer (the pooler is not in the graph).
    "bert": (lambda p: bert_checkpoint(p, dtype="float16"), 12),
}

#: The configs of prequantized_helpers, and NF4 with one GPT-2 Conv1D
#: skipped (it stays a float [in, out] Conv1D beside the quantized ones).
SKIPPED = "transformer.h.1.mlp.c_fc"
QUANT = dict(CONFIGS, **{"nf4-skip": dict(
    load_in_4bit=True, bnb_4bit_quant_type="nf4",
    llm_int8_skip_modules=["lm_head", SKIPPED])})

#: Every architecture in LLM.int8() (outlier threshold 1.5, so outlier
#: columns occur) and NF4 + double quantization; GPT-2 and Phi-3 also in
#: NF4 and FP4.
CASES = [(a, c) for a in ARCHS for c in ("int8", "nf4-dq")] + \
    [(a, c) for a in ("gpt2", "phi3") for c in ("nf4", "fp4")] + \
    [("gpt2", "nf4-skip")]


def inputs_for(ckpt) -> dict:
    """The entry point's inputs: input_ids [2, 8] (an encoder also takes a
    padded attention mask and token types)."""
    config = json.loads((ckpt / "config.json").read_text())
    rng = np.random.RandomState(31)
    ids = rng.randint(0, config["vocab_size"], (2, 8)).astype(np.int64)
    if config["model_type"] != "bert":
        return {"input_ids": ids}
    mask = np.ones((2, 8), np.int64)
    mask[1, 6:] = 0
    types = np.zeros((2, 8), np.int64)
    types[0, 5:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def compile_and_run(ckpt, config_path, tmp, label, inputs):
    """Imports `ckpt` (batch 2, seq 8, @forward), compiles it for the CPU
    with `config_path` and runs bnb-run: (graph text, artifact, the output
    tensor's raw bytes as a float array)."""
    model = tmp / f"{label}.mlir"
    text, _ = import_checkpoint(ckpt, model, batch=2, seq=8,
                                generation=False)
    artifact = tmp / f"{label}.bnb"
    run(BNB_COMPILE, model, "--config", config_path, "--target", "cpu",
        "--quiet", "-o", artifact)
    src, dst = tmp / f"{label}.in.safetensors", tmp / f"{label}.out"
    save_file(inputs, str(src))
    run(BNB_RUN, artifact, "--threads", "1", "--input", src, "--output", dst)
    out = load_file(str(dst))
    assert len(out) == 1
    return text, artifact, next(iter(out.values()))


@pytest.mark.parametrize("arch,name", CASES)
def test_round_trip(tmp_path, arch, name):
    build, linears = ARCHS[arch]
    ckpt = build(tmp_path / "hf")
    config = BitsAndBytesConfig(**QUANT[name])
    if name == "nf4-skip":
        linears -= 1
    quant = tmp_path / "quant.json"
    config.to_json_file(quant)
    inputs = inputs_for(ckpt)
    _, f_art, f_out = compile_and_run(ckpt, quant, tmp_path, "float", inputs)
    pq = prequantize(ckpt, tmp_path / "pq", config)
    text, p_art, p_out = compile_and_run(pq, pq / "config.json", tmp_path,
                                         "pq", inputs)

    # The graph holds the stored layers, not float matmuls to quantize.
    op = "bnb.linear_int8" if config.load_in_8bit else "bnb.linear_4bit"
    assert len(re.findall(re.escape(op) + r" ", text)) == linears
    assert "load_in_8bit = true" in text or "load_in_4bit = true" in text
    if name == "nf4-skip":
        # The skipped Conv1D: its float [in, out] weight, an x·W matmul.
        assert f'"{SKIPPED}.weight"(#ml_program.extern : tensor<32x128xf16>)' \
            in text
        assert text.count("linalg.matmul ins(") == 1

    # Bit for bit the float checkpoint's outputs.
    assert f_out.dtype == np.float16 and np.isfinite(f_out).all()
    assert same_bytes(f_out, p_out)

    # The artifact holds the stored bytes, which are what the float
    # checkpoint compiles to.
    stored = load_file(str(pq / "model.safetensors"))
    compiled = load_file(str(p_art / "weights.safetensors"))
    from_float = load_file(str(f_art / "weights.safetensors"))
    if arch == "gpt2-no-prefix":
        # The float checkpoint's quantized state is named by transformers'
        # module names ("transformer.h.0..."); the stored state keeps the
        # checkpoint's keys.
        from_float = {k[len("transformer."):] if k.startswith("transformer.")
                      else k: v for k, v in from_float.items()}
    assert set(compiled) == set(from_float)
    state = [k for k in compiled if k.endswith((".SCB", ".absmax"))]
    assert len(state) == linears
    for key, value in compiled.items():
        assert same_bytes(value, from_float[key]), key
        if key in stored:
            assert same_bytes(value, stored[key]), key


def test_quantized_outputs_differ_from_unquantized(tmp_path):
    """The round trip compares quantized models: NF4 changes the GPT-2
    logits (so equal logits are not those of two float models)."""
    ckpt = gpt2_checkpoint(tmp_path / "hf", prefix="transformer.",
                           dtype="float16")
    inputs = inputs_for(ckpt)
    none = BitsAndBytesConfig(load_in_8bit=True,
                              llm_int8_skip_modules=["transformer",
                                                     "lm_head"])
    nf4 = BitsAndBytesConfig(**CONFIGS["nf4"])
    outs = []
    for label, config in (("none", none), ("nf4", nf4)):
        path = tmp_path / f"{label}.json"
        config.to_json_file(path)
        src = ckpt if label == "none" else prequantize(ckpt, tmp_path / "pq",
                                                       config)
        cfg = path if label == "none" else src / "config.json"
        outs.append(compile_and_run(src, cfg, tmp_path, label, inputs)[2])
    scale = np.abs(outs[0].astype(np.float32)).max()
    diff = np.abs(outs[0].astype(np.float32) - outs[1].astype(np.float32))
    assert diff.max() > 0.01 * scale


def test_gpt2_stored_layout_is_checked(tmp_path):
    """A quantized Conv1D whose quant_state records the Conv1D layout
    [in, out] instead of the [out, in] transformers quantizes is refused,
    naming the tensor (the packed sizes agree, only the layout differs)."""
    ckpt = gpt2_checkpoint(tmp_path / "hf", prefix="transformer.",
                           dtype="float16")
    pq = prequantize(ckpt, tmp_path / "pq",
                     BitsAndBytesConfig(**CONFIGS["nf4"]))
    key = "transformer.h.1.attn.c_attn"
    bad = mutate(pq, tmp_path / "bad",
                 lambda t: edit_blob(t, key, shape=[32, 96]))
    out = tmp_path / "m.mlir"
    assert_one_line_error(cli("import", bad, "-o", out),
                          f"'{key}.weight' has shape [32, 96]",
                          "config.json implies [96, 32]")
    assert not out.exists()


def test_gpt2_prequantized_generation_entry_points(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path / "hf", prefix="transformer.",
                           dtype="float16")
    pq = prequantize(ckpt, tmp_path / "pq",
                     BitsAndBytesConfig(**CONFIGS["nf4-dq"]))
    text, _ = import_checkpoint(pq, tmp_path / "g.mlir", generation=True,
                                max_seq_len=16, prefill_chunk=4)
    assert text.count("bnb.linear_4bit ") == 3 * 8
    assert text.count(
        'global private @"transformer.h.0.mlp.c_fc.weight"') == 1
    # No float Conv1D matmul is left but the tied lm_head's.
    assert text.count("linalg.matmul") == 3


def test_gpt2_with_fp16_weights_is_refused(tmp_path):
    """llm_int8_has_fp16_weight keeps transformers' transposed Conv1D
    weights in float and saves them without SCB: transformers cannot load
    such a checkpoint, and neither layout can be told from the file."""
    ckpt = gpt2_checkpoint(tmp_path / "hf", prefix="transformer.",
                           dtype="float16")
    config = json.loads((ckpt / "config.json").read_text())
    config["quantization_config"] = BitsAndBytesConfig(
        load_in_8bit=True, llm_int8_has_fp16_weight=True).to_dict()
    (ckpt / "config.json").write_text(json.dumps(config))
    out = tmp_path / "m.mlir"
    assert_one_line_error(cli("import", ckpt, "-o", out),
                          str(ckpt / "config.json"),
                          "pre-quantized gpt2 checkpoints with "
                          "llm_int8_has_fp16_weight are not supported")
    assert not out.exists()
