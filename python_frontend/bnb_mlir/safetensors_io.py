"""A small streaming reader and writer for the safetensors format.

The format: an 8-byte little-endian header length, a JSON header mapping each
tensor name to its dtype, shape and byte range in the data section, then the
data. Reading memory-maps the file and checks every header entry; writing
streams one tensor at a time to a temporary file that is renamed into place,
so a large checkpoint never has to fit in memory and a failed write leaves
nothing behind. (The `safetensors` package loads whole files and has no
bfloat16 in numpy, hence this module.)
"""
from __future__ import annotations

import json
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .bounded_json import bounds_problem
from .dtypes import SAFETENSORS_DTYPES
from .errors import BnbMlirError
from .fileutil import temp_path_for

# The largest header the safetensors library (and the C++ reader) accepts.
_MAX_HEADER = 100_000_000
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def escape_name(text: str) -> str:
    """`text` with control characters escaped, so that a name read from a
    file keeps a message on one line and cannot drive the terminal (the C++
    tools' bnb::escapeForMessage)."""
    out = []
    for c in text:
        o = ord(c)
        if c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0x80 <= o < 0xA0:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


def _no_float(text: str) -> Any:
    raise _HeaderError(f"holds the number '{text}', which is not an integer")


class _HeaderError(ValueError):
    """A rule of the format broken inside json.loads' hooks."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _HeaderError(f"has the key '{escape_name(key)}' twice")
        seen[key] = value
    return seen


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TensorInfo:
    """One header entry: safetensors dtype code, shape and absolute byte range."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


class SafetensorsFile:
    """A memory-mapped safetensors file with a validated header.

    As strict as the safetensors library and the C++ reader: the header size
    limit, integers only, no key twice in any object, exactly the fields
    dtype, shape and data_offsets, dtype x shape equal to the byte range,
    sizes within 64 bits, and tensors tiling the data section without gap,
    overlap or trailing byte (test/Inputs/bad_safetensors.py holds the cases
    both readers refuse)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        where = escape_name(str(self.path))
        self._mmap = None
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < 8:
                    raise BnbMlirError(f"{where}: not a safetensors file "
                                       "(shorter than 8 bytes)")
                (header_len,) = struct.unpack("<Q", f.read(8))
                if header_len > _MAX_HEADER:
                    raise BnbMlirError(f"{where}: header length {header_len} "
                                       f"exceeds the {_MAX_HEADER}-byte "
                                       "limit")
                if header_len > size - 8:
                    raise BnbMlirError(f"{where}: not a safetensors file "
                                       f"(header length {header_len} exceeds "
                                       "the file)")
                header_bytes = f.read(header_len)
                self._mmap = (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                              if size > 0 else None)
        except OSError as e:
            raise BnbMlirError(f"{where}: {e.strerror or e}") from None
        try:
            text = header_bytes.decode("utf-8")
        except UnicodeDecodeError:
            self.close()
            raise BnbMlirError(f"{where}: the header is not valid "
                               "UTF-8") from None
        try:
            header = self._parse_header(text, where)
            data_size = size - 8 - header_len
            self.metadata: dict[str, str] = self._metadata(header, where)
            self.tensors: dict[str, TensorInfo] = {}
            for name, entry in header.items():
                self.tensors[name] = self._check_entry(
                    name, entry, where, 8 + header_len, data_size)
            self._check_tiling(where, 8 + header_len, data_size)
        except BnbMlirError:
            self.close()
            raise

    @staticmethod
    def _parse_header(text: str, where: str) -> dict[str, Any]:
        problem = bounds_problem(text)
        if problem:
            raise BnbMlirError(f"{where}: the header is not valid JSON: "
                               f"{problem}")
        try:
            header = json.loads(text, object_pairs_hook=_unique_pairs,
                                parse_float=_no_float,
                                parse_constant=_no_float)
        except _HeaderError as e:
            raise BnbMlirError(f"{where}: the header {e}") from None
        except (json.JSONDecodeError, RecursionError):
            raise BnbMlirError(f"{where}: not a safetensors file "
                               "(the header is not JSON)") from None
        if not isinstance(header, dict):
            raise BnbMlirError(f"{where}: the safetensors header is not a "
                               "JSON object")
        return header

    @staticmethod
    def _metadata(header: dict[str, Any], where: str) -> dict[str, str]:
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict):
            raise BnbMlirError(f"{where}: '__metadata__' is not a JSON object")
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise BnbMlirError(f"{where}: '__metadata__' entry "
                                   f"'{escape_name(key)}' is not a string")
        return metadata

    @staticmethod
    def _check_entry(name: str, entry: Any, where: str, data_start: int,
                     data_size: int) -> TensorInfo:
        what = f"{where}: tensor '{escape_name(name)}'"
        if not isinstance(entry, dict):
            raise BnbMlirError(f"{what} is not a JSON object")
        for key in entry:
            if key not in ("dtype", "shape", "data_offsets"):
                raise BnbMlirError(f"{what} has an unknown field "
                                   f"'{escape_name(key)}'")
        for key in ("dtype", "shape", "data_offsets"):
            if key not in entry:
                raise BnbMlirError(f"{what} has no '{key}'")
        dtype = entry["dtype"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise BnbMlirError(f"{what} has an unsupported dtype "
                               f"'{escape_name(str(dtype))}'")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(
                _is_int(d) and 0 <= d <= _INT64_MAX for d in shape):
            raise BnbMlirError(f"{what}: 'shape' holds something other than "
                               "a non-negative integer")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2 or
                not all(_is_int(o) and 0 <= o <= _UINT64_MAX
                        for o in offsets)):
            raise BnbMlirError(f"{what}: 'data_offsets' is not a pair of "
                               "non-negative integers")
        numel = math.prod(shape)
        nbytes = numel * SAFETENSORS_DTYPES[dtype][1].itemsize
        if numel > _INT64_MAX or nbytes > _UINT64_MAX:
            raise BnbMlirError(f"{what}: the size of shape {shape} overflows "
                               "64 bits")
        begin, end = offsets
        if end < begin:
            raise BnbMlirError(f"{what}: data_offsets [{begin}, {end}] end "
                               "before they begin")
        if end - begin != nbytes:
            raise BnbMlirError(f"{what}: data_offsets [{begin}, {end}] hold "
                               f"{end - begin} bytes but {numel} of {dtype} "
                               f"need {nbytes}")
        if end > data_size:
            raise BnbMlirError(f"{what}: data_offsets [{begin}, {end}] are "
                               f"out of bounds of the {data_size}-byte data "
                               "section (truncated?)")
        return TensorInfo(name, dtype, tuple(shape), data_start + begin,
                          data_start + end)

    def _check_tiling(self, where: str, data_start: int,
                      data_size: int) -> None:
        """The tensors cover the data section exactly, in some order."""
        expected = 0
        previous = None
        for info in sorted(self.tensors.values(),
                           key=lambda t: (t.begin, t.end, t.name)):
            begin = info.begin - data_start
            if begin < expected:
                raise BnbMlirError(f"{where}: tensors "
                                   f"'{escape_name(previous or '')}' and "
                                   f"'{escape_name(info.name)}' overlap in "
                                   "the data section")
            if begin > expected:
                raise BnbMlirError(f"{where}: bytes [{expected}, {begin}) of "
                                   "the data section before tensor "
                                   f"'{escape_name(info.name)}' belong to no "
                                   "tensor")
            expected = info.end - data_start
            if info.nbytes:
                previous = info.name
        if expected != data_size:
            raise BnbMlirError(f"{where}: bytes [{expected}, {data_size}) at "
                               "the end of the data section belong to no "
                               "tensor")

    def raw(self, name: str) -> np.ndarray:
        """The stored data of `name` (a read-only view; bfloat16 as uint16)."""
        info = self.tensors[name]
        storage = SAFETENSORS_DTYPES[info.dtype][1]
        if info.nbytes == 0:
            return np.zeros(info.shape, dtype=storage)
        return np.frombuffer(self._mmap, dtype=storage,
                             count=info.nbytes // storage.itemsize,
                             offset=info.begin).reshape(info.shape)

    def close(self) -> None:
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class TensorToWrite:
    """A tensor to stream out: its data is produced only when it is written."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    produce: Callable[[], np.ndarray]


def write_safetensors(path: str | os.PathLike, tensors: Iterable[TensorToWrite],
                      metadata: dict[str, str] | None = None) -> None:
    """Writes `tensors` (in the given order) to `path` atomically.

    The header is computed from names, dtypes and shapes before any data is
    produced; each tensor's data is then produced, checked and written in
    turn, so peak memory is one tensor.
    """
    tensors = list(tensors)
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for t in tensors:
        if t.name in header or t.name == "__metadata__":
            raise BnbMlirError(f"{path}: duplicate tensor name '{t.name}'")
        numel = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
        nbytes = numel * SAFETENSORS_DTYPES[t.dtype][1].itemsize
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape),
                          "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data section starts 8-byte aligned.
    header_bytes += b" " * (-len(header_bytes) % 8)

    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for t in tensors:
                data = np.ascontiguousarray(t.produce())
                storage = SAFETENSORS_DTYPES[t.dtype][1]
                if data.dtype != storage or tuple(data.shape) != tuple(t.shape):
                    raise BnbMlirError(
                        f"{path}: tensor '{t.name}' produced "
                        f"{data.dtype}{list(data.shape)}, expected "
                        f"{t.dtype}{list(t.shape)}")
                data.tofile(f)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BnbMlirError(f"{path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
