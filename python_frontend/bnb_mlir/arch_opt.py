"""OPTForCausalLM (model_type "opt").

As transformers' modeling code computes it:

- learned positions with an offset of 2: for an unpadded sequence the
  attention mask is all ones, cumsum(mask) * mask - 1 is 0..S-1 (past_len..
  past_len+S-1 with a cache), and rows position + 2 of embed_positions
  ([max_position_embeddings + 2, hidden]) are added to the token
  embeddings;
- word_embed_proj_dim: token embeddings of that width, project_in (no bias)
  to hidden_size before the positions are added, project_out (no bias) after
  the final LayerNorm, an lm_head of that width;
- do_layer_norm_before: LayerNorm before attention and MLP (pre-LN, and a
  final LayerNorm unless _remove_final_layer_norm) or after the residual
  adds (post-LN, no final LayerNorm);
- the query is multiplied by head_dim ** -0.5 after q_proj (the scores are
  then scaled by 1.0); ReLU MLP (fc1, fc2); biases on every linear when
  enable_bias; LayerNorm eps 1e-5; lm_head tied to embed_tokens.

Checkpoints hold "model.decoder.*" keys (OPTForCausalLM) or "decoder.*" keys
(OPTModel, as the published facebook/opt files); transformers names the
modules "model.decoder.*" either way, and so do skip lists.
"""
from __future__ import annotations

from .arch_config import Fields, check_activation, split_heads
from .checkpoint import Checkpoint
from .errors import BnbMlirError
from .graph import GraphBuilder, amap
from .ir import TensorType
from .models import Architecture, _attend, _end_layer

POSITION_OFFSET = 2
LN_EPS = 1e-5


class Opt(Architecture):
    """OPTForCausalLM."""

    model_types = ("opt",)

    def __init__(self, ckpt: Checkpoint):
        super().__init__(ckpt)
        config = ckpt.config
        c = Fields(config, self.where)
        self.vocab = c.int("vocab_size", 50272)
        self.hidden = c.int("hidden_size", 768)
        self.layers = c.int("num_hidden_layers", 12)
        self.heads = c.int("num_attention_heads", 12)
        self.ffn = c.int("ffn_dim", 3072)
        self.max_positions = c.int("max_position_embeddings", 2048)
        self.proj_dim = c.int("word_embed_proj_dim", self.hidden)
        self.pre_ln = c.bool("do_layer_norm_before", True)
        self.final_ln = self.pre_ln and \
            not c.bool("_remove_final_layer_norm", False)
        self.bias = c.bool("enable_bias", True)
        self.tied = c.bool("tie_word_embeddings", True)
        if not c.bool("layer_norm_elementwise_affine", True):
            raise BnbMlirError(f"{self.where}: "
                               "'layer_norm_elementwise_affine' false is not "
                               "supported")
        check_activation(c, "activation_function", ("relu",), "relu")
        self.head_dim = split_heads(self.hidden, self.heads, self.where)
        self.project = self.proj_dim != self.hidden
        # OPTModel checkpoints ("decoder.*") or OPTForCausalLM ones.
        self.prefix = "decoder." if "decoder.embed_tokens.weight" in ckpt \
            and "model.decoder.embed_tokens.weight" not in ckpt \
            else "model.decoder."

        hd, p = self.hidden, self.prefix
        t = self.tensors
        t[p + "embed_tokens.weight"] = (self.vocab, self.proj_dim)
        t[p + "embed_positions.weight"] = (self.max_positions +
                                           POSITION_OFFSET, hd)
        if self.project:
            t[p + "project_in.weight"] = (hd, self.proj_dim)
            t[p + "project_out.weight"] = (self.proj_dim, hd)
        for i in range(self.layers):
            b = f"{p}layers.{i}."
            for name, out, inp in (("self_attn.q_proj", hd, hd),
                                   ("self_attn.k_proj", hd, hd),
                                   ("self_attn.v_proj", hd, hd),
                                   ("self_attn.out_proj", hd, hd),
                                   ("fc1", self.ffn, hd),
                                   ("fc2", hd, self.ffn)):
                t[f"{b}{name}.weight"] = (out, inp)
                if self.bias:
                    t[f"{b}{name}.bias"] = (out,)
            for ln in ("self_attn_layer_norm", "final_layer_norm"):
                t[f"{b}{ln}.weight"] = (hd,)
                t[f"{b}{ln}.bias"] = (hd,)
        if self.final_ln:
            t[p + "final_layer_norm.weight"] = (hd,)
            t[p + "final_layer_norm.bias"] = (hd,)
        self.lm_head = (p + "embed_tokens.weight" if self.tied
                        else "lm_head.weight")
        t[self.lm_head] = (self.vocab, self.proj_dim)

    @property
    def kv_heads(self) -> int:
        return self.heads

    def check_generation(self, max_seq, chunk):
        if max_seq > self.max_positions:
            raise BnbMlirError(f"{self.where}: max_seq_len {max_seq} exceeds "
                               "max_position_embeddings "
                               f"{self.max_positions}")

    def _linear(self, gb, x, key, hint, bias=None):
        """nn.Linear named as transformers names the module."""
        with_bias = self.bias if bias is None else bias
        name = "model." + key if not key.startswith("model.") else key
        return gb.linear(x, key + ".weight",
                         key + ".bias" if with_bias else None,
                         module_name=name, hint=hint)

    def _ln(self, gb, x, key, hint):
        return gb.layer_norm(x, key + ".weight", key + ".bias", LN_EPS, hint)

    def _positions(self, gb: GraphBuilder, h, bsz, seq, step):
        """h [B*S, hidden] + rows position+2 of embed_positions (in T)."""
        f = gb.f
        table = gb.w.load(f, self.prefix + "embed_positions.weight")
        if step is None:
            rows = f.extract_slice(table, [POSITION_OFFSET, 0],
                                   [seq, self.hidden], "pos_rows")
        else:
            start = f.op("pos_start", f"arith.addi {step.position}, "
                         f"{f.const(POSITION_OFFSET, 'index', 'pos_offset')}"
                         " : index", "index")
            rows = gb.rows(table, start, seq, "pos_rows")
        h3 = f.expand(h, [[0, 1], [2]], [bsz, seq, self.hidden], "h_tokens")
        out = gb.elementwise(
            [h3, rows], TensorType((bsz, seq, self.hidden), gb.T),
            lambda b, x, y: b.addf(x, y), "h_pos",
            [gb.id_map(3), amap(gb.m, 3, [1, 2], "#pos_row")])
        return f.collapse(out, [[0, 1], [2]], "h")

    def build(self, gb: GraphBuilder, ids, bsz, seq, step=None):
        if seq > self.max_positions:
            raise BnbMlirError(f"{self.where}: sequence length {seq} exceeds "
                               "max_position_embeddings "
                               f"{self.max_positions}")
        p = self.prefix
        h = gb.embedding(ids, p + "embed_tokens.weight")
        if self.project:
            h = self._linear(gb, h, p + "project_in", "project_in", False)
        h = self._positions(gb, h, bsz, seq, step)
        scaling = self.head_dim ** -0.5
        caches = []
        for i in range(self.layers):
            b, n = f"{p}layers.{i}.", f"l{i}_"
            layer = gb.begin_layer()
            x = self._ln(gb, h, b + "self_attn_layer_norm", n + "attn_ln") \
                if self.pre_ln else h
            q = self._linear(gb, x, b + "self_attn.q_proj", n + "q")
            q = gb.scale(q, scaling, n + "q_scaled")
            k = self._linear(gb, x, b + "self_attn.k_proj", n + "k")
            v = self._linear(gb, x, b + "self_attn.v_proj", n + "v")
            a, kv = _attend(gb, q, k, v, bsz, seq, step, i, self.heads,
                            self.heads, self.head_dim, ("mul", 1.0), None,
                            n + "attn")
            o = self._linear(gb, a, b + "self_attn.out_proj", n + "o")
            h = gb.add(h, o, n + "h_attn")
            if not self.pre_ln:
                h = self._ln(gb, h, b + "self_attn_layer_norm", n + "attn_ln")
            x = self._ln(gb, h, b + "final_layer_norm", n + "ffn_ln") \
                if self.pre_ln else h
            f = gb.relu(self._linear(gb, x, b + "fc1", n + "fc1"), n + "relu")
            d = self._linear(gb, f, b + "fc2", n + "fc2")
            h = gb.add(h, d, n + "h")
            if not self.pre_ln:
                h = self._ln(gb, h, b + "final_layer_norm", n + "ffn_ln")
            h, kv = _end_layer(gb, layer, h, kv, "model." + b[:-1]
                               if not b.startswith("model.") else b[:-1])
            caches += kv
        if step:
            h = gb.last_row(h)
        if self.final_ln:
            h = self._ln(gb, h, p + "final_layer_norm", "final_norm")
        if self.project:
            h = self._linear(gb, h, p + "project_out", "project_out", False)
        return gb.linear(h, self.lm_head, module_name="lm_head",
                         hint="logits"), caches
