"""numpy reference of Phi3ForCausalLM (forward and incremental decoding).

Reads config.json itself, with Phi3Config's defaults, and follows
modeling_phi3 op by op with reference.py's dtype rules: the fused qkv_proj
output is sliced into q, k, v and the fused gate_up_proj output chunked into
gate and up; rotary embeddings on the first partial_rotary_factor·head_dim
dims of each head (rotated part concatenated with the rest); the sliding
window, when the config sets one, on every layer. Shares only the rope
tables (rope.py) with the graph builder (arch_phi3.py).
"""
from __future__ import annotations

import numpy as np

from . import reference as R
from .checkpoint import Checkpoint
from .rope import RopeConfig


def rotate_partial(x, cos, sin, rnd):
    """apply_rotary_pos_emb of phi3/gpt_neox on x [B, H, S, D] with tables
    [S, R]: rotates x[..., :R], keeps x[..., R:]."""
    rot = cos.shape[-1]
    return np.concatenate([R._rotate(x[..., :rot], cos, sin, rnd),
                           x[..., rot:]], axis=-1)


class _Config:
    """The fields the reference reads, with Phi3Config's defaults."""

    def __init__(self, c: dict):
        self.hidden = c.get("hidden_size", 3072)
        self.inter = c.get("intermediate_size", 8192)
        self.heads = c.get("num_attention_heads", 32)
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers = c.get("num_hidden_layers", 32)
        self.eps = c.get("rms_norm_eps", 1e-5)
        self.window = c.get("sliding_window")
        rot = int(self.head_dim * c.get("partial_rotary_factor", 1.0))
        self.rope = RopeConfig.from_config(c, self.head_dim, "config.json",
                                           rotary_dim=rot)
        self.lm_head = "model.embed_tokens.weight" \
            if c.get("tie_word_embeddings", False) else "lm_head.weight"


def _split_qkv(qkv, cfg):
    """q, k, v of the fused projection's output columns."""
    qd, kvd = cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim
    return qkv[..., :qd], qkv[..., qd:qd + kvd], qkv[..., qd + kvd:]


def _mlp(x, W, pre, cfg, rnd):
    gu = R._linear(x, W(pre + "mlp.gate_up_proj.weight"), None, rnd)
    gate, up = gu[..., :cfg.inter], gu[..., cfg.inter:]
    # up * act(gate): the same rounded product as act(gate) * up.
    return R._linear(R._silu_mul(gate, up, rnd),
                     W(pre + "mlp.down_proj.weight"), None, rnd)


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
    groups = cfg.heads // cfg.kv_heads
    for i in range(cfg.layers):
        pre = f"model.layers.{i}."
        x = R._rms_norm(h, W(pre + "input_layernorm.weight"), cfg.eps, rnd)
        qkv = R._linear(x, W(pre + "self_attn.qkv_proj.weight"), None, rnd)
        q, k, v = (t.reshape(bsz, seq, -1, hd).transpose(0, 2, 1, 3)
                   for t in _split_qkv(qkv, cfg))
        q, k = (rotate_partial(t, cos, sin, rnd) for t in (q, k))
        k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)
        a = R._attention(q, k, v, lambda s: rnd(s * scale), rnd, cfg.window)
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, cfg.heads * hd)
        h = rnd(h + R._linear(a, W(pre + "self_attn.o_proj.weight"), None,
                              rnd))
        x = R._rms_norm(h, W(pre + "post_attention_layernorm.weight"),
                        cfg.eps, rnd)
        h = rnd(h + _mlp(x, W, pre, cfg, rnd))
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
            qkv = R._linear(x, W(pre + "self_attn.qkv_proj.weight"), None,
                            rnd)
            q, k, v = (t.reshape(1, chunk, -1, hd).transpose(0, 2, 1, 3)
                       for t in _split_qkv(qkv, cfg))
            q, k = (rotate_partial(t, cos, sin, rnd) for t in (q, k))
            a = dec._cached_attention(i, q, k, v, p, lambda s: rnd(s * scale),
                                      cfg.window)
            a = a.transpose(0, 2, 1, 3).reshape(1, chunk, cfg.heads * hd)
            h = rnd(h + R._linear(a, W(pre + "self_attn.o_proj.weight"),
                                  None, rnd))
            x = R._rms_norm(h, W(pre + "post_attention_layernorm.weight"),
                            cfg.eps, rnd)
            h = rnd(h + _mlp(x, W, pre, cfg, rnd))
        h = R._rms_norm(h[:, -1:], W("model.norm.weight"), cfg.eps, rnd)
        return R._linear(h, W(cfg.lm_head), None, rnd)
