"""import_checkpoint: the emitted module follows the model-graph contract,
verifies with bnb-opt and upstream mlir-opt, and bad checkpoints give clear
one-line errors."""
import json
import os
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from bnb_mlir import BitsAndBytesConfig, BnbMlirError, import_checkpoint
from bnb_mlir.models import Llama, architecture_for
from bnb_mlir.checkpoint import Checkpoint
from helpers import (MLIR_OPT, bnb_opt, definitions, global_loads,
                     globals_declared, gpt2_checkpoint, llama_checkpoint,
                     matmuls, shard_checkpoint)

LINEARS_PER_LLAMA_LAYER = 7  # q, k, v, o, gate, up, down


@pytest.fixture(scope="module")
def example_import(example_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("import") / "model.mlir"
    text, weights = import_checkpoint(example_dir, out)
    return text, weights, out


def test_example_verifies_with_bnb_opt_and_mlir_opt(example_import):
    text, _, out = example_import
    assert out.read_text() == text
    for tool in (None, MLIR_OPT):
        result = bnb_opt(text) if tool is None else bnb_opt(text, tool=tool)
        assert result.returncode == 0, result.stderr
    printed = bnb_opt(text).stdout
    # The round-tripped module still carries the contract's pieces.
    assert 'bnb.weights = "' in printed
    assert printed.count("ml_program.global_load_const") == \
        text.count("ml_program.global_load_const")


def test_signature_and_weights_attribute(example_dir, example_import):
    text, weights, out = example_import
    assert re.search(r'func\.func @forward\(%input_ids: tensor<1x8xi64> '
                     r'\{bnb\.name = "input_ids", bnb\.vocab_size = 256 : i64\}\) '
                     r'-> \(tensor<1x8x256xf16> '
                     r'\{bnb\.name = "logits"\}\)', text)
    # The checkpoint's own file is referenced, relative to the .mlir file.
    assert weights == (example_dir / "model.safetensors").resolve()
    rel = os.path.relpath(weights, out.parent)
    assert f'module attributes {{bnb.weights = "{rel}"}}' in text
    # No inlined weights: the only dense constants are the rope tables.
    dense = [l.split("=")[0].strip() for l in text.splitlines()
             if "dense<" in l]
    assert dense == ["%rope_cos", "%rope_sin"]


def test_globals_are_named_by_checkpoint_keys(example_dir, example_import):
    text, _, _ = example_import
    declared = globals_declared(text)
    keys = set(load_file(str(example_dir / "model.safetensors")))
    assert set(declared) == keys
    assert declared["model.layers.1.mlp.down_proj.weight"] == \
        "tensor<128x352xf16>"
    assert declared["model.embed_tokens.weight"] == "tensor<256x128xf16>"
    # Every load names a declared global.
    assert set(global_loads(text).values()) == keys


def test_every_linear_is_the_contract_form(example_import):
    text, _, _ = example_import
    defs = definitions(text)
    loads = global_loads(text)
    mms = matmuls(text)
    assert len(mms) == 2 * LINEARS_PER_LLAMA_LAYER + 1
    assert "#mA = affine_map<(m, n, k) -> (m, k)>" in text
    assert "#mBt = affine_map<(m, n, k) -> (n, k)>" in text
    assert "#mC = affine_map<(m, n, k) -> (m, n)>" in text
    names = []
    for mm in mms:
        # The weight operand is the global_load_const result itself.
        assert defs[mm["rhs"]] == "ml_program.global_load_const", mm["line"]
        assert mm["maps"] == "indexing_maps = [#mA, #mBt, #mC]"
        assert defs[mm["init"]] == "linalg.fill"
        # A 2-D [B*S, K] activation.
        assert re.search(r"ins\(%[\w.]+, %[\w.]+ : tensor<8x\d+xf16>",
                         mm["line"])
        names.append(loads[mm["rhs"]])
    assert names[:LINEARS_PER_LLAMA_LAYER] == [
        f"model.layers.0.{n}.weight" for n in
        ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
         "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    assert names[-1] == "lm_head.weight"
    assert mms[-1]["attrs"] == ""  # untied: lm_head is its own module


def test_fill_inits_are_zero(example_import):
    text, _, _ = example_import
    zero_fills = re.findall(r"linalg\.fill ins\((%[\w.]+) : f16\)", text)
    consts = dict(re.findall(r"(%[\w.]+) = arith\.constant (\S+) : f16",
                             text))
    assert zero_fills and all(consts[z] == "0.0" for z in zero_fills)


def test_quant_config_rides_on_the_module(example_dir):
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    text, _ = import_checkpoint(example_dir, quant_config=config)
    assert f"bnb.config = {config.to_mlir_attr()}" in text
    result = bnb_opt(text)
    assert result.returncode == 0, result.stderr
    assert 'bnb_4bit_quant_type = "nf4"' in result.stdout


def test_tied_embeddings_use_the_embedding_matrix(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "tied", tied=True)
    text, _ = import_checkpoint(ckpt)
    assert bnb_opt(text).returncode == 0
    assert "lm_head.weight" not in text
    head = matmuls(text)[-1]
    assert global_loads(text)[head["rhs"]] == "model.embed_tokens.weight"
    # transformers names the tied head "lm_head"; the graph records it.
    assert head["attrs"] == '{bnb.module = "lm_head"}'


def test_biases_become_broadcast_adds(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "bias", attention_bias=True,
                            mlp_bias=True)
    text, _ = import_checkpoint(ckpt)
    assert bnb_opt(text).returncode == 0
    defs, loads = definitions(text), global_loads(text)
    for mm in matmuls(text)[:-1]:
        # %y = matmul; next generic adds the bias loaded from "<module>.bias".
        weight = loads[mm["rhs"]]
        add = re.search(re.escape(mm["result"]) + r", (%[\w.]+) : "
                        r"tensor<8x\d+xf16>, tensor<\d+xf16>\)", text)
        assert add, weight
        assert defs[add.group(1)] == "ml_program.global_load_const"
        assert loads[add.group(1)] == weight[:-len("weight")] + "bias"
    assert "#row = affine_map<(d0, d1) -> (d1)>" in text


def test_gpt2_conv1d_is_x_times_w(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path / "gpt2")
    text, _ = import_checkpoint(ckpt)
    assert bnb_opt(text).returncode == 0, bnb_opt(text).stderr
    mms = matmuls(text)
    assert len(mms) == 2 * 4 + 1
    loads = global_loads(text)
    for mm in mms[:-1]:
        assert mm["maps"] == ""  # default maps: x·W with W [in, out]
        assert loads[mm["rhs"]].startswith("h.")
        # Skip lists match transformers' module names.
        name = "transformer." + loads[mm["rhs"]][:-len(".weight")]
        assert mm["attrs"] == f'{{bnb.module = "{name}"}}'
    assert mms[-1]["maps"] == "indexing_maps = [#mA, #mBt, #mC]"
    assert loads[mms[-1]["rhs"]] == "wte.weight"
    # The causal-mask buffers (h.N.attn.bias) are not weights of the graph.
    assert not [g for g in globals_declared(text) if g.endswith(".attn.bias")]


def test_gpt2_with_transformer_prefix(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path / "gpt2", prefix="transformer.")
    text, _ = import_checkpoint(ckpt)
    assert bnb_opt(text).returncode == 0
    mm = matmuls(text)[0]
    assert global_loads(text)[mm["rhs"]] == "transformer.h.0.attn.c_attn.weight"
    assert mm["attrs"] == ""  # the key already is the module name


def test_sharded_checkpoint_is_read_in_place(example_dir, example_import,
                                             tmp_path):
    sharded = shard_checkpoint(example_dir, tmp_path / "sharded", shards=3)
    out = tmp_path / "out" / "model.mlir"
    out.parent.mkdir()
    text, weights = import_checkpoint(sharded, out)
    assert weights == (sharded / "model.safetensors.index.json").resolve()
    assert ('bnb.weights = "../sharded/model.safetensors.index.json"'
            in text)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.mlir"]
    # Same graph as from the single file, apart from the weights file name.
    single = example_import[0]
    strip = re.compile(r'bnb\.weights = "[^"]*"')
    assert strip.sub("", text) == strip.sub("", single)


def test_dtype_option_converts_the_weights(example_dir, tmp_path):
    out = tmp_path / "f32.mlir"
    text, weights = import_checkpoint(example_dir, out, dtype="float32")
    assert "tensor<1x8x256xf32>" in text and "xf16>" not in text
    converted = load_file(str(weights))
    original = load_file(str(example_dir / "model.safetensors"))
    for name, value in original.items():
        assert converted[name].dtype == np.float32
        np.testing.assert_array_equal(converted[name],
                                      value.astype(np.float32))
    assert bnb_opt(text).returncode == 0


def test_bf16_checkpoint(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "bf16", dtype="bfloat16")
    text, weights = import_checkpoint(ckpt)
    assert "xbf16>" in text and bnb_opt(text).returncode == 0
    assert weights == (ckpt / "model.safetensors").resolve()


def test_inline_weights_have_no_globals(example_dir):
    text, weights = import_checkpoint(example_dir, inline_weights=True)
    assert weights is None
    assert "ml_program" not in text and "bnb.weights" not in text
    defs = definitions(text)
    for mm in matmuls(text):
        assert defs[mm["rhs"]] == "arith.constant"
    assert bnb_opt(text, tool=MLIR_OPT).returncode == 0


def test_batch_and_sequence_options(example_dir):
    text, _ = import_checkpoint(example_dir, batch=2, seq=5)
    assert ('@forward(%input_ids: tensor<2x5xi64> {bnb.name = "input_ids", '
            'bnb.vocab_size = 256 : i64}) '
            '-> (tensor<2x5x256xf16> {bnb.name = "logits"})') in text
    assert re.search(r"ins\(%[\w.]+, %[\w.]+ : tensor<10x128xf16>", text)
    assert bnb_opt(text).returncode == 0


def test_mistral_and_sliding_window(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "mistral", model_type="mistral",
                            extra={"sliding_window": 3})
    text, _ = import_checkpoint(ckpt)
    assert bnb_opt(text).returncode == 0
    assert "arith.ori" in text  # the window joins the causal mask


def test_mistral_window_default(tmp_path):
    """MistralConfig's sliding_window: 4096 when absent, none when null
    (as the reference reads it); llama has none."""
    from bnb_mlir.checkpoint import Checkpoint
    windows = {}
    for name, model_type, extra in (("absent", "mistral", {}),
                                    ("null", "mistral",
                                     {"sliding_window": None}),
                                    ("llama", "llama",
                                     {"sliding_window": 3})):
        ckpt = llama_checkpoint(tmp_path / name, model_type=model_type,
                                extra=extra)
        if name == "absent":
            config = json.loads((ckpt / "config.json").read_text())
            assert "sliding_window" not in config
        with Checkpoint(ckpt) as opened:
            windows[name] = architecture_for(opened).window
    assert windows == {"absent": 4096, "null": None, "llama": None}


# -- errors ------------------------------------------------------------------

def _error(hf_dir, **kwargs) -> str:
    with pytest.raises(BnbMlirError) as info:
        import_checkpoint(hf_dir, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_directory_and_config(tmp_path):
    assert "not a checkpoint directory" in _error(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    message = _error(tmp_path / "empty")
    assert message.endswith("config.json: no such file")


def test_invalid_config_json(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m")
    (ckpt / "config.json").write_text("{ nope")
    assert "config.json: invalid JSON" in _error(ckpt)


def test_unsupported_model_type(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m")
    config = json.loads((ckpt / "config.json").read_text())
    config["model_type"] = "t5"
    (ckpt / "config.json").write_text(json.dumps(config))
    message = _error(ckpt)
    assert "model_type 't5' is not supported" in message
    assert "llama" in message and "gpt2" in message


def test_missing_tensor(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m",
                            drop=["model.layers.0.mlp.up_proj.weight"])
    message = _error(ckpt)
    assert "model.safetensors" in message
    assert "missing tensor 'model.layers.0.mlp.up_proj.weight'" in message


def test_untied_checkpoint_without_lm_head(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m", drop=["lm_head.weight"])
    assert "missing tensor 'lm_head.weight'" in _error(ckpt)


def test_shape_mismatch_names_the_tensor(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m", reshape={
        "model.layers.0.self_attn.k_proj.weight": (32, 32)})
    message = _error(ckpt)
    assert ("tensor 'model.layers.0.self_attn.k_proj.weight' has shape "
            "[32, 32], but config.json implies [16, 32]") in message


def test_bad_config_values(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m", extra={"num_key_value_heads": 3})
    assert "not a multiple of num_key_value_heads 3" in _error(ckpt)
    ckpt = llama_checkpoint(tmp_path / "n", extra={"hidden_act": "gelu"})
    assert "hidden_act 'gelu' is not supported" in _error(ckpt)
    ckpt = llama_checkpoint(tmp_path / "o", extra={"vocab_size": "many"})
    assert "'vocab_size' must be an integer" in _error(ckpt)
    ckpt = llama_checkpoint(tmp_path / "p", extra={
        "rope_scaling": {"rope_type": "yarn", "factor": 2.0}})
    assert "rope type 'yarn' is not supported" in _error(ckpt)


def test_no_weights_file(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m")
    (ckpt / "model.safetensors").unlink()
    (ckpt / "pytorch_model.bin").write_bytes(b"")
    message = _error(ckpt)
    assert "no model.safetensors or model.safetensors.index.json" in message
    assert "pytorch_model.bin checkpoints are not supported" in message


def test_missing_shard(example_dir, tmp_path):
    sharded = shard_checkpoint(example_dir, tmp_path / "s", shards=2)
    (sharded / "model-00002-of-00002.safetensors").unlink()
    message = _error(sharded, output=tmp_path / "m.mlir")
    assert "shard 'model-00002-of-00002.safetensors'" in message
    assert "does not exist" in message


def test_converted_shards_are_merged(example_dir, tmp_path):
    sharded = shard_checkpoint(example_dir, tmp_path / "s", shards=3)
    assert "give an output path" in _error(sharded, dtype="float32")
    out = tmp_path / "model.mlir"
    text, weights = import_checkpoint(sharded, out, dtype="float32")
    assert weights == tmp_path / "model.weights.safetensors"
    assert 'bnb.weights = "model.weights.safetensors"' in text
    merged = load_file(str(weights))
    original = load_file(str(example_dir / "model.safetensors"))
    assert set(merged) == set(original)
    for name, value in original.items():
        np.testing.assert_array_equal(merged[name], value.astype(np.float32))


def test_bad_shapes_of_the_input(example_dir):
    assert "seq must be a positive integer" in _error(example_dir, seq=0)
    assert "batch must be a positive integer" in _error(example_dir,
                                                        batch=True)


def test_gpt2_sequence_longer_than_positions(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path / "g", positions=16)
    assert "exceeds n_positions 16" in _error(ckpt, seq=17)


def test_output_directory_must_exist(example_dir, tmp_path):
    message = _error(example_dir, output=tmp_path / "no" / "model.mlir")
    assert f"directory {tmp_path / 'no'} does not exist" in message


def test_failed_import_writes_nothing(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m", drop=["model.norm.weight"])
    out = tmp_path / "out"
    out.mkdir()
    _error(ckpt, output=out / "model.mlir")
    assert list(out.iterdir()) == []


def test_expected_tensors_cover_the_checkpoint(example_dir):
    with Checkpoint(example_dir) as ckpt:
        model = architecture_for(ckpt)
        assert isinstance(model, Llama)
        assert set(model.tensors) == set(ckpt.names)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_each_layer_is_one_marked_region(tmp_path, example_dir, arch):
    """Every transformer layer is one scf.execute_region named by its module
    prefix (what bnb-outline-layers compiles once); the embedding, the final
    norm and lm_head stay outside."""
    ckpt = example_dir if arch == "llama" else gpt2_checkpoint(tmp_path / "g")
    text, _ = import_checkpoint(ckpt)
    names = re.findall(r'\} \{bnb\.layer = "([^"]+)"\}', text)
    prefix = "model.layers." if arch == "llama" else "h."
    assert names == [f"{prefix}{i}" for i in range(len(names))]
    assert len(names) == 2
    assert text.count("scf.execute_region") == len(names)
    # Each region yields the layer's residual stream, used by the next.
    yields = re.findall(r"scf\.yield (%\S+) : (tensor<\S+>)", text)
    assert len(yields) == len(names)
    assert len({t for _, t in yields}) == 1
    if arch != "llama":
        return  # GPT-2's matmuls carry per-layer bnb.module names until
        # the linears are replaced (bnb-compile's pipeline outlines later).
    # Once the weights are arguments, the layers share one function.
    printed = bnb_opt(text, "--bnb-externalize-weights",
                      "--bnb-outline-layers").stdout
    assert printed.count("func.func private @forward_layer") == 1
    assert printed.count("call @forward_layer(") == len(names)
