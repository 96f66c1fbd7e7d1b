"""BERT-family encoders (`model_type` "bert"): BertModel's forward pass.

Follows transformers' modeling_bert.py (eager attention):

- embeddings: `word_embeddings(input_ids) + token_type_embeddings(
  token_type_ids)`, then `+ position_embeddings(0..S-1)` (each sum in T),
  then LayerNorm (`layer_norm_eps`);
- each layer, post-LN: `LayerNorm(attention.output.dense(self-attention(h))
  + h)`, then `LayerNorm(output.dense(gelu(intermediate.dense(x))) + x)`;
- self-attention is bidirectional: scores `q·kᵀ` (float32 sums rounded to
  T) times `head_dim ** -0.5` (a Python float), keys whose `attention_mask`
  is 0 get finfo(T).min (what adding transformers' extended mask
  `(1 - mask) * finfo(T).min` gives after the softmax), softmax in float32;
- `hidden_act` "gelu": the exact erf form, `0.5·x·(1 + erf(x/√2))` in
  float32, rounded to T once.

The only entry point is `@forward(input_ids, attention_mask,
token_type_ids)`, all `i64 [B, S]`, returning `last_hidden_state [B, S,
hidden]` in T. The pooler is not part of it (sentence embeddings pool the
last hidden state), and encoders get no `@prefill`/`@decode`.

Checkpoints store the keys with the `bert.` prefix (saved from
BertForMaskedLM, BertForPreTraining, ...) or without it (saved from
BertModel, as sentence-transformers models such as all-MiniLM-L6-v2 are).
transformers loads either as BertModel, whose modules are named without the
prefix: that name (`encoder.layer.0.attention.self.query`) is the module
name skip lists match. transformers' automatic skip list for BertModel
(`get_keys_to_not_convert`: no tied weights and no output embedding, so the
last module, `pooler.dense`) names no linear of this graph, so every
encoder linear is quantized.
"""
from __future__ import annotations

from .arch_config import Fields, check_activation, split_heads
from .checkpoint import Checkpoint
from .config import mlir_string
from .errors import BnbMlirError
from .graph import PAR, RED, GraphBuilder, WeightSource, amap
from .ir import Block, Module, TensorType, Value
from .models import Architecture

#: The names of the entry point's inputs, in order, and of its result.
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ENCODER_OUTPUT = "last_hidden_state"

_SQRT1_2 = 0.7071067811865476


class Bert(Architecture):
    """BertModel: absolute positions, token types, post-LN encoder layers,
    exact GELU, a padding mask; returns the last hidden state."""

    model_types = ("bert",)
    #: An encoder: one `@forward` with a padding mask, no generation.
    encoder = True

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        c = Fields(ckpt.config, self.where)
        self.vocab = c.int("vocab_size", 30522)
        self.hidden = c.int("hidden_size", 768)
        self.layers = c.int("num_hidden_layers", 12)
        self.heads = c.int("num_attention_heads", 12)
        self.inter = c.int("intermediate_size", 3072)
        self.max_positions = c.int("max_position_embeddings", 512)
        self.type_vocab = c.int("type_vocab_size", 2)
        self.eps = c.float("layer_norm_eps", 1e-12)
        check_activation(c, "hidden_act", ("gelu",), "gelu")
        pos = c.str("position_embedding_type", "absolute")
        if pos != "absolute":
            raise BnbMlirError(f"{self.where}: position_embedding_type "
                               f"'{pos}' is not supported (absolute)")
        for flag in ("is_decoder", "add_cross_attention"):
            if c.bool(flag, False):
                raise BnbMlirError(f"{self.where}: '{flag}' is not supported "
                                   "(BertModel as an encoder)")
        self.head_dim = split_heads(self.hidden, self.heads, self.where)
        self.kv_heads = self.heads
        self.prefix = ("bert." if "bert.embeddings.word_embeddings.weight"
                       in ckpt else "")

        hd, p, t = self.hidden, self.prefix, self.tensors
        t[p + "embeddings.word_embeddings.weight"] = (self.vocab, hd)
        t[p + "embeddings.position_embeddings.weight"] = (self.max_positions,
                                                          hd)
        t[p + "embeddings.token_type_embeddings.weight"] = (self.type_vocab,
                                                            hd)
        t[p + "embeddings.LayerNorm.weight"] = (hd,)
        t[p + "embeddings.LayerNorm.bias"] = (hd,)
        for i in range(self.layers):
            b = f"{p}encoder.layer.{i}."
            for name, out, inp in (("attention.self.query", hd, hd),
                                   ("attention.self.key", hd, hd),
                                   ("attention.self.value", hd, hd),
                                   ("attention.output.dense", hd, hd),
                                   ("intermediate.dense", self.inter, hd),
                                   ("output.dense", hd, self.inter)):
                t[f"{b}{name}.weight"] = (out, inp)
                t[f"{b}{name}.bias"] = (out,)
            for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
                t[f"{b}{ln}.weight"] = (hd,)
                t[f"{b}{ln}.bias"] = (hd,)

    def build(self, gb, ids, bsz, seq, step=None):
        raise BnbMlirError(f"{self.where}: model_type 'bert' is an encoder; "
                           "it has only the @forward of emit_forward")

    def check_generation(self, max_seq, chunk):
        raise BnbMlirError(f"{self.where}: model_type 'bert' is an encoder "
                           "and has no generation entry points")

    # -- the graph ------------------------------------------------------------

    def emit_forward(self, module: Module, source: WeightSource, elem: str,
                     batch: int, seq: int) -> None:
        """`func.func @forward(%input_ids, %attention_mask, %token_type_ids:
        tensor<BxSxi64>) -> tensor<BxSxHxT> {bnb.name = "last_hidden_state"}`.
        """
        if seq > self.max_positions:
            raise BnbMlirError(f"{self.where}: sequence length {seq} exceeds "
                               "max_position_embeddings "
                               f"{self.max_positions}")
        ids_t = TensorType((batch, seq), "i64")
        out_t = TensorType((batch, seq, self.hidden), elem)
        # bnb-run refuses ids outside [0, bound), where transformers'
        # embedding lookup raises (the graph itself clamps).
        bounds = {"input_ids": self.vocab, "token_type_ids": self.type_vocab}
        args = [(n, ids_t, {"bnb.name": mlir_string(n),
                            "bnb.vocab_size": f"{bounds[n]} : i64"})
                if n in bounds else (n, ids_t) for n in ENCODER_INPUTS]
        func = module.func("forward", args, [out_t],
                           result_names=[ENCODER_OUTPUT])
        gb = GraphBuilder(module, func, source, elem)
        ids, mask, types = func.args
        p, hd = self.prefix, self.hidden
        h = self._embeddings(gb, ids, types)
        h = gb.layer_norm(h, p + "embeddings.LayerNorm.weight",
                          p + "embeddings.LayerNorm.bias", self.eps, "emb_ln")
        for i in range(self.layers):
            b, n = f"{p}encoder.layer.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            q = self._linear(gb, h, b + "attention.self.query", n + "q")
            k = self._linear(gb, h, b + "attention.self.key", n + "k")
            v = self._linear(gb, h, b + "attention.self.value", n + "v")
            a = encoder_attention(gb, q, k, v, mask, batch, seq, self.heads,
                                  self.head_dim, n + "attn")
            o = self._linear(gb, a, b + "attention.output.dense", n + "o")
            h = gb.layer_norm(gb.add(o, h, n + "h_attn"),
                              b + "attention.output.LayerNorm.weight",
                              b + "attention.output.LayerNorm.bias", self.eps,
                              n + "attn_ln")
            f = self._linear(gb, h, b + "intermediate.dense", n + "fc")
            f = gelu_erf(gb, f, n + "gelu")
            d = self._linear(gb, f, b + "output.dense", n + "down")
            h = gb.layer_norm(gb.add(d, h, n + "h_ffn"),
                              b + "output.LayerNorm.weight",
                              b + "output.LayerNorm.bias", self.eps,
                              n + "ffn_ln")
            h = gb.end_layer(layer, h, b[:-1])
        func.ret([func.expand(h, [[0, 1], [2]], [batch, seq, hd],
                              ENCODER_OUTPUT)])

    def _linear(self, gb: GraphBuilder, x: Value, key: str,
                hint: str) -> Value:
        # BertModel names its modules without the checkpoint's "bert.".
        name = key[len(self.prefix):]
        return gb.linear(x, key + ".weight", key + ".bias", module_name=name,
                         hint=hint)

    def _embeddings(self, gb: GraphBuilder, ids: Value,
                    types: Value) -> Value:
        """(word[ids] + token_type[types]) + position[0..S-1] in T, as
        [B*S, hidden]; ids and type ids are clamped to their tables."""
        p = self.prefix
        words = gb.w.load(gb.f, p + "embeddings.word_embeddings.weight")
        kinds = gb.w.load(gb.f, p + "embeddings.token_type_embeddings.weight")
        pos = gb.w.load(gb.f, p + "embeddings.position_embeddings.weight")
        bsz, seq = ids.tensor.shape
        out_t = TensorType((bsz, seq, self.hidden), gb.T)

        def body(b: Block, token: Value, kind: Value) -> Value:
            col = b.index(2, "col")
            row = b.clamp_index(b.index_cast(token, "index", "tok"),
                                self.vocab - 1, "tok")
            trow = b.clamp_index(b.index_cast(kind, "index", "typ"),
                                 self.type_vocab - 1, "typ")
            v = b.addf(b.extract(words, [row, col], "we"),
                       b.extract(kinds, [trow, col], "te"))
            return b.addf(v, b.extract(pos, [b.index(1, "pos"), col], "pe"))

        token_map = amap(gb.m, 3, [0, 1], "#token")
        h = gb.elementwise([ids, types], out_t, body, "emb",
                           [token_map, token_map])
        return gb.f.collapse(h, [[0, 1], [2]], "emb")


def encoder_attention(gb: GraphBuilder, q: Value, k: Value, v: Value,
                      mask: Value, bsz: int, seq: int, heads: int,
                      head_dim: int, hint: str) -> Value:
    """Bidirectional multi-head attention with a key padding mask.

    q/k/v [B*S, H*D] in T, mask [B, S] (i64, 0 = padding) ->
    [B*S, H*D]. Scores and the weighted sum accumulate in float32 and are
    rounded to T; the scale `head_dim ** -0.5` multiplies as PyTorch
    multiplies a T tensor by a Python float; masked keys get finfo(T).min;
    softmax in float32, rounded to T.
    """
    T, f, m = gb.T, gb.f, gb.m
    q4, k4, v4 = (f.expand(x, [[0, 1], [2, 3]], [bsz, seq, heads, head_dim],
                           f"{hint}_{n}") for x, n in ((q, "q"), (k, "k"),
                                                        (v, "v")))

    def dot(b, x, y, acc):
        fast = "reassoc,contract"
        return b.addf(acc, b.mulf(b.cast(x, "f32"), b.cast(y, "f32"),
                                  fastmath=fast), fastmath=fast)

    # scores[b, h, i, j] = sum_d q[b, i, h, d] * k[b, j, h, d]; loops
    # (b, h, i, j, d).
    sc_t = TensorType((bsz, heads, seq, seq), "f32")
    scores = f.generic(
        [q4, k4], [f.filled(sc_t, 0.0, hint + "_s")],
        [amap(m, 5, [0, 2, 1, 4], "#enc_q"), amap(m, 5, [0, 3, 1, 4],
                                                  "#enc_k"),
         amap(m, 5, [0, 1, 2, 3], "#drop_last5")],
        [PAR] * 4 + [RED], dot, hint + "_scores")[0]
    scale = head_dim ** -0.5

    def masked(b: Block, s: Value, keep: Value) -> Value:
        s = gb.scalar_op_f32(b, b.cast(s, T), scale, "mul")
        pad = b.cmpi("eq", keep, b.const(0, "i64", "c0_i64"), "pad")
        return b.cast(b.select(pad, b.const_min(T), s, "masked"), "f32")

    logits = gb.elementwise([scores, mask], sc_t, masked, hint + "_logits",
                            [gb.id_map(4), amap(m, 4, [0, 3], "#key_mask")])
    probs = gb.softmax_last(logits, T, hint + "_p")

    # ctx[b, i, h, d] = sum_j p[b, h, i, j] * v[b, j, h, d]; loops
    # (b, i, h, d, j).
    acc_t = TensorType((bsz, seq, heads, head_dim), "f32")
    ctx = f.generic(
        [probs, v4], [f.filled(acc_t, 0.0, hint + "_o")],
        [amap(m, 5, [0, 2, 1, 4], "#enc_p"), amap(m, 5, [0, 4, 2, 3],
                                                  "#enc_v"),
         amap(m, 5, [0, 1, 2, 3], "#drop_last5")],
        [PAR] * 4 + [RED], dot, hint + "_ctx")[0]
    ctx = gb.elementwise([ctx], acc_t.with_elem(T),
                         lambda b, a: b.cast(a, T), hint + "_ctx")
    return f.collapse(ctx, [[0, 1], [2, 3]], hint)


def gelu_erf(gb: GraphBuilder, x: Value, hint: str) -> Value:
    """nn.functional.gelu (approximate="none"): 0.5·x·(1 + erf(x·√½)) in
    float32, rounded to T once."""
    T = gb.T

    def body(b: Block, a: Value) -> Value:
        xf = b.cast(a, "f32")
        u = b.mulf(xf, b.const(_SQRT1_2, "f32", "rsqrt2"))
        e = b.op("erf", f"math.erf {u} : f32", "f32")
        one = b.const(1.0, "f32", "one")
        half = b.mulf(xf, b.const(0.5, "f32", "half"))
        return b.cast(b.mulf(half, b.addf(one, e)), T)

    return gb.elementwise([x], x.tensor, body, hint)


def is_encoder(model: Architecture) -> bool:
    """Whether `model` is an encoder (one @forward, no generation)."""
    return bool(getattr(model, "encoder", False))


__all__ = ["Bert", "ENCODER_INPUTS", "ENCODER_OUTPUT", "encoder_attention",
           "gelu_erf", "is_encoder"]
