"""The streaming safetensors reader/writer and the dtype conversions, checked
against the `safetensors` package and exact values."""
import json
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from bnb_mlir import BnbMlirError
from bnb_mlir.dtypes import (bf16_bits_to_f32, convert, f32_to_bf16_bits)
from bnb_mlir.safetensors_io import (SafetensorsFile, TensorToWrite,
                                     write_safetensors)


def test_reads_what_safetensors_writes(tmp_path):
    rng = np.random.RandomState(0)
    tensors = {"a": rng.standard_normal((3, 5)).astype(np.float16),
               "b.weight": rng.standard_normal(7).astype(np.float32),
               "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
               "scalar": np.array(2.5, dtype=np.float32)}
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    with SafetensorsFile(path) as f:
        assert f.metadata == {"format": "pt"}
        assert set(f.tensors) == set(tensors)
        for name, value in tensors.items():
            assert f.tensors[name].shape == value.shape
            np.testing.assert_array_equal(f.raw(name), value)


def test_safetensors_reads_what_we_write(tmp_path):
    rng = np.random.RandomState(1)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    bf = f32_to_bf16_bits(a)
    path = tmp_path / "w.safetensors"
    write_safetensors(path, [
        TensorToWrite("x", "F32", a.shape, lambda: a),
        TensorToWrite("y", "F16", (4, 3), lambda: a.astype(np.float16)),
        TensorToWrite("z", "BF16", (4, 3), lambda: bf),
        TensorToWrite("e", "I8", (0,), lambda: np.zeros(0, np.int8))],
        {"format": "pt"})
    with safe_open(str(path), framework="np") as f:
        np.testing.assert_array_equal(f.get_tensor("x"), a)
        np.testing.assert_array_equal(f.get_tensor("y"), a.astype(np.float16))
        assert f.metadata() == {"format": "pt"}
    with SafetensorsFile(path) as f:
        np.testing.assert_array_equal(f.raw("z"), bf)
        assert f.tensors["e"].shape == (0,)
    # The data section starts 8-byte aligned.
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert n % 8 == 0


def test_writer_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "w.safetensors"

    def boom():
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        write_safetensors(path, [TensorToWrite("x", "F32", (2,), boom)])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BnbMlirError, match="produced float64"):
        write_safetensors(path, [TensorToWrite("x", "F32", (2,),
                                               lambda: np.zeros(2))])
    assert list(tmp_path.iterdir()) == []


def _file(tmp_path, header: bytes, data: bytes = b"") -> str:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@pytest.mark.parametrize("header, data, message", [
    (b"not json", b"", "the header is not JSON"),
    (b"[]", b"", "not a JSON object"),
    (json.dumps({"t": {"dtype": "F32", "shape": [2],
                       "data_offsets": [0, 4]}}).encode(), b"\0" * 4,
     r"hold 4 bytes but 2 of F32 need 8"),
    (json.dumps({"t": {"dtype": "F32", "shape": [2],
                       "data_offsets": [0, 8]}}).encode(), b"\0" * 4,
     "out of bounds of the 4-byte data section"),
    (json.dumps({"t": {"dtype": "Q7", "shape": [2],
                       "data_offsets": [0, 8]}}).encode(), b"\0" * 8,
     "unsupported dtype 'Q7'"),
    (json.dumps({"t": {"dtype": "F32", "shape": [-2],
                       "data_offsets": [0, 8]}}).encode(), b"\0" * 8,
     "'shape' holds something other than a non-negative integer"),
])
def test_malformed_files(tmp_path, header, data, message):
    with pytest.raises(BnbMlirError, match=message) as info:
        SafetensorsFile(_file(tmp_path, header, data))
    assert "bad.safetensors" in str(info.value)


def test_truncated_and_short_files(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\1\2")
    with pytest.raises(BnbMlirError, match="shorter than 8 bytes"):
        SafetensorsFile(path)
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(BnbMlirError, match="header length 1000 exceeds"):
        SafetensorsFile(path)


def test_bf16_rounding_is_nearest_even():
    ulp = 2.0 ** -7  # bfloat16 spacing in [1, 2)
    max_bf16 = (2 - ulp) * 2.0 ** 127
    x = np.array([1.0, 1 + ulp / 2, 1 + 1.5 * ulp, 1 + 0.51 * ulp, -3.0,
                  np.inf, max_bf16 + 2.0 ** 119 * 0.99, max_bf16 + 2.0 ** 119,
                  2.0 ** -130], dtype=np.float32)
    expected = [1.0, 1.0, 1 + 2 * ulp, 1 + ulp, -3.0, np.inf, max_bf16,
                np.inf, 2.0 ** -130]
    got = bf16_bits_to_f32(f32_to_bf16_bits(x))
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float32))
    nan = bf16_bits_to_f32(f32_to_bf16_bits(np.array([np.nan], np.float32)))
    assert np.isnan(nan[0])


def test_conversions_round_once():
    f16 = np.array([1.0, 65504.0, 6.1035156e-05, -0.333251953125],
                   dtype=np.float16)
    f32 = convert(f16, "F16", "F32")
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, f16.astype(np.float32))
    back = convert(f32, "F32", "F16")
    np.testing.assert_array_equal(back, f16)
    bf = convert(f16, "F16", "BF16")
    np.testing.assert_array_equal(bf, f32_to_bf16_bits(f16.astype(np.float32)))
    np.testing.assert_array_equal(convert(bf, "BF16", "F32"),
                                  bf16_bits_to_f32(bf))
