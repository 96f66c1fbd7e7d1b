"""Checkpoints already quantized by bitsandbytes (saved by transformers).

A checkpoint directory whose config.json carries a `quantization_config` with
`quant_method: bitsandbytes` holds, for every quantized linear layer `p`, the
state dict bitsandbytes serializes (bnb-numerics §5.2; what `bnb-quantize`
writes):

* 4-bit: `p.weight` (packed codes, uint8 `[(N*K+1)//2, 1]`),
  `p.weight.absmax`, `p.weight.quant_map`, with double quantization
  `p.weight.nested_absmax` and `p.weight.nested_quant_map`, and
  `p.weight.quant_state.bitsandbytes__nf4|fp4` (a JSON blob stored as uint8);
* 8-bit: `p.weight` (int8 `[N, K]`), `p.SCB` (float32 `[N]`) and optionally
  `p.weight_format` (uint8 0, "row").

`PrequantizedCheckpoint` checks every layer's tensors against its blob and
against the quantization_config, reading only headers and the small state
tensors (one at a time), and presents each quantized weight to the
architectures with its logical float dtype and `[N, K]` shape.
`PrequantizedWeights` then emits those layers as `bnb.linear_4bit` /
`bnb.linear_int8` ops on their stored state, the form bnb-quantize-weights
produces, so that bnb-compile uses the stored bytes as they are.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bounded_json import check_bounds
from .checkpoint import Checkpoint, storage_code
from .config import BitsAndBytesConfig, mlir_string
from .dtypes import FLOAT_TYPES, itemsize, mlir_type
from .errors import BnbMlirError
from .graph import (ExternWeights, GraphBuilder, InlineWeights, WeightSource,
                    _module_of)
from .ir import Module, TensorType, Value, float_literal
from .quant_tables import DYNAMIC_MAP, FP4_QUANT_MAP, NF4_QUANT_MAP
from .safetensors_io import TensorInfo

_BLOB = re.compile(r"^(.*)\.weight\.quant_state\.bitsandbytes__(\w+)$")
_STATE_SUFFIXES = (".weight.absmax", ".weight.quant_map",
                   ".weight.nested_absmax", ".weight.nested_quant_map")
_NESTED_BLOCKSIZE = 256
_QUANT_MAPS = {"nf4": NF4_QUANT_MAP, "fp4": FP4_QUANT_MAP}
#: bnb_4bit_quant_storage -> safetensors dtype code.
_STORAGE_CODES = {"uint8": "U8", "int8": "I8", "float16": "F16",
                  "bfloat16": "BF16", "float32": "F32", "float64": "F64"}


@dataclass
class QuantizedLayer:
    """One pre-quantized linear layer: its state-dict prefix (the module
    name), its kind, and the logical weight it stands for."""
    prefix: str
    bits: int
    #: [N, K] of the weight before quantization.
    shape: tuple[int, int]
    #: 4-bit only: the quant_state fields.
    quant_type: str = ""
    blocksize: int = 0
    dtype: str = ""
    nested_offset: float | None = None
    #: 4-bit only: the dtype the packed bytes are stored as.
    storage: str = "uint8"

    @property
    def weight_key(self) -> str:
        return self.prefix + ".weight"

    def state_types(self) -> list[tuple[str, TensorType]]:
        """The tensors the layer op takes, with their IR types: the packed
        or int8 weight, then absmax or SCB, then the nested absmax."""
        n, k = self.shape
        if self.bits == 8:
            return [(self.weight_key, TensorType((n, k), "i8")),
                    (self.prefix + ".SCB", TensorType((n,), "f32"))]
        blocks = _num_blocks(n * k, self.blocksize)
        nested = self.nested_offset is not None
        out = [(self.weight_key, TensorType(((n * k + 1) // 2, 1), "ui8")),
               (self.weight_key + ".absmax",
                TensorType((blocks,), "ui8" if nested else "f32"))]
        if nested:
            out.append((self.weight_key + ".nested_absmax",
                        TensorType((_num_blocks(blocks, _NESTED_BLOCKSIZE),),
                                   "f32")))
        return out


def _num_blocks(n: int, blocksize: int) -> int:
    return -(-n // blocksize)


def stored_quant_config(ckpt_config: dict, where: str | os.PathLike
                        ) -> BitsAndBytesConfig | None:
    """The bitsandbytes `quantization_config` of a config.json dict, or None
    when it has none; any other quantization method is an error."""
    qc = ckpt_config.get("quantization_config")
    if qc is None:
        return None
    if not isinstance(qc, dict):
        raise BnbMlirError(f"{where}: quantization_config is not a JSON "
                           "object")
    method = qc.get("quant_method")
    if method != "bitsandbytes":
        raise BnbMlirError(f"{where}: quantization_config has quant_method "
                           f"{method!r}; only bitsandbytes checkpoints are "
                           "supported")
    try:
        return BitsAndBytesConfig.from_dict(qc)
    except (TypeError, ValueError, BnbMlirError) as e:
        raise BnbMlirError(f"{where}: quantization_config: {e}") from None


def read_stored_quant_config(hf_dir: str | os.PathLike
                             ) -> BitsAndBytesConfig | None:
    """stored_quant_config() of `hf_dir`/config.json."""
    ckpt = Checkpoint(hf_dir)
    try:
        return stored_quant_config(ckpt.config, ckpt.dir / "config.json")
    finally:
        ckpt.close()


def open_checkpoint(hf_dir: str | os.PathLike) -> Checkpoint:
    """A `PrequantizedCheckpoint` when config.json has a
    quantization_config, else a plain `Checkpoint`."""
    ckpt = Checkpoint(hf_dir)
    if "quantization_config" not in ckpt.config:
        return ckpt
    ckpt.close()
    return PrequantizedCheckpoint(hf_dir)


def resolve_quant_config(ckpt: Checkpoint,
                         given: BitsAndBytesConfig | None
                         ) -> BitsAndBytesConfig | None:
    """The config the graph carries: the pre-quantized checkpoint's own
    (a different `given` one is an error naming the first differing field),
    else `given`."""
    if not isinstance(ckpt, PrequantizedCheckpoint):
        return given
    stored = ckpt.quant_config
    if given is not None and given != stored:
        mine, theirs = given.to_dict(), stored.to_dict()
        # The bit width first; to_dict()'s internal _load_in_* mirror it.
        keys = ["load_in_8bit", "load_in_4bit"] + sorted(set(mine) |
                                                         set(theirs))
        field = next(k for k in keys
                     if not k.startswith("_") and mine.get(k) != theirs.get(k))
        raise BnbMlirError(
            f"{ckpt.dir / 'config.json'}: the checkpoint is pre-quantized "
            f"with {field} = {json.dumps(theirs.get(field))}; the given "
            f"config has {json.dumps(mine.get(field))}")
    return stored


class PrequantizedCheckpoint(Checkpoint):
    """A checkpoint holding bitsandbytes' serialized quantized layers."""

    def __init__(self, hf_dir: str | os.PathLike):
        super().__init__(hf_dir)
        try:
            self.where = self.dir / "config.json"
            self.quant_config = stored_quant_config(self.config, self.where)
            qc = self.quant_config
            if self.config.get("model_type") == "gpt2" and \
                    qc.load_in_8bit and qc.llm_int8_has_fp16_weight:
                # transformers transposes a Conv1D weight into the
                # Linear8bitLt it replaces it with; kept in float, it is
                # saved [out, in] without SCB, which from_pretrained refuses
                # ("Missing quantization component `SCB`").
                raise BnbMlirError(
                    f"{self.where}: pre-quantized gpt2 checkpoints with "
                    "llm_int8_has_fp16_weight are not supported (their "
                    "Conv1D weights are saved transposed, without SCB, and "
                    "transformers cannot load them either)")
            self.layers: dict[str, QuantizedLayer] = {}
            self._state_keys: set[str] = set()
            self._scan()
        except BaseException:
            self.close()
            raise

    # -- what the architectures see -----------------------------------------

    def info(self, name: str) -> TensorInfo:
        """As Checkpoint.info(), but a quantized weight appears as the float
        weight it was quantized from (the model dtype, [N, K])."""
        layer = self.layers.get(name)
        real = super().info(name)
        if layer is None:
            return real
        code = storage_code(layer.dtype) if layer.dtype else \
            storage_code(self.torch_dtype())
        return TensorInfo(name, code, layer.shape, real.begin, real.end)

    def keeps_stored_dtype(self, name: str) -> bool:
        """True for quantization state, which a weights rewrite copies as
        stored instead of converting it to the model dtype."""
        return name in self._state_keys

    def _file(self, name: str) -> Path:
        return self.file_of(name).path

    def _scan(self) -> None:
        names = set(self.names)
        blobs: dict[str, str] = {}
        for name in self.names:
            m = _BLOB.match(name)
            if not m:
                continue
            prefix, qt = m.groups()
            if prefix in blobs:
                raise BnbMlirError(f"{self._file(name)}: layer '{prefix}' has "
                                   "two quant_state tensors")
            blobs[prefix] = name
        scbs = [n[: -len(".SCB")] for n in self.names if n.endswith(".SCB")]
        for name in self.names:
            if name.endswith(_STATE_SUFFIXES):
                prefix = name[: name.rindex(".weight.")]
                if prefix not in blobs:
                    raise BnbMlirError(
                        f"{self._file(name)}: tensor '{name}' has no "
                        f"'{prefix}.weight.quant_state.bitsandbytes__nf4|fp4'")
            if name.endswith(".weight") and name[:-7] not in blobs and \
                    name[:-7] not in scbs:
                dtype = super().info(name).dtype
                if dtype == "I8":
                    raise BnbMlirError(f"{self._file(name)}: int8 weight "
                                       f"'{name}' has no '{name[:-7]}.SCB'")
                if dtype == "U8":
                    raise BnbMlirError(
                        f"{self._file(name)}: uint8 weight '{name}' has no "
                        f"'{name}.quant_state.bitsandbytes__nf4|fp4'")
        if blobs and scbs:
            raise BnbMlirError(
                f"{self.dir}: mixed 4-bit ('{next(iter(blobs))}') and 8-bit "
                f"('{scbs[0]}') layers; a checkpoint is quantized one way")
        qc = self.quant_config
        if blobs and not qc.load_in_4bit:
            raise BnbMlirError(
                f"{self.where}: quantization_config does not set load_in_4bit "
                f"but '{next(iter(blobs))}' is a 4-bit layer")
        if scbs and not qc.load_in_8bit:
            raise BnbMlirError(
                f"{self.where}: quantization_config does not set load_in_8bit "
                f"but '{scbs[0]}' is an 8-bit layer")
        if scbs and qc.llm_int8_has_fp16_weight:
            raise BnbMlirError(
                f"{self.where}: quantization_config sets "
                f"llm_int8_has_fp16_weight but '{scbs[0]}' is stored in int8")
        if not blobs and not scbs and not (qc.load_in_8bit and
                                           qc.llm_int8_has_fp16_weight):
            raise BnbMlirError(
                f"{self.dir}: config.json has a bitsandbytes "
                "quantization_config but no tensor holds a quantized layer "
                "(no '*.weight.quant_state.bitsandbytes__*' or '*.SCB')")
        for prefix, blob in blobs.items():
            self.layers[prefix + ".weight"] = self._check_4bit(prefix, blob,
                                                               names)
            self._state_keys.update(
                {prefix + ".weight", blob} |
                {prefix + s for s in _STATE_SUFFIXES if prefix + s in names})
        for prefix in scbs:
            self.layers[prefix + ".weight"] = self._check_8bit(prefix, names)
            self._state_keys.update(
                k for k in (prefix + ".weight", prefix + ".SCB",
                            prefix + ".weight_format") if k in names)

    def _tensor(self, key: str, names: set[str], dtype: str,
                shape: tuple[int, ...], layer: str) -> None:
        """Checks that `key` exists with `dtype` and `shape`."""
        if key not in names:
            where = self.dir if self.sharded else self.files[0].path
            raise BnbMlirError(f"{where}: pre-quantized layer '{layer}' has "
                               f"no tensor '{key}'")
        info = super().info(key)
        if info.dtype != dtype or tuple(info.shape) != tuple(shape):
            raise BnbMlirError(
                f"{self._file(key)}: tensor '{key}' is {info.dtype} "
                f"{list(info.shape)}, but its quant_state implies {dtype} "
                f"{list(shape)}")

    def _check_4bit(self, prefix: str, blob_key: str,
                    names: set[str]) -> QuantizedLayer:
        where = f"{self._file(blob_key)}: '{blob_key}'"
        key_type = blob_key.rsplit("__", 1)[1]
        info = super().info(blob_key)
        if info.dtype != "U8" or len(info.shape) != 1:
            raise BnbMlirError(f"{where} must be a 1-D uint8 tensor, got "
                               f"{info.dtype} {list(info.shape)}")
        try:
            state = json.loads(check_bounds(
                bytes(self._small(blob_key)).decode("utf-8"), where))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BnbMlirError(f"{where} is not a JSON object") from None
        if not isinstance(state, dict):
            raise BnbMlirError(f"{where} is not a JSON object")
        qt = state.get("quant_type")
        if qt not in ("nf4", "fp4"):
            raise BnbMlirError(f"{where}: quant_type {qt!r} is not nf4 or fp4")
        if qt != key_type:
            raise BnbMlirError(f"{where}: quant_type '{qt}' disagrees with "
                               f"the key's '{key_type}'")
        if qt != self.quant_config.bnb_4bit_quant_type:
            raise BnbMlirError(
                f"{where}: quant_type '{qt}' disagrees with config.json's "
                f"bnb_4bit_quant_type "
                f"'{self.quant_config.bnb_4bit_quant_type}'")
        bs = state.get("blocksize")
        if not isinstance(bs, int) or isinstance(bs, bool) or \
                bs not in (32, 64, 128, 256, 512, 1024, 2048, 4096):
            raise BnbMlirError(f"{where}: blocksize {bs!r} is not one of 32, "
                               "64, ..., 4096")
        dtype = state.get("dtype")
        if dtype not in FLOAT_TYPES:
            raise BnbMlirError(f"{where}: dtype {dtype!r} is not float16, "
                               "bfloat16 or float32")
        shape = state.get("shape")
        if not isinstance(shape, list) or len(shape) != 2 or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1
                for d in shape):
            raise BnbMlirError(f"{where}: shape {shape!r} is not [out, in] "
                               "with positive sizes")
        n = shape[0] * shape[1]
        blocks = _num_blocks(n, bs)
        nested_keys = ("nested_blocksize", "nested_dtype", "nested_offset")
        has_nested = prefix + ".weight.nested_absmax" in names
        present = [k for k in nested_keys if k in state]
        if has_nested and len(present) != 3:
            missing = next(k for k in nested_keys if k not in state)
            raise BnbMlirError(f"{where}: '{prefix}.weight.nested_absmax' "
                               f"exists but the quant_state has no {missing}")
        if not has_nested and present:
            raise BnbMlirError(f"{where}: {present[0]} is set but there is no "
                               f"'{prefix}.weight.nested_absmax'")
        if has_nested != self.quant_config.bnb_4bit_use_double_quant:
            raise BnbMlirError(
                f"{where}: the layer is {'' if has_nested else 'not '}double "
                "quantized but config.json's bnb_4bit_use_double_quant is "
                f"{str(self.quant_config.bnb_4bit_use_double_quant).lower()}")
        offset = None
        if has_nested:
            if state["nested_blocksize"] != _NESTED_BLOCKSIZE:
                raise BnbMlirError(f"{where}: nested_blocksize "
                                   f"{state['nested_blocksize']!r} is not 256")
            if state["nested_dtype"] != "float32":
                raise BnbMlirError(f"{where}: nested_dtype "
                                   f"{state['nested_dtype']!r} is not float32")
            off = state["nested_offset"]
            if not isinstance(off, (int, float)) or isinstance(off, bool):
                raise BnbMlirError(f"{where}: nested_offset {off!r} is not a "
                                   "number")
            offset = float(np.float32(off))
        # The packed bytes are serialized as bnb_4bit_quant_storage
        # elements (Params4bit.from_prequantized takes the dtype stored).
        storage = self.quant_config.bnb_4bit_quant_storage
        code = _STORAGE_CODES[storage]
        packed = (n + 1) // 2
        if packed % itemsize(code):
            raise BnbMlirError(f"{where}: {packed} packed bytes do not fill "
                               f"whole {storage} elements")
        layer = prefix
        self._tensor(prefix + ".weight", names, code,
                     (packed // itemsize(code), 1), layer)
        self._tensor(prefix + ".weight.absmax", names,
                     "U8" if has_nested else "F32", (blocks,), layer)
        self._tensor(prefix + ".weight.quant_map", names, "F32", (16,), layer)
        self._check_table(prefix + ".weight.quant_map", _QUANT_MAPS[qt],
                          f"the {qt} table")
        if has_nested:
            self._tensor(prefix + ".weight.nested_absmax", names, "F32",
                         (_num_blocks(blocks, _NESTED_BLOCKSIZE),), layer)
            self._tensor(prefix + ".weight.nested_quant_map", names, "F32",
                         (256,), layer)
            self._check_table(prefix + ".weight.nested_quant_map",
                              DYNAMIC_MAP, "the signed dynamic map")
        elif prefix + ".weight.nested_quant_map" in names:
            raise BnbMlirError(f"{self._file(blob_key)}: "
                               f"'{prefix}.weight.nested_quant_map' exists "
                               "but the layer is not double quantized")
        return QuantizedLayer(prefix, 4, (shape[0], shape[1]), qt, bs, dtype,
                              offset, storage)

    def _small(self, key: str) -> np.ndarray:
        """A copy of a small state tensor (no view may outlive the memory
        map, which an error closes)."""
        return np.array(super().raw(key))

    def _check_table(self, key: str, table: np.ndarray, what: str) -> None:
        # Values, not bits: FP4's index 8 is +0.0 or -0.0 depending on the
        # bitsandbytes version that wrote it.
        if not np.array_equal(self._small(key), table):
            raise BnbMlirError(f"{self._file(key)}: tensor '{key}' is not "
                               f"{what} (the compiler dequantizes with the "
                               "built-in table)")

    def _check_8bit(self, prefix: str, names: set[str]) -> QuantizedLayer:
        wkey = prefix + ".weight"
        if wkey not in names:
            scb = prefix + ".SCB"
            raise BnbMlirError(f"{self._file(scb)}: '{scb}' "
                               f"has no weight '{wkey}'")
        info = super().info(wkey)
        if info.dtype != "I8" or len(info.shape) != 2:
            raise BnbMlirError(f"{self._file(wkey)}: tensor '{wkey}' is "
                               f"{info.dtype} {list(info.shape)}, expected a "
                               "2-D int8 weight beside its SCB")
        n, k = info.shape
        self._tensor(prefix + ".SCB", names, "F32", (n,), prefix)
        fmt = prefix + ".weight_format"
        if fmt in names:
            finfo = super().info(fmt)
            value = self._small(fmt)
            if finfo.dtype != "U8" or finfo.shape != () or int(value) != 0:
                raise BnbMlirError(
                    f"{self._file(fmt)}: '{fmt}' is not the uint8 scalar 0 "
                    "(row-major); tiled int8 formats are not supported")
        return QuantizedLayer(prefix, 8, (n, k))


class PrequantizedWeights(ExternWeights):
    """External weights whose pre-quantized linears become bnb layer ops on
    their stored state."""

    def __init__(self, module: Module, ckpt: PrequantizedCheckpoint,
                 dtype_code: str):
        super().__init__(module, ckpt, dtype_code)
        torch_name = FLOAT_TYPES_BY_CODE[dtype_code]
        for layer in ckpt.layers.values():
            if layer.bits == 4 and layer.dtype != torch_name:
                raise BnbMlirError(
                    f"{ckpt.file_of(layer.weight_key).path}: "
                    f"'{layer.weight_key}' was quantized from {layer.dtype} "
                    f"but the model dtype is {torch_name}")

    def quantized_linear(self, gb: GraphBuilder, x: Value, weight: str,
                         bias: str | None, module_name: str | None,
                         hint: str) -> Value | None:
        layer = self.ckpt.layers.get(weight)
        if layer is None:
            return None
        if weight not in self.used:
            self.used.append(weight)
        f = gb.f
        state = []
        for key, type_ in layer.state_types():
            self.module.add_global(key, type_)
            state.append(f.global_load_const(key, type_, hint + "_q"))
        n = x.tensor.shape[0]
        out_t = TensorType((n, layer.shape[0]), gb.T)
        b = self.load(f, bias) if bias is not None else None
        bias_text = f" bias({b} : {b.type})" if b is not None else ""
        name = mlir_string(module_name or _module_of(weight))
        qc = self.ckpt.quant_config
        if layer.bits == 8:
            threshold = float_literal(qc.llm_int8_threshold, "f32")
            text = (f"bnb.linear_int8 {x}, {state[0]} scb({state[1]} : "
                    f"{state[1].type}){bias_text} {{module = {name}, "
                    f"threshold = {threshold} : f32}} : {x.type}, "
                    f"{state[0].type} -> {out_t}")
            return f.op(hint, text, out_t)
        compute = mlir_type(FLOAT_TYPES[qc.bnb_4bit_compute_dtype])
        attrs = [f"module = {name}",
                 f"quant_type = #bnb.quant_type<{layer.quant_type}>",
                 f"blocksize = {layer.blocksize} : i64",
                 f"compute_dtype = {compute}",
                 f"shape = array<i64: {layer.shape[0]}, {layer.shape[1]}>"]
        if layer.storage != "uint8":
            # The IR views the packed codes as ui8 whatever they are
            # serialized as; the attribute records the file's dtype.
            attrs.append("quant_storage = "
                         f"{mlir_type(_STORAGE_CODES[layer.storage])}")
        nested = ""
        if layer.nested_offset is not None:
            attrs.append("nested_offset = "
                         f"{_f32_hex(layer.nested_offset)} : f32")
            nested = f" nested({state[2]} : {state[2].type})"
        text = (f"bnb.linear_4bit {x}, {state[0]} absmax({state[1]} : "
                f"{state[1].type}){nested}{bias_text} {{{', '.join(attrs)}}}"
                f" : {x.type}, {state[0].type} -> {out_t}")
        return f.op(hint, text, out_t)


FLOAT_TYPES_BY_CODE = {code: name for name, code in FLOAT_TYPES.items()}


def weight_source(module: Module, ckpt: Checkpoint, code: str,
                  inline: bool) -> WeightSource:
    """The weight source of an import: inline constants, external globals,
    or, for a pre-quantized checkpoint, external globals with the stored
    quantized layers."""
    if isinstance(ckpt, PrequantizedCheckpoint):
        if inline:
            raise BnbMlirError(f"{ckpt.dir}: inline weights are not "
                               "supported for pre-quantized checkpoints")
        return PrequantizedWeights(module, ckpt, code)
    return (InlineWeights if inline else ExternWeights)(module, ckpt, code)


def _f32_hex(value: float) -> str:
    """The exact f32 bit pattern literal (any value, NaN included)."""
    bits = int(np.array([value], dtype=np.float32).view(np.uint32)[0])
    return f"0x{bits:08X}"
