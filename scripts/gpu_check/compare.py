#!/usr/bin/env python3
"""Compares a GPU run's outputs with the CPU build's.

    compare.py CASE_JSON EXPECTED.safetensors ACTUAL.safetensors

Prints one line and exits 1 on a mismatch. "exact" cases compare bytes;
"tolerance" cases allow |a - e| <= atol + rtol·|e| per element.
"""
import json
import struct
import sys

import numpy as np

# safetensors dtypes as numpy dtypes; bf16 is compared through its bits
# (numpy has no bfloat16, and safetensors' numpy loader refuses it there).
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16,
          "BF16": np.uint16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def load_file(path):
    """The tensors of a safetensors file as {name: (dtype name, array)}."""
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = (info["dtype"], array.reshape(info["shape"]))
    return tensors


def as_float64(dtype, array):
    if dtype == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


def main(case_path, expected_path, actual_path):
    case = json.load(open(case_path))
    expected, actual = load_file(expected_path), load_file(actual_path)
    if sorted(expected) != sorted(actual):
        print(f"FAIL tensors differ: {sorted(expected)} vs {sorted(actual)}")
        return 1
    worst = 0.0
    for name in sorted(expected):
        (edt, e), (adt, a) = expected[name], actual[name]
        if edt != adt or e.shape != a.shape:
            print(f"FAIL {name}: {adt}{a.shape} vs {edt}{e.shape}")
            return 1
        if case["compare"] == "exact":
            diff = np.flatnonzero(e.view(np.uint8) != a.view(np.uint8))
            if diff.size:
                print(f"FAIL {name}: {diff.size} bytes differ, first at byte "
                      f"{diff[0]}")
                return 1
            continue
        tol = case["tolerance"]
        ef, af = as_float64(edt, e), as_float64(adt, a)
        if not np.all(np.isfinite(af) == np.isfinite(ef)):
            print(f"FAIL {name}: non-finite values differ")
            return 1
        err = np.abs(af - ef)
        bound = tol["atol"] + tol["rtol"] * np.abs(ef)
        bad = np.flatnonzero(err > bound)
        worst = max(worst, float(np.nanmax(err)) if err.size else 0.0)
        if bad.size:
            print(f"FAIL {name}: {bad.size} of {err.size} elements beyond "
                  f"atol {tol['atol']} rtol {tol['rtol']} (max error "
                  f"{np.nanmax(err):.3g})")
            return 1
    what = "bit-exact" if case["compare"] == "exact" else f"max error {worst:.3g}"
    print(f"ok ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
