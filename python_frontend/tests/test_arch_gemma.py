"""Gemma and Gemma 2: small random-weight checkpoints in transformers'
layout (keys, shapes and config.json fields as GemmaForCausalLM /
Gemma2ForCausalLM save them) are imported, checked against the numpy
reference (ref_gemma.py, written separately from arch_gemma.py), compiled
for the CPU unquantized, with LLM.int8(), NF4 and NF4 + double quant, and
run; prefill + decode agree with the forward pass. Tolerances: see
arch_checks.py (float16 graphs: below 0.1, as test_numerics.py).
"""
import json
import math

import numpy as np
import pytest

from arch_checks import (check_compiled, check_graph_forward,
                         check_graph_generation, check_incremental_reference,
                         check_prequantized, graph_forward, vocab_of)
from bnb_mlir import BnbMlirError, import_checkpoint, reference_forward
from bnb_mlir.arch_gemma import round_to_dtype
from bnb_mlir.reference import reference_generate
from bnb_mlir.ref_gemma import _normalizer
from helpers import bnb_opt, global_loads, matmuls, write_checkpoint
from test_cli import assert_one_line_error, cli


def gemma_checkpoint(path, *, model_type="gemma", vocab=48, hidden=32,
                     inter=40, layers=2, heads=4, kv_heads=2, head_dim=16,
                     dtype="float32", seed=0, extra=None, drop=(),
                     tied=True):
    """A GemmaForCausalLM / Gemma2ForCausalLM checkpoint. head_dim differs
    from hidden / heads, as in the published models; RMSNorm weights are
    offsets around 0 (the models use 1 + w); embeddings are scaled so that
    after the sqrt(hidden) normalizer activations are O(1)."""
    rng = np.random.RandomState(seed)
    v2 = model_type == "gemma2"
    config = {
        "architectures": ["Gemma2ForCausalLM" if v2 else "GemmaForCausalLM"],
        "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        "head_dim": head_dim, "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": hidden,
        "initializer_range": 0.02, "intermediate_size": inter,
        "max_position_embeddings": 64, "model_type": model_type,
        "num_attention_heads": heads, "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads, "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0, "torch_dtype": dtype,
        "transformers_version": "4.44.0", "use_cache": True,
        "vocab_size": vocab}
    if v2:
        # Small caps so that tanh bends the values; a window shorter than
        # the test sequences.
        config.update({"attn_logit_softcapping": 4.0,
                       "final_logit_softcapping": 3.0,
                       "query_pre_attn_scalar": 12, "sliding_window": 3,
                       "cache_implementation": "hybrid"})
    config.update(extra or {})
    if not tied:
        config["tie_word_embeddings"] = False

    def lin(o, i):
        return rng.standard_normal((o, i)) / np.sqrt(i)

    norms = ["input_layernorm", "post_attention_layernorm"]
    if v2:
        norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
    t = {"model.embed_tokens.weight":
         rng.standard_normal((vocab, hidden)) / np.sqrt(hidden)}
    q, kv = heads * head_dim, kv_heads * head_dim
    for i in range(layers):
        p = f"model.layers.{i}."
        for n in norms:
            t[f"{p}{n}.weight"] = 0.1 * rng.standard_normal(hidden)
        for name, o, n in (("q_proj", q, hidden), ("k_proj", kv, hidden),
                           ("v_proj", kv, hidden), ("o_proj", hidden, q)):
            t[f"{p}self_attn.{name}.weight"] = lin(o, n)
        for name, o, n in (("gate_proj", inter, hidden),
                           ("up_proj", inter, hidden),
                           ("down_proj", hidden, inter)):
            t[f"{p}mlp.{name}.weight"] = lin(o, n)
    t["model.norm.weight"] = 0.1 * rng.standard_normal(hidden)
    if not tied:
        t["lm_head.weight"] = lin(vocab, hidden)
    for k in drop:
        del t[k]
    write_checkpoint(path, config, {k: v.astype(np.float32)
                                    for k, v in t.items()}, dtype)
    return path


def set_config(ckpt, **fields):
    config = json.loads((ckpt / "config.json").read_text())
    config.update(fields)
    (ckpt / "config.json").write_text(json.dumps(config))


VARIANTS = {
    "gemma": dict(model_type="gemma"),
    "gemma-mha-untied": dict(model_type="gemma", kv_heads=4, tied=False),
    "gemma2": dict(model_type="gemma2"),
    "gemma2-layer-types": dict(model_type="gemma2", layers=3, extra={
        "layer_types": ["full_attention", "sliding_attention",
                        "sliding_attention"]}),
}


# -- structure ----------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["gemma", "gemma2"])
def test_graph_structure(tmp_path, model_type):
    ckpt = gemma_checkpoint(tmp_path / "m", model_type=model_type,
                            dtype="float16")
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    assert bnb_opt(text).returncode == 0, bnb_opt(text).stderr
    fwd = text[text.index("@forward("):text.index("@prefill(")]
    names = [global_loads(fwd)[mm["rhs"]] for mm in matmuls(fwd)]
    per_layer = [f"model.layers.0.{n}.weight" for n in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
        "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    assert names[:7] == per_layer and len(names) == 2 * 7 + 1
    # Tied: the lm_head is the embedding matrix, named "lm_head".
    assert names[-1] == "model.embed_tokens.weight"
    assert 'bnb.module = "lm_head"' in matmuls(fwd)[-1]["line"]
    # The cache: head_dim 16 (not hidden / heads = 8), 2 KV heads.
    assert "%k0: tensor<1x2x16x16xf16>" in text
    # sqrt(32) = 5.65685... is 5.65625 in float16 (0x45A8).
    assert "arith.constant 0x45A8 : f16" in fwd
    # Gemma 2: the sliding window on layer 0 only, soft-capping as tanh.
    assert ("arith.constant 3 : index" in fwd) == (model_type == "gemma2")
    assert ("arith.constant 0x40800000 : f32" in fwd) == \
        (model_type == "gemma2")


def test_normalizer_rounding():
    """torch.tensor(hidden ** 0.5, dtype=T): the graph's rounding and the
    reference's (different methods) agree, and Gemma's comment holds:
    sqrt(3072) = 55.4256 becomes 55.5 in bfloat16."""
    assert round_to_dtype(3072 ** 0.5, "BF16") == 55.5
    assert round_to_dtype(3072 ** 0.5, "F16") == 55.4375
    for hidden in (32, 2048, 2304, 3072, 3584, 4608, 5120):
        for code in ("F32", "F16", "BF16"):
            assert round_to_dtype(hidden ** 0.5, code) == \
                float(_normalizer(hidden, code)), (hidden, code)
    assert abs(round_to_dtype(3072 ** 0.5, "F32") - math.sqrt(3072)) < 4e-6


# -- numerics -----------------------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_graph_matches_reference(tmp_path, variant):
    ckpt = gemma_checkpoint(tmp_path / "m", **VARIANTS[variant])
    ids = np.random.RandomState(3).randint(0, 48, size=(2, 8))
    check_graph_forward(ckpt, ids)


@pytest.mark.parametrize("variant", ["gemma", "gemma2"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_incremental_reference_equals_forward(tmp_path, variant, dtype):
    ckpt = gemma_checkpoint(tmp_path / "m", dtype=dtype, **VARIANTS[variant])
    check_incremental_reference(ckpt, dtype)


@pytest.mark.parametrize("variant", ["gemma", "gemma2",
                                     "gemma2-layer-types"])
def test_graph_generation_matches_reference(tmp_path, variant):
    ckpt = gemma_checkpoint(tmp_path / "m", **VARIANTS[variant])
    check_graph_generation(ckpt)


def test_float16_graph(tmp_path):
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2",
                            dtype="float16")
    ids = np.random.RandomState(5).randint(0, 48, size=(1, 8))
    got = graph_forward(ckpt, ids, "float16")
    ref = reference_forward(ckpt, ids)
    np.testing.assert_array_equal(got, got.astype(np.float16))
    assert np.abs(got - ref).max() < 0.1


@pytest.mark.parametrize("variant", ["gemma", "gemma2"])
def test_compiled_cpu(tmp_path, variant):
    ckpt = gemma_checkpoint(tmp_path / "m", **VARIANTS[variant])
    check_compiled(ckpt, tmp_path)


# -- the Gemma 2 features each change the result ------------------------------

def test_gemma2_features_are_applied(tmp_path):
    """Soft-capping, the window and query_pre_attn_scalar each change the
    logits; logits stay inside the final cap; without the window the
    sliding layer attends everything."""
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2")
    ids = np.random.RandomState(6).randint(0, 48, size=(1, 8))
    base = reference_forward(ckpt, ids)
    assert np.abs(base).max() < 3.0
    for fields in ({"attn_logit_softcapping": None},
                   {"final_logit_softcapping": None},
                   {"sliding_window": 64},
                   {"query_pre_attn_scalar": 16}):
        other = gemma_checkpoint(tmp_path / str(len(fields) + len(
            str(fields))), model_type="gemma2")
        set_config(other, **fields)
        ref = reference_forward(other, ids)
        assert np.abs(ref - base).max() > 1e-3, fields
        np.testing.assert_allclose(graph_forward(other, ids), ref,
                                   rtol=1e-5, atol=2e-5)
        if "sliding_window" in fields:
            # The first 3 positions are inside the window of 3 anyway.
            np.testing.assert_allclose(ref[:, :3], base[:, :3], rtol=1e-6,
                                       atol=1e-6)


def test_gemma2_window_in_decode(tmp_path):
    """The decode path honours the window: with a window of 3 the logits of
    the last token depend on the window (prompt 5 + 5 generated)."""
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2")
    ids = np.random.RandomState(7).randint(0, 48, size=(1, 10))
    narrow = reference_generate(ckpt, ids, 5, 2, 16)
    set_config(ckpt, sliding_window=64)
    wide = reference_generate(ckpt, ids, 5, 2, 16)
    assert np.abs(wide[-1] - narrow[-1]).max() > 1e-3


# -- errors -------------------------------------------------------------------

@pytest.mark.parametrize("fields,message", [
    ({"hidden_activation": "gelu"},
     "hidden_activation 'gelu' is not supported (gelu_pytorch_tanh)"),
    ({"num_key_value_heads": 3},
     "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
    ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}},
     "rope type 'dynamic' is not supported"),
    ({"use_bidirectional_attention": True},
     "'use_bidirectional_attention' is not supported"),
    ({"head_dim": 15}, "head_dim 15 must be even"),
])
def test_config_errors(tmp_path, fields, message):
    ckpt = gemma_checkpoint(tmp_path / "m")
    set_config(ckpt, **fields)
    with pytest.raises(BnbMlirError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        import_checkpoint(ckpt)


@pytest.mark.parametrize("fields,message", [
    ({"attn_logit_softcapping": -1},
     "'attn_logit_softcapping' must be a positive number or null, got -1"),
    ({"final_logit_softcapping": "30"},
     "'final_logit_softcapping' must be a positive number or null"),
    ({"query_pre_attn_scalar": None}, "'query_pre_attn_scalar' must be a "
                                      "positive number"),
    ({"sliding_window": 0}, "'sliding_window' must be an integer >= 1"),
    ({"layer_types": ["full_attention"]},
     "'layer_types' must list sliding_attention or full_attention for each "
     "of the 2 layers"),
    ({"sliding_window": None},
     "'layer_types' has sliding_attention layers but sliding_window is "
     "null"),
])
def test_gemma2_config_errors(tmp_path, fields, message):
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2")
    set_config(ckpt, **fields)
    with pytest.raises(BnbMlirError) as e:
        import_checkpoint(ckpt)
    assert message in str(e.value)


def test_gemma2_without_window_layers(tmp_path):
    """sliding_window null with only full layers is a plain causal model."""
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2", extra={
        "sliding_window": None,
        "layer_types": ["full_attention", "full_attention"]})
    ids = np.random.RandomState(8).randint(0, 48, size=(1, 8))
    check_graph_forward(ckpt, ids)


def test_cli_errors(tmp_path):
    """One line, exit 1, no output file: a bad option and a missing
    tensor."""
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2")
    set_config(ckpt, hidden_activation="relu")
    out = tmp_path / "m.mlir"
    assert_one_line_error(cli("import", ckpt, "-o", out),
                          "hidden_activation 'relu' is not supported")
    assert not out.exists()
    missing = gemma_checkpoint(tmp_path / "d", model_type="gemma2", drop=(
        "model.layers.1.pre_feedforward_layernorm.weight",))
    assert_one_line_error(
        cli("import", missing, "-o", out),
        "missing tensor 'model.layers.1.pre_feedforward_layernorm.weight'")
    assert not out.exists()
    assert vocab_of(missing) == 48


@pytest.mark.parametrize("config", ["int8", "nf4-dq"])
def test_prequantized_round_trip(tmp_path, config):
    ckpt = gemma_checkpoint(tmp_path / "m", model_type="gemma2",
                            dtype="float16")
    check_prequantized(ckpt, tmp_path, config)
