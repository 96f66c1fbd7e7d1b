"""Compares bnb-quant-tables' JSON with bnbref.py, the numpy model of
bitsandbytes written from the specification."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "Tools",
                                "bnb-quantize", "Inputs"))
import bnbref  # noqa: E402

with open(sys.argv[1]) as f:
    tables = json.load(f)


def bits(name):
    return np.array([int(w, 16) for w in tables[name]], dtype=np.uint32)


def same(name, expected):
    got = bits(name)
    want = np.asarray(expected, dtype=np.float32).view(np.uint32)
    if not np.array_equal(got, want):
        bad = np.nonzero(got != want)[0]
        sys.exit(f"{name}: differs at {bad.tolist()}: "
                 f"{[hex(v) for v in got[bad]]} vs "
                 f"{[hex(v) for v in want[bad]]}")


same("nf4", bnbref.NF4_TABLE)
same("fp4", bnbref.FP4_TABLE)
same("fp4_quant_map", bnbref.FP4_QUANT_MAP)
same("nf4_thresholds", bnbref.NF4_THRESHOLDS)
same("fp4_thresholds", bnbref.FP4_THRESHOLDS)
same("dynamic_map", bnbref.DYNAMIC_MAP)
if tables["fp4_magnitude_code"] != bnbref.FP4_MAGNITUDE_CODE.tolist():
    sys.exit("fp4_magnitude_code differs")
config = tables["config"]
if config["quant_types"] != ["nf4", "fp4"] or \
        config["compute_dtypes"] != ["float16", "bfloat16", "float32"]:
    sys.exit(f"config rules differ: {config}")
print("tables agree with the specification")
