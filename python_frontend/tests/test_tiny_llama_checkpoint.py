"""examples/tiny-llama/make_model.py: deterministic, HF layout, the shape the
quantization tests rely on (a K that is not a multiple of 64, outliers)."""
import hashlib
import json

import numpy as np
from safetensors.numpy import load_file

from helpers import make_example

# Digests of the tensor contents (names, dtypes, shapes, bytes), independent
# of how the safetensors package lays out the header. A change here means
# the example model changed.
MODEL_DIGEST = \
    "21b1cae268ed23dd4720c27d2b5922a54d33d3caa7a77584d325ef2fbbd8679d"
INPUT_DIGEST = \
    "242608a12b9fc60357a872607f9f99a7ce98c1dc1034f1e2e7bed690245d5d8f"


def _digest(path) -> str:
    h = hashlib.sha256()
    tensors = load_file(str(path))
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def test_same_bytes_every_run(example_dir, tmp_path):
    again = make_example(tmp_path / "again")
    for name in ("config.json", "model.safetensors", "input_ids.safetensors"):
        a = hashlib.sha256((example_dir / name).read_bytes()).hexdigest()
        b = hashlib.sha256((again / name).read_bytes()).hexdigest()
        assert a == b, name
    assert _digest(example_dir / "model.safetensors") == MODEL_DIGEST
    assert _digest(example_dir / "input_ids.safetensors") == INPUT_DIGEST
    assert not [p for p in again.iterdir() if p.name.startswith(".")]


def test_layout_and_shapes(example_dir):
    config = json.loads((example_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["torch_dtype"] == "float16"
    assert config["tie_word_embeddings"] is False
    assert (config["num_attention_heads"], config["num_key_value_heads"]) \
        == (4, 2)
    tensors = load_file(str(example_dir / "model.safetensors"))
    assert all(t.dtype == np.float16 for t in tensors.values())
    assert "lm_head.weight" in tensors
    for name, t in tensors.items():
        if name.endswith("proj.weight"):
            k = t.shape[1]
            if "down_proj" in name:
                assert k == 352 and k % 64 != 0  # 4-bit blocks span rows
            else:
                assert k % 64 == 0
    ids = load_file(str(example_dir / "input_ids.safetensors"))["input_ids"]
    assert ids.dtype == np.int64 and ids.shape == (1, 8)
    assert ids.min() >= 0 and ids.max() < config["vocab_size"]


def test_attention_inputs_have_outlier_columns(example_dir, example_ids):
    """The first q/k/v input (RMSNorm of the embeddings) has a few columns
    with |x| >= 6, LLM.int8()'s default threshold."""
    t = {k: v.astype(np.float32) for k, v in
         load_file(str(example_dir / "model.safetensors")).items()}
    x = t["model.embed_tokens.weight"][example_ids[0]]
    x = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)
    x = x * t["model.layers.0.input_layernorm.weight"]
    cols = np.nonzero((np.abs(x) >= 6).any(0))[0]
    assert 1 <= len(cols) <= 0.05 * x.shape[1]
