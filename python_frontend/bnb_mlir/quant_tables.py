"""bitsandbytes' code tables and the BitsAndBytesConfig value rules, read
from quant_tables.json: the output of `bnb-quant-tables`, which prints
lib/Quant's own tables, so the frontend and the compiler cannot disagree
(test/Utils/quant-tables-json.test keeps the committed copy equal to the
build's output). Floats are stored as f32 bit patterns.

The code tables are what a pre-quantized checkpoint's `weight.quant_map` and
`weight.nested_quant_map` must hold: the compiler dequantizes with its
built-in tables, so a checkpoint storing other values is rejected rather than
silently computed differently.
"""
from __future__ import annotations

import json
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "quant_tables.json")
with open(_PATH, encoding="utf-8") as _f:
    _TABLES = json.load(_f)


def _bits(words: list[str]) -> np.ndarray:
    return np.array([int(w, 16) for w in words],
                    dtype=np.uint32).view(np.float32)


#: NF4 values by code (ascending; code 7 is 0).
NF4_QUANT_MAP = _bits(_TABLES["nf4"])

#: FP4 values in code order as bitsandbytes serializes them: bit 3 is the
#: sign; index 8 is +0.0 (the Python list's integer -0), though a -0.0 there
#: means the same table.
FP4_QUANT_MAP = _bits(_TABLES["fp4_quant_map"])

#: The signed dynamic 8-bit map of double quantization (256 entries, 0 at
#: index 127, 1.0 at index 255).
DYNAMIC_MAP = _bits(_TABLES["dynamic_map"])

_CONFIG = _TABLES["config"]
#: bnb_4bit_compute_dtype values the compiler supports (torch names).
COMPUTE_DTYPES = tuple(_CONFIG["compute_dtypes"])
#: bnb_4bit_quant_storage values transformers accepts, in its message's order.
QUANT_STORAGE_DTYPES = tuple(_CONFIG["quant_storage_dtypes"])
#: bnb_4bit_quant_type values bitsandbytes implements.
QUANT_TYPES = tuple(_CONFIG["quant_types"])
#: transformers' message when load_in_4bit and load_in_8bit are both set.
BOTH_LOADS_MESSAGE = _CONFIG["both_loads_message"]
