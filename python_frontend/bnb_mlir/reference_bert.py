"""A plain numpy BertModel forward pass (last hidden state).

Independent of the graph emitter: it reads config.json and the tensors
itself and follows transformers' modeling_bert.py with eager attention.
Arithmetic is float32; values are rounded to the model dtype T wherever
PyTorch produces a T tensor (each embedding sum, each linear after its
float32-accumulated product plus bias, the residual sums, the attention
scores, their scaling, the softmax and the context), LayerNorm and GELU run
in float32 and round once. With T = float32 all roundings vanish.

The padding mask enters as transformers builds it: `(1 - mask) *
finfo(T).min` added to the scaled scores.
"""
from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from .checkpoint import Checkpoint, storage_code
from .dtypes import canonical_float_name, from_f32, to_f32
from .errors import BnbMlirError

#: linear(module key, x, weight, bias) -> y, all float32 holding T values.
LinearFn = Callable[[str, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

_F32 = np.float32
_FINFO_MIN = {"F32": float(np.finfo(np.float32).min), "F16": -65504.0,
              "BF16": -3.3895313892515355e38}


def _rounder(code: str) -> Callable[[np.ndarray], np.ndarray]:
    def rnd(x):
        x = np.asarray(x, dtype=_F32)
        return x if code == "F32" else to_f32(from_f32(x, code), code)
    return rnd


def _erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise in float64 (math.erf), returned as float32."""
    return np.vectorize(math.erf, otypes=[np.float64])(
        x.astype(np.float64)).astype(_F32)


def reference_encoder(hf_dir: str | os.PathLike, input_ids: np.ndarray,
                      attention_mask: np.ndarray | None = None,
                      token_type_ids: np.ndarray | None = None,
                      dtype: str | None = None,
                      linear: LinearFn | None = None) -> np.ndarray:
    """last_hidden_state [B, S, hidden] (float32 holding T values) of a
    `bert` checkpoint for input_ids [B, S]; the mask defaults to all ones,
    the token types to zeros (as BertModel's defaults). `linear` replaces
    the float linear (e.g. by a quantized one); it is called with the
    module key without the `bert.` prefix."""
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise BnbMlirError("input_ids must be a 2-D integer array")
    mask = np.ones_like(ids) if attention_mask is None else \
        np.asarray(attention_mask)
    types = np.zeros_like(ids) if token_type_ids is None else \
        np.asarray(token_type_ids)
    for name, a in (("attention_mask", mask), ("token_type_ids", types)):
        if a.shape != ids.shape:
            raise BnbMlirError(f"{name} has shape {list(a.shape)}, "
                               f"input_ids {list(ids.shape)}")
    with Checkpoint(hf_dir) as ckpt:
        c = ckpt.config
        if c.get("model_type") != "bert":
            raise BnbMlirError(f"{ckpt.dir / 'config.json'}: model_type "
                               f"'{c.get('model_type')}' is not 'bert'")
        name = canonical_float_name(dtype, "dtype") if dtype \
            else ckpt.torch_dtype()
        code = storage_code(name)
        return _bert(ckpt, ids, mask, types, code, linear)


def _bert(ckpt, ids, mask, types, code, linear):
    c = ckpt.config
    rnd = _rounder(code)
    p = "bert." if "bert.embeddings.word_embeddings.weight" in ckpt else ""
    hidden = c.get("hidden_size", 768)
    heads = c.get("num_attention_heads", 12)
    layers = c.get("num_hidden_layers", 12)
    eps = _F32(c.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    bsz, seq = ids.shape

    def W(key):
        return rnd(ckpt.f32(p + key))

    def layer_norm(x, key):
        # float32 statistics (biased variance), one rounding.
        mean = x.mean(-1, keepdims=True, dtype=_F32)
        var = ((x - mean) ** 2).mean(-1, keepdims=True, dtype=_F32)
        y = (x - mean) / np.sqrt(var + eps)
        return rnd(y * W(key + ".weight") + W(key + ".bias"))

    def dense(x, key):
        w, b = W(key + ".weight"), W(key + ".bias")
        if linear is not None:
            return rnd(linear(key, x, w, b))
        return rnd(x.astype(_F32) @ w.T + b)

    words = W("embeddings.word_embeddings.weight")
    kinds = W("embeddings.token_type_embeddings.weight")
    pos = W("embeddings.position_embeddings.weight")
    emb = rnd(words[np.clip(ids, 0, len(words) - 1)] +
              kinds[np.clip(types, 0, len(kinds) - 1)])
    emb = rnd(emb + pos[np.arange(seq)][None])
    h = layer_norm(emb, "embeddings.LayerNorm")

    # The extended mask [B, 1, 1, S]: 0 where attended, finfo(T).min where
    # padded.
    ext = rnd((1.0 - (mask != 0).astype(_F32)) *
              _F32(_FINFO_MIN[code]))[:, None, None, :]
    scale = _F32(head_dim ** -0.5)
    for i in range(layers):
        b = f"encoder.layer.{i}."

        def split(x):  # [B, S, H*D] -> [B, H, S, D]
            return x.reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)

        q = split(dense(h, b + "attention.self.query"))
        k = split(dense(h, b + "attention.self.key"))
        v = split(dense(h, b + "attention.self.value"))
        scores = rnd(rnd(np.einsum("bhid,bhjd->bhij", q, k)) * scale)
        scores = rnd(scores + ext).astype(_F32)
        e = np.exp(scores - scores.max(-1, keepdims=True))
        probs = rnd(e / e.sum(-1, keepdims=True))
        ctx = rnd(np.einsum("bhij,bhjd->bhid", probs, v))
        ctx = ctx.transpose(0, 2, 1, 3).reshape(bsz, seq, hidden)
        h = layer_norm(rnd(dense(ctx, b + "attention.output.dense") + h),
                       b + "attention.output.LayerNorm")
        f = dense(h, b + "intermediate.dense")
        f = rnd(f * _F32(0.5) * (_F32(1.0) + _erf(f * _F32(1 / math.sqrt(2)))))
        h = layer_norm(rnd(dense(f, b + "output.dense") + h),
                       b + "output.LayerNorm")
    return h
