"""The emitted graphs compute the right logits: lowered with upstream
mlir-opt passes (weights inline), run under mlir-runner, compared with the
numpy reference and with properties that need no reference.

Tolerances. float32 graphs: |Δ| ≤ 2e-5 + 1e-5·|ref| on logits of magnitude
~1-4; the graph and numpy differ only in summation order and in exp/rsqrt
implementations, measured at ~3e-6. float16/bfloat16 graphs are looser: a
T-typed `linalg.matmul` (the contract's linear) accumulates in T when lowered
naively to loops, while the reference accumulates in float32 as cuBLAS does;
measured 0.024 on the example in float16 (≈12 ulp), bound 0.1.
"""
import json

import numpy as np
import pytest

from bnb_mlir import import_checkpoint, reference_forward
from bnb_mlir.rope import RopeConfig
from bnb_mlir.tools import run_forward_cpu
from helpers import gpt2_checkpoint, llama_checkpoint, write_checkpoint
from safetensors.numpy import load_file

ELEM = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def run_graph(ckpt, ids, dtype="float32", **kwargs):
    bsz, seq = ids.shape
    text, _ = import_checkpoint(ckpt, batch=bsz, seq=seq, dtype=dtype,
                                inline_weights=True, **kwargs)
    vocab = json.loads((ckpt / "config.json").read_text())["vocab_size"]
    return run_forward_cpu(text, ids, (bsz, seq, vocab), ELEM[dtype])


def assert_f32_close(got, ref):
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)


def test_example_float32_matches_reference(example_dir, example_ids):
    got = run_graph(example_dir, example_ids, "float32")
    ref = reference_forward(example_dir, example_ids, "float32")
    assert got.shape == (1, 8, 256)
    assert np.abs(ref).max() > 1.0  # not a degenerate model
    assert_f32_close(got, ref)


def test_example_float16_matches_reference(example_dir, example_ids):
    got = run_graph(example_dir, example_ids, "float16")
    ref = reference_forward(example_dir, example_ids, "float16")
    assert np.abs(got - ref).max() < 0.1
    # Both are float16 values.
    np.testing.assert_array_equal(got, got.astype(np.float16))
    np.testing.assert_array_equal(ref, ref.astype(np.float16))
    # The top-1 token agrees almost everywhere.
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.75


@pytest.mark.parametrize("variant", [
    dict(tied=True, kv_heads=2),
    dict(kv_heads=4, attention_bias=True, mlp_bias=True),
    dict(kv_heads=1, layers=2, head_dim=16),
    dict(model_type="mistral", extra={"sliding_window": 3}),
    dict(extra={"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
    dict(extra={"rope_theta": 500000.0, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}),
])
def test_llama_variants_match_reference(tmp_path, variant):
    ckpt = llama_checkpoint(tmp_path / "m", dtype="float32", **variant)
    ids = np.random.RandomState(3).randint(0, 48, size=(2, 8))
    assert_f32_close(run_graph(ckpt, ids), reference_forward(ckpt, ids))


@pytest.mark.parametrize("prefix", ["", "transformer."])
def test_gpt2_matches_reference(tmp_path, prefix):
    ckpt = gpt2_checkpoint(tmp_path / "g", prefix=prefix)
    ids = np.random.RandomState(4).randint(0, 40, size=(1, 8))
    assert_f32_close(run_graph(ckpt, ids), reference_forward(ckpt, ids))


def test_gpt2_float16(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path / "g", dtype="float16")
    ids = np.random.RandomState(5).randint(0, 40, size=(1, 8))
    got = run_graph(ckpt, ids, "float16")
    assert np.abs(got - reference_forward(ckpt, ids)).max() < 0.1


def test_bf16_checkpoint_in_float32(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "b", dtype="bfloat16")
    ids = np.random.RandomState(6).randint(0, 48, size=(1, 6))
    assert_f32_close(run_graph(ckpt, ids, "float32"),
                     reference_forward(ckpt, ids, "float32"))


def test_causal_mask(example_dir, example_ids):
    """Logits at position i do not depend on tokens after i."""
    changed = example_ids.copy()
    changed[0, 5:] = (changed[0, 5:] + 1) % 256
    a = run_graph(example_dir, example_ids)
    b = run_graph(example_dir, changed)
    np.testing.assert_array_equal(a[0, :5], b[0, :5])
    assert np.abs(a[0, 5:] - b[0, 5:]).max() > 1e-3


def test_grouped_query_attention_equals_repeated_heads(tmp_path):
    """A GQA model equals the MHA model whose K/V heads are repeated
    (transformers' repeat_kv), computed by two different graphs."""
    gqa = llama_checkpoint(tmp_path / "gqa", dtype="float32", heads=4,
                           kv_heads=2)
    tensors = load_file(str(gqa / "model.safetensors"))
    config = json.loads((gqa / "config.json").read_text())
    head_dim = config["head_dim"]
    for proj in ("k_proj", "v_proj"):
        key = f"model.layers.0.self_attn.{proj}.weight"
        w = tensors[key].reshape(2, head_dim, -1)
        tensors[key] = np.repeat(w, 2, axis=0).reshape(4 * head_dim, -1)
    config["num_key_value_heads"] = 4
    mha = tmp_path / "mha"
    write_checkpoint(mha, config, tensors, "float32")
    ids = np.random.RandomState(7).randint(0, 48, size=(1, 8))
    np.testing.assert_allclose(run_graph(gqa, ids), run_graph(mha, ids),
                               rtol=0, atol=1e-6)


def test_rope_inverse_frequencies():
    """Default rope: inv_freq[i] = 1 / theta^(2i/dim), checked in float64."""
    rope = RopeConfig(10000.0, 32)
    expected = 1.0 / 10000.0 ** (np.arange(0, 32, 2) / 32.0)
    np.testing.assert_allclose(rope.inv_freq(), expected, rtol=1e-6)
    linear = RopeConfig(10000.0, 32, "linear", factor=4.0)
    np.testing.assert_allclose(linear.inv_freq(), expected / 4.0, rtol=1e-6)
    cos, sin = rope.tables(5)
    angles = np.arange(5)[:, None] * np.concatenate([expected, expected])
    np.testing.assert_allclose(cos, np.cos(angles), atol=1e-6)
    np.testing.assert_allclose(sin, np.sin(angles), atol=1e-6)
