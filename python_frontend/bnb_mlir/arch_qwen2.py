"""Qwen2ForCausalLM (model_type "qwen2").

LLaMA's decoder with biases on q_proj, k_proj and v_proj (none on o_proj or
the MLP), grouped KV heads, rope_theta from the config and, when
`use_sliding_window` is set, Mistral's sliding-window mask on the layers
transformers marks "sliding_attention" (by default the layers from
`max_window_layers` on; an explicit `layer_types` list wins).
"""
from __future__ import annotations

from .arch_config import (DecoderDefaults, Fields, check_activation,
                          check_kv_heads, check_rotary_head_dim, llama_lm_head,
                          read_decoder)
from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .models import Architecture, _attend, _end_layer
from .rope import RopeConfig

_LAYER_TYPES = ("full_attention", "sliding_attention")


def qwen2_windows(config: dict, layers: int, where: str) -> list[int | None]:
    """The sliding window of each layer (None: full attention), as
    Qwen2Config derives it."""
    c = Fields(config, where)
    window = None
    if c.bool("use_sliding_window", False):
        window = c.optional_int("sliding_window", 4096)
    types = config.get("layer_types")
    if types is None:
        max_window_layers = c.int("max_window_layers", 28, minimum=0)
        return [window if window is not None and i >= max_window_layers
                else None for i in range(layers)]
    if not isinstance(types, list) or len(types) != layers or \
            any(t not in _LAYER_TYPES for t in types):
        raise BnbMlirError(f"{where}: 'layer_types' must list "
                           f"{' or '.join(_LAYER_TYPES)} for each of the "
                           f"{layers} layers")
    if "sliding_attention" in types and window is None:
        raise BnbMlirError(f"{where}: 'layer_types' has sliding_attention "
                           "layers but use_sliding_window is false")
    return [window if t == "sliding_attention" else None for t in types]


class Qwen2(Architecture):
    """Qwen2ForCausalLM: q/k/v biases, GQA, tied or untied lm_head, optional
    per-layer sliding window."""

    model_types = ("qwen2",)

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        c = Fields(ckpt.config, self.where)
        read_decoder(self, c, DecoderDefaults(
            vocab=151936, hidden=4096, inter=22016, layers=32, heads=32,
            eps=1e-6, max_positions=32768, tied=False))
        check_activation(c, "hidden_act", ("silu",), "silu")
        check_kv_heads(self)
        check_rotary_head_dim(self)
        self.windows = qwen2_windows(ckpt.config, self.layers, self.where)
        self.rope = RopeConfig.from_config(ckpt.config, self.head_dim,
                                           self.where)

        hd, q, kv = self.hidden, self.heads * self.head_dim, \
            self.kv_heads * self.head_dim
        t = self.tensors
        t["model.embed_tokens.weight"] = (self.vocab, hd)
        for i in range(self.layers):
            p = f"model.layers.{i}."
            t[p + "input_layernorm.weight"] = (hd,)
            for name, out in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
                t[f"{p}self_attn.{name}.weight"] = (out, hd)
                t[f"{p}self_attn.{name}.bias"] = (out,)
            t[p + "self_attn.o_proj.weight"] = (hd, q)
            t[p + "post_attention_layernorm.weight"] = (hd,)
            t[p + "mlp.gate_proj.weight"] = (self.inter, hd)
            t[p + "mlp.up_proj.weight"] = (self.inter, hd)
            t[p + "mlp.down_proj.weight"] = (hd, self.inter)
        t["model.norm.weight"] = (hd,)
        self.lm_head = llama_lm_head(self)

    def build(self, gb, ids, bsz, seq, step=None):
        h = gb.embedding(ids, "model.embed_tokens.weight")
        cos, sin = self.rope.tables(step.max_seq if step else seq)
        cos_v, sin_v = gb.rope_tables(cos, sin, gb.w.code)
        if step:
            cos_v = gb.rows(cos_v, step.position, seq, "rope_cos_rows")
            sin_v = gb.rows(sin_v, step.position, seq, "rope_sin_rows")
        scale = ("mul", self.head_dim ** -0.5)
        caches = []
        for i in range(self.layers):
            p, n = f"model.layers.{i}.", f"l{i}_"
            a = p + "self_attn."
            layer = gb.begin_layer()
            x = gb.rms_norm(h, p + "input_layernorm.weight", self.eps,
                            n + "in_norm")
            q = gb.linear(x, a + "q_proj.weight", a + "q_proj.bias",
                          hint=n + "q")
            k = gb.linear(x, a + "k_proj.weight", a + "k_proj.bias",
                          hint=n + "k")
            v = gb.linear(x, a + "v_proj.weight", a + "v_proj.bias",
                          hint=n + "v")
            q = gb.rotary(q, self.heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "q_rot")
            k = gb.rotary(k, self.kv_heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "k_rot")
            att, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                              self.kv_heads, self.head_dim, scale,
                              self.windows[i], n + "attn")
            o = gb.linear(att, a + "o_proj.weight", hint=n + "o")
            h = gb.add(h, o, n + "h_attn")
            x = gb.rms_norm(h, p + "post_attention_layernorm.weight",
                            self.eps, n + "post_norm")
            g = gb.linear(x, p + "mlp.gate_proj.weight", hint=n + "gate")
            u = gb.linear(x, p + "mlp.up_proj.weight", hint=n + "up")
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
