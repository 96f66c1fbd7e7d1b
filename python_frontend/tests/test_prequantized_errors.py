"""Bad pre-quantized checkpoints: each is one `error:` line naming what is
wrong, exit status 1, and no output file."""
import json

import numpy as np
import pytest

from bnb_mlir import BitsAndBytesConfig
from helpers import llama_checkpoint
from prequantized_helpers import (BNB_QUANTIZE, CONFIGS, cli, edit_blob,
                                  mutate, prequantize)

pytestmark = pytest.mark.skipif(not BNB_QUANTIZE.is_file(),
                                reason="bnb-quantize must be built")

Q = "model.layers.0.self_attn.q_proj"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{config name: pre-quantized checkpoint} of one small LLaMA."""
    tmp = tmp_path_factory.mktemp("pq")
    hf = llama_checkpoint(tmp / "hf")
    return {name: prequantize(hf, tmp / name, BitsAndBytesConfig(**kw))
            for name, kw in CONFIGS.items()}


def import_error(ckpt, tmp_path, *args):
    """The stderr line of a failing `import`, checking that nothing was
    written."""
    out = tmp_path / "out.mlir"
    result = cli("import", ckpt, "-o", out, *args)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("out*")), list(tmp_path.iterdir())
    return lines[0]


def broken(checkpoints, tmp_path, name, change):
    return mutate(checkpoints[name], tmp_path / "broken", change)


# -- the quant_state blob disagrees with the tensors -------------------------

def test_blob_shape_disagrees(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, shape=[32, 64]))
    line = import_error(ckpt, tmp_path)
    assert f"tensor '{Q}.weight' is U8 [512, 1], but its quant_state " \
           "implies U8 [1024, 1]" in line


def test_blob_blocksize_disagrees(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, blocksize=128))
    line = import_error(ckpt, tmp_path)
    assert f"tensor '{Q}.weight.absmax' is F32 [16], but its quant_state " \
           "implies F32 [8]" in line


def test_blob_blocksize_invalid(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, blocksize=100))
    assert "blocksize 100 is not one of 32, 64, ..., 4096" in \
        import_error(ckpt, tmp_path)


def test_blob_dtype_disagrees_with_the_model(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, dtype="float32"))
    assert f"'{Q}.weight' was quantized from float32 but the model dtype " \
           "is float16" in import_error(ckpt, tmp_path)


def test_blob_dtype_not_a_float(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, dtype="int8"))
    assert "dtype 'int8' is not float16, bfloat16 or float32" in \
        import_error(ckpt, tmp_path)


def test_blob_quant_type_disagrees_with_its_key(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4",
                  lambda t: edit_blob(t, Q, quant_type="fp4"))
    assert "quant_type 'fp4' disagrees with the key's 'nf4'" in \
        import_error(ckpt, tmp_path)


def test_blob_is_not_json(checkpoints, tmp_path):
    def change(t):
        t[f"{Q}.weight.quant_state.bitsandbytes__nf4"] = \
            np.frombuffer(b"{not json", dtype=np.uint8)
    ckpt = broken(checkpoints, tmp_path, "nf4", change)
    assert f"'{Q}.weight.quant_state.bitsandbytes__nf4' is not a JSON " \
           "object" in import_error(ckpt, tmp_path)


def test_blob_nested_fields_without_nested_tensors(checkpoints, tmp_path):
    def change(t):
        del t[f"{Q}.weight.nested_absmax"]
    ckpt = broken(checkpoints, tmp_path, "nf4-dq", change)
    assert "nested_blocksize is set but there is no " \
           f"'{Q}.weight.nested_absmax'" in import_error(ckpt, tmp_path)


def test_quant_map_is_not_the_table(checkpoints, tmp_path):
    def change(t):
        t[f"{Q}.weight.quant_map"] = t[f"{Q}.weight.quant_map"] * 2
    ckpt = broken(checkpoints, tmp_path, "nf4", change)
    assert f"tensor '{Q}.weight.quant_map' is not the nf4 table" in \
        import_error(ckpt, tmp_path)


def test_nested_quant_map_is_not_the_dynamic_map(checkpoints, tmp_path):
    def change(t):
        m = t[f"{Q}.weight.nested_quant_map"].copy()
        m[3] = 0.5
        t[f"{Q}.weight.nested_quant_map"] = m
    ckpt = broken(checkpoints, tmp_path, "nf4-dq", change)
    assert "is not the signed dynamic map" in import_error(ckpt, tmp_path)


def test_fp4_quant_map_with_negative_zero_is_accepted(checkpoints, tmp_path):
    """bitsandbytes versions differ in the sign of FP4's zero at index 8."""
    def change(t):
        m = t[f"{Q}.weight.quant_map"].copy()
        m[8] = -0.0
        t[f"{Q}.weight.quant_map"] = m
    ckpt = broken(checkpoints, tmp_path, "fp4", change)
    result = cli("import", ckpt, "-o", tmp_path / "ok.mlir")
    assert result.returncode == 0, result.stderr


# -- missing state ------------------------------------------------------------

def test_missing_absmax(checkpoints, tmp_path):
    def change(t):
        del t[f"{Q}.weight.absmax"]
    ckpt = broken(checkpoints, tmp_path, "nf4", change)
    assert f"pre-quantized layer '{Q}' has no tensor '{Q}.weight.absmax'" in \
        import_error(ckpt, tmp_path)


def test_missing_scb(checkpoints, tmp_path):
    def change(t):
        del t[f"{Q}.SCB"]
    ckpt = broken(checkpoints, tmp_path, "int8", change)
    assert f"int8 weight '{Q}.weight' has no '{Q}.SCB'" in \
        import_error(ckpt, tmp_path)


def test_missing_quant_state_blob(checkpoints, tmp_path):
    def change(t):
        del t[f"{Q}.weight.quant_state.bitsandbytes__nf4"]
    ckpt = broken(checkpoints, tmp_path, "nf4", change)
    assert f"tensor '{Q}.weight.absmax' has no " \
           f"'{Q}.weight.quant_state.bitsandbytes__nf4|fp4'" in \
        import_error(ckpt, tmp_path)


def test_scb_of_the_wrong_length(checkpoints, tmp_path):
    def change(t):
        t[f"{Q}.SCB"] = t[f"{Q}.SCB"][:5].copy()
    ckpt = broken(checkpoints, tmp_path, "int8", change)
    assert f"tensor '{Q}.SCB' is F32 [5], but its quant_state implies " \
           "F32 [32]" in import_error(ckpt, tmp_path)


def test_tiled_int8_format(checkpoints, tmp_path):
    def change(t):
        t[f"{Q}.weight_format"] = np.array(1, dtype=np.uint8)
    ckpt = broken(checkpoints, tmp_path, "int8", change)
    assert "tiled int8 formats are not supported" in \
        import_error(ckpt, tmp_path)


# -- the checkpoint as a whole ------------------------------------------------

def test_mixed_4bit_and_8bit_layers(checkpoints, tmp_path):
    from safetensors.numpy import load_file
    int8 = load_file(str(checkpoints["int8"] / "model.safetensors"))
    k = "model.layers.0.mlp.up_proj"

    def change(t):
        for key in [x for x in t if x.startswith(k + ".weight")]:
            del t[key]
        t[k + ".weight"] = int8[k + ".weight"]
        t[k + ".SCB"] = int8[k + ".SCB"]
    ckpt = broken(checkpoints, tmp_path, "nf4", change)
    line = import_error(ckpt, tmp_path)
    assert "mixed 4-bit" in line and f"8-bit ('{k}')" in line


def test_layers_disagree_with_the_config(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4", lambda t: None)
    config = json.loads((ckpt / "config.json").read_text())
    config["quantization_config"]["bnb_4bit_quant_type"] = "fp4"
    (ckpt / "config.json").write_text(json.dumps(config))
    assert "quant_type 'nf4' disagrees with config.json's " \
           "bnb_4bit_quant_type 'fp4'" in import_error(ckpt, tmp_path)
    config["quantization_config"].update(bnb_4bit_quant_type="nf4",
                                         bnb_4bit_use_double_quant=True)
    (ckpt / "config.json").write_text(json.dumps(config))
    assert "the layer is not double quantized but config.json's " \
           "bnb_4bit_use_double_quant is true" in \
        import_error(ckpt, tmp_path)
    config["quantization_config"].update(
        load_in_4bit=False, _load_in_4bit=False, load_in_8bit=True,
        _load_in_8bit=True, bnb_4bit_use_double_quant=False)
    (ckpt / "config.json").write_text(json.dumps(config))
    assert "does not set load_in_4bit but" in import_error(ckpt, tmp_path)


def test_config_json_is_not_json(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4", lambda t: None)
    (ckpt / "config.json").write_text('{"model_type": "llama", ')
    assert "config.json: invalid JSON" in import_error(ckpt, tmp_path)


def test_quantization_config_not_bitsandbytes(checkpoints, tmp_path):
    ckpt = broken(checkpoints, tmp_path, "nf4", lambda t: None)
    config = json.loads((ckpt / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (ckpt / "config.json").write_text(json.dumps(config))
    assert "quantization_config has quant_method 'gptq'; only bitsandbytes " \
           "checkpoints are supported" in import_error(ckpt, tmp_path)


def test_conflicting_config_option(checkpoints, tmp_path):
    other = tmp_path / "q.json"
    BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4"
                       ).to_json_file(other)
    line = import_error(checkpoints["nf4"], tmp_path, "--config", other)
    assert 'pre-quantized with bnb_4bit_quant_type = "nf4"; the given ' \
           'config has "fp4"' in line
    # The same config is accepted.
    same = tmp_path / "same.json"
    BitsAndBytesConfig(**CONFIGS["nf4"]).to_json_file(same)
    result = cli("import", checkpoints["nf4"], "-o", tmp_path / "ok.mlir",
                 "--config", same)
    assert result.returncode == 0, result.stderr


def test_compile_with_conflicting_config(checkpoints, tmp_path):
    other = tmp_path / "q.json"
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(other)
    out = tmp_path / "a.bnb"
    result = cli("compile", checkpoints["nf4"], "--config", other,
                 "--target", "cpu", "-o", out)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and \
        "pre-quantized with load_in_8bit = false; the given config has " \
        "true" in result.stderr
    assert not out.exists()


def test_inline_weights_are_refused(checkpoints, tmp_path):
    assert "inline weights are not supported for pre-quantized " \
           "checkpoints" in import_error(checkpoints["nf4"], tmp_path,
                                         "--inline-weights")


def test_other_dtype_is_refused(checkpoints, tmp_path):
    assert "was quantized from float16 but the model dtype is float32" in \
        import_error(checkpoints["nf4-dq"], tmp_path, "--dtype", "float32")
