"""A plain numpy forward pass of the supported architectures.

Written independently of the graph emitter (it reads config.json and the
tensors itself) to check the emitted graphs and to give the unquantized
baseline the quantized runs are compared with. Arithmetic is float32; values
are rounded to the model dtype T wherever transformers' eager PyTorch code
produces a T tensor, and matmuls accumulate in float32 before rounding (as
cuBLAS does). With T = float32 all roundings vanish.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .checkpoint import Checkpoint, storage_code
from .dtypes import canonical_float_name, from_f32, to_f32
from .errors import BnbMlirError
from .rope import RopeConfig


class _Rounder:
    """Rounds float32 arrays to the model dtype and back."""

    def __init__(self, code: str):
        self.code = code

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.code == "F32":
            return x
        return to_f32(from_f32(x, self.code), self.code)


def reference_forward(hf_dir: str | os.PathLike, input_ids: np.ndarray,
                      dtype: str | None = None) -> np.ndarray:
    """Logits [B, S, vocab] (float32 holding T values) of the checkpoint for
    `input_ids` [B, S], computed in `dtype` (default: the checkpoint's)."""
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise BnbMlirError("input_ids must be a 2-D integer array")
    with Checkpoint(hf_dir) as ckpt:
        name = canonical_float_name(dtype, "dtype") if dtype \
            else ckpt.torch_dtype()
        rnd = _Rounder(storage_code(name))
        model_type = ckpt.config.get("model_type")
        if model_type in ("llama", "mistral"):
            return _llama(ckpt, ids, rnd)
        if model_type == "gpt2":
            return _gpt2(ckpt, ids, rnd)
        raise BnbMlirError(f"{ckpt.dir / 'config.json'}: model_type "
                           f"'{model_type}' is not supported")


def _weights(ckpt: Checkpoint, rnd: _Rounder):
    """Loads a tensor as float32 holding its value converted to T."""
    return lambda key: rnd(ckpt.f32(key))


def _linear(x, w, b, rnd):
    """F.linear in T: float32 accumulation, bias in the epilogue, one
    rounding."""
    y = x.astype(np.float32) @ w.T.astype(np.float32)
    if b is not None:
        y = y + b
    return rnd(y)


def _attention(q, k, v, scale_fn, rnd, window=None):
    """Eager attention. q [B, H, S, D], k/v [B, H, S, D] (already repeated).
    Scores rounded to T, scaled by `scale_fn`, causally masked with
    finfo(T).min, softmax in float32, rounded to T, times v."""
    scores = rnd(np.einsum("bhid,bhjd->bhij", q, k))
    scores = scale_fn(scores)
    seq = q.shape[2]
    i = np.arange(seq)[:, None]
    j = np.arange(seq)[None, :]
    masked = j > i
    if window is not None:
        masked |= j <= i - window
    min_t = {"F32": np.finfo(np.float32).min, "F16": -65504.0,
             "BF16": -3.3895313892515355e38}[rnd.code]
    scores = np.where(masked, np.float32(min_t), scores).astype(np.float32)
    m = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - m)
    p = rnd(e / e.sum(axis=-1, keepdims=True))
    return rnd(np.einsum("bhij,bhjd->bhid", p, v))


def _llama(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    c = ckpt.config
    W = _weights(ckpt, rnd)
    hidden = c["hidden_size"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    eps = c.get("rms_norm_eps", 1e-6)
    layers = c["num_hidden_layers"]
    attn_bias = c.get("attention_bias", False)
    mlp_bias = c.get("mlp_bias", False)
    window = c.get("sliding_window", 4096) if c["model_type"] == "mistral" \
        else None
    bsz, seq = ids.shape
    f32 = np.float32

    def rms_norm(x, w):
        xf = x.astype(f32)
        var = (xf * xf).sum(-1, keepdims=True, dtype=f32) * f32(1.0 / hidden)
        y = xf * (f32(1.0) / np.sqrt(var + f32(eps)))
        return rnd(w * rnd(y))

    def lin(x, key, bias):
        return _linear(x, W(key + ".weight"),
                       W(key + ".bias") if bias else None, rnd)

    rope = RopeConfig.from_config(c, head_dim, "config.json")
    cos, sin = (rnd(t) for t in rope.tables(seq))  # [S, D]

    def rotate(x):  # x [B, H, S, D]
        half = head_dim // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return rnd(rnd(x * cos) + rnd(rot * sin))

    emb = W("model.embed_tokens.weight")
    h = emb[np.clip(ids, 0, emb.shape[0] - 1)]  # [B, S, hidden]
    scale = head_dim ** -0.5
    for i in range(layers):
        p = f"model.layers.{i}."
        x = rms_norm(h, W(p + "input_layernorm.weight"))
        q = lin(x, p + "self_attn.q_proj", attn_bias)
        k = lin(x, p + "self_attn.k_proj", attn_bias)
        v = lin(x, p + "self_attn.v_proj", attn_bias)
        q = q.reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)
        k = k.reshape(bsz, seq, kv_heads, head_dim).transpose(0, 2, 1, 3)
        v = v.reshape(bsz, seq, kv_heads, head_dim).transpose(0, 2, 1, 3)
        q, k = rotate(q), rotate(k)
        k = np.repeat(k, heads // kv_heads, axis=1)  # repeat_kv
        v = np.repeat(v, heads // kv_heads, axis=1)
        a = _attention(q, k, v, lambda s: rnd(s * f32(scale)), rnd, window)
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, heads * head_dim)
        h = rnd(h + lin(a, p + "self_attn.o_proj", attn_bias))
        x = rms_norm(h, W(p + "post_attention_layernorm.weight"))
        g = lin(x, p + "mlp.gate_proj", mlp_bias)
        u = lin(x, p + "mlp.up_proj", mlp_bias)
        act = rnd(rnd(g / (f32(1.0) + np.exp(-g))) * u)
        h = rnd(h + lin(act, p + "mlp.down_proj", mlp_bias))
    h = rms_norm(h, W("model.norm.weight"))
    lm = "model.embed_tokens.weight" if c.get("tie_word_embeddings", False) \
        else "lm_head.weight"
    return _linear(h, W(lm), None, rnd)


def _gpt2(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    c = ckpt.config
    W = _weights(ckpt, rnd)
    p = "" if "wte.weight" in ckpt and "transformer.wte.weight" not in ckpt \
        else "transformer."
    hidden = c.get("n_embd", 768)
    heads = c.get("n_head", 12)
    eps = c.get("layer_norm_epsilon", 1e-5)
    head_dim = hidden // heads
    bsz, seq = ids.shape
    f32 = np.float32

    def layer_norm(x, key):
        xf = x.astype(f32)
        mean = xf.sum(-1, keepdims=True, dtype=f32) * f32(1.0 / hidden)
        d = xf - mean
        var = (d * d).sum(-1, keepdims=True, dtype=f32) * f32(1.0 / hidden)
        y = d * (f32(1.0) / np.sqrt(var + f32(eps)))
        return rnd(y * W(key + ".weight") + W(key + ".bias"))

    def conv1d(x, key):
        return _linear(x, W(key + ".weight").T, W(key + ".bias"), rnd)

    def gelu_new(x):
        cube = rnd(rnd(x * x) * x)
        inner = rnd(x + rnd(f32(0.044715) * cube))
        t = rnd(np.tanh(rnd(f32(math.sqrt(2.0 / math.pi)) * inner)))
        return rnd(rnd(f32(0.5) * x) * rnd(f32(1.0) + t))

    wte = W(p + "wte.weight")
    h = rnd(wte[np.clip(ids, 0, wte.shape[0] - 1)] +
            W(p + "wpe.weight")[:seq][None])
    div = rnd(np.float32(head_dim ** 0.5)) if c.get("scale_attn_weights",
                                                    True) else f32(1.0)
    for i in range(c.get("n_layer", 12)):
        b = f"{p}h.{i}."
        x = layer_norm(h, b + "ln_1")
        qkv = conv1d(x, b + "attn.c_attn")
        q, k, v = (qkv[..., j * hidden:(j + 1) * hidden]
                   .reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)
                   for j in range(3))
        a = _attention(q, k, v, lambda s: rnd(s / div), rnd)
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, hidden)
        h = rnd(h + conv1d(a, b + "attn.c_proj"))
        x = layer_norm(h, b + "ln_2")
        h = rnd(h + conv1d(gelu_new(conv1d(x, b + "mlp.c_fc")),
                           b + "mlp.c_proj"))
    h = layer_norm(h, p + "ln_f")
    lm = p + "wte.weight" if c.get("tie_word_embeddings", True) \
        else "lm_head.weight"
    return _linear(h, W(lm), None, rnd)
