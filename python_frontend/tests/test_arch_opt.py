"""OPT: small random-weight checkpoints in transformers' layout (keys,
shapes and config.json fields as OPTForCausalLM saves them, and the
"decoder.*" keys of the published OPTModel files) are imported, checked
against the numpy reference (ref_opt.py, written separately from
arch_opt.py), compiled for the CPU unquantized, with LLM.int8(), NF4 and
NF4 + double quant, and run; prefill + decode agree with the forward pass.
Tolerances: see arch_checks.py (float16 graphs: below 0.1, as
test_numerics.py).
"""
import json
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from arch_checks import (check_compiled, check_graph_forward,
                         check_graph_generation, check_incremental_reference,
                         check_prequantized, graph_forward)
from bnb_mlir import BnbMlirError, import_checkpoint, reference_forward
from bnb_mlir.reference import reference_generate
from helpers import bnb_opt, global_loads, matmuls, write_checkpoint
from test_cli import assert_one_line_error, cli


def opt_checkpoint(path, *, vocab=40, hidden=32, ffn=48, layers=2, heads=4,
                   positions=16, proj_dim=None, pre_ln=True, bias=True,
                   prefix="model.decoder.", dtype="float32", seed=2,
                   extra=None, drop=()):
    """An OPTForCausalLM checkpoint (lm_head tied, so not stored, as
    save_pretrained writes it); `prefix` "decoder." gives OPTModel keys."""
    rng = np.random.RandomState(seed)
    proj = proj_dim or hidden
    config = {
        "_remove_final_layer_norm": False, "activation_dropout": 0.0,
        "activation_function": "relu", "architectures": ["OPTForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": 2,
        "do_layer_norm_before": pre_ln, "dropout": 0.1,
        "enable_bias": bias, "eos_token_id": 2, "ffn_dim": ffn,
        "hidden_size": hidden, "init_std": 0.02, "layerdrop": 0.0,
        "layer_norm_elementwise_affine": True,
        "max_position_embeddings": positions, "model_type": "opt",
        "num_attention_heads": heads, "num_hidden_layers": layers,
        "pad_token_id": 1, "torch_dtype": dtype,
        "transformers_version": "4.44.0", "use_cache": True,
        "vocab_size": vocab, "word_embed_proj_dim": proj}
    config.update(extra or {})

    def lin(o, i):
        return rng.standard_normal((o, i)) / np.sqrt(i)

    p = prefix
    t = {p + "embed_tokens.weight": 0.5 * rng.standard_normal((vocab, proj)),
         p + "embed_positions.weight":
         0.3 * rng.standard_normal((positions + 2, hidden))}
    if proj != hidden:
        t[p + "project_in.weight"] = lin(hidden, proj)
        t[p + "project_out.weight"] = lin(proj, hidden)
    for i in range(layers):
        b = f"{p}layers.{i}."
        for name, o, n in (("self_attn.k_proj", hidden, hidden),
                           ("self_attn.v_proj", hidden, hidden),
                           ("self_attn.q_proj", hidden, hidden),
                           ("self_attn.out_proj", hidden, hidden),
                           ("fc1", ffn, hidden), ("fc2", hidden, ffn)):
            t[f"{b}{name}.weight"] = lin(o, n)
            if bias:
                t[f"{b}{name}.bias"] = 0.1 * rng.standard_normal(o)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            t[f"{b}{ln}.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
            t[f"{b}{ln}.bias"] = 0.1 * rng.standard_normal(hidden)
    if pre_ln:
        t[p + "final_layer_norm.weight"] = 1 + 0.1 * rng.standard_normal(
            hidden)
        t[p + "final_layer_norm.bias"] = 0.1 * rng.standard_normal(hidden)
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
    "pre-ln": dict(),
    "post-ln": dict(pre_ln=False),                 # opt-350m
    "project": dict(proj_dim=24, pre_ln=False),    # opt-350m's 512 vs 1024
    "opt-model-keys": dict(prefix="decoder."),     # the published files
    "no-bias": dict(bias=False, extra={"_remove_final_layer_norm": True}),
}


def test_graph_structure(tmp_path):
    ckpt = opt_checkpoint(tmp_path / "m", proj_dim=24, prefix="decoder.",
                          dtype="float16")
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    assert bnb_opt(text).returncode == 0, bnb_opt(text).stderr
    fwd = text[text.index("@forward("):text.index("@prefill(")]
    mms = matmuls(fwd)
    names = [global_loads(fwd)[mm["rhs"]] for mm in mms]
    assert names[0] == "decoder.project_in.weight"
    assert names[1:7] == [f"decoder.layers.0.{n}.weight" for n in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
        "self_attn.out_proj", "fc1", "fc2")]
    assert names[-2:] == ["decoder.project_out.weight",
                          "decoder.embed_tokens.weight"]
    # transformers' module names, whatever the checkpoint's prefix.
    assert 'bnb.module = "model.decoder.layers.0.fc1"' in mms[5]["line"]
    assert 'bnb.module = "lm_head"' in mms[-1]["line"]
    assert "bnb.layer = \"model.decoder.layers.1\"" in text
    # Positions: rows 2.. of the [16 + 2, 32] table (forward), p + 2 (steps).
    assert re.search(r"tensor\.extract_slice %\w+\[2, 0\] \[8, 32\] "
                     r"\[1, 1\] : tensor<18x32xf16> to tensor<8x32xf16>", fwd)
    prefill = text[text.index("@prefill("):text.index("@decode(")]
    assert "arith.addi %p, %pos_offset : index" in prefill
    # MHA cache [1, heads, S, hidden / heads].
    assert "%k0: tensor<1x4x16x8xf16>" in text


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_graph_matches_reference(tmp_path, variant):
    ckpt = opt_checkpoint(tmp_path / "m", **VARIANTS[variant])
    ids = np.random.RandomState(3).randint(0, 40, size=(2, 8))
    check_graph_forward(ckpt, ids)


@pytest.mark.parametrize("variant", ["pre-ln", "project"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_incremental_reference_equals_forward(tmp_path, variant, dtype):
    ckpt = opt_checkpoint(tmp_path / "m", dtype=dtype, **VARIANTS[variant])
    check_incremental_reference(ckpt, dtype)


@pytest.mark.parametrize("variant", ["pre-ln", "project"])
def test_graph_generation_matches_reference(tmp_path, variant):
    ckpt = opt_checkpoint(tmp_path / "m", **VARIANTS[variant])
    check_graph_generation(ckpt)


def test_float16_graph(tmp_path):
    ckpt = opt_checkpoint(tmp_path / "m", dtype="float16")
    ids = np.random.RandomState(5).randint(0, 40, size=(1, 8))
    got = graph_forward(ckpt, ids, "float16")
    np.testing.assert_array_equal(got, got.astype(np.float16))
    assert np.abs(got - reference_forward(ckpt, ids)).max() < 0.1


@pytest.mark.parametrize("variant", ["pre-ln", "project"])
def test_compiled_cpu(tmp_path, variant):
    # A cache of 32 positions: the table has 32 + 2 rows.
    ckpt = opt_checkpoint(tmp_path / "m", positions=32, **VARIANTS[variant])
    check_compiled(ckpt, tmp_path)


def test_position_offset(tmp_path):
    """Rows 0 and 1 of embed_positions are never read; row 2 + i is
    position i (forward and decode)."""
    ckpt = opt_checkpoint(tmp_path / "m")
    ids = np.random.RandomState(6).randint(0, 40, size=(1, 8))
    base = graph_forward(ckpt, ids)
    tensors = load_file(str(ckpt / "model.safetensors"))
    config = json.loads((ckpt / "config.json").read_text())
    key = "model.decoder.embed_positions.weight"
    for rows, same in (((0, 1), True), ((2, 9), False)):
        changed = dict(tensors)
        changed[key] = tensors[key].copy()
        changed[key][list(rows)] = tensors[key][list(rows[::-1])]
        other = tmp_path / f"rows{rows[0]}"
        write_checkpoint(other, config, changed, "float32")
        got = graph_forward(other, ids)
        if same:
            np.testing.assert_array_equal(got, base)
        else:
            # Position 0 (row 2) changes from the first token on.
            assert np.abs(got[:, 0] - base[:, 0]).max() > 1e-3
        np.testing.assert_allclose(
            reference_generate(other, ids, 4, 2, 16)[-1],
            reference_forward(other, ids)[0, -1], rtol=1e-5, atol=1e-5)


def test_max_positions(tmp_path):
    ckpt = opt_checkpoint(tmp_path / "m")  # max_position_embeddings 16
    with pytest.raises(BnbMlirError, match="sequence length 17 exceeds "
                                           "max_position_embeddings 16"):
        import_checkpoint(ckpt, seq=17)
    with pytest.raises(BnbMlirError, match="max_seq_len 32 exceeds "
                                           "max_position_embeddings 16"):
        import_checkpoint(ckpt, generation=True, max_seq_len=32)
    text, _ = import_checkpoint(ckpt, generation=True, prefill_chunk=4)
    assert "%k0: tensor<1x4x16x8xf32>" in text  # the default: all 16


@pytest.mark.parametrize("fields,message", [
    ({"activation_function": "gelu"},
     "activation_function 'gelu' is not supported (relu)"),
    ({"layer_norm_elementwise_affine": False},
     "'layer_norm_elementwise_affine' false is not supported"),
    ({"num_attention_heads": 5},
     "hidden_size 32 is not a multiple of num_attention_heads 5"),
    ({"enable_bias": "yes"}, "'enable_bias' must be true or false"),
    ({"word_embed_proj_dim": 24},
     "tensor 'model.decoder.embed_tokens.weight' has shape [40, 32], but "
     "config.json implies [40, 24]"),
])
def test_config_errors(tmp_path, fields, message):
    ckpt = opt_checkpoint(tmp_path / "m")
    set_config(ckpt, **fields)
    with pytest.raises(BnbMlirError) as e:
        import_checkpoint(ckpt)
    assert message in str(e.value)


def test_cli_errors(tmp_path):
    """One line, exit 1, no output file."""
    out = tmp_path / "m.mlir"
    ckpt = opt_checkpoint(tmp_path / "m")
    set_config(ckpt, activation_function="silu")
    assert_one_line_error(cli("import", ckpt, "-o", out),
                          "activation_function 'silu' is not supported")
    missing = opt_checkpoint(tmp_path / "d", proj_dim=24, drop=(
        "model.decoder.project_out.weight",))
    assert_one_line_error(cli("import", missing, "-o", out),
                          "missing tensor 'model.decoder.project_out.weight'")
    assert not out.exists()


@pytest.mark.parametrize("config", ["int8", "nf4-dq"])
def test_prequantized_round_trip(tmp_path, config):
    ckpt = opt_checkpoint(tmp_path / "m", proj_dim=24, dtype="float16")
    check_prequantized(ckpt, tmp_path, config)
