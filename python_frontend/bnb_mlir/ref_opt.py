"""Numpy reference of OPT (all positions, and incremental decoding with a KV
cache), written from transformers' modeling code and independent of the
graph emitter (arch_opt.py).

Float32 arithmetic, values rounded to the model dtype T wherever PyTorch
produces a T tensor (see reference.py).
"""
from __future__ import annotations

import numpy as np

from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .reference import _layer_norm, _linear, _min_value, _Rounder

f32 = np.float32


class _Params:
    """OPTConfig fields with their defaults."""

    def __init__(self, c: dict, ckpt: Checkpoint):
        self.hidden = c.get("hidden_size", 768)
        self.heads = c.get("num_attention_heads", 12)
        self.layers = c.get("num_hidden_layers", 12)
        self.max_positions = c.get("max_position_embeddings", 2048)
        self.proj_dim = c.get("word_embed_proj_dim") or self.hidden
        self.pre_ln = c.get("do_layer_norm_before", True)
        self.final_ln = self.pre_ln and \
            not c.get("_remove_final_layer_norm", False)
        self.bias = c.get("enable_bias", True)
        self.tied = c.get("tie_word_embeddings", True)
        self.head_dim = self.hidden // self.heads
        self.prefix = "model.decoder." if "model.decoder.embed_tokens.weight" \
            in ckpt else "decoder."


def _embed(W, ids, positions, P: _Params, rnd):
    """Token embeddings (projected in) plus the rows positions + 2."""
    pre = P.prefix
    table = W(pre + "embed_tokens.weight")
    h = table[np.clip(ids, 0, table.shape[0] - 1)]
    if P.proj_dim != P.hidden:
        h = _linear(h, W(pre + "project_in.weight"), None, rnd)
    return rnd(h + W(pre + "embed_positions.weight")[positions + 2][None])


def _layer(W, h, i, P: _Params, rnd, attend):
    b = f"{P.prefix}layers.{i}."
    bsz, seq, _ = h.shape

    def lin(x, key):
        return _linear(x, W(key + ".weight"),
                       W(key + ".bias") if P.bias else None, rnd)

    def ln(x, key):
        return _layer_norm(x, W(b + key + ".weight"), W(b + key + ".bias"),
                           1e-5, rnd)

    def heads(x):
        return x.reshape(bsz, seq, P.heads, P.head_dim).transpose(0, 2, 1, 3)

    x = ln(h, "self_attn_layer_norm") if P.pre_ln else h
    q = rnd(lin(x, b + "self_attn.q_proj") * f32(P.head_dim ** -0.5))
    a = attend(i, heads(q), heads(lin(x, b + "self_attn.k_proj")),
               heads(lin(x, b + "self_attn.v_proj")))
    a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, P.hidden)
    h = rnd(h + lin(a, b + "self_attn.out_proj"))
    if not P.pre_ln:
        h = ln(h, "self_attn_layer_norm")
    x = ln(h, "final_layer_norm") if P.pre_ln else h
    h = rnd(h + lin(np.maximum(lin(x, b + "fc1"), f32(0)), b + "fc2"))
    if not P.pre_ln:
        h = ln(h, "final_layer_norm")
    return h


def _softmax_attention(q, k, v, qpos, kpos, rnd):
    """Scores (of the pre-scaled query) rounded to T, times 1.0, causal
    mask, float32 softmax rounded to T, times v."""
    scores = rnd(np.einsum("bhid,bhjd->bhij", q, k))
    scores = np.where(kpos > qpos, _min_value(rnd), scores).astype(f32)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return rnd(np.einsum("bhij,bhjd->bhid",
                         rnd(e / e.sum(axis=-1, keepdims=True)), v))


def _head(W, h, P: _Params, rnd):
    pre = P.prefix
    if P.final_ln:
        h = _layer_norm(h, W(pre + "final_layer_norm.weight"),
                        W(pre + "final_layer_norm.bias"), 1e-5, rnd)
    if P.proj_dim != P.hidden:
        h = _linear(h, W(pre + "project_out.weight"), None, rnd)
    lm = pre + "embed_tokens.weight" if P.tied else "lm_head.weight"
    return _linear(h, W(lm), None, rnd)


def forward(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    """Logits [B, S, vocab] of every position."""
    P = _Params(ckpt.config, ckpt)

    def W(key):
        return rnd(ckpt.f32(key))

    seq = ids.shape[1]
    if seq > P.max_positions:
        raise BnbMlirError(f"sequence length {seq} exceeds "
                           "max_position_embeddings")
    pos = np.arange(seq)

    def attend(i, q, k, v):
        return _softmax_attention(q, k, v, pos[:, None], pos[None, :], rnd)

    h = _embed(W, ids, pos, P, rnd)
    for i in range(P.layers):
        h = _layer(W, h, i, P, rnd, attend)
    return _head(W, h, P, rnd)


def init_decoder(dec, config: dict) -> None:
    """Sets what ReferenceDecoder needs (layers, kv_heads, head_dim)."""
    P = dec.opt = _Params(config, dec.ckpt)
    dec.layers, dec.kv_heads, dec.head_dim = P.layers, P.heads, P.head_dim
    if dec.max_seq > P.max_positions:
        raise BnbMlirError(f"max_seq_len {dec.max_seq} exceeds "
                           "max_position_embeddings")


def decoder_step(dec, ids: np.ndarray, p: int) -> np.ndarray:
    """Tokens [1, C] at positions p..p+C-1 over the decoder's caches; the
    logits [1, 1, vocab] of the last one."""
    P, rnd = dec.opt, dec.rnd
    chunk = ids.shape[1]
    length = p + chunk

    def attend(i, q, k, v):
        dec.keys[i][:, :, p:length] = k
        dec.values[i][:, :, p:length] = v
        return _softmax_attention(q, dec.keys[i][:, :, :length],
                                  dec.values[i][:, :, :length],
                                  p + np.arange(chunk)[:, None],
                                  np.arange(length)[None, :], rnd)

    h = _embed(dec.W, ids, p + np.arange(chunk), P, rnd)
    for i in range(P.layers):
        h = _layer(dec.W, h, i, P, rnd, attend)
    return _head(dec.W, h[:, -1:], P, rnd)


class Decoder:
    """ReferenceDecoder's part for OPT."""

    def __init__(self, dec, config: dict):
        self.dec = dec
        init_decoder(dec, config)

    def step(self, ids: np.ndarray, position: int) -> np.ndarray:
        return decoder_step(self.dec, ids, position)
