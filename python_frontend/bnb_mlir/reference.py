"""A plain numpy forward pass of the supported architectures.

Written independently of the graph emitter (it reads config.json and the
tensors itself) to check the emitted graphs and to give the unquantized
baseline the quantized runs are compared with. Arithmetic is float32; values
are rounded to the model dtype T wherever transformers' eager PyTorch code
produces a T tensor, and matmuls accumulate in float32 before rounding (as
cuBLAS does). With T = float32 all roundings vanish.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .checkpoint import Checkpoint, storage_code
from .dtypes import canonical_float_name, from_f32, to_f32
from .errors import BnbMlirError
from .rope import RopeConfig


class _Rounder:
    """Rounds float32 arrays to the model dtype and back."""

    def __init__(self, code: str):
        self.code = code

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.code == "F32":
            return x
        return to_f32(from_f32(x, self.code), self.code)


def reference_forward(hf_dir: str | os.PathLike, input_ids: np.ndarray,
                      dtype: str | None = None) -> np.ndarray:
    """Logits [B, S, vocab] (float32 holding T values) of the checkpoint for
    `input_ids` [B, S], computed in `dtype` (default: the checkpoint's)."""
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise BnbMlirError("input_ids must be a 2-D integer array")
    with Checkpoint(hf_dir) as ckpt:
        name = canonical_float_name(dtype, "dtype") if dtype \
            else ckpt.torch_dtype()
        rnd = _Rounder(storage_code(name))
        model_type = ckpt.config.get("model_type")
        if model_type in ("llama", "mistral"):
            return _llama(ckpt, ids, rnd)
        if model_type == "gpt2":
            return _gpt2(ckpt, ids, rnd)
        if _own_module(model_type):
            return _own_module(model_type).forward(ckpt, ids, rnd)
        raise BnbMlirError(f"{ckpt.dir / 'config.json'}: model_type "
                           f"'{model_type}' is not supported")


def _own_module(model_type):
    """The reference module of an architecture kept in its own module (with
    `forward(ckpt, ids, rnd)` and a `Decoder` for ReferenceDecoder), or
    None."""
    from . import ref_gpt_neox, ref_phi3, ref_qwen2
    from . import ref_gemma, ref_opt
    return {"qwen2": ref_qwen2, "phi3": ref_phi3,
            "gpt_neox": ref_gpt_neox, "gemma": ref_gemma,
            "gemma2": ref_gemma, "opt": ref_opt}.get(model_type)


def _weights(ckpt: Checkpoint, rnd: _Rounder):
    """Loads a tensor as float32 holding its value converted to T."""
    return lambda key: rnd(ckpt.f32(key))


def _linear(x, w, b, rnd):
    """F.linear in T: float32 accumulation, bias in the epilogue, one
    rounding."""
    y = x.astype(np.float32) @ w.T.astype(np.float32)
    if b is not None:
        y = y + b
    return rnd(y)


def _min_value(rnd: _Rounder) -> np.float32:
    """finfo(T).min, the masked score."""
    return np.float32({"F32": np.finfo(np.float32).min, "F16": -65504.0,
                       "BF16": -3.3895313892515355e38}[rnd.code])


def _rms_norm(x, w, eps, rnd):
    """LlamaRMSNorm: float32 statistics, rounded to T, times the weight."""
    f32 = np.float32
    xf = x.astype(f32)
    var = (xf * xf).sum(-1, keepdims=True, dtype=f32) * f32(1.0 / x.shape[-1])
    y = xf * (f32(1.0) / np.sqrt(var + f32(eps)))
    return rnd(w * rnd(y))


def _layer_norm(x, w, b, eps, rnd):
    """nn.LayerNorm in float32, rounded to T once."""
    f32 = np.float32
    n = x.shape[-1]
    xf = x.astype(f32)
    mean = xf.sum(-1, keepdims=True, dtype=f32) * f32(1.0 / n)
    d = xf - mean
    var = (d * d).sum(-1, keepdims=True, dtype=f32) * f32(1.0 / n)
    y = d * (f32(1.0) / np.sqrt(var + f32(eps)))
    return rnd(y * w + b)


def _silu_mul(g, u, rnd):
    """act_fn(gate) * up, SiLU in float32 rounded to T."""
    return rnd(rnd(g / (np.float32(1.0) + np.exp(-g))) * u)


def _gelu_new(x, rnd):
    """GPT-2's gelu_new, each PyTorch op rounded to T."""
    f32 = np.float32
    cube = rnd(rnd(x * x) * x)
    inner = rnd(x + rnd(f32(0.044715) * cube))
    t = rnd(np.tanh(rnd(f32(math.sqrt(2.0 / math.pi)) * inner)))
    return rnd(rnd(f32(0.5) * x) * rnd(f32(1.0) + t))


def _rotate(x, cos, sin, rnd):
    """apply_rotary_pos_emb on x [B, H, S, D] with cos/sin rows [S, D]."""
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return rnd(rnd(x * cos) + rnd(rot * sin))


def _attention(q, k, v, scale_fn, rnd, window=None):
    """Eager attention. q [B, H, S, D], k/v [B, H, S, D] (already repeated).
    Scores rounded to T, scaled by `scale_fn`, causally masked with
    finfo(T).min, softmax in float32, rounded to T, times v."""
    scores = rnd(np.einsum("bhid,bhjd->bhij", q, k))
    scores = scale_fn(scores)
    seq = q.shape[2]
    i = np.arange(seq)[:, None]
    j = np.arange(seq)[None, :]
    masked = j > i
    if window is not None:
        masked |= j <= i - window
    scores = np.where(masked, _min_value(rnd), scores).astype(np.float32)
    m = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - m)
    p = rnd(e / e.sum(axis=-1, keepdims=True))
    return rnd(np.einsum("bhij,bhjd->bhid", p, v))


def _llama(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    c = ckpt.config
    W = _weights(ckpt, rnd)
    hidden = c["hidden_size"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    eps = c.get("rms_norm_eps", 1e-6)
    layers = c["num_hidden_layers"]
    attn_bias = c.get("attention_bias", False)
    mlp_bias = c.get("mlp_bias", False)
    window = c.get("sliding_window", 4096) if c["model_type"] == "mistral" \
        else None
    bsz, seq = ids.shape
    f32 = np.float32

    def rms_norm(x, w):
        return _rms_norm(x, w, eps, rnd)

    def lin(x, key, bias):
        return _linear(x, W(key + ".weight"),
                       W(key + ".bias") if bias else None, rnd)

    rope = RopeConfig.from_config(c, head_dim, "config.json")
    cos, sin = (rnd(t) for t in rope.tables(seq))  # [S, D]

    def rotate(x):  # x [B, H, S, D]
        return _rotate(x, cos, sin, rnd)

    emb = W("model.embed_tokens.weight")
    h = emb[np.clip(ids, 0, emb.shape[0] - 1)]  # [B, S, hidden]
    scale = head_dim ** -0.5
    for i in range(layers):
        p = f"model.layers.{i}."
        x = rms_norm(h, W(p + "input_layernorm.weight"))
        q = lin(x, p + "self_attn.q_proj", attn_bias)
        k = lin(x, p + "self_attn.k_proj", attn_bias)
        v = lin(x, p + "self_attn.v_proj", attn_bias)
        q = q.reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)
        k = k.reshape(bsz, seq, kv_heads, head_dim).transpose(0, 2, 1, 3)
        v = v.reshape(bsz, seq, kv_heads, head_dim).transpose(0, 2, 1, 3)
        q, k = rotate(q), rotate(k)
        k = np.repeat(k, heads // kv_heads, axis=1)  # repeat_kv
        v = np.repeat(v, heads // kv_heads, axis=1)
        a = _attention(q, k, v, lambda s: rnd(s * f32(scale)), rnd, window)
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, heads * head_dim)
        h = rnd(h + lin(a, p + "self_attn.o_proj", attn_bias))
        x = rms_norm(h, W(p + "post_attention_layernorm.weight"))
        g = lin(x, p + "mlp.gate_proj", mlp_bias)
        u = lin(x, p + "mlp.up_proj", mlp_bias)
        h = rnd(h + lin(_silu_mul(g, u, rnd), p + "mlp.down_proj", mlp_bias))
    h = rms_norm(h, W("model.norm.weight"))
    lm = "model.embed_tokens.weight" if c.get("tie_word_embeddings", False) \
        else "lm_head.weight"
    return _linear(h, W(lm), None, rnd)


def _gpt2(ckpt: Checkpoint, ids: np.ndarray, rnd: _Rounder) -> np.ndarray:
    c = ckpt.config
    W = _weights(ckpt, rnd)
    p = "" if "wte.weight" in ckpt and "transformer.wte.weight" not in ckpt \
        else "transformer."
    hidden = c.get("n_embd", 768)
    heads = c.get("n_head", 12)
    eps = c.get("layer_norm_epsilon", 1e-5)
    head_dim = hidden // heads
    bsz, seq = ids.shape
    f32 = np.float32

    def layer_norm(x, key):
        return _layer_norm(x, W(key + ".weight"), W(key + ".bias"), eps, rnd)

    def conv1d(x, key):
        return _linear(x, W(key + ".weight").T, W(key + ".bias"), rnd)

    def gelu_new(x):
        return _gelu_new(x, rnd)

    wte = W(p + "wte.weight")
    h = rnd(wte[np.clip(ids, 0, wte.shape[0] - 1)] +
            W(p + "wpe.weight")[:seq][None])
    div = rnd(np.float32(head_dim ** 0.5)) if c.get("scale_attn_weights",
                                                    True) else f32(1.0)
    for i in range(c.get("n_layer", 12)):
        b = f"{p}h.{i}."
        x = layer_norm(h, b + "ln_1")
        qkv = conv1d(x, b + "attn.c_attn")
        q, k, v = (qkv[..., j * hidden:(j + 1) * hidden]
                   .reshape(bsz, seq, heads, head_dim).transpose(0, 2, 1, 3)
                   for j in range(3))
        a = _attention(q, k, v, lambda s: rnd(s / div), rnd)
        a = a.transpose(0, 2, 1, 3).reshape(bsz, seq, hidden)
        h = rnd(h + conv1d(a, b + "attn.c_proj"))
        x = layer_norm(h, b + "ln_2")
        h = rnd(h + conv1d(gelu_new(conv1d(x, b + "mlp.c_fc")),
                           b + "mlp.c_proj"))
    h = layer_norm(h, p + "ln_f")
    lm = p + "wte.weight" if c.get("tie_word_embeddings", True) \
        else "lm_head.weight"
    return _linear(h, W(lm), None, rnd)


# ---------------------------------------------------------------------------
# Incremental decoding with a KV cache
# ---------------------------------------------------------------------------

def generation_schedule(prompt_len: int, total_len: int,
                        chunk: int) -> list[tuple[str, int, int]]:
    """The calls that run a prompt of `prompt_len` tokens and then generate
    up to `total_len` tokens: floor(T/C) prefill calls of C tokens, T mod C
    decode calls, then one decode call per further token. Each call is
    (entry, first position, token count); its logits are those of the
    token at `first position + count - 1`. This is the plain schedule the
    reference runs; bnb-run may run the last T mod C prompt tokens through
    one more prefill call instead (docs/generation.md), which the tests
    check against this one."""
    if not 0 < prompt_len <= total_len or chunk < 1:
        raise BnbMlirError(f"bad schedule: prompt {prompt_len}, total "
                           f"{total_len}, chunk {chunk}")
    calls = [("prefill", p, chunk)
             for p in range(0, prompt_len - prompt_len % chunk, chunk)]
    calls += [("decode", p, 1)
              for p in range(prompt_len - prompt_len % chunk, total_len)]
    return calls


class ReferenceDecoder:
    """Incremental decoding of the supported architectures in numpy, the
    semantics of the graph's @prefill / @decode (docs/generation.md).

    Holds one key and one value cache [1, KV, S, D] per layer (float32
    arrays holding T values, zero at the start). `step(ids, position)` runs
    the C tokens `ids` [1, C] at positions p..p+C-1: their keys and values
    are written to cache slots p..p+C-1, query i attends slots 0..p+i (and,
    for Mistral, only those after p+i-window), and the logits [1, 1, vocab]
    of the last token are returned. Written separately from
    `reference_forward` (which computes all positions at once) so that
    each checks the other; the arithmetic and roundings are the same.
    """

    def __init__(self, hf_dir: str | os.PathLike, max_seq_len: int,
                 dtype: str | None = None):
        self.ckpt = Checkpoint(hf_dir)
        try:
            c = self.ckpt.config
            name = canonical_float_name(dtype, "dtype") if dtype \
                else self.ckpt.torch_dtype()
            self.rnd = _Rounder(storage_code(name))
            self.model_type = c.get("model_type")
            self.max_seq = max_seq_len
            if self.model_type in ("llama", "mistral"):
                self._init_llama(c)
            elif self.model_type == "gpt2":
                self._init_gpt2(c)
            elif _own_module(self.model_type):
                self._impl = _own_module(self.model_type).Decoder(self, c)
            else:
                raise BnbMlirError(f"{self.ckpt.dir / 'config.json'}: "
                                   f"model_type '{self.model_type}' is not "
                                   "supported")
        except BaseException:
            self.ckpt.close()
            raise
        shape = (1, self.kv_heads, max_seq_len, self.head_dim)
        self.keys = [np.zeros(shape, np.float32) for _ in range(self.layers)]
        self.values = [np.zeros(shape, np.float32)
                       for _ in range(self.layers)]
        self._w: dict[str, np.ndarray] = {}

    def close(self) -> None:
        self.ckpt.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def W(self, key: str) -> np.ndarray:
        """A weight as float32 holding its T value (loaded once)."""
        if key not in self._w:
            self._w[key] = self.rnd(self.ckpt.f32(key))
        return self._w[key]

    def step(self, input_ids: np.ndarray, position: int) -> np.ndarray:
        """Runs tokens [1, C] at positions position..position+C-1, updating
        the caches; returns the logits [1, 1, vocab] of the last token."""
        ids = np.asarray(input_ids)
        if ids.ndim != 2 or ids.shape[0] != 1:
            raise BnbMlirError("input_ids must have shape [1, C]")
        chunk = ids.shape[1]
        if not 0 <= position <= self.max_seq - chunk:
            raise BnbMlirError(f"position {position} with {chunk} tokens is "
                               f"outside the cache of {self.max_seq}")
        if getattr(self, "_impl", None) is not None:
            return self._impl.step(ids, position)
        if self.model_type == "gpt2":
            return self._gpt2_step(ids, position)
        return self._llama_step(ids, position)

    # -- attention over the cache --------------------------------------------

    def _cached_attention(self, layer, q, k, v, p, scale_fn, window):
        """q [1, H, C, D], k/v [1, KV, C, D] of positions p..p+C-1: writes
        k/v into the layer's caches, then attends slots 0..p+C-1."""
        rnd = self.rnd
        chunk = q.shape[2]
        self.keys[layer][:, :, p:p + chunk] = k
        self.values[layer][:, :, p:p + chunk] = v
        length = p + chunk
        groups = q.shape[1] // self.kv_heads
        keys = np.repeat(self.keys[layer][:, :, :length], groups, axis=1)
        values = np.repeat(self.values[layer][:, :, :length], groups, axis=1)
        scores = scale_fn(rnd(np.einsum("bhid,bhjd->bhij", q, keys)))
        qpos = p + np.arange(chunk)[:, None]  # absolute positions
        kpos = np.arange(length)[None, :]
        masked = kpos > qpos
        if window is not None:
            masked |= kpos <= qpos - window
        scores = np.where(masked, _min_value(rnd), scores).astype(np.float32)
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = rnd(e / e.sum(axis=-1, keepdims=True))
        return rnd(np.einsum("bhij,bhjd->bhid", probs, values))

    # -- llama / mistral ------------------------------------------------------

    def _init_llama(self, c):
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.window = c.get("sliding_window", 4096) \
            if c["model_type"] == "mistral" else None
        rope = RopeConfig.from_config(c, self.head_dim, "config.json")
        self.cos, self.sin = (self.rnd(t) for t in
                              rope.tables(self.max_seq))  # [S, D]

    def _llama_step(self, ids, p):
        c, rnd, W = self.ckpt.config, self.rnd, self.W
        ab = c.get("attention_bias", False)
        mb = c.get("mlp_bias", False)
        chunk, hd, f32 = ids.shape[1], self.head_dim, np.float32
        cos, sin = self.cos[p:p + chunk], self.sin[p:p + chunk]

        def lin(x, key, bias):
            return _linear(x, W(key + ".weight"),
                           W(key + ".bias") if bias else None, rnd)

        def heads_first(x, n):  # [1, C, n*D] -> [1, n, C, D]
            return x.reshape(1, chunk, n, hd).transpose(0, 2, 1, 3)

        emb = W("model.embed_tokens.weight")
        h = emb[np.clip(ids, 0, emb.shape[0] - 1)]
        scale = f32(hd ** -0.5)
        for i in range(self.layers):
            pre = f"model.layers.{i}."
            x = _rms_norm(h, W(pre + "input_layernorm.weight"), self.eps, rnd)
            q = heads_first(lin(x, pre + "self_attn.q_proj", ab), self.heads)
            k = heads_first(lin(x, pre + "self_attn.k_proj", ab),
                            self.kv_heads)
            v = heads_first(lin(x, pre + "self_attn.v_proj", ab),
                            self.kv_heads)
            q, k = _rotate(q, cos, sin, rnd), _rotate(k, cos, sin, rnd)
            a = self._cached_attention(i, q, k, v, p,
                                       lambda s: rnd(s * scale), self.window)
            a = a.transpose(0, 2, 1, 3).reshape(1, chunk, self.heads * hd)
            h = rnd(h + lin(a, pre + "self_attn.o_proj", ab))
            x = _rms_norm(h, W(pre + "post_attention_layernorm.weight"),
                          self.eps, rnd)
            act = _silu_mul(lin(x, pre + "mlp.gate_proj", mb),
                            lin(x, pre + "mlp.up_proj", mb), rnd)
            h = rnd(h + lin(act, pre + "mlp.down_proj", mb))
        h = _rms_norm(h[:, -1:], W("model.norm.weight"), self.eps, rnd)
        lm = "model.embed_tokens.weight" if c.get("tie_word_embeddings",
                                                  False) else "lm_head.weight"
        return _linear(h, W(lm), None, rnd)

    # -- gpt2 -----------------------------------------------------------------

    def _init_gpt2(self, c):
        self.prefix = "" if "wte.weight" in self.ckpt and \
            "transformer.wte.weight" not in self.ckpt else "transformer."
        self.hidden = c.get("n_embd", 768)
        self.heads = self.kv_heads = c.get("n_head", 12)
        self.head_dim = self.hidden // self.heads
        self.layers = c.get("n_layer", 12)
        self.eps = c.get("layer_norm_epsilon", 1e-5)
        if self.max_seq > c.get("n_positions", 1024):
            raise BnbMlirError(f"max_seq_len {self.max_seq} exceeds "
                               "n_positions")

    def _gpt2_step(self, ids, p):
        c, rnd, W, pre = self.ckpt.config, self.rnd, self.W, self.prefix
        chunk, hd, hidden = ids.shape[1], self.head_dim, self.hidden

        def ln(x, key):
            return _layer_norm(x, W(key + ".weight"), W(key + ".bias"),
                               self.eps, rnd)

        def conv1d(x, key):
            return _linear(x, W(key + ".weight").T, W(key + ".bias"), rnd)

        wte = W(pre + "wte.weight")
        h = rnd(wte[np.clip(ids, 0, wte.shape[0] - 1)] +
                W(pre + "wpe.weight")[p:p + chunk][None])
        div = rnd(np.float32(hd ** 0.5)) if c.get("scale_attn_weights",
                                                  True) else np.float32(1.0)
        for i in range(self.layers):
            b = f"{pre}h.{i}."
            qkv = conv1d(ln(h, b + "ln_1"), b + "attn.c_attn")
            q, k, v = (qkv[..., j * hidden:(j + 1) * hidden]
                       .reshape(1, chunk, self.heads, hd).transpose(0, 2, 1, 3)
                       for j in range(3))
            a = self._cached_attention(i, q, k, v, p, lambda s: rnd(s / div),
                                       None)
            a = a.transpose(0, 2, 1, 3).reshape(1, chunk, hidden)
            h = rnd(h + conv1d(a, b + "attn.c_proj"))
            h = rnd(h + conv1d(_gelu_new(conv1d(ln(h, b + "ln_2"), b + "mlp.c_fc"),
                                    rnd), b + "mlp.c_proj"))
        h = ln(h[:, -1:], pre + "ln_f")
        lm = pre + "wte.weight" if c.get("tie_word_embeddings", True) \
            else "lm_head.weight"
        return _linear(h, W(lm), None, rnd)



def reference_generate(hf_dir: str | os.PathLike, input_ids: np.ndarray,
                       prompt_len: int, chunk: int, max_seq_len: int,
                       dtype: str | None = None) -> np.ndarray:
    """Runs `generation_schedule(prompt_len, len(input_ids), chunk)` on
    `input_ids` [1, N] (teacher forcing: the tokens after the prompt are
    fed back as if generated) with `ReferenceDecoder`; returns the logits
    of each call's last token, [calls, vocab]."""
    ids = np.asarray(input_ids)
    calls = generation_schedule(prompt_len, ids.shape[1], chunk)
    with ReferenceDecoder(hf_dir, max_seq_len, dtype) as dec:
        return np.concatenate([dec.step(ids[:, p:p + n], p)[0]
                               for _, p, n in calls])
