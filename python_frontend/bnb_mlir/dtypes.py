"""Element types: safetensors codes, torch names, MLIR types and conversions.

numpy has no bfloat16, so bfloat16 data travels as its uint16 bit patterns and
is widened or rounded (round to nearest even, as torch does) here.
"""
from __future__ import annotations

import numpy as np

from .errors import BnbMlirError

#: safetensors dtype code -> (torch name, numpy storage dtype, MLIR element type)
SAFETENSORS_DTYPES = {
    "F64": ("float64", np.dtype("<f8"), "f64"),
    "F32": ("float32", np.dtype("<f4"), "f32"),
    "F16": ("float16", np.dtype("<f2"), "f16"),
    "BF16": ("bfloat16", np.dtype("<u2"), "bf16"),
    "I64": ("int64", np.dtype("<i8"), "i64"),
    "I32": ("int32", np.dtype("<i4"), "i32"),
    "I16": ("int16", np.dtype("<i2"), "i16"),
    "I8": ("int8", np.dtype("i1"), "i8"),
    "U8": ("uint8", np.dtype("u1"), "ui8"),
    "BOOL": ("bool", np.dtype("?"), "i1"),
}
# Exactly the dtypes of the C++ reader (bnb/Quant/DType.h): the two readers
# accept the same files. U16/U32/U64 (no model stores them) are refused by
# both.

#: Floating-point types a model may compute in (torch name -> safetensors code).
FLOAT_TYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}

#: Aliases accepted wherever a torch dtype name is expected.
_ALIASES = {
    "float": "float32", "half": "float16", "double": "float64",
    "f32": "float32", "f16": "float16", "bf16": "bfloat16",
}


def canonical_float_name(name: str, what: str) -> str:
    """Returns the torch name of a model dtype ("float16", "torch.bfloat16",
    "half", ...), or raises naming `what` when it is not float32/16/bfloat16."""
    if not isinstance(name, str):
        raise BnbMlirError(f"{what} must be a string, got {name!r}")
    short = name[len("torch."):] if name.startswith("torch.") else name
    short = _ALIASES.get(short, short)
    if short not in FLOAT_TYPES:
        raise BnbMlirError(f"{what} '{name}' is not supported "
                           "(expected float32, float16 or bfloat16)")
    return short


def mlir_type(code: str) -> str:
    """The MLIR element type of a safetensors dtype code."""
    return SAFETENSORS_DTYPES[code][2]


def itemsize(code: str) -> int:
    return SAFETENSORS_DTYPES[code][1].itemsize


def is_float(code: str) -> bool:
    return code in ("F64", "F32", "F16", "BF16")


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """Widens bfloat16 bit patterns (uint16) to float32 exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Rounds float32 to bfloat16 (nearest, ties to even) as uint16 bits."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (u + (np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1)))) >> 16
    # NaNs stay (quiet) NaNs instead of rounding into infinity.
    nan = np.isnan(x)
    rounded = np.where(nan, (u >> 16) | np.uint32(0x40), rounded)
    return rounded.astype(np.uint16)


def to_f32(raw: np.ndarray, code: str) -> np.ndarray:
    """Float32 values of a tensor stored with safetensors dtype `code`."""
    if code == "BF16":
        return bf16_bits_to_f32(raw)
    return raw.astype(np.float32)


def from_f32(x: np.ndarray, code: str) -> np.ndarray:
    """Rounds float32 values to `code` (F32, F16 or BF16), as storage."""
    if code == "BF16":
        return f32_to_bf16_bits(x)
    if code == "F16":
        return x.astype(np.float16)
    if code == "F32":
        return x.astype(np.float32)
    raise ValueError(f"cannot round to {code}")


def convert(raw: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Converts stored float data between F64/F32/F16/BF16 with one rounding,
    as torch's Tensor.to does."""
    if src == dst:
        return raw
    if src == "F64":
        if dst == "BF16":
            # Through float32: a second rounding, as rare as float64 weights.
            return f32_to_bf16_bits(raw.astype(np.float32))
        return raw.astype(SAFETENSORS_DTYPES[dst][1])
    if dst == "F64":
        return to_f32(raw, src).astype(np.float64)
    if src == "F16" and dst in ("F32", "BF16"):
        return from_f32(raw.astype(np.float32), dst)  # f16 -> f32 is exact
    if src == "BF16":
        return from_f32(bf16_bits_to_f32(raw), dst)  # bf16 -> f32 is exact
    if src == "F32":
        return from_f32(raw, dst)
    raise ValueError(f"cannot convert {src} to {dst}")

