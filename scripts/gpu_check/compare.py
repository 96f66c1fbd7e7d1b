#!/usr/bin/env python3
"""Compares a GPU run's outputs with the CPU build's.

    compare.py CASE_JSON EXPECTED.safetensors ACTUAL.safetensors

Prints one line and exits 1 on a mismatch. "exact" cases compare bytes;
"tolerance" cases allow |a - e| <= atol + rtol·|e| per element.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def main(case_path, expected_path, actual_path):
    case = json.load(open(case_path))
    expected, actual = load_file(expected_path), load_file(actual_path)
    if sorted(expected) != sorted(actual):
        print(f"FAIL tensors differ: {sorted(expected)} vs {sorted(actual)}")
        return 1
    worst = 0.0
    for name in sorted(expected):
        e, a = expected[name], actual[name]
        if e.dtype != a.dtype or e.shape != a.shape:
            print(f"FAIL {name}: {a.dtype}{a.shape} vs {e.dtype}{e.shape}")
            return 1
        if case["compare"] == "exact":
            diff = np.flatnonzero(e.view(np.uint8) != a.view(np.uint8))
            if diff.size:
                print(f"FAIL {name}: {diff.size} bytes differ, first at byte "
                      f"{diff[0]}")
                return 1
            continue
        tol = case["tolerance"]
        ef, af = e.astype(np.float64), a.astype(np.float64)
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
