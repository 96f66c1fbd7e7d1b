"""GPTNeoXForCausalLM (model_type "gpt_neox": Pythia, GPT-NeoX-20B, ...).

Pre-LayerNorm blocks (LayerNorm with bias), one fused
`attention.query_key_value` linear whose output is laid out per head as
[heads, 3, head_dim] (transformers views it as [..., heads, 3·D] and chunks
the last dim into q, k, v), rotary embeddings on the first
int(head_dim · rotary_pct) dims of each head, exact (erf) GELU, a parallel
residual (x + attn(ln1(x)) + mlp(ln2(x))) or the sequential one per
`use_parallel_residual`, and `embed_out` as the output embedding (tied to
`embed_in` with `tie_word_embeddings`).
"""
from __future__ import annotations

from .arch_config import Fields, check_activation, rotary_dim, split_heads
from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .graph import amap
from .ir import TensorType
from .models import Architecture, _attend, _end_layer
from .rope import RopeConfig

_ACTIVATIONS = ("gelu", "gelu_new")


def neox_rope_fields(config: dict) -> tuple[float, float]:
    """(theta, rotary fraction): rotary_emb_base / rotary_pct, or the names
    later transformers versions write (rope_theta, partial_rotary_factor,
    rope_parameters)."""
    params = config.get("rope_parameters") or {}
    theta = config.get("rotary_emb_base",
                       config.get("rope_theta",
                                  params.get("rope_theta", 10000)))
    pct = config.get("rotary_pct",
                     config.get("partial_rotary_factor",
                                params.get("partial_rotary_factor", 0.25)))
    return theta, pct


class GptNeox(Architecture):
    """GPTNeoXForCausalLM: fused interleaved query_key_value, partial rotary,
    parallel residual, LayerNorm, GELU, embed_out."""

    model_types = ("gpt_neox",)

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        config = ckpt.config
        c = Fields(config, self.where)
        self.vocab = c.int("vocab_size", 50432)
        self.hidden = c.int("hidden_size", 6144)
        self.layers = c.int("num_hidden_layers", 44)
        self.heads = c.int("num_attention_heads", 64)
        self.inter = c.int("intermediate_size", 24576)
        self.eps = c.float("layer_norm_eps", 1e-5)
        self.max_positions = c.int("max_position_embeddings", 2048)
        self.tied = c.bool("tie_word_embeddings", False)
        self.parallel = c.bool("use_parallel_residual", True)
        self.attention_bias = c.bool("attention_bias", True)
        self.act = check_activation(c, "hidden_act", _ACTIVATIONS, "gelu")
        self.head_dim = split_heads(self.hidden, self.heads, self.where)
        theta, pct = neox_rope_fields(config)
        if not isinstance(pct, (int, float)) or isinstance(pct, bool):
            raise BnbMlirError(f"{self.where}: 'rotary_pct' must be a number, "
                               f"got {pct!r}")
        self.rot_dim = rotary_dim(self.head_dim, float(pct), "rotary_pct",
                                  self.where)
        rope_config = {k: v for k, v in config.items()
                       if k != "partial_rotary_factor"}
        rope_config["rope_theta"] = theta
        self.rope = RopeConfig.from_config(rope_config, self.head_dim,
                                           self.where,
                                           rotary_dim=self.rot_dim)

        hd, t = self.hidden, self.tensors
        t["gpt_neox.embed_in.weight"] = (self.vocab, hd)
        for i in range(self.layers):
            p = f"gpt_neox.layers.{i}."
            for ln in ("input_layernorm", "post_attention_layernorm"):
                t[f"{p}{ln}.weight"] = (hd,)
                t[f"{p}{ln}.bias"] = (hd,)
            for name, out, inp, bias in (
                    ("attention.query_key_value", 3 * hd, hd,
                     self.attention_bias),
                    ("attention.dense", hd, hd, self.attention_bias),
                    ("mlp.dense_h_to_4h", self.inter, hd, True),
                    ("mlp.dense_4h_to_h", hd, self.inter, True)):
                t[f"{p}{name}.weight"] = (out, inp)
                if bias:
                    t[f"{p}{name}.bias"] = (out,)
        t["gpt_neox.final_layer_norm.weight"] = (hd,)
        t["gpt_neox.final_layer_norm.bias"] = (hd,)
        # Tied: embed_out is the input embedding matrix.
        self.lm_head = ("gpt_neox.embed_in.weight" if self.tied
                        else "embed_out.weight")
        t[self.lm_head] = (self.vocab, hd)

    def _linear(self, gb, x, key, bias, hint):
        return gb.linear(x, key + ".weight", key + ".bias" if bias else None,
                         hint=hint)

    def _split_qkv(self, gb, qkv, rows, hint):
        """q, k, v [rows, H·D] of the fused output [rows, H·3·D]: column
        h·3D + t·D + d is part t of head h."""
        heads, dim = self.heads, self.head_dim
        fused = gb.f.expand(qkv, [[0], [1, 2, 3]], [rows, heads, 3, dim],
                            hint + "_heads")
        out_t = TensorType((rows, heads, dim), gb.T)
        parts = []
        for part, name in enumerate("qkv"):
            x = gb.elementwise(
                [fused], out_t, lambda b, a: a, f"{hint}_{name}",
                [amap(gb.m, 3, [0, 1, str(part), 2])])
            parts.append(gb.f.collapse(x, [[0], [1, 2]], f"{hint}_{name}"))
        return parts

    def _mlp(self, gb, x, p, n):
        f = self._linear(gb, x, p + "mlp.dense_h_to_4h", True, n + "fc")
        f = gb.gelu(f, n + "gelu") if self.act == "gelu" else \
            gb.gelu_new(f, n + "gelu")
        return self._linear(gb, f, p + "mlp.dense_4h_to_h", True, n + "down")

    def build(self, gb, ids, bsz, seq, step=None):
        h = gb.embedding(ids, "gpt_neox.embed_in.weight")
        cos, sin = self.rope.tables(step.max_seq if step else seq)
        cos_v, sin_v = gb.partial_rope_tables(cos, sin, self.head_dim,
                                              gb.w.code)
        if step:
            cos_v = gb.rows(cos_v, step.position, seq, "rope_cos_rows")
            sin_v = gb.rows(sin_v, step.position, seq, "rope_sin_rows")
        scale = ("mul", self.head_dim ** -0.5)
        ab, rows = self.attention_bias, bsz * seq
        caches = []
        for i in range(self.layers):
            p, n = f"gpt_neox.layers.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = gb.layer_norm(h, p + "input_layernorm.weight",
                              p + "input_layernorm.bias", self.eps,
                              n + "ln1")
            qkv = self._linear(gb, x, p + "attention.query_key_value", ab,
                               n + "qkv")
            q, k, v = self._split_qkv(gb, qkv, rows, n + "qkv")
            q, k = (gb.partial_rotary(y, self.heads, self.head_dim,
                                      self.rot_dim, bsz, seq, cos_v, sin_v,
                                      f"{n}{name}_rot")
                    for y, name in ((q, "q"), (k, "k")))
            att, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                              self.heads, self.head_dim, scale, None,
                              n + "attn")
            att = self._linear(gb, att, p + "attention.dense", ab, n + "o")
            if self.parallel:
                # mlp_output + attn_output + hidden_states, left to right.
                x = gb.layer_norm(h, p + "post_attention_layernorm.weight",
                                  p + "post_attention_layernorm.bias",
                                  self.eps, n + "ln2")
                m = self._mlp(gb, x, p, n)
                h = gb.add(gb.add(m, att, n + "mlp_attn"), h, n + "h")
            else:
                h = gb.add(att, h, n + "h_attn")
                x = gb.layer_norm(h, p + "post_attention_layernorm.weight",
                                  p + "post_attention_layernorm.bias",
                                  self.eps, n + "ln2")
                h = gb.add(self._mlp(gb, x, p, n), h, n + "h")
            h, kv = _end_layer(gb, layer, h, kv, p[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        h = gb.layer_norm(h, "gpt_neox.final_layer_norm.weight",
                          "gpt_neox.final_layer_norm.bias", self.eps,
                          "final_norm")
        return gb.linear(h, self.lm_head, module_name="embed_out",
                         hint="logits"), caches

    @property
    def kv_heads(self) -> int:
        return self.heads
