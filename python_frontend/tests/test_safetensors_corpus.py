"""The Python safetensors reader against the shared corpus of malformed
files (test/Inputs/bad_safetensors.py), which the C++ reader refuses too
(test/Tools/bnb-quantize/bad-headers.test): both readers refuse the same
files, each with one line naming the file."""
from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest

from bnb_mlir.bounded_json import MAX_JSON_DEPTH, loads
from bnb_mlir.errors import BnbMlirError
from bnb_mlir.safetensors_io import SafetensorsFile, escape_name

_CORPUS = Path(__file__).resolve().parents[2] / "test" / "Inputs" / \
    "bad_safetensors.py"


def _corpus():
    spec = importlib.util.spec_from_file_location("bad_safetensors", _CORPUS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = _corpus().files()


@pytest.mark.parametrize("name,data,expect", CASES,
                         ids=[case[0] for case in CASES])
def test_every_corpus_file_is_refused(tmp_path: Path, name: str, data: bytes,
                                      expect: str) -> None:
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    with pytest.raises(BnbMlirError) as error:
        SafetensorsFile(path)
    message = str(error.value)
    assert "\n" not in message and "\x1b" not in message
    assert str(path) in message
    assert path.read_bytes() == data


def _file(tmp_path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path = tmp_path / "ok.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_zero_size_tensors_with_huge_dimensions(tmp_path: Path) -> None:
    path = _file(tmp_path, {
        "__metadata__": {"format": "pt"},
        "e": {"dtype": "F16", "shape": [2**40, 0], "data_offsets": [0, 0]},
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }, bytes(8))
    with SafetensorsFile(path) as f:
        assert f.tensors["e"].shape == (2**40, 0)
        assert f.raw("e").size == 0
        assert f.raw("w").tolist() == [0.0, 0.0]
        assert f.metadata == {"format": "pt"}


def test_tensors_in_any_order(tmp_path: Path) -> None:
    path = _file(tmp_path, {
        "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]},
        "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
    }, bytes([1, 2, 3, 4]))
    with SafetensorsFile(path) as f:
        assert f.raw("b").tolist() == [3, 4]


def test_escape_name() -> None:
    assert escape_name("a\nb\x1b[31m\u0085c\u00e9") == "a\\nb\\x1b[31m\\u0085c\u00e9"


def test_bounded_json_depth() -> None:
    deep = "[" * 100000 + "]" * 100000
    with pytest.raises(BnbMlirError, match="nests deeper than 64 levels"):
        loads(deep, "config.json")
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads(ok, "config.json") is not None
    assert loads('["[[[[[[", {"a": "]]]"}]', "x") == ["[[[[[[", {"a": "]]]"}]
    with pytest.raises(BnbMlirError, match="invalid JSON"):
        loads("[NaN]", "x")


def _cli(*args: str) -> "subprocess.CompletedProcess[str]":
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "bnb_mlir", *args],
                          capture_output=True, text=True)


def test_nested_json_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A config.json or quantization config of 100,000 nested brackets: one
    error line (Python's json would raise RecursionError), no output."""
    deep = '{"model_type": ' + "[" * 100000 + "]" * 100000 + "}"
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(deep)
    run = _cli("import", str(tmp_path / "ckpt"), "-o", str(tmp_path / "m.mlir"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"error: {tmp_path / 'ckpt' / 'config.json'}: JSON nests deeper than "
        "64 levels"]
    assert not (tmp_path / "m.mlir").exists()


def test_names_from_files_stay_one_line(tmp_path: Path) -> None:
    """A tensor name with a newline and a terminal escape, in a checkpoint's
    weights: the import fails with one escaped line, writes nothing and
    leaves the checkpoint as it was."""
    import subprocess
    import sys
    example = Path(__file__).resolve().parents[2] / "examples" / \
        "tiny-llama" / "make_model.py"
    subprocess.run([sys.executable, str(example), str(tmp_path / "model")],
                   check=True, capture_output=True)
    header = (b'{"w\\n\\u001b[31mred":{"dtype":"F32","shape":[2],'
              b'"data_offsets":[0,4]}}')
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    before = weights.read_bytes()
    run = _cli("import", str(tmp_path / "model"), "-o",
               str(tmp_path / "m.mlir"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"error: {weights}: tensor 'w\\n\\x1b[31mred': data_offsets [0, 4] "
        "hold 4 bytes but 2 of F32 need 8"]
    assert not (tmp_path / "m.mlir").exists()
    assert weights.read_bytes() == before
