"""A Hugging Face checkpoint directory: config.json plus safetensors weights.

Weights are either one `model.safetensors` or shards listed by
`model.safetensors.index.json` (its "weight_map" maps each tensor to a shard
file). Tensors are looked up by their checkpoint key across all files; nothing
is read until asked for, and then only through a memory map.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .bounded_json import check_bounds
from .dtypes import SAFETENSORS_DTYPES, canonical_float_name, convert, to_f32
from .errors import BnbMlirError
from .safetensors_io import SafetensorsFile, TensorInfo

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


class Checkpoint:
    """config.json and the tensors of a checkpoint directory."""

    def __init__(self, hf_dir: str | os.PathLike):
        self.dir = Path(hf_dir)
        if not self.dir.is_dir():
            raise BnbMlirError(f"{self.dir}: not a checkpoint directory")
        self.config = _read_json(self.dir / "config.json")
        if not isinstance(self.config, dict):
            raise BnbMlirError(f"{self.dir / 'config.json'}: not a JSON object")
        self.index_path: Path | None = None
        self.files: list[SafetensorsFile] = []
        self._where: dict[str, SafetensorsFile] = {}
        single, index = self.dir / SINGLE_FILE, self.dir / INDEX_FILE
        if single.is_file():
            self._add(SafetensorsFile(single))
        elif index.is_file():
            self._open_shards(index)
        else:
            hint = (" (pytorch_model.bin checkpoints are not supported; "
                    "convert them to safetensors)"
                    if (self.dir / "pytorch_model.bin").exists() else "")
            raise BnbMlirError(f"{self.dir}: no {SINGLE_FILE} or {INDEX_FILE}"
                               f"{hint}")

    def _open_shards(self, index: Path) -> None:
        data = _read_json(index)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise BnbMlirError(f"{index}: no \"weight_map\" object")
        shards: dict[str, SafetensorsFile] = {}
        for name, shard in weight_map.items():
            if not isinstance(shard, str) or "/" in shard or "\\" in shard:
                raise BnbMlirError(f"{index}: bad shard name for tensor "
                                   f"'{name}'")
            if shard not in shards:
                path = self.dir / shard
                if not path.is_file():
                    raise BnbMlirError(f"{index}: shard '{shard}' (holding "
                                       f"'{name}') does not exist")
                shards[shard] = SafetensorsFile(path)
        for f in shards.values():
            self._add(f)
        for name, shard in weight_map.items():
            if self._where.get(name) is not shards[shard]:
                raise BnbMlirError(f"{index}: tensor '{name}' is not in "
                                   f"shard '{shard}'")
        self.index_path = index

    def _add(self, f: SafetensorsFile) -> None:
        for name in f.tensors:
            if name in self._where:
                raise BnbMlirError(f"{f.path}: tensor '{name}' also appears in "
                                   f"{self._where[name].path.name}")
            self._where[name] = f
        self.files.append(f)

    # -- queries ------------------------------------------------------------

    @property
    def sharded(self) -> bool:
        return len(self.files) != 1 or self.files[0].path.name != SINGLE_FILE

    @property
    def names(self) -> list[str]:
        """Every tensor key, shard by shard, each in header order."""
        return [n for f in self.files for n in f.tensors]

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def info(self, name: str) -> TensorInfo:
        """The header entry of `name`; a missing tensor is an error naming
        the weights file(s)."""
        f = self._where.get(name)
        if f is None:
            where = (self.files[0].path if not self.sharded
                     else self.dir / INDEX_FILE)
            raise BnbMlirError(f"{where}: missing tensor '{name}'")
        return f.tensors[name]

    def file_of(self, name: str) -> SafetensorsFile:
        self.info(name)
        return self._where[name]

    def raw(self, name: str) -> np.ndarray:
        """Stored data (bfloat16 as uint16 bits), memory-mapped."""
        return self.file_of(name).raw(name)

    def as_dtype(self, name: str, code: str) -> np.ndarray:
        """The tensor converted to safetensors dtype `code` (one rounding)."""
        return convert(self.raw(name), self.info(name).dtype, code)

    def f32(self, name: str) -> np.ndarray:
        """Float32 values (exact for f16/bf16/f32 storage)."""
        return to_f32(self.raw(name), self.info(name).dtype)

    def torch_dtype(self) -> str:
        """The model dtype: config.json's "torch_dtype" (or "dtype", which
        newer transformers writes), float32 when absent."""
        value = self.config.get("torch_dtype", self.config.get("dtype"))
        if value is None:
            return "float32"
        return canonical_float_name(
            value, f"{self.dir / 'config.json'}: torch_dtype")

    def keeps_stored_dtype(self, name: str) -> bool:
        """True for a tensor that a weights rewrite copies as stored instead
        of converting it to the model dtype (quantization state of a
        pre-quantized checkpoint, see prequantized.py)."""
        return False

    def iter_infos(self) -> Iterator[TensorInfo]:
        for f in self.files:
            yield from f.tensors.values()

    def close(self) -> None:
        for f in self.files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(check_bounds(f.read(), path))
    except FileNotFoundError:
        raise BnbMlirError(f"{path}: no such file") from None
    except OSError as e:
        raise BnbMlirError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BnbMlirError(f"{path}: invalid JSON ({e})") from None


def storage_code(torch_name: str) -> str:
    """The safetensors dtype code of a torch float dtype name."""
    for code, (name, _, _) in SAFETENSORS_DTYPES.items():
        if name == torch_name:
            return code
    raise KeyError(torch_name)
