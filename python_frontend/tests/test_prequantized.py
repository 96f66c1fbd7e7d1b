"""Pre-quantized bitsandbytes checkpoints: bnb-quantize output + its
config.json, imported and compiled, equals compiling the float checkpoint
with the same config — the same artifact weights byte for byte and the same
logits bit for bit on the CPU — and the stored bytes are used as they are."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bnb_mlir import BitsAndBytesConfig, import_checkpoint
from bnb_mlir.safetensors_io import SafetensorsFile
from helpers import llama_checkpoint, shard_checkpoint
from prequantized_helpers import (requires_tools, BNB_COMPILE, BNB_QUANTIZE, BNB_RUN, CONFIGS,
                                  cli, mutate, prequantize, raw_tensors, run,
                                  same_bytes)

pytestmark = requires_tools

IDS = np.array([[1, 5, 7, 3, 40, 2, 9, 11], [0, 47, 13, 13, 8, 21, 30, 4]],
               dtype=np.int64)


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory):
    """float16 LLaMA, 2 layers with q/k/v/o and MLP biases; down_proj has
    K = 40, so 4-bit blocks span rows."""
    tmp = tmp_path_factory.mktemp("float")
    return llama_checkpoint(tmp / "hf", layers=2, attention_bias=True,
                            mlp_bias=True)


def compile_and_run(model, config_path, out_dir, name):
    """bnb-compile MODEL --config C, then bnb-run on out_dir's
    ids.safetensors: (artifact, logits file)."""
    artifact = out_dir / f"{name}.bnb"
    run(BNB_COMPILE, model, "--config", config_path, "--target", "cpu",
        "-o", artifact, "--quiet")
    logits = out_dir / f"{name}.out.safetensors"
    run(BNB_RUN, artifact, "--input", out_dir / "ids.safetensors",
        "--output", logits)
    return artifact, logits


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def round_trip(request, float_ckpt, tmp_path_factory):
    """(config, float artifact + logits, pre-quantized dir, its artifact +
    logits) for one config."""
    config = BitsAndBytesConfig(**CONFIGS[request.param])
    tmp = tmp_path_factory.mktemp(request.param)
    save_file({"input_ids": IDS}, str(tmp / "ids.safetensors"))
    quant = tmp / "quant.json"
    config.to_json_file(quant)
    import_checkpoint(float_ckpt, tmp / "float.mlir", batch=2)
    f_art, f_out = compile_and_run(tmp / "float.mlir", quant, tmp, "float")
    pq = prequantize(float_ckpt, tmp / "pq", config)
    import_checkpoint(pq, tmp / "pq.mlir", batch=2)
    p_art, p_out = compile_and_run(tmp / "pq.mlir", pq / "config.json", tmp,
                                   "pq")
    return config, tmp, pq, (f_art, f_out), (p_art, p_out)


def test_logits_equal_the_float_checkpoint_compiled(round_trip):
    _, _, _, (_, f_out), (_, p_out) = round_trip
    a = load_file(str(f_out))["logits"]
    b = load_file(str(p_out))["logits"]
    assert a.shape == (2, 8, 48) and np.isfinite(a).all()
    assert same_bytes(a, b)


def test_artifact_weights_are_the_checkpoint_bytes(round_trip):
    _, _, pq, (f_art, _), (p_art, _) = round_trip
    stored = load_file(str(pq / "model.safetensors"))
    compiled = load_file(str(p_art / "weights.safetensors"))
    from_float = load_file(str(f_art / "weights.safetensors"))
    # The whole stored state dict, nothing more, byte for byte; and what the
    # float checkpoint compiles to.
    assert set(compiled) == set(stored) == set(from_float)
    for key, value in stored.items():
        assert same_bytes(compiled[key], value), key
        assert same_bytes(from_float[key], value), key


def test_graph_holds_the_quantized_layers(round_trip):
    config, tmp, _, _, _ = round_trip
    text = (tmp / "pq.mlir").read_text()
    op = "bnb.linear_int8" if config.load_in_8bit else "bnb.linear_4bit"
    # 7 linears per layer, 2 layers; lm_head stays float (the default skip).
    assert text.count(op + " ") == 14
    assert "load_in_8bit = true" in text or "load_in_4bit = true" in text
    for line in text.splitlines():
        if 'global private @"model.layers.0.self_attn.q_proj.weight"' in line:
            assert ("tensor<32x32xi8>" if config.load_in_8bit
                    else "tensor<512x1xui8>") in line
    assert 'lm_head.weight"(#ml_program.extern : tensor<48x32xf16>)' in text


def test_stored_bytes_are_used_as_they_are(round_trip, tmp_path):
    """A changed stored byte reaches the artifact unchanged: the compiler
    does not dequantize and quantize again."""
    config, tmp, pq, _, _ = round_trip
    key = "model.layers.1.mlp.up_proj.weight"

    def change(tensors):
        flat = tensors[key].reshape(-1)
        flat[3] = (int(flat[3]) + 0x11) % 256 if flat.dtype == np.uint8 \
            else -int(flat[3])

    changed = mutate(pq, tmp_path / "changed", change)
    import_checkpoint(changed, tmp_path / "m.mlir")
    run(BNB_COMPILE, tmp_path / "m.mlir", "--config",
        changed / "config.json", "--target", "cpu", "-o", tmp_path / "m.bnb",
        "--quiet")
    compiled = load_file(str(tmp_path / "m.bnb" / "weights.safetensors"))
    stored = load_file(str(changed / "model.safetensors"))
    original = load_file(str(pq / "model.safetensors"))
    assert same_bytes(compiled[key], stored[key])
    assert not same_bytes(compiled[key], original[key])


def test_cli_compile_takes_the_config_from_the_checkpoint(round_trip):
    _, tmp, pq, _, (_, p_out) = round_trip
    out = tmp / "cli.bnb"
    result = cli("compile", pq, "--target", "cpu", "-o", out, "--batch", 2)
    assert result.returncode == 0, result.stderr
    logits = tmp / "cli.out.safetensors"
    run(BNB_RUN, out, "--input", tmp / "ids.safetensors", "--output", logits)
    assert same_bytes(load_file(str(logits))["logits"],
                      load_file(str(p_out))["logits"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["quant_method"] == "bitsandbytes"


def test_sharded_prequantized_checkpoint(float_ckpt, tmp_path):
    """Shards are merged with the quantization state copied as stored (not
    converted to the model dtype); the artifact is the same."""
    config = BitsAndBytesConfig(**CONFIGS["nf4-dq"])
    pq = prequantize(float_ckpt, tmp_path / "pq", config)
    sharded = shard_checkpoint(pq, tmp_path / "sharded", shards=3)
    _, weights = import_checkpoint(sharded, tmp_path / "s.mlir", batch=2)
    merged = load_file(str(weights))
    stored = load_file(str(pq / "model.safetensors"))
    assert set(merged) == set(stored)
    for key, value in stored.items():
        assert same_bytes(merged[key], value), key
    save_file({"input_ids": IDS}, str(tmp_path / "ids.safetensors"))
    import_checkpoint(pq, tmp_path / "pq.mlir", batch=2)
    _, a = compile_and_run(tmp_path / "s.mlir", pq / "config.json", tmp_path,
                           "sharded")
    _, b = compile_and_run(tmp_path / "pq.mlir", pq / "config.json",
                           tmp_path, "single")
    assert same_bytes(load_file(str(a))["logits"], load_file(str(b))["logits"])


def test_generation_entry_points_use_the_stored_state(float_ckpt, tmp_path):
    config = BitsAndBytesConfig(**CONFIGS["nf4"])
    pq = prequantize(float_ckpt, tmp_path / "pq", config)
    text, _ = import_checkpoint(pq, tmp_path / "g.mlir", generation=True,
                                max_seq_len=16, prefill_chunk=4)
    for name in ("forward", "prefill", "decode"):
        assert f"func.func @{name}(" in text
    # One global per stored tensor, loaded by all three entry points.
    assert text.count('global private @"model.layers.0.mlp.up_proj.weight"'
                      ) == 1
    assert text.count("bnb.linear_4bit ") == 3 * 14


def test_import_reads_only_the_small_state_tensors(float_ckpt, tmp_path,
                                                    monkeypatch):
    """Import checks headers, quant_state blobs and quant maps; no weight,
    absmax or SCB is read (the memory of a 7B import is one small tensor)."""
    read = []
    original = SafetensorsFile.raw

    def recording(self, name):
        read.append(name)
        return original(self, name)

    monkeypatch.setattr(SafetensorsFile, "raw", recording)
    for name in ("nf4-dq", "int8"):
        pq = prequantize(float_ckpt, tmp_path / name,
                         BitsAndBytesConfig(**CONFIGS[name]))
        read.clear()
        import_checkpoint(pq, tmp_path / f"{name}.mlir", generation=True,
                          max_seq_len=16, prefill_chunk=4)
        assert read, name
        for key in read:
            assert key.endswith(("quant_map", ".weight_format")) or \
                ".quant_state.bitsandbytes__" in key, key


def test_bfloat16_checkpoint_round_trip(tmp_path):
    """A bfloat16 model (quant_state dtype "bfloat16") gives the same
    logits and weights as its float checkpoint compiled."""
    hf = llama_checkpoint(tmp_path / "hf", dtype="bfloat16", mlp_bias=True)
    config = BitsAndBytesConfig(**CONFIGS["nf4-dq"],
                                bnb_4bit_compute_dtype="bfloat16")
    quant = tmp_path / "quant.json"
    config.to_json_file(quant)
    save_file({"input_ids": IDS}, str(tmp_path / "ids.safetensors"))
    import_checkpoint(hf, tmp_path / "f.mlir", batch=2)
    f_art, f_out = compile_and_run(tmp_path / "f.mlir", quant, tmp_path, "f")
    pq = prequantize(hf, tmp_path / "pq", config)
    stored = raw_tensors(pq / "model.safetensors")
    blob = stored["model.layers.0.mlp.up_proj.weight.quant_state."
                  "bitsandbytes__nf4"][2]
    assert json.loads(blob)["dtype"] == "bfloat16"
    import_checkpoint(pq, tmp_path / "p.mlir", batch=2)
    p_art, p_out = compile_and_run(tmp_path / "p.mlir", pq / "config.json",
                                   tmp_path, "p")
    f_logits = raw_tensors(f_out)["logits"]
    assert f_logits[0] == "BF16" and f_logits == raw_tensors(p_out)["logits"]
    compiled = raw_tensors(p_art / "weights.safetensors")
    assert compiled == raw_tensors(f_art / "weights.safetensors") == stored


@pytest.mark.parametrize("storage", ["bfloat16", "int8", "float32"])
def test_other_quant_storage_round_trip(float_ckpt, tmp_path, storage):
    """Packed codes serialized as bnb_4bit_quant_storage elements are read
    as the same bytes: the artifact stores them as the checkpoint does, and
    the logits equal the float checkpoint's compiled with that config."""
    config = BitsAndBytesConfig(**CONFIGS["nf4"],
                                bnb_4bit_quant_storage=storage)
    quant = tmp_path / "quant.json"
    config.to_json_file(quant)
    save_file({"input_ids": IDS}, str(tmp_path / "ids.safetensors"))
    import_checkpoint(float_ckpt, tmp_path / "f.mlir", batch=2)
    f_art, f_out = compile_and_run(tmp_path / "f.mlir", quant, tmp_path, "f")
    pq = prequantize(float_ckpt, tmp_path / "pq", config)
    stored = raw_tensors(pq / "model.safetensors")
    code = {"bfloat16": "BF16", "int8": "I8", "float32": "F32"}[storage]
    assert stored["model.layers.0.mlp.up_proj.weight"][0] == code
    text, _ = import_checkpoint(pq, tmp_path / "p.mlir", batch=2)
    assert "quant_storage = " in text
    p_art, p_out = compile_and_run(tmp_path / "p.mlir", pq / "config.json",
                                   tmp_path, "p")
    assert raw_tensors(f_out) == raw_tensors(p_out)
    compiled = raw_tensors(p_art / "weights.safetensors")
    assert compiled == raw_tensors(f_art / "weights.safetensors") == stored
