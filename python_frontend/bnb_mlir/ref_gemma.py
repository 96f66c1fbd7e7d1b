"""Numpy reference of Gemma and Gemma 2 (all positions, and incremental
decoding with a KV cache), written from transformers' modeling code and
independent of the graph emitter (arch_gemma.py).

Float32 arithmetic, values rounded to the model dtype T wherever PyTorch
produces a T tensor (see reference.py). tanh is numpy's.
"""
from __future__ import annotations

import numpy as np

from .checkpoint import Checkpoint
from .reference import _linear, _min_value, _rotate, _Rounder
from .rope import RopeConfig

f32 = np.float32


def _normalizer(hidden: int, code: str) -> np.float32:
    """torch.tensor(hidden ** 0.5, dtype=T): the float64 value rounded once
    to T (float16 by numpy's direct conversion; bfloat16 by choosing the
    nearer of the two bfloat16 neighbours, ties to the even one)."""
    value = hidden ** 0.5
    if code == "F32":
        return f32(value)
    if code == "F16":
        return f32(np.float16(value))
    bits = int(np.array([value], f32).view(np.uint32)[0]) & 0xFFFF0000
    lo = float(np.array([bits], np.uint32).view(f32)[0])
    hi = float(np.array([bits + 0x10000], np.uint32).view(f32)[0])
    if value - lo < hi - value or (value - lo == hi - value and
                                   not bits & 0x10000):
        return f32(lo)
    return f32(hi)


class _Params:
    """The config fields the reference needs, with GemmaConfig /
    Gemma2Config defaults."""

    def __init__(self, c: dict):
        v2 = self.v2 = c["model_type"] == "gemma2"
        self.hidden = c.get("hidden_size", 2304 if v2 else 3072)
        self.heads = c.get("num_attention_heads", 8 if v2 else 16)
        self.kv_heads = c.get("num_key_value_heads", 4 if v2 else 16)
        self.head_dim = c.get("head_dim", 256)
        self.layers = c.get("num_hidden_layers", 26 if v2 else 28)
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.bias = c.get("attention_bias", False)
        self.tied = c.get("tie_word_embeddings", True)
        if v2:
            self.scaling = c.get("query_pre_attn_scalar", 256) ** -0.5
            self.attn_cap = c.get("attn_logit_softcapping", 50.0)
            self.final_cap = c.get("final_logit_softcapping", 30.0)
            window = c.get("sliding_window", 4096)
            types = c.get("layer_types") or [
                "sliding_attention" if (i + 1) % 2 else "full_attention"
                for i in range(self.layers)]
            self.windows = [window if t == "sliding_attention" else None
                            for t in types]
        else:
            self.scaling = self.head_dim ** -0.5
            self.attn_cap = self.final_cap = None
            self.windows = [None] * self.layers
        self.rope = RopeConfig.from_config(c, self.head_dim, "config.json")


def _rms_norm(x, w, eps, rnd):
    """GemmaRMSNorm: float32 statistics, times (1 + w) in float32, one
    rounding to T."""
    xf = x.astype(f32)
    var = (xf * xf).sum(-1, keepdims=True, dtype=f32) * f32(1.0 / x.shape[-1])
    y = xf * (f32(1.0) / np.sqrt(var + f32(eps)))
    return rnd(y * (f32(1.0) + w))


def _gelu_tanh_mul(g, u, rnd):
    """F.gelu(g, approximate="tanh") in float32 rounded to T, times u."""
    x = g.astype(f32)
    inner = f32(np.sqrt(2.0 / np.pi)) * (x + f32(0.044715) * (x * x * x))
    y = f32(0.5) * x * (f32(1.0) + np.tanh(inner))
    return rnd(rnd(y) * u)


def _softcap(x, cap, rnd):
    """x / cap, tanh, * cap, each rounded to T."""
    if cap is None:
        return x
    return rnd(rnd(np.tanh(rnd(x / f32(cap)))) * f32(cap))


def _mask_softmax(scores, qpos, kpos, window, rnd):
    masked = kpos > qpos
    if window is not None:
        masked = masked | (kpos <= qpos - window)
    scores = np.where(masked, _min_value(rnd), scores).astype(f32)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return rnd(e / e.sum(axis=-1, keepdims=True))


def _scores(q, k, P: _Params, rnd):
    s = rnd(rnd(np.einsum("bhid,bhjd->bhij", q, k)) * f32(P.scaling))
    return _softcap(s, P.attn_cap, rnd)


def _embed(W, ids, P: _Params, rnd):
    emb = W("model.embed_tokens.weight")
    h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
    return rnd(h * _normalizer(P.hidden, rnd.code))


def _block(W, h, i, P: _Params, rnd, attend):
    """One decoder layer; `attend(i, q, k, v)` gives the attention output
    [B, H, S, D] of rotated q/k [B, H|KV, S, D] and v."""
    p = f"model.layers.{i}."
    bsz, seq, _ = h.shape

    def lin(x, key, bias=False):
        return _linear(x, W(key + ".weight"),
                       W(key + ".bias") if bias else None, rnd)

    def norm(x, name):
        return _rms_norm(x, W(p + name + ".weight"), P.eps, rnd)

    x = norm(h, "input_layernorm")
    q, k, v = (lin(x, p + f"self_attn.{n}_proj", P.bias)
               .reshape(bsz, seq, heads, P.head_dim).transpose(0, 2, 1, 3)
               for n, heads in (("q", P.heads), ("k", P.kv_heads),
                                ("v", P.kv_heads)))
    a = attend(i, q, k, v)
    a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, P.heads * P.head_dim)
    o = lin(a, p + "self_attn.o_proj", P.bias)
    if P.v2:
        h = rnd(h + norm(o, "post_attention_layernorm"))
        x = norm(h, "pre_feedforward_layernorm")
    else:
        h = rnd(h + o)
        x = norm(h, "post_attention_layernorm")
    act = _gelu_tanh_mul(lin(x, p + "mlp.gate_proj"),
                         lin(x, p + "mlp.up_proj"), rnd)
    d = lin(act, p + "mlp.down_proj")
    if P.v2:
        d = norm(d, "post_feedforward_layernorm")
    return rnd(h + d)


def _head(W, h, P: _Params, rnd):
    h = _rms_norm(h, W("model.norm.weight"), P.eps, rnd)
    lm = "model.embed_tokens.weight" if P.tied else "lm_head.weight"
    return _softcap(_linear(h, W(lm), None, rnd), P.final_cap, rnd)


def forward(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    """Logits [B, S, vocab] of every position."""
    P = _Params(ckpt.config)

    def W(key):
        return rnd(ckpt.f32(key))

    bsz, seq = ids.shape
    cos, sin = (rnd(t) for t in P.rope.tables(seq))
    pos = np.arange(seq)

    def attend(i, q, k, v):
        q, k = _rotate(q, cos, sin, rnd), _rotate(k, cos, sin, rnd)
        groups = P.heads // P.kv_heads
        k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)
        probs = _mask_softmax(_scores(q, k, P, rnd), pos[:, None],
                              pos[None, :], P.windows[i], rnd)
        return rnd(np.einsum("bhij,bhjd->bhid", probs, v))

    h = _embed(W, ids, P, rnd)
    for i in range(P.layers):
        h = _block(W, h, i, P, rnd, attend)
    return _head(W, h, P, rnd)


def init_decoder(dec, config: dict) -> None:
    """Sets what ReferenceDecoder needs (layers, kv_heads, head_dim)."""
    P = dec.gemma = _Params(config)
    dec.layers, dec.kv_heads, dec.head_dim = P.layers, P.kv_heads, P.head_dim
    dec.cos, dec.sin = (dec.rnd(t) for t in P.rope.tables(dec.max_seq))


def decoder_step(dec, ids: np.ndarray, p: int) -> np.ndarray:
    """Tokens [1, C] at positions p..p+C-1 over the decoder's caches; the
    logits [1, 1, vocab] of the last one."""
    P, rnd = dec.gemma, dec.rnd
    chunk = ids.shape[1]
    cos, sin = dec.cos[p:p + chunk], dec.sin[p:p + chunk]
    length = p + chunk

    def attend(i, q, k, v):
        q, k = _rotate(q, cos, sin, rnd), _rotate(k, cos, sin, rnd)
        dec.keys[i][:, :, p:length] = k
        dec.values[i][:, :, p:length] = v
        groups = P.heads // P.kv_heads
        keys = np.repeat(dec.keys[i][:, :, :length], groups, axis=1)
        values = np.repeat(dec.values[i][:, :, :length], groups, axis=1)
        probs = _mask_softmax(_scores(q, keys, P, rnd),
                              p + np.arange(chunk)[:, None],
                              np.arange(length)[None, :], P.windows[i], rnd)
        return rnd(np.einsum("bhij,bhjd->bhid", probs, values))

    h = _embed(dec.W, ids, P, rnd)
    for i in range(P.layers):
        h = _block(dec.W, h, i, P, rnd, attend)
    return _head(dec.W, h[:, -1:], P, rnd)


class Decoder:
    """ReferenceDecoder's part for Gemma / Gemma 2."""

    def __init__(self, dec, config: dict):
        self.dec = dec
        init_decoder(dec, config)

    def step(self, ids: np.ndarray, position: int) -> np.ndarray:
        return decoder_step(self.dec, ids, position)
