"""BitsAndBytesConfig: transformers' quantization config, without torch.

Every field, default, validation rule and error message follows
`transformers.BitsAndBytesConfig`; dtypes are kept as torch dtype names
("float32", "uint8", ...) where transformers keeps `torch.dtype` objects, and a
`torch.dtype` (or numpy dtype) passed in is accepted and reduced to its name.
Two checks are made here that bitsandbytes only makes when a layer is built:
`bnb_4bit_quant_type` must be "nf4" or "fp4", and `llm_int8_threshold` must be
>= 0 (and not NaN). `to_mlir_attr()` gives the `#bnb.config<...>` attribute
that the compiler reads.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import warnings
from typing import Any

import numpy as np

from .bounded_json import check_bounds
from .errors import BnbMlirError
# The value rules are lib/Quant's (ConfigRules.h), shared through the tables.
from .quant_tables import (BOTH_LOADS_MESSAGE, COMPUTE_DTYPES,
                           QUANT_STORAGE_DTYPES, QUANT_TYPES)

#: Fields in the order of transformers' constructor, with their defaults.
FIELDS = (
    ("load_in_8bit", False),
    ("load_in_4bit", False),
    ("llm_int8_threshold", 6.0),
    ("llm_int8_skip_modules", None),
    ("llm_int8_enable_fp32_cpu_offload", False),
    ("llm_int8_has_fp16_weight", False),
    ("bnb_4bit_compute_dtype", None),
    ("bnb_4bit_quant_type", "fp4"),
    ("bnb_4bit_use_double_quant", False),
    ("bnb_4bit_quant_storage", None),
)

_COMPUTE_ALIASES = {"half": "float16", "float": "float32"}
#: Keys transformers' to_dict writes that are not constructor arguments.
_INTERNAL_KEYS = ("quant_method", "_load_in_4bit", "_load_in_8bit")
QUANT_METHOD = "bitsandbytes"

_BOTH = BOTH_LOADS_MESSAGE


def _quoted(names) -> str:
    """'a', 'b', 'c': a list of names as transformers' messages write it."""
    return ", ".join(repr(n) for n in names)


def _dtype_name(value: Any) -> str | None:
    """The torch name of a torch.dtype or numpy dtype object, else None."""
    cls = type(value)
    if cls.__module__ == "torch" and cls.__name__ == "dtype":
        return str(value).split(".", 1)[1]  # "torch.bfloat16" -> "bfloat16"
    if isinstance(value, np.dtype) or (isinstance(value, type) and
                                       issubclass(value, np.generic)):
        return np.dtype(value).name
    return None


class BitsAndBytesConfig:
    """Mirror of `transformers.BitsAndBytesConfig`.

    Attributes have transformers' names. `bnb_4bit_compute_dtype` and
    `bnb_4bit_quant_storage` hold torch dtype names ("float32", "uint8").
    Unknown keyword arguments are kept in `unused_kwargs` and reported with a
    warning (transformers logs them); the keys transformers itself writes
    (`quant_method`, `_load_in_4bit`, `_load_in_8bit`) are ignored silently.
    """

    def __init__(self, load_in_8bit=False, load_in_4bit=False,
                 llm_int8_threshold=6.0, llm_int8_skip_modules=None,
                 llm_int8_enable_fp32_cpu_offload=False,
                 llm_int8_has_fp16_weight=False, bnb_4bit_compute_dtype=None,
                 bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=False,
                 bnb_4bit_quant_storage=None, **kwargs):
        self.quant_method = QUANT_METHOD
        if load_in_4bit and load_in_8bit:
            raise ValueError(_BOTH)
        self._load_in_8bit = load_in_8bit
        self._load_in_4bit = load_in_4bit
        self.llm_int8_threshold = llm_int8_threshold
        self.llm_int8_skip_modules = llm_int8_skip_modules
        self.llm_int8_enable_fp32_cpu_offload = llm_int8_enable_fp32_cpu_offload
        self.llm_int8_has_fp16_weight = llm_int8_has_fp16_weight
        self.bnb_4bit_quant_type = bnb_4bit_quant_type
        self.bnb_4bit_use_double_quant = bnb_4bit_use_double_quant
        self.bnb_4bit_compute_dtype = self._compute_dtype(bnb_4bit_compute_dtype)
        self.bnb_4bit_quant_storage = self._quant_storage(bnb_4bit_quant_storage)

        self.unused_kwargs = {k: v for k, v in kwargs.items()
                              if k not in _INTERNAL_KEYS}
        if self.unused_kwargs:
            warnings.warn(f"unused BitsAndBytesConfig fields: "
                          f"{', '.join(sorted(self.unused_kwargs))}",
                          stacklevel=2)
        self.post_init()

    @staticmethod
    def _compute_dtype(value) -> str:
        if value is None:
            return "float32"
        name = value if isinstance(value, str) else _dtype_name(value)
        if name is None:
            raise ValueError(
                "bnb_4bit_compute_dtype must be a string or a torch.dtype")
        name = _COMPUTE_ALIASES.get(name, name)
        if name not in COMPUTE_DTYPES:
            raise ValueError(f"bnb_4bit_compute_dtype '{name}' is not "
                             f"supported (one of {_quoted(COMPUTE_DTYPES)})")
        return name

    @staticmethod
    def _quant_storage(value) -> str:
        if value is None:
            return "uint8"
        if isinstance(value, str):
            if value not in QUANT_STORAGE_DTYPES:
                raise ValueError(
                    "`bnb_4bit_quant_storage` must be a valid string (one of "
                    f"{_quoted(QUANT_STORAGE_DTYPES)}) ")
            return value
        name = _dtype_name(value)
        if name is None:
            raise ValueError(
                "bnb_4bit_quant_storage must be a string or a torch.dtype")
        if name not in QUANT_STORAGE_DTYPES:
            raise ValueError(f"bnb_4bit_quant_storage '{name}' is not "
                             f"supported (one of "
                             f"{_quoted(QUANT_STORAGE_DTYPES)})")
        return name

    @property
    def load_in_4bit(self) -> bool:
        return self._load_in_4bit

    @load_in_4bit.setter
    def load_in_4bit(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("load_in_4bit must be a boolean")
        if self.load_in_8bit and value:
            raise ValueError(_BOTH)
        self._load_in_4bit = value

    @property
    def load_in_8bit(self) -> bool:
        return self._load_in_8bit

    @load_in_8bit.setter
    def load_in_8bit(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("load_in_8bit must be a boolean")
        if self.load_in_4bit and value:
            raise ValueError(_BOTH)
        self._load_in_8bit = value

    def post_init(self) -> None:
        """transformers' checks, in its order, plus the two early ones."""
        if not isinstance(self.load_in_4bit, bool):
            raise TypeError("load_in_4bit must be a boolean")
        if not isinstance(self.load_in_8bit, bool):
            raise TypeError("load_in_8bit must be a boolean")
        if not isinstance(self.llm_int8_threshold, float):
            raise TypeError("llm_int8_threshold must be a float")
        if self.llm_int8_skip_modules is not None and (
                not isinstance(self.llm_int8_skip_modules, list) or
                not all(isinstance(m, str)
                        for m in self.llm_int8_skip_modules)):
            raise TypeError("llm_int8_skip_modules must be a list of strings")
        if not isinstance(self.llm_int8_enable_fp32_cpu_offload, bool):
            raise TypeError("llm_int8_enable_fp32_cpu_offload must be a boolean")
        if not isinstance(self.llm_int8_has_fp16_weight, bool):
            raise TypeError("llm_int8_has_fp16_weight must be a boolean")
        if not isinstance(self.bnb_4bit_quant_type, str):
            raise TypeError("bnb_4bit_quant_type must be a string")
        if not isinstance(self.bnb_4bit_use_double_quant, bool):
            raise TypeError("bnb_4bit_use_double_quant must be a boolean")
        # Checked by bitsandbytes only when a layer is built; here, up front.
        if self.bnb_4bit_quant_type not in QUANT_TYPES:
            raise ValueError(f"bnb_4bit_quant_type must be "
                             f"{' or '.join(map(repr, QUANT_TYPES))}, "
                             f"got '{self.bnb_4bit_quant_type}'")
        if math.isnan(self.llm_int8_threshold) or self.llm_int8_threshold < 0:
            raise ValueError("llm_int8_threshold must be a float >= 0, got "
                             f"{self.llm_int8_threshold}")

    def is_quantizable(self) -> bool:
        return self.load_in_8bit or self.load_in_4bit

    def quantization_method(self) -> str | None:
        """"llm_int8", "fp4", "nf4" or None, as transformers returns."""
        if self.load_in_8bit:
            return "llm_int8"
        if self.load_in_4bit and self.bnb_4bit_quant_type == "fp4":
            return "fp4"
        if self.load_in_4bit and self.bnb_4bit_quant_type == "nf4":
            return "nf4"
        return None

    # -- serialization ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The dict transformers writes as `quantization_config`: the
        instance's fields (incl. `quant_method`, `_load_in_4bit`,
        `_load_in_8bit`) plus `load_in_4bit` and `load_in_8bit`."""
        self.post_init()
        skip = self.llm_int8_skip_modules
        return {
            "quant_method": self.quant_method,
            "_load_in_8bit": self.load_in_8bit,
            "_load_in_4bit": self.load_in_4bit,
            "llm_int8_threshold": self.llm_int8_threshold,
            "llm_int8_skip_modules": list(skip) if skip is not None else None,
            "llm_int8_enable_fp32_cpu_offload":
                self.llm_int8_enable_fp32_cpu_offload,
            "llm_int8_has_fp16_weight": self.llm_int8_has_fp16_weight,
            "bnb_4bit_quant_type": self.bnb_4bit_quant_type,
            "bnb_4bit_use_double_quant": self.bnb_4bit_use_double_quant,
            "bnb_4bit_compute_dtype": self.bnb_4bit_compute_dtype,
            "bnb_4bit_quant_storage": self.bnb_4bit_quant_storage,
            "load_in_4bit": self.load_in_4bit,
            "load_in_8bit": self.load_in_8bit,
        }

    def to_diff_dict(self) -> dict[str, Any]:
        """The entries of `to_dict()` that differ from the defaults."""
        defaults = BitsAndBytesConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if v != defaults[k]}

    def to_json_string(self, use_diff: bool = False) -> str:
        """JSON as transformers writes it (sorted keys, indent 2)."""
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Writes `to_json_string()` to `path` atomically."""
        from .fileutil import atomic_write_text
        atomic_write_text(path, self.to_json_string())

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any]) -> "BitsAndBytesConfig":
        """Builds a config from a `quantization_config` dict (as written by
        transformers' to_dict, or any subset of the constructor arguments).
        A `quant_method` other than "bitsandbytes" is rejected."""
        if not isinstance(config_dict, dict):
            raise BnbMlirError("quantization_config must be a JSON object")
        method = config_dict.get("quant_method", QUANT_METHOD)
        if method != QUANT_METHOD:
            raise BnbMlirError(f"quantization_config has quant_method "
                               f"'{method}', expected '{QUANT_METHOD}'")
        return cls(**config_dict)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BitsAndBytesConfig":
        """Reads a quantization_config JSON file, or a model's config.json
        (its "quantization_config" entry). Errors are BnbMlirError naming
        the file."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.loads(check_bounds(f.read(), path))
        except OSError as e:
            raise BnbMlirError(f"{path}: {e.strerror or e}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BnbMlirError(f"{path}: invalid JSON ({e})") from None
        if isinstance(data, dict) and "quantization_config" in data:
            data = data["quantization_config"]
        elif isinstance(data, dict) and ("model_type" in data or
                                         "architectures" in data):
            raise BnbMlirError(f"{path}: a model config without a "
                               "quantization_config entry")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise BnbMlirError(f"{path}: {e}") from None
        except BnbMlirError as e:
            raise BnbMlirError(f"{path}: {e}") from None

    def __eq__(self, other) -> bool:
        return (isinstance(other, BitsAndBytesConfig) and
                self.to_dict() == other.to_dict())

    def __repr__(self) -> str:
        return f"BitsAndBytesConfig {self.to_json_string()}"

    # -- MLIR ---------------------------------------------------------------

    def to_mlir_attr(self) -> str:
        """The `#bnb.config<...>` attribute with every field spelled out.

        Keys are the field names; booleans `true`/`false`; the threshold a
        float literal; dtypes quoted torch names; an absent skip list (the
        automatic lm_head list) is left out, while an empty list is `[]`.
        """
        self.post_init()

        def b(v: bool) -> str:
            return "true" if v else "false"

        fields = [
            f"load_in_8bit = {b(self.load_in_8bit)}",
            f"load_in_4bit = {b(self.load_in_4bit)}",
            f"llm_int8_threshold = {mlir_float(self.llm_int8_threshold)}",
        ]
        if self.llm_int8_skip_modules is not None:
            items = ", ".join(mlir_string(m) for m in self.llm_int8_skip_modules)
            fields.append(f"llm_int8_skip_modules = [{items}]")
        fields += [
            "llm_int8_enable_fp32_cpu_offload = "
            f"{b(self.llm_int8_enable_fp32_cpu_offload)}",
            f"llm_int8_has_fp16_weight = {b(self.llm_int8_has_fp16_weight)}",
            f"bnb_4bit_compute_dtype = \"{self.bnb_4bit_compute_dtype}\"",
            f"bnb_4bit_quant_type = \"{self.bnb_4bit_quant_type}\"",
            "bnb_4bit_use_double_quant = "
            f"{b(self.bnb_4bit_use_double_quant)}",
            f"bnb_4bit_quant_storage = \"{self.bnb_4bit_quant_storage}\"",
        ]
        return "#bnb.config<" + ", ".join(fields) + ">"

    @classmethod
    def from_mlir_attr(cls, text: str) -> "BitsAndBytesConfig":
        """Reads a `#bnb.config<...>` attribute as MLIR prints or parses it
        (fields left out take their defaults; dtypes as strings or MLIR
        types)."""
        return cls(**_parse_mlir_attr(text))


# MLIR element types the C++ printer may use for the two dtype fields.
_MLIR_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32",
                "f64": "float64", "ui8": "uint8", "i8": "int8", "si8": "int8"}
_ATTR_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:0x[0-9A-Fa-f]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))
  | (?P<id>[A-Za-z_][\w.$]*)
  | (?P<punct>[=,\[\]<>])
)""", re.VERBOSE)


def _parse_mlir_attr(text: str) -> dict[str, Any]:
    """Parses `#bnb.config<key = value, ...>` into constructor arguments."""
    body = text.strip()
    if not (body.startswith("#bnb.config<") and body.endswith(">")):
        raise BnbMlirError(f"not a #bnb.config attribute: {text!r}")
    tokens, pos, inner = [], 0, body[len("#bnb.config<"):-1]
    while pos < len(inner):
        m = _ATTR_TOKEN.match(inner, pos)
        if not m:
            if inner[pos:].strip() == "":
                break
            raise BnbMlirError(f"cannot parse #bnb.config at {inner[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))

    def value(i):
        kind, tok = tokens[i]
        if kind == "str":
            return _mlir_unescape(tok[1:-1]), i + 1
        if kind == "num":
            if tok.lower().lstrip("+-").startswith("0x"):
                bits = int(tok, 16)
                return struct.unpack("<d", struct.pack("<Q", bits))[0], i + 1
            return float(tok), i + 1
        if kind == "id":
            if tok in ("true", "false"):
                return tok == "true", i + 1
            return _MLIR_DTYPES.get(tok, tok), i + 1
        if tok == "[":
            items, i = [], i + 1
            while tokens[i][1] != "]":
                item, i = value(i)
                items.append(item)
                if tokens[i][1] == ",":
                    i += 1
            return items, i + 1
        raise BnbMlirError(f"unexpected '{tok}' in #bnb.config")

    fields, i = {}, 0
    while i < len(tokens):
        (kind, key), (_, eq) = tokens[i], tokens[i + 1]
        if kind not in ("id", "str") or eq != "=":
            raise BnbMlirError(f"cannot parse #bnb.config near '{key}'")
        fields[key.strip('"')], i = value(i + 2)
        if i < len(tokens):
            if tokens[i][1] != ",":
                raise BnbMlirError("expected ',' in #bnb.config")
            i += 1
    return fields


def _mlir_unescape(s: str) -> str:
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\":
            nxt = s[i + 1]
            if nxt in "\"\\":
                out += nxt.encode()
                i += 2
            elif nxt == "n":
                out += b"\n"
                i += 2
            elif nxt == "t":
                out += b"\t"
                i += 2
            else:
                out.append(int(s[i + 1:i + 3], 16))
                i += 3
        else:
            out += s[i].encode("utf-8")
            i += 1
    return out.decode("utf-8")


def mlir_float(value: float) -> str:
    """A float literal MLIR's parser reads back to the same double."""
    if math.isinf(value):
        return "0x7FF0000000000000" if value > 0 else "0xFFF0000000000000"
    text = repr(float(value))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def mlir_string(value: str) -> str:
    """An MLIR string literal (escapes quotes, backslashes and controls)."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
