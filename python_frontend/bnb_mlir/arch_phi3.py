"""Phi3ForCausalLM (model_type "phi3").

LLaMA's decoder with two fused linears per layer, kept fused as transformers
keeps them (so the linear replacement, skip lists and the memory report see
one module each): `self_attn.qkv_proj` [H·D + 2·KV·D, hidden], whose output
columns are q, then k, then v; and `mlp.gate_up_proj` [2·I, hidden], whose
output is chunked into gate and up. Rotary embeddings cover the first
`partial_rotary_factor`·head_dim dims of each head; a `sliding_window` masks
every layer as Mistral's does. The long-context rope types (longrope, su,
yarn) are refused.
"""
from __future__ import annotations

from .arch_config import (DecoderDefaults, Fields, check_activation,
                          check_kv_heads, llama_lm_head, read_decoder,
                          rotary_dim)
from .checkpoint import Checkpoint
from .models import Architecture, _attend, _end_layer
from .rope import RopeConfig


class Phi3(Architecture):
    """Phi3ForCausalLM: fused qkv_proj and gate_up_proj, partial rotary,
    optional sliding window."""

    model_types = ("phi3",)

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        config = ckpt.config
        c = Fields(config, self.where)
        read_decoder(self, c, DecoderDefaults(
            vocab=32064, hidden=3072, inter=8192, layers=32, heads=32,
            eps=1e-5, max_positions=4096, tied=False))
        check_activation(c, "hidden_act", ("silu",), "silu")
        check_kv_heads(self)
        self.window = c.optional_int("sliding_window", None)
        self.rot_dim = rotary_dim(
            self.head_dim, c.float("partial_rotary_factor", 1.0),
            "partial_rotary_factor", self.where)
        self.rope = RopeConfig.from_config(config, self.head_dim, self.where,
                                           rotary_dim=self.rot_dim)

        hd, q, kv = self.hidden, self.heads * self.head_dim, \
            self.kv_heads * self.head_dim
        t = self.tensors
        t["model.embed_tokens.weight"] = (self.vocab, hd)
        for i in range(self.layers):
            p = f"model.layers.{i}."
            t[p + "input_layernorm.weight"] = (hd,)
            t[p + "self_attn.qkv_proj.weight"] = (q + 2 * kv, hd)
            t[p + "self_attn.o_proj.weight"] = (hd, q)
            t[p + "post_attention_layernorm.weight"] = (hd,)
            t[p + "mlp.gate_up_proj.weight"] = (2 * self.inter, hd)
            t[p + "mlp.down_proj.weight"] = (hd, self.inter)
        t["model.norm.weight"] = (hd,)
        self.lm_head = llama_lm_head(self)

    def build(self, gb, ids, bsz, seq, step=None):
        h = gb.embedding(ids, "model.embed_tokens.weight")
        cos, sin = self.rope.tables(step.max_seq if step else seq)
        partial = self.rot_dim < self.head_dim
        if partial:
            cos_v, sin_v = gb.partial_rope_tables(cos, sin, self.head_dim,
                                                  gb.w.code)
        else:
            cos_v, sin_v = gb.rope_tables(cos, sin, gb.w.code)
        if step:
            cos_v = gb.rows(cos_v, step.position, seq, "rope_cos_rows")
            sin_v = gb.rows(sin_v, step.position, seq, "rope_sin_rows")

        def rotate(x, heads, hint):
            if partial:
                return gb.partial_rotary(x, heads, self.head_dim,
                                         self.rot_dim, bsz, seq, cos_v,
                                         sin_v, hint)
            return gb.rotary(x, heads, self.head_dim, bsz, seq, cos_v, sin_v,
                             hint)

        scale = ("mul", self.head_dim ** -0.5)
        rows = bsz * seq
        qd, kvd = self.heads * self.head_dim, self.kv_heads * self.head_dim
        caches = []
        for i in range(self.layers):
            p, n = f"model.layers.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = gb.rms_norm(h, p + "input_layernorm.weight", self.eps,
                            n + "in_norm")
            qkv = gb.linear(x, p + "self_attn.qkv_proj.weight",
                            hint=n + "qkv")
            q = gb.f.extract_slice(qkv, [0, 0], [rows, qd], n + "q")
            k = gb.f.extract_slice(qkv, [0, qd], [rows, kvd], n + "k")
            v = gb.f.extract_slice(qkv, [0, qd + kvd], [rows, kvd], n + "v")
            q = rotate(q, self.heads, n + "q_rot")
            k = rotate(k, self.kv_heads, n + "k_rot")
            att, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                              self.kv_heads, self.head_dim, scale,
                              self.window, n + "attn")
            o = gb.linear(att, p + "self_attn.o_proj.weight", hint=n + "o")
            h = gb.add(h, o, n + "h_attn")
            x = gb.rms_norm(h, p + "post_attention_layernorm.weight",
                            self.eps, n + "post_norm")
            gu = gb.linear(x, p + "mlp.gate_up_proj.weight",
                           hint=n + "gate_up")
            g = gb.f.extract_slice(gu, [0, 0], [rows, self.inter], n + "gate")
            u = gb.f.extract_slice(gu, [0, self.inter], [rows, self.inter],
                                   n + "up")
            d = gb.linear(gb.silu_mul(g, u, n + "act"),
                          p + "mlp.down_proj.weight", hint=n + "down")
            h = gb.add(h, d, n + "h")
            h, kv = _end_layer(gb, layer, h, kv, p[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        h = gb.rms_norm(h, "model.norm.weight", self.eps, "final_norm")
        return gb.linear(h, self.lm_head, module_name="lm_head",
                         hint="logits"), caches
