"""numpy reference of Qwen2ForCausalLM (forward and incremental decoding).

Reads config.json itself, with Qwen2Config's defaults, and follows
modeling_qwen2 op by op with reference.py's dtype rules; it shares only the
rope tables (rope.py) with the graph builder (arch_qwen2.py).
"""
from __future__ import annotations

import numpy as np

from . import reference as R
from .checkpoint import Checkpoint
from .rope import RopeConfig


class _Config:
    """The fields the reference reads, with Qwen2Config's defaults."""

    def __init__(self, c: dict):
        self.hidden = c.get("hidden_size", 4096)
        self.heads = c.get("num_attention_heads", 32)
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers = c.get("num_hidden_layers", 32)
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.tied = c.get("tie_word_embeddings", False)
        window = c.get("sliding_window", 4096) \
            if c.get("use_sliding_window", False) else None
        types = c.get("layer_types") or [
            "sliding_attention" if window is not None and
            i >= c.get("max_window_layers", 28) else "full_attention"
            for i in range(self.layers)]
        self.windows = [window if t == "sliding_attention" else None
                        for t in types]
        self.rope = RopeConfig.from_config(c, self.head_dim, "config.json")
        self.lm_head = "model.embed_tokens.weight" if self.tied \
            else "lm_head.weight"


def _mlp(x, W, pre, rnd):
    g = R._linear(x, W(pre + "mlp.gate_proj.weight"), None, rnd)
    u = R._linear(x, W(pre + "mlp.up_proj.weight"), None, rnd)
    return R._linear(R._silu_mul(g, u, rnd), W(pre + "mlp.down_proj.weight"),
                     None, rnd)


def _qkv(x, W, pre, rnd):
    return [R._linear(x, W(f"{pre}self_attn.{n}_proj.weight"),
                      W(f"{pre}self_attn.{n}_proj.bias"), rnd)
            for n in "qkv"]


def forward(ckpt: Checkpoint, ids: np.ndarray, rnd) -> np.ndarray:
    """Logits [B, S, vocab] of all positions."""
    cfg = _Config(ckpt.config)
    W = R._weights(ckpt, rnd)
    bsz, seq = ids.shape
    hd = cfg.head_dim
    cos, sin = (rnd(t) for t in cfg.rope.tables(seq))
    scale = np.float32(hd ** -0.5)
    emb = W("model.embed_tokens.weight")
    h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
    for i in range(cfg.layers):
        pre = f"model.layers.{i}."
        x = R._rms_norm(h, W(pre + "input_layernorm.weight"), cfg.eps, rnd)
        q, k, v = _qkv(x, W, pre, rnd)
        q, k, v = (t.reshape(bsz, seq, -1, hd).transpose(0, 2, 1, 3)
                   for t in (q, k, v))
        q, k = R._rotate(q, cos, sin, rnd), R._rotate(k, cos, sin, rnd)
        groups = cfg.heads // cfg.kv_heads
        k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)
        a = R._attention(q, k, v, lambda s: rnd(s * scale), rnd,
                         cfg.windows[i])
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, cfg.heads * hd)
        h = rnd(h + R._linear(a, W(pre + "self_attn.o_proj.weight"), None,
                              rnd))
        x = R._rms_norm(h, W(pre + "post_attention_layernorm.weight"),
                        cfg.eps, rnd)
        h = rnd(h + _mlp(x, W, pre, rnd))
    h = R._rms_norm(h, W("model.norm.weight"), cfg.eps, rnd)
    return R._linear(h, W(cfg.lm_head), None, rnd)


class Decoder:
    """The per-step computation for `ReferenceDecoder` (which owns the
    caches and the weights)."""

    def __init__(self, dec, config: dict):
        self.dec = dec
        self.cfg = _Config(config)
        dec.kv_heads, dec.head_dim = self.cfg.kv_heads, self.cfg.head_dim
        dec.layers = self.cfg.layers
        self.cos, self.sin = (dec.rnd(t) for t in
                              self.cfg.rope.tables(dec.max_seq))

    def step(self, ids: np.ndarray, p: int) -> np.ndarray:
        dec, cfg, rnd, W = self.dec, self.cfg, self.dec.rnd, self.dec.W
        chunk, hd = ids.shape[1], cfg.head_dim
        cos, sin = self.cos[p:p + chunk], self.sin[p:p + chunk]
        scale = np.float32(hd ** -0.5)
        emb = W("model.embed_tokens.weight")
        h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
        for i in range(cfg.layers):
            pre = f"model.layers.{i}."
            x = R._rms_norm(h, W(pre + "input_layernorm.weight"), cfg.eps,
                            rnd)
            q, k, v = (t.reshape(1, chunk, -1, hd).transpose(0, 2, 1, 3)
                       for t in _qkv(x, W, pre, rnd))
            q, k = R._rotate(q, cos, sin, rnd), R._rotate(k, cos, sin, rnd)
            a = dec._cached_attention(i, q, k, v, p, lambda s: rnd(s * scale),
                                      cfg.windows[i])
            a = a.transpose(0, 2, 1, 3).reshape(1, chunk, cfg.heads * hd)
            h = rnd(h + R._linear(a, W(pre + "self_attn.o_proj.weight"),
                                  None, rnd))
            x = R._rms_norm(h, W(pre + "post_attention_layernorm.weight"),
                            cfg.eps, rnd)
            h = rnd(h + _mlp(x, W, pre, rnd))
        h = R._rms_norm(h[:, -1:], W("model.norm.weight"), cfg.eps, rnd)
        return R._linear(h, W(cfg.lm_head), None, rnd)
