"""JSON from files, parsed within size and nesting limits.

Python's json module recurses once per nesting level and raises
RecursionError (a traceback, not a message) on a few thousand nested
brackets; the C++ tools share the same limits (include/bnb/Support/
BoundedJson.h, docs/security.md), so a document one side accepts the other
does too.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .errors import BnbMlirError

#: The largest JSON document read (100 MB, the safetensors header limit).
MAX_JSON_BYTES = 100_000_000
#: The deepest nesting of arrays and objects read.
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def bounds_problem(text: str) -> str | None:
    """Why `text` exceeds the limits (size, then depth), or None."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_JSON_BYTES:
        return f"JSON of {size} bytes exceeds the {MAX_JSON_BYTES}-byte limit"
    depth = 0
    for c in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return f"JSON nests deeper than {MAX_JSON_DEPTH} levels"
        elif depth:
            depth -= 1
    return None


def check_bounds(text: str, where: object) -> str:
    """`text`, after raising BnbMlirError naming `where` if it exceeds the
    limits; call it before json.loads on text from a file."""
    problem = bounds_problem(text)
    if problem:
        raise BnbMlirError(f"{where}: {problem}")
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is not JSON")


def loads(text: str, where: str) -> Any:
    """json.loads within the limits; NaN and Infinity refused as in
    llvm::json. Errors are one-line BnbMlirError messages naming `where`."""
    check_bounds(text, where)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise BnbMlirError(f"{where}: invalid JSON: line {e.lineno} column "
                           f"{e.colno}: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise BnbMlirError(f"{where}: invalid JSON: {e}") from None
