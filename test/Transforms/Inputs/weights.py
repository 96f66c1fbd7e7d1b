"""Writes and inspects the small safetensors files of the quantize-weights
tests. Expectations are computed here, independently of the compiler."""
import hashlib
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def make(path):
    rng = np.random.RandomState(0)
    save_file({
        "model.layers.0.mlp.up_proj.weight":
            (rng.randn(32, 16) * 0.5).astype(np.float16),
        "model.layers.0.mlp.up_proj.bias": rng.randn(32).astype(np.float16),
        "model.layers.0.mlp.down_proj.weight":
            (rng.randn(16, 32) * 0.5).astype(np.float16),
        "h.0.attn.c_attn.weight": (rng.randn(16, 48)).astype(np.float16),
        "lm_head.weight": rng.randn(64, 16).astype(np.float16),
        "model.norm.weight": np.ones(16, np.float16),
    }, path)


def digest(path):
    print(hashlib.sha256(open(path, "rb").read()).hexdigest())


def check(src, out):
    """The layout transformers + bitsandbytes would save."""
    with safe_open(src, "np") as f:
        inp = {k: f.get_tensor(k) for k in f.keys()}
    with safe_open(out, "np") as f:
        keys = list(f.keys())
        get = f.get_tensor
        # 4-bit NF4 + double quant for up_proj: 512 elements, 8 blocks.
        p = "model.layers.0.mlp.up_proj."
        assert get(p + "weight").dtype == np.uint8
        assert get(p + "weight").shape == (256, 1)
        assert get(p + "weight.absmax").dtype == np.uint8
        assert get(p + "weight.absmax").shape == (8,)
        assert get(p + "weight.nested_absmax").shape == (1,)
        assert get(p + "weight.nested_quant_map").shape == (256,)
        qmap = get(p + "weight.quant_map")
        assert qmap.dtype == np.float32 and qmap.shape == (16,)
        assert qmap[0] == -1.0 and qmap[15] == 1.0 and qmap[7] == 0.0
        blob = bytes(get(p + "weight.quant_state.bitsandbytes__nf4"))
        state = json.loads(blob)
        assert list(state) == ["quant_type", "blocksize", "dtype", "shape",
                               "nested_blocksize", "nested_dtype",
                               "nested_offset"], state
        assert state["shape"] == [32, 16] and state["dtype"] == "float16"
        # The offset is the mean of the first-level absmax.
        w = inp[p + "weight"].astype(np.float32).reshape(8, 64)
        mean = np.abs(w).max(axis=1).mean()
        assert abs(state["nested_offset"] - mean) < 1e-6, (state, mean)
        # Unquantized tensors the graph uses are copied byte for byte; ones
        # it does not use are left out.
        for k in (p + "bias", "lm_head.weight"):
            assert np.array_equal(get(k), inp[k]), k
        assert "model.norm.weight" not in keys
        # Conv1D: the [in, out] weight is quantized transposed, as [out, in].
        c = "h.0.attn.c_attn."
        assert json.loads(bytes(get(c + "weight.quant_state.bitsandbytes__nf4")))[
            "shape"] == [48, 16]
        # Nothing else, and the float originals of quantized layers are gone.
        assert "model.layers.0.mlp.down_proj.weight.absmax" in keys
        assert not any(k.endswith(".SCB") for k in keys)
    print("ok")


if __name__ == "__main__":
    {"make": make, "digest": digest, "check": check}[sys.argv[1]](*sys.argv[2:])
