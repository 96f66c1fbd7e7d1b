"""GemmaForCausalLM and Gemma2ForCausalLM (model_type "gemma", "gemma2").

Gemma is LLaMA's decoder with these differences, as transformers' modeling
code computes them:

- GemmaRMSNorm: the normalized float32 value times (1 + weight) in float32,
  rounded to the model dtype T once;
- the embedding output is multiplied by sqrt(hidden_size) rounded to T (a T
  tensor, so in bfloat16 sqrt(3072) = 55.4256 becomes 55.5);
- GeGLU MLP: gelu_pytorch_tanh(gate_proj(x)) * up_proj(x);
- head_dim from the config (default 256, not hidden / heads); lm_head tied
  to embed_tokens by default.

Gemma 2 adds RMSNorms after attention (post_attention_layernorm, before the
residual add) and around the MLP (pre_/post_feedforward_layernorm); the
attention scale query_pre_attn_scalar ** -0.5; tanh soft-capping of the
attention scores (attn_logit_softcapping, before the mask) and of the final
logits (final_logit_softcapping); and a sliding window on alternate layers:
layers 0, 2, 4, ... slide unless `layer_types` says otherwise. The KV cache
of a sliding layer keeps every position (transformers' HybridCache keeps
only the window); the mask hides the same keys, so the values are the same.
"""
from __future__ import annotations

import math

from .arch_config import (DecoderDefaults, Fields, check_kv_heads,
                          check_rotary_head_dim, llama_lm_head, read_decoder)
from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .graph import GraphBuilder
from .models import Architecture, _end_layer
from .rope import RopeConfig

ACTIVATION = "gelu_pytorch_tanh"
_LAYER_TYPES = ("sliding_attention", "full_attention")


def round_to_dtype(value: float, code: str) -> float:
    """A Python float rounded once to the float type `code` ("F32", "F16",
    "BF16"), nearest-even: what torch.tensor(value, dtype=T) holds (normal
    range only)."""
    bits = {"F32": 24, "F16": 11, "BF16": 8}[code]
    if value == 0.0:
        return 0.0
    m, e = math.frexp(value)
    return math.ldexp(round(math.ldexp(m, bits)), e - bits)


def _optional_number(config: dict, key: str, default, where: str):
    """A positive number, or None when the config sets null."""
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            not value > 0:
        raise BnbMlirError(f"{where}: '{key}' must be a positive number or "
                           f"null, got {value!r}")
    return float(value)


def gemma2_windows(config: dict, layers: int, where: str
                   ) -> list[int | None]:
    """The sliding window of each Gemma 2 layer (None: full attention):
    `layer_types` when given, else layers 0, 2, 4, ... slide."""
    window = Fields(config, where).optional_int("sliding_window", 4096)
    types = config.get("layer_types")
    if types is None:
        types = [_LAYER_TYPES[i % 2] for i in range(layers)]
    elif not isinstance(types, list) or len(types) != layers or \
            any(t not in _LAYER_TYPES for t in types):
        raise BnbMlirError(f"{where}: 'layer_types' must list "
                           f"{' or '.join(_LAYER_TYPES)} for each of the "
                           f"{layers} layers")
    if window is None and "sliding_attention" in types:
        raise BnbMlirError(f"{where}: 'layer_types' has sliding_attention "
                           "layers but sliding_window is null")
    return [window if t == "sliding_attention" else None for t in types]


class Gemma(Architecture):
    """GemmaForCausalLM and Gemma2ForCausalLM."""

    model_types = ("gemma", "gemma2")

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        config = ckpt.config
        c = Fields(config, self.where)
        self.model_type = config["model_type"]
        v2 = self.v2 = self.model_type == "gemma2"
        read_decoder(self, c, DecoderDefaults(
            vocab=256000, hidden=2304 if v2 else 3072,
            inter=9216 if v2 else 24576, layers=26 if v2 else 28,
            heads=8 if v2 else 16, kv_heads=4 if v2 else 16, head_dim=256,
            eps=1e-6, max_positions=8192, tied=True))
        self.attention_bias = c.bool("attention_bias", False)
        self._check_activation(config)
        if config.get("use_bidirectional_attention"):
            raise BnbMlirError(f"{self.where}: 'use_bidirectional_attention' "
                               "is not supported")
        check_kv_heads(self)
        check_rotary_head_dim(self)
        self.rope = RopeConfig.from_config(config, self.head_dim, self.where)
        if v2:
            scalar = _optional_number(config, "query_pre_attn_scalar", 256,
                                      self.where)
            if scalar is None:
                raise BnbMlirError(f"{self.where}: 'query_pre_attn_scalar' "
                                   "must be a positive number, got None")
            self.scaling = scalar ** -0.5
            self.attn_softcap = _optional_number(
                config, "attn_logit_softcapping", 50.0, self.where)
            self.final_softcap = _optional_number(
                config, "final_logit_softcapping", 30.0, self.where)
            self.windows = gemma2_windows(config, self.layers, self.where)
        else:
            self.scaling = self.head_dim ** -0.5
            self.attn_softcap = self.final_softcap = None
            self.windows = [None] * self.layers

        hd, q, kv = self.hidden, self.heads * self.head_dim, \
            self.kv_heads * self.head_dim
        t = self.tensors
        t["model.embed_tokens.weight"] = (self.vocab, hd)
        for i in range(self.layers):
            p = f"model.layers.{i}."
            for norm in self._norms():
                t[f"{p}{norm}.weight"] = (hd,)
            for name, out, inp in (("q_proj", q, hd), ("k_proj", kv, hd),
                                   ("v_proj", kv, hd), ("o_proj", hd, q)):
                t[f"{p}self_attn.{name}.weight"] = (out, inp)
                if self.attention_bias:
                    t[f"{p}self_attn.{name}.bias"] = (out,)
            for name, out, inp in (("gate_proj", self.inter, hd),
                                   ("up_proj", self.inter, hd),
                                   ("down_proj", hd, self.inter)):
                t[f"{p}mlp.{name}.weight"] = (out, inp)
        t["model.norm.weight"] = (hd,)
        self.lm_head = llama_lm_head(self)

    def _check_activation(self, config: dict) -> None:
        # The MLP's activation is hidden_activation; when it is absent or
        # null, transformers ignores hidden_act (published Gemma configs say
        # "gelu" there) and uses gelu_pytorch_tanh.
        value = config.get("hidden_activation")
        if value is not None and value != ACTIVATION:
            raise BnbMlirError(f"{self.where}: hidden_activation '{value}' "
                               f"is not supported ({ACTIVATION})")

    def _norms(self) -> tuple[str, ...]:
        if self.v2:
            return ("input_layernorm", "post_attention_layernorm",
                    "pre_feedforward_layernorm", "post_feedforward_layernorm")
        return ("input_layernorm", "post_attention_layernorm")

    def _linear(self, gb, x, key, hint, bias=False):
        return gb.linear(x, key + ".weight", key + ".bias" if bias else None,
                         hint=hint)

    def _norm(self, gb, x, key, hint):
        return gb.rms_norm(x, key + ".weight", self.eps, hint,
                           unit_offset=True)

    def build(self, gb: GraphBuilder, ids, bsz, seq, step=None):
        h = gb.embedding(ids, "model.embed_tokens.weight")
        h = gb.mul_const(h, round_to_dtype(self.hidden ** 0.5, gb.w.code),
                         "h_normalized")
        cos, sin = self.rope.tables(step.max_seq if step else seq)
        cos_v, sin_v = gb.rope_tables(cos, sin, gb.w.code)
        if step:
            cos_v = gb.rows(cos_v, step.position, seq, "rope_cos_rows")
            sin_v = gb.rows(sin_v, step.position, seq, "rope_sin_rows")
        ab = self.attention_bias
        scale = ("mul", self.scaling)
        caches = []
        for i in range(self.layers):
            p, n = f"model.layers.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = self._norm(gb, h, p + "input_layernorm", n + "in_norm")
            q = self._linear(gb, x, p + "self_attn.q_proj", n + "q", ab)
            k = self._linear(gb, x, p + "self_attn.k_proj", n + "k", ab)
            v = self._linear(gb, x, p + "self_attn.v_proj", n + "v", ab)
            q = gb.rotary(q, self.heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "q_rot")
            k = gb.rotary(k, self.kv_heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "k_rot")
            args = (self.heads, self.kv_heads, self.head_dim, scale,
                    self.windows[i], n + "attn")
            if step is None:
                a = gb.attention(q, k, v, bsz, seq, *args,
                                 softcap=self.attn_softcap)
                kv = []
            else:
                a, kc, vc = gb.cached_attention(q, k, v, step, i, *args,
                                                softcap=self.attn_softcap)
                kv = [kc, vc]
            o = self._linear(gb, a, p + "self_attn.o_proj", n + "o", ab)
            if self.v2:
                o = self._norm(gb, o, p + "post_attention_layernorm",
                               n + "post_attn_norm")
                h = gb.add(h, o, n + "h_attn")
                x = self._norm(gb, h, p + "pre_feedforward_layernorm",
                               n + "pre_ff_norm")
            else:
                h = gb.add(h, o, n + "h_attn")
                x = self._norm(gb, h, p + "post_attention_layernorm",
                               n + "post_norm")
            g = self._linear(gb, x, p + "mlp.gate_proj", n + "gate")
            u = self._linear(gb, x, p + "mlp.up_proj", n + "up")
            act = gb.gelu_tanh_mul(g, u, n + "act")
            d = self._linear(gb, act, p + "mlp.down_proj", n + "down")
            if self.v2:
                d = self._norm(gb, d, p + "post_feedforward_layernorm",
                               n + "post_ff_norm")
            h = gb.add(h, d, n + "h")
            h, kv = _end_layer(gb, layer, h, kv, p[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        h = self._norm(gb, h, "model.norm", "final_norm")
        logits = gb.linear(h, self.lm_head, module_name="lm_head",
                           hint="logits")
        if self.final_softcap is not None:
            logits = gb.softcap(logits, self.final_softcap, "logits_capped")
        return logits, caches
