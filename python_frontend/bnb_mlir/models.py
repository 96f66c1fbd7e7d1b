"""Supported architectures: config parsing, expected tensors, graph building.

Each architecture reads its transformers config from config.json (with
transformers' defaults for absent fields), lists every checkpoint tensor it
needs with the shape the config implies, and emits the forward pass with the
`GraphBuilder` blocks, mirroring transformers' eager implementation.
"""
from __future__ import annotations


from .arch_config import (DecoderDefaults, Fields, check_activation,
                          check_kv_heads, check_rotary_head_dim, llama_lm_head,
                          read_decoder, split_heads)
from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .graph import GraphBuilder, KVStep
from .ir import Value
from .rope import RopeConfig

class Architecture:
    """Base: subclasses set `vocab`, `max_positions`, `layers`, `kv_heads`
    and `head_dim` (the KV cache shape), fill `tensors` and implement
    `build`."""

    #: model_type values handled.
    model_types: tuple[str, ...] = ()

    def __init__(self, ckpt: Checkpoint):
        self.ckpt = ckpt
        self.where = str(ckpt.dir / "config.json")
        self.tensors: dict[str, tuple[int, ...]] = {}
        self.vocab = 0
        self.max_positions: int | None = None

    def check_tensors(self) -> None:
        """Every needed tensor exists, is floating point, and has the shape
        the config implies."""
        from .dtypes import is_float
        for key, shape in self.tensors.items():
            info = self.ckpt.info(key)
            where = self.ckpt.file_of(key).path
            if not is_float(info.dtype):
                raise BnbMlirError(f"{where}: tensor '{key}' has dtype "
                                   f"{info.dtype}, expected a float type")
            if tuple(info.shape) != tuple(shape):
                raise BnbMlirError(
                    f"{where}: tensor '{key}' has shape {list(info.shape)}, "
                    f"but config.json implies {list(shape)}")

    def build(self, gb: GraphBuilder, ids: Value, bsz: int, seq: int,
              step: KVStep | None = None) -> tuple[Value, list[Value]]:
        """Emits the model on ids [B, S]. Without `step` (forward): returns
        the logits [B*S, vocab] and no caches. With `step` (decode/prefill,
        B = 1, S = step.chunk tokens at positions p..p+S-1): every layer
        attends over and updates its KV caches; returns the logits of the
        last token [1, vocab] and the updated caches (key, value per
        layer)."""
        raise NotImplementedError

    def check_generation(self, max_seq: int, chunk: int) -> None:
        """Rejects a cache length the model cannot address (rotary models
        can address any)."""


class Llama(Architecture):
    """LlamaForCausalLM (and MistralForCausalLM: the same graph plus a
    sliding-window mask)."""

    model_types = ("llama", "mistral")

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        c = Fields(ckpt.config, self.where)
        self.model_type = ckpt.config["model_type"]
        mistral = self.model_type == "mistral"
        read_decoder(self, c, DecoderDefaults(
            max_positions=4096 * 32 if mistral else 2048, eps=1e-6,
            tied=False))
        self.attention_bias = c.bool("attention_bias", False)
        self.mlp_bias = c.bool("mlp_bias", False)
        check_activation(c, "hidden_act", ("silu",), "silu")
        check_kv_heads(self)
        check_rotary_head_dim(self)
        # MistralConfig's sliding_window defaults to 4096; null disables it.
        self.window = c.optional_int("sliding_window", 4096) if mistral \
            else None
        self.rope = RopeConfig.from_config(ckpt.config, self.head_dim,
                                           self.where)

        hd, q, kv = self.hidden, self.heads * self.head_dim, \
            self.kv_heads * self.head_dim
        t = self.tensors
        t["model.embed_tokens.weight"] = (self.vocab, hd)
        for i in range(self.layers):
            p = f"model.layers.{i}."
            t[p + "input_layernorm.weight"] = (hd,)
            for name, out, inp in (("q_proj", q, hd), ("k_proj", kv, hd),
                                   ("v_proj", kv, hd), ("o_proj", hd, q)):
                t[f"{p}self_attn.{name}.weight"] = (out, inp)
                if self.attention_bias:
                    t[f"{p}self_attn.{name}.bias"] = (out,)
            t[p + "post_attention_layernorm.weight"] = (hd,)
            for name, out, inp in (("gate_proj", self.inter, hd),
                                   ("up_proj", self.inter, hd),
                                   ("down_proj", hd, self.inter)):
                t[f"{p}mlp.{name}.weight"] = (out, inp)
                if self.mlp_bias:
                    t[f"{p}mlp.{name}.bias"] = (out,)
        t["model.norm.weight"] = (hd,)
        self.lm_head = llama_lm_head(self)

    def _linear(self, gb, x, key, with_bias, hint):
        return gb.linear(x, key + ".weight",
                         key + ".bias" if with_bias else None, hint=hint)

    def build(self, gb, ids, bsz, seq, step=None):
        h = gb.embedding(ids, "model.embed_tokens.weight")
        # Rotary rows of the positions: 0..S-1, or p..p+C-1 of the [S_max]
        # tables.
        cos, sin = self.rope.tables(step.max_seq if step else seq)
        cos_v, sin_v = gb.rope_tables(cos, sin, gb.w.code)
        if step:
            cos_v = gb.rows(cos_v, step.position, seq, "rope_cos_rows")
            sin_v = gb.rows(sin_v, step.position, seq, "rope_sin_rows")
        ab, mb = self.attention_bias, self.mlp_bias
        scale = ("mul", self.head_dim ** -0.5)
        caches = []
        for i in range(self.layers):
            p, n = f"model.layers.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = gb.rms_norm(h, p + "input_layernorm.weight", self.eps,
                            n + "in_norm")
            q = self._linear(gb, x, p + "self_attn.q_proj", ab, n + "q")
            k = self._linear(gb, x, p + "self_attn.k_proj", ab, n + "k")
            v = self._linear(gb, x, p + "self_attn.v_proj", ab, n + "v")
            q = gb.rotary(q, self.heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "q_rot")
            k = gb.rotary(k, self.kv_heads, self.head_dim, bsz, seq, cos_v,
                          sin_v, n + "k_rot")
            a, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                            self.kv_heads, self.head_dim, scale, self.window,
                            n + "attn")
            o = self._linear(gb, a, p + "self_attn.o_proj", ab, n + "o")
            h = gb.add(h, o, n + "h_attn")
            x = gb.rms_norm(h, p + "post_attention_layernorm.weight",
                            self.eps, n + "post_norm")
            g = self._linear(gb, x, p + "mlp.gate_proj", mb, n + "gate")
            u = self._linear(gb, x, p + "mlp.up_proj", mb, n + "up")
            act = gb.silu_mul(g, u, n + "act")
            d = self._linear(gb, act, p + "mlp.down_proj", mb, n + "down")
            h = gb.add(h, d, n + "h")
            h, kv = _end_layer(gb, layer, h, kv, p[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        h = gb.rms_norm(h, "model.norm.weight", self.eps, "final_norm")
        return gb.linear(h, self.lm_head, module_name="lm_head",
                         hint="logits"), caches


class Gpt2(Architecture):
    """GPT2LMHeadModel: learned positions, pre-LayerNorm blocks, fused c_attn,
    Conv1D layers (x·W), gelu_new, lm_head tied to wte."""

    model_types = ("gpt2",)

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        c = Fields(ckpt.config, self.where)
        self.vocab = c.int("vocab_size", 50257)
        self.hidden = c.int("n_embd", 768)
        self.layers = c.int("n_layer", 12)
        self.heads = c.int("n_head", 12)
        self.max_positions = c.int("n_positions", 1024)
        self.inter = c.int("n_inner", 4 * self.hidden)
        self.eps = c.float("layer_norm_epsilon", 1e-5)
        self.tied = c.bool("tie_word_embeddings", True)
        self.scale = c.bool("scale_attn_weights", True)
        check_activation(c, "activation_function", ("gelu_new",), "gelu_new")
        for flag in ("scale_attn_by_inverse_layer_idx",
                     "reorder_and_upcast_attn", "add_cross_attention"):
            if c.bool(flag, False):
                raise BnbMlirError(f"{self.where}: '{flag}' is not supported")
        self.head_dim = split_heads(self.hidden, self.heads, self.where,
                                    "n_embd", "n_head")
        # Checkpoints saved from GPT2Model have no "transformer." prefix.
        self.prefix = "" if "wte.weight" in ckpt and \
            "transformer.wte.weight" not in ckpt else "transformer."

        hd, p = self.hidden, self.prefix
        from .prequantized import PrequantizedCheckpoint
        stored_as_linear = set(ckpt.layers) if isinstance(
            ckpt, PrequantizedCheckpoint) else set()
        #: Conv1D weight keys stored [out, in] (quantized), not [in, out].
        self.linear_layout = stored_as_linear
        t = self.tensors
        t[p + "wte.weight"] = (self.vocab, hd)
        t[p + "wpe.weight"] = (self.max_positions, hd)
        for i in range(self.layers):
            b = f"{p}h.{i}."
            for ln in ("ln_1", "ln_2"):
                t[f"{b}{ln}.weight"] = (hd,)
                t[f"{b}{ln}.bias"] = (hd,)
            for name, inp, out in (("attn.c_attn", hd, 3 * hd),
                                   ("attn.c_proj", hd, hd),
                                   ("mlp.c_fc", hd, self.inter),
                                   ("mlp.c_proj", self.inter, hd)):
                key = f"{b}{name}.weight"
                # A pre-quantized checkpoint stores a quantized Conv1D as the
                # Linear4bit / Linear8bitLt transformers replaced it with,
                # whose weight was transposed before quantization: [out, in].
                t[key] = (out, inp) if key in stored_as_linear else (inp, out)
                t[f"{b}{name}.bias"] = (out,)
        t[p + "ln_f.weight"] = (hd,)
        t[p + "ln_f.bias"] = (hd,)
        self.lm_head = p + "wte.weight" if self.tied else "lm_head.weight"
        t[self.lm_head] = (self.vocab, hd)

    def _conv1d(self, gb, x, key, hint):
        # transformers names the module "transformer.<key>" whatever the
        # checkpoint's prefix; skip lists match that name.
        name = key if key.startswith("transformer.") else "transformer." + key
        return gb.linear(x, key + ".weight", key + ".bias",
                         transposed=key + ".weight" in self.linear_layout,
                         module_name=name, hint=hint)

    @property
    def kv_heads(self) -> int:
        return self.heads

    def check_generation(self, max_seq, chunk):
        if max_seq > self.max_positions:
            raise BnbMlirError(f"{self.where}: max_seq_len {max_seq} exceeds "
                               f"n_positions {self.max_positions}")

    def build(self, gb, ids, bsz, seq, step=None):
        if seq > self.max_positions:
            raise BnbMlirError(f"{self.where}: sequence length {seq} exceeds "
                               f"n_positions {self.max_positions}")
        p, hd = self.prefix, self.hidden
        h = gb.embedding(ids, p + "wte.weight", p + "wpe.weight",
                         step.position if step else None)
        caches = []
        for i in range(self.layers):
            b, n = f"{p}h.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = gb.layer_norm(h, b + "ln_1.weight", b + "ln_1.bias", self.eps,
                              n + "ln1")
            qkv = self._conv1d(gb, x, b + "attn.c_attn", n + "qkv")
            rows = bsz * seq
            q = gb.f.extract_slice(qkv, [0, 0], [rows, hd], n + "q")
            k = gb.f.extract_slice(qkv, [0, hd], [rows, hd], n + "k")
            v = gb.f.extract_slice(qkv, [0, 2 * hd], [rows, hd], n + "v")
            scale = ("div", self.head_dim ** 0.5) if self.scale else \
                ("mul", 1.0)
            a, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                            self.heads, self.head_dim, scale, None,
                            n + "attn")
            o = self._conv1d(gb, a, b + "attn.c_proj", n + "o")
            h = gb.add(h, o, n + "h_attn")
            x = gb.layer_norm(h, b + "ln_2.weight", b + "ln_2.bias", self.eps,
                              n + "ln2")
            f = self._conv1d(gb, x, b + "mlp.c_fc", n + "fc")
            f = gb.gelu_new(f, n + "gelu")
            d = self._conv1d(gb, f, b + "mlp.c_proj", n + "down")
            h = gb.add(h, d, n + "h")
            h, kv = _end_layer(gb, layer, h, kv, b[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        h = gb.layer_norm(h, p + "ln_f.weight", p + "ln_f.bias", self.eps,
                          "final_norm")
        return gb.linear(h, self.lm_head, module_name="lm_head",
                         hint="logits"), caches


def _attend(gb: GraphBuilder, q, k, v, bsz, seq, step: KVStep | None,
            layer: int, heads, kv_heads, head_dim, scale, window, hint):
    """Attention of one layer: over the layer's own keys (forward) or, with
    `step`, over its KV cache. Returns (out, [updated key cache, value
    cache] or [])."""
    if step is None:
        return gb.attention(q, k, v, bsz, seq, heads, kv_heads, head_dim,
                            scale, window, hint), []
    a, kc, vc = gb.cached_attention(q, k, v, step, layer, heads, kv_heads,
                                    head_dim, scale, window, hint)
    return a, [kc, vc]


def _end_layer(gb: GraphBuilder, marker: int, h: Value, caches: list,
               name: str) -> tuple[Value, list[Value]]:
    """Closes a layer region yielding the residual stream (and the updated
    caches, which leave the region as its further results)."""
    if not caches:
        return gb.end_layer(marker, h, name), []
    out = gb.end_layer(marker, [h, *caches], name)
    return out[0], out[1:]


# Encoders live in their own modules (imported here, after Architecture).
from .arch_bert import Bert  # noqa: E402

# Decoders in their own modules (imported here, after Architecture).
from .arch_gpt_neox import GptNeox  # noqa: E402
from .arch_phi3 import Phi3  # noqa: E402
from .arch_qwen2 import Qwen2  # noqa: E402
from .arch_gemma import Gemma  # noqa: E402
from .arch_opt import Opt  # noqa: E402

ARCHITECTURES = (Llama, Gpt2, Qwen2, Phi3, GptNeox, Gemma, Opt, Bert)


def architecture_for(ckpt: Checkpoint) -> Architecture:
    """The architecture of a checkpoint (by config.json's model_type), with
    its config parsed and every tensor checked."""
    where = ckpt.dir / "config.json"
    model_type = ckpt.config.get("model_type")
    if not isinstance(model_type, str):
        raise BnbMlirError(f"{where}: missing field 'model_type'")
    for arch in ARCHITECTURES:
        if model_type in arch.model_types:
            model = arch(ckpt)
            model.check_tensors()
            return model
    supported = ", ".join(t for a in ARCHITECTURES for t in a.model_types)
    raise BnbMlirError(f"{where}: model_type '{model_type}' is not supported "
                       f"({supported})")
