"""The weights file of quantize-weights-module-name.mlir, and a listing of
the tensors a safetensors file holds (name, dtype, shape), one a line."""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def make(path):
    rng = np.random.RandomState(0)
    save_file({
        "bert.encoder.layer.0.attention.self.query.weight":
            (rng.randn(64, 16) * 0.5).astype(np.float16),
        "bert.encoder.layer.0.attention.self.query.bias":
            rng.randn(64).astype(np.float16),
    }, path)


def listing(path):
    with safe_open(path, "np") as f:
        for key in sorted(f.keys()):
            t = f.get_tensor(key)
            print(key, t.dtype, list(t.shape))


if __name__ == "__main__":
    {"make": make, "list": listing}[sys.argv[1]](*sys.argv[2:])
