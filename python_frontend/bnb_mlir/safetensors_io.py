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
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .dtypes import SAFETENSORS_DTYPES
from .errors import BnbMlirError
from .fileutil import temp_path_for

# A header larger than this is certainly not a safetensors header.
_MAX_HEADER = 100 * 1024 * 1024


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
    """A memory-mapped safetensors file with a validated header."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < 8:
                    raise BnbMlirError(f"{self.path}: not a safetensors file "
                                       "(shorter than 8 bytes)")
                (header_len,) = struct.unpack("<Q", f.read(8))
                if header_len > min(size - 8, _MAX_HEADER):
                    raise BnbMlirError(f"{self.path}: not a safetensors file "
                                       f"(header length {header_len} exceeds "
                                       "the file)")
                header_bytes = f.read(header_len)
                self._mmap = (mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                              if size > 0 else None)
        except OSError as e:
            raise BnbMlirError(f"{self.path}: {e.strerror or e}") from None
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BnbMlirError(f"{self.path}: not a safetensors file "
                               "(the header is not JSON)") from None
        if not isinstance(header, dict):
            raise BnbMlirError(f"{self.path}: the safetensors header is not a "
                               "JSON object")
        data_start = 8 + header_len
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self.tensors: dict[str, TensorInfo] = {}
        for name, entry in header.items():
            self.tensors[name] = self._check_entry(name, entry, data_start,
                                                   size)

    def _check_entry(self, name, entry, data_start, size) -> TensorInfo:
        where = f"{self.path}: tensor '{name}'"
        if (not isinstance(entry, dict) or
                not isinstance(entry.get("dtype"), str) or
                not isinstance(entry.get("shape"), list) or
                not isinstance(entry.get("data_offsets"), list) or
                len(entry["data_offsets"]) != 2):
            raise BnbMlirError(f"{where}: malformed header entry")
        dtype = entry["dtype"]
        if dtype not in SAFETENSORS_DTYPES:
            raise BnbMlirError(f"{where}: unsupported dtype {dtype}")
        shape = entry["shape"]
        offsets = entry["data_offsets"]
        if not all(isinstance(d, int) and d >= 0 for d in shape + offsets):
            raise BnbMlirError(f"{where}: malformed header entry")
        begin, end = offsets
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        expected = numel * SAFETENSORS_DTYPES[dtype][1].itemsize
        if end < begin or end - begin != expected:
            raise BnbMlirError(f"{where}: byte range [{begin}, {end}) does not "
                               f"hold {expected} bytes of {dtype}{shape}")
        if data_start + end > size:
            raise BnbMlirError(f"{where}: data lies beyond the end of the "
                               "file (truncated?)")
        return TensorInfo(name, dtype, tuple(shape), data_start + begin,
                          data_start + end)

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
