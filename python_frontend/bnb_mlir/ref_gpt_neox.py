"""numpy reference of GPTNeoXForCausalLM (forward and incremental decoding).

Reads config.json itself, with GPTNeoXConfig's defaults, and follows
modeling_gpt_neox op by op with reference.py's dtype rules: the fused
query_key_value output viewed as [..., heads, 3·head_dim] and chunked into
q, k, v; partial rotary (rotary_pct); exact GELU through math.erf; the
parallel residual summed as mlp + attn + hidden. Shares only the rope tables
(rope.py) with the graph builder (arch_gpt_neox.py).
"""
from __future__ import annotations

import math

import numpy as np

from . import reference as R
from .checkpoint import Checkpoint
from .ref_phi3 import rotate_partial
from .rope import RopeConfig

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, rnd):
    """F.gelu (exact) in float32: x·0.5·(1 + erf(x·√½)), rounded to T."""
    f32 = np.float32
    xf = np.asarray(x, f32)
    u = (xf * f32(math.sqrt(0.5))).astype(f32)
    e = _erf(u.astype(np.float64)).astype(f32)
    return rnd((xf * f32(0.5)) * (f32(1.0) + e))


class _Config:
    """The fields the reference reads, with GPTNeoXConfig's defaults."""

    def __init__(self, c: dict):
        self.hidden = c.get("hidden_size", 6144)
        self.heads = c.get("num_attention_heads", 64)
        self.head_dim = self.hidden // self.heads
        self.layers = c.get("num_hidden_layers", 44)
        self.eps = c.get("layer_norm_eps", 1e-5)
        self.parallel = c.get("use_parallel_residual", True)
        self.bias = c.get("attention_bias", True)
        self.act = c.get("hidden_act", "gelu")
        params = c.get("rope_parameters") or {}
        pct = c.get("rotary_pct", c.get("partial_rotary_factor", 0.25))
        theta = c.get("rotary_emb_base",
                      c.get("rope_theta", params.get("rope_theta", 10000)))
        rope = {"rope_theta": theta, "rope_scaling": c.get("rope_scaling"),
                "rope_parameters": c.get("rope_parameters")}
        self.rope = RopeConfig.from_config(rope, self.head_dim, "config.json",
                                           int(self.head_dim * pct))
        self.lm_head = "gpt_neox.embed_in.weight" \
            if c.get("tie_word_embeddings", False) else "embed_out.weight"


def _lin(x, W, key, bias, rnd):
    return R._linear(x, W(key + ".weight"), W(key + ".bias") if bias else None,
                     rnd)


def _ln(x, W, key, cfg, rnd):
    return R._layer_norm(x, W(key + ".weight"), W(key + ".bias"), cfg.eps,
                         rnd)


def _mlp(x, W, pre, cfg, rnd):
    f = _lin(x, W, pre + "mlp.dense_h_to_4h", True, rnd)
    f = gelu(f, rnd) if cfg.act == "gelu" else R._gelu_new(f, rnd)
    return _lin(f, W, pre + "mlp.dense_4h_to_h", True, rnd)


def _layer(h, W, pre, cfg, rnd, attend):
    """One GPTNeoXLayer; `attend(q, k, v)` [B, H, S, D] -> [B, H, S, D]
    applies rotary and attention."""
    bsz, seq = h.shape[:2]
    qkv = _lin(_ln(h, W, pre + "input_layernorm", cfg, rnd), W,
               pre + "attention.query_key_value", cfg.bias, rnd)
    qkv = qkv.reshape(bsz, seq, cfg.heads, 3 * cfg.head_dim) \
        .transpose(0, 2, 1, 3)
    q, k, v = np.split(qkv, 3, axis=-1)
    a = attend(q, k, v).transpose(0, 2, 1, 3).reshape(bsz, seq, cfg.hidden)
    a = _lin(a, W, pre + "attention.dense", cfg.bias, rnd)
    if cfg.parallel:
        m = _mlp(_ln(h, W, pre + "post_attention_layernorm", cfg, rnd), W,
                 pre, cfg, rnd)
        return rnd(rnd(m + a) + h)
    a = rnd(a + h)
    m = _mlp(_ln(a, W, pre + "post_attention_layernorm", cfg, rnd), W, pre,
             cfg, rnd)
    return rnd(m + a)


def forward(ckpt: Checkpoint, ids: np.ndarray, rnd) -> np.ndarray:
    """Logits [B, S, vocab] of all positions."""
    cfg = _Config(ckpt.config)
    W = R._weights(ckpt, rnd)
    cos, sin = (rnd(t) for t in cfg.rope.tables(ids.shape[1]))
    scale = np.float32(cfg.head_dim ** -0.5)

    def attend(q, k, v):
        q, k = rotate_partial(q, cos, sin, rnd), rotate_partial(k, cos, sin,
                                                                rnd)
        return R._attention(q, k, v, lambda s: rnd(s * scale), rnd)

    emb = W("gpt_neox.embed_in.weight")
    h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
    for i in range(cfg.layers):
        h = _layer(h, W, f"gpt_neox.layers.{i}.", cfg, rnd, attend)
    h = _ln(h, W, "gpt_neox.final_layer_norm", cfg, rnd)
    return R._linear(h, W(cfg.lm_head), None, rnd)


class Decoder:
    """The per-step computation for `ReferenceDecoder` (which owns the
    caches and the weights)."""

    def __init__(self, dec, config: dict):
        self.dec = dec
        self.cfg = _Config(config)
        dec.kv_heads = self.cfg.heads
        dec.head_dim, dec.layers = self.cfg.head_dim, self.cfg.layers
        self.cos, self.sin = (dec.rnd(t) for t in
                              self.cfg.rope.tables(dec.max_seq))

    def step(self, ids: np.ndarray, p: int) -> np.ndarray:
        dec, cfg, rnd, W = self.dec, self.cfg, self.dec.rnd, self.dec.W
        chunk = ids.shape[1]
        cos, sin = self.cos[p:p + chunk], self.sin[p:p + chunk]
        scale = np.float32(cfg.head_dim ** -0.5)
        emb = W("gpt_neox.embed_in.weight")
        h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
        for i in range(cfg.layers):
            def attend(q, k, v, i=i):
                q = rotate_partial(q, cos, sin, rnd)
                k = rotate_partial(k, cos, sin, rnd)
                return dec._cached_attention(i, q, k, v, p,
                                             lambda s: rnd(s * scale), None)
            h = _layer(h, W, f"gpt_neox.layers.{i}.", cfg, rnd, attend)
        h = _ln(h[:, -1:], W, "gpt_neox.final_layer_norm", cfg, rnd)
        return R._linear(h, W(cfg.lm_head), None, rnd)
