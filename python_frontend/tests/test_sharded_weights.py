"""Sharded checkpoints are read in place: the graph's `bnb.weights` names
the checkpoint's model.safetensors.index.json, import writes no weights
file, and bnb-compile reads every tensor from its shard, giving an artifact
whose outputs equal those of the same checkpoint unsharded, bit for bit."""
import os
import pathlib
import re

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bnb_mlir import BitsAndBytesConfig, import_checkpoint
from helpers import llama_checkpoint, shard_checkpoint
from prequantized_helpers import BNB_COMPILE, BNB_RUN, run

pytestmark = pytest.mark.skipif(
    not (BNB_COMPILE.is_file() and BNB_RUN.is_file()),
    reason="bnb-compile and bnb-run must be built")

IDS = np.array([[1, 5, 7, 3, 40, 2, 9, 11], [0, 47, 13, 13, 8, 21, 30, 4]],
               dtype=np.int64)

#: No quantization (every linear skipped), LLM.int8() with outliers, NF4
#: with double quantization.
CONFIGS = {
    "none": dict(load_in_8bit=True,
                 llm_int8_skip_modules=["model", "lm_head"]),
    "int8": dict(load_in_8bit=True, llm_int8_threshold=1.5),
    "nf4-dq": dict(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                   bnb_4bit_use_double_quant=True),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """A float16 LLaMA checkpoint and the same tensors in three shards."""
    tmp = tmp_path_factory.mktemp("ckpt")
    single = llama_checkpoint(tmp / "single", layers=2, attention_bias=True)
    return single, shard_checkpoint(single, tmp / "sharded", shards=3)


def file_bytes(directory: pathlib.Path) -> dict[str, bytes]:
    """The contents of every file in `directory`, by name."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_import_writes_no_weights_file(checkpoints, tmp_path):
    single, sharded = checkpoints
    before = file_bytes(sharded)
    out = tmp_path / "graphs" / "model.mlir"
    out.parent.mkdir()
    text, weights = import_checkpoint(sharded, out, batch=2)
    index = (sharded / "model.safetensors.index.json").resolve()
    assert weights == index
    rel = os.path.relpath(index, out.parent.resolve())
    assert f'bnb.weights = "{rel}"' in text
    assert [p.name for p in out.parent.iterdir()] == ["model.mlir"]
    assert file_bytes(sharded) == before
    # The graph is the unsharded one but for the weights file it names.
    single_text, _ = import_checkpoint(single, tmp_path / "single.mlir",
                                       batch=2)
    strip = re.compile(r'bnb\.weights = "[^"]*"')
    assert strip.sub("", text) == strip.sub("", single_text)

@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sharded_artifact_equals_unsharded(checkpoints, tmp_path, name):
    single, sharded = checkpoints
    save_file({"input_ids": IDS}, str(tmp_path / "ids.safetensors"))
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(**CONFIGS[name]).to_json_file(quant)
    before = file_bytes(sharded)
    outputs = {}
    for kind, ckpt in (("single", single), ("sharded", sharded)):
        model = tmp_path / f"{kind}.mlir"
        import_checkpoint(ckpt, model, batch=2)
        artifact = tmp_path / f"{kind}.bnb"
        run(BNB_COMPILE, model, "--config", quant, "--target", "cpu", "-o",
            artifact, "--quiet")
        logits = tmp_path / f"{kind}.out.safetensors"
        run(BNB_RUN, artifact, "--input", tmp_path / "ids.safetensors",
            "--output", logits)
        outputs[kind] = (load_file(str(logits)),
                         (artifact / "weights.safetensors").read_bytes())
    assert not list(tmp_path.glob("*.weights.safetensors"))
    (single_out, single_weights), (sharded_out, sharded_weights) = (
        outputs["single"], outputs["sharded"])
    assert sharded_weights == single_weights
    assert set(sharded_out) == set(single_out)
    for key, value in single_out.items():
        assert sharded_out[key].tobytes() == value.tobytes(), key
    assert file_bytes(sharded) == before
