"""BitsAndBytesConfig: transformers' defaults, validation, serialization, and
the #bnb.config attribute as the C++ parser reads and prints it."""
import json
import math
import subprocess

import numpy as np
import pytest

from bnb_mlir import BitsAndBytesConfig, BnbMlirError
from helpers import BNB_OPT

# What transformers writes into config.json for
# BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
#                    bnb_4bit_use_double_quant=True,
#                    bnb_4bit_compute_dtype=torch.bfloat16).
TRANSFORMERS_NF4 = """{
  "_load_in_4bit": true,
  "_load_in_8bit": false,
  "bnb_4bit_compute_dtype": "bfloat16",
  "bnb_4bit_quant_storage": "uint8",
  "bnb_4bit_quant_type": "nf4",
  "bnb_4bit_use_double_quant": true,
  "llm_int8_enable_fp32_cpu_offload": false,
  "llm_int8_has_fp16_weight": false,
  "llm_int8_skip_modules": null,
  "llm_int8_threshold": 6.0,
  "load_in_4bit": true,
  "load_in_8bit": false,
  "quant_method": "bitsandbytes"
}
"""


def test_defaults_match_transformers():
    c = BitsAndBytesConfig()
    assert (c.load_in_8bit, c.load_in_4bit) == (False, False)
    assert c.llm_int8_threshold == 6.0 and isinstance(c.llm_int8_threshold,
                                                      float)
    assert c.llm_int8_skip_modules is None
    assert c.llm_int8_enable_fp32_cpu_offload is False
    assert c.llm_int8_has_fp16_weight is False
    assert c.bnb_4bit_compute_dtype == "float32"
    assert c.bnb_4bit_quant_type == "fp4"
    assert c.bnb_4bit_use_double_quant is False
    assert c.bnb_4bit_quant_storage == "uint8"
    assert c.quant_method == "bitsandbytes"
    assert c.quantization_method() is None and not c.is_quantizable()


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"load_in_8bit": 1}, TypeError, "load_in_8bit must be a boolean"),
    ({"load_in_4bit": "yes"}, TypeError, "load_in_4bit must be a boolean"),
    ({"load_in_4bit": True, "load_in_8bit": True}, ValueError,
     "load_in_4bit and load_in_8bit are both True, but only one can be used "
     "at the same time"),
    ({"llm_int8_threshold": 6}, TypeError, "llm_int8_threshold must be a float"),
    ({"llm_int8_threshold": "6.0"}, TypeError,
     "llm_int8_threshold must be a float"),
    ({"llm_int8_skip_modules": "lm_head"}, TypeError,
     "llm_int8_skip_modules must be a list of strings"),
    ({"llm_int8_skip_modules": ["lm_head", 3]}, TypeError,
     "llm_int8_skip_modules must be a list of strings"),
    ({"llm_int8_enable_fp32_cpu_offload": "no"}, TypeError,
     "llm_int8_enable_fp32_cpu_offload must be a boolean"),
    ({"llm_int8_has_fp16_weight": None}, TypeError,
     "llm_int8_has_fp16_weight must be a boolean"),
    ({"bnb_4bit_compute_dtype": 16}, ValueError,
     "bnb_4bit_compute_dtype must be a string or a torch.dtype"),
    ({"bnb_4bit_compute_dtype": "float17"}, ValueError,
     "bnb_4bit_compute_dtype 'float17' is not supported (one of 'float16', "
     "'bfloat16', 'float32')"),
    ({"bnb_4bit_quant_type": 4}, TypeError,
     "bnb_4bit_quant_type must be a string"),
    ({"bnb_4bit_quant_type": "int4"}, ValueError,
     "bnb_4bit_quant_type must be 'nf4' or 'fp4', got 'int4'"),
    ({"bnb_4bit_use_double_quant": "true"}, TypeError,
     "bnb_4bit_use_double_quant must be a boolean"),
    ({"bnb_4bit_quant_storage": "int4"}, ValueError,
     "`bnb_4bit_quant_storage` must be a valid string (one of 'float16', "
     "'float32', 'int8', 'uint8', 'float64', 'bfloat16') "),
    ({"bnb_4bit_quant_storage": 8}, ValueError,
     "bnb_4bit_quant_storage must be a string or a torch.dtype"),
    ({"llm_int8_threshold": -1.0}, ValueError,
     "llm_int8_threshold must be a float >= 0, got -1.0"),
    ({"llm_int8_threshold": math.nan}, ValueError,
     "llm_int8_threshold must be a float >= 0, got nan"),
])
def test_validation_errors(kwargs, exc, message):
    with pytest.raises(exc) as info:
        BitsAndBytesConfig(**kwargs)
    assert str(info.value) == message
    assert type(info.value) is exc


def test_property_setters_validate():
    c = BitsAndBytesConfig(load_in_4bit=True)
    with pytest.raises(ValueError, match="both True"):
        c.load_in_8bit = True
    with pytest.raises(TypeError, match="load_in_4bit must be a boolean"):
        c.load_in_4bit = 1
    c.load_in_4bit = False
    c.load_in_8bit = True
    assert c.quantization_method() == "llm_int8"


def test_dtype_objects_and_aliases():
    fake_torch_dtype = type("dtype", (), {"__module__": "torch",
                                          "__str__": lambda s: "torch.bfloat16"})
    c = BitsAndBytesConfig(bnb_4bit_compute_dtype=fake_torch_dtype(),
                           bnb_4bit_quant_storage=np.float16)
    assert c.bnb_4bit_compute_dtype == "bfloat16"
    assert c.bnb_4bit_quant_storage == "float16"
    assert BitsAndBytesConfig(bnb_4bit_compute_dtype="half") \
        .bnb_4bit_compute_dtype == "float16"


def test_quantization_method():
    assert BitsAndBytesConfig(load_in_4bit=True).quantization_method() == "fp4"
    assert BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4").quantization_method() == "nf4"


CONFIGS = [
    {},
    {"load_in_8bit": True, "llm_int8_threshold": 4.5,
     "llm_int8_skip_modules": ["lm_head", "model.layers.1"],
     "llm_int8_has_fp16_weight": True},
    {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
     "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "bfloat16",
     "bnb_4bit_quant_storage": "float32"},
    {"load_in_8bit": True, "llm_int8_skip_modules": [],
     "llm_int8_enable_fp32_cpu_offload": True, "llm_int8_threshold": 0.0},
    {"load_in_4bit": True, "bnb_4bit_compute_dtype": "float16",
     "bnb_4bit_quant_storage": "int8", "llm_int8_threshold": 1e-05},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_dict_and_json_round_trip(kwargs):
    c = BitsAndBytesConfig(**kwargs)
    d = c.to_dict()
    assert d["quant_method"] == "bitsandbytes"
    assert d["_load_in_4bit"] == d["load_in_4bit"] == c.load_in_4bit
    assert d["_load_in_8bit"] == d["load_in_8bit"] == c.load_in_8bit
    again = BitsAndBytesConfig.from_dict(json.loads(c.to_json_string()))
    assert again.to_dict() == d
    for key, value in kwargs.items():
        assert getattr(again, key) == value


def test_reads_and_writes_transformers_json(tmp_path):
    c = BitsAndBytesConfig.from_dict(json.loads(TRANSFORMERS_NF4))
    assert c.load_in_4bit and c.bnb_4bit_quant_type == "nf4"
    assert c.bnb_4bit_compute_dtype == "bfloat16"
    assert c.unused_kwargs == {}
    assert c.to_json_string() == TRANSFORMERS_NF4
    path = tmp_path / "quant.json"
    c.to_json_file(path)
    assert path.read_text() == TRANSFORMERS_NF4


def test_reads_quantization_config_of_a_model_config(tmp_path):
    model_config = {"model_type": "llama", "hidden_size": 8,
                    "quantization_config": json.loads(TRANSFORMERS_NF4)}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(model_config))
    assert BitsAndBytesConfig.from_json_file(path).bnb_4bit_use_double_quant

    del model_config["quantization_config"]
    path.write_text(json.dumps(model_config))
    with pytest.raises(BnbMlirError, match="without a quantization_config"):
        BitsAndBytesConfig.from_json_file(path)


def test_from_json_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BnbMlirError, match=r"bad\.json: invalid JSON"):
        BitsAndBytesConfig.from_json_file(bad)
    bad.write_text(json.dumps({"load_in_4bit": True, "load_in_8bit": True}))
    with pytest.raises(BnbMlirError, match=r"bad\.json: load_in_4bit and "):
        BitsAndBytesConfig.from_json_file(bad)
    bad.write_text(json.dumps({"quant_method": "gptq", "bits": 4}))
    with pytest.raises(BnbMlirError, match="quant_method 'gptq'"):
        BitsAndBytesConfig.from_json_file(bad)
    with pytest.raises(BnbMlirError, match="missing.json"):
        BitsAndBytesConfig.from_json_file(tmp_path / "missing.json")


def test_unknown_fields_warn():
    with pytest.warns(UserWarning, match="bnb_4bit_blocksize"):
        c = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_blocksize=128)
    assert c.unused_kwargs == {"bnb_4bit_blocksize": 128}


def _through_bnb_opt(attr: str) -> str:
    out = subprocess.run([str(BNB_OPT), "-"], capture_output=True, text=True,
                         input=f"module attributes {{bnb.config = {attr}}} {{}}")
    assert out.returncode == 0, out.stderr
    printed = out.stdout.split("bnb.config = ", 1)[1]
    return printed[:printed.rindex("} {")].strip()


@pytest.mark.parametrize("kwargs", CONFIGS + [
    {"load_in_8bit": True, "llm_int8_threshold": math.inf,
     "llm_int8_skip_modules": ['we"ird\\name', "ünïcode", "lm_head"]},
    {"load_in_4bit": True, "bnb_4bit_quant_storage": "float64"},
])
def test_mlir_attr_round_trips_through_bnb_opt(kwargs):
    c = BitsAndBytesConfig(**kwargs)
    printed = _through_bnb_opt(c.to_mlir_attr())
    assert BitsAndBytesConfig.from_mlir_attr(printed) == c


def test_mlir_attr_spells_every_field():
    c = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    assert c.to_mlir_attr() == (
        '#bnb.config<load_in_8bit = false, load_in_4bit = true, '
        'llm_int8_threshold = 6.0, llm_int8_enable_fp32_cpu_offload = false, '
        'llm_int8_has_fp16_weight = false, bnb_4bit_compute_dtype = '
        '"float32", bnb_4bit_quant_type = "nf4", bnb_4bit_use_double_quant = '
        'false, bnb_4bit_quant_storage = "uint8">')
    # The printer leaves defaults out: only the two non-default fields remain.
    assert _through_bnb_opt(c.to_mlir_attr()) == \
        '#bnb.config<load_in_4bit = true, bnb_4bit_quant_type = "nf4">'


def test_empty_skip_list_differs_from_none():
    none = _through_bnb_opt(BitsAndBytesConfig().to_mlir_attr())
    empty = _through_bnb_opt(
        BitsAndBytesConfig(llm_int8_skip_modules=[]).to_mlir_attr())
    assert none == "#bnb.config<>"
    assert empty == "#bnb.config<llm_int8_skip_modules = []>"
