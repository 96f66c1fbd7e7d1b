"""Pre-quantized checkpoints for the tests: a float checkpoint run through
bnb-quantize (which writes bitsandbytes' serialized state) plus its
config.json with the quantization_config transformers saves, and ways to
corrupt one."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bnb_mlir import BitsAndBytesConfig
from helpers import BUILD, ROOT

BNB_QUANTIZE = BUILD / "bin" / "bnb-quantize"
BNB_COMPILE = BUILD / "bin" / "bnb-compile"
BNB_RUN = BUILD / "bin" / "bnb-run"

#: Marks a test module that needs the three tools built.
requires_tools = pytest.mark.skipif(
    not (BNB_COMPILE.is_file() and BNB_QUANTIZE.is_file()
         and BNB_RUN.is_file()),
    reason="bnb-compile, bnb-quantize and bnb-run must be built")

#: The configs of the round trip, by name.
CONFIGS = {
    # A low threshold so that the outlier path of LLM.int8() is taken.
    "int8": dict(load_in_8bit=True, llm_int8_threshold=1.5),
    "nf4": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4"),
    "fp4": dict(load_in_4bit=True, bnb_4bit_quant_type="fp4",
                bnb_4bit_compute_dtype="float16"),
    "nf4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                   bnb_4bit_use_double_quant=True),
}


def run(*args) -> subprocess.CompletedProcess:
    """Runs a tool; a failure fails the test with its stderr."""
    result = subprocess.run([str(a) for a in args], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result


def cli(*args) -> subprocess.CompletedProcess:
    """python -m bnb_mlir ARGS."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python_frontend")
    env.setdefault("BNB_BUILD_DIR", str(BUILD))
    return subprocess.run([sys.executable, "-m", "bnb_mlir",
                           *[str(a) for a in args]], capture_output=True,
                          text=True, env=env)


def prequantize(src: pathlib.Path, dst: pathlib.Path,
                config: BitsAndBytesConfig) -> pathlib.Path:
    """`dst`: src's model.safetensors through bnb-quantize and src's
    config.json with `quantization_config`, as save_pretrained writes it."""
    dst.mkdir(parents=True, exist_ok=True)
    quant = dst.parent / (dst.name + ".quant.json")
    config.to_json_file(quant)
    run(BNB_QUANTIZE, src / "model.safetensors", "--config", quant, "-o",
        dst / "model.safetensors", "-q")
    model_config = json.loads((src / "config.json").read_text())
    model_config["quantization_config"] = config.to_dict()
    (dst / "config.json").write_text(json.dumps(model_config, indent=2))
    return dst


def mutate(src: pathlib.Path, dst: pathlib.Path, change) -> pathlib.Path:
    """A copy of checkpoint `src` whose tensors dict went through
    `change(tensors)` (which edits it in place)."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text((src / "config.json").read_text())
    tensors = {k: np.array(v) for k, v in
               load_file(str(src / "model.safetensors")).items()}
    change(tensors)
    save_file(tensors, str(dst / "model.safetensors"),
              metadata={"format": "pt"})
    return dst


def blob_key(tensors: dict, prefix: str) -> str:
    """The quant_state key of the 4-bit layer `prefix`."""
    return next(k for k in tensors
                if k.startswith(prefix + ".weight.quant_state."))


def edit_blob(tensors: dict, prefix: str, **fields) -> None:
    """Rewrites fields of a layer's quant_state JSON blob."""
    key = blob_key(tensors, prefix)
    state = json.loads(bytes(tensors[key]).decode())
    state.update(fields)
    tensors[key] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (NaN-safe, -0.0 distinct from 0.0)."""
    return (a.dtype == b.dtype and a.shape == b.shape and
            a.tobytes() == b.tobytes())


def raw_tensors(path) -> dict:
    """{name: (dtype code, shape, bytes)} of a safetensors file, any dtype
    (bfloat16 included, which numpy's loader cannot read)."""
    from bnb_mlir.safetensors_io import SafetensorsFile
    with SafetensorsFile(path) as f:
        return {name: (info.dtype, info.shape, f.raw(name).tobytes())
                for name, info in f.tensors.items()}
