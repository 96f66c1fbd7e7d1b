"""Small random checkpoints of Qwen2, Phi-3 and GPT-NeoX in the exact Hugging
Face layout: the key names, shapes and config.json fields transformers'
save_pretrained writes for Qwen2ForCausalLM, Phi3ForCausalLM and
GPTNeoXForCausalLM (fixed seeds; weights scaled so activations stay O(1))."""
from __future__ import annotations

import pathlib

import numpy as np

from helpers import write_checkpoint


def _lin(rng, out, inp):
    return rng.standard_normal((out, inp)) / np.sqrt(inp)


def _norm(rng, n):
    return 1 + 0.1 * rng.standard_normal(n)


def _write(path, config, t, dtype, drop, reshape, rng):
    for k in drop:
        del t[k]
    for k, shape in (reshape or {}).items():
        t[k] = rng.standard_normal(shape)
    write_checkpoint(path, config, {k: np.asarray(v, np.float32)
                                    for k, v in t.items()}, dtype)
    return pathlib.Path(path)


def qwen2_checkpoint(path, *, vocab=48, hidden=32, inter=40, layers=2,
                     heads=4, kv_heads=2, tied=False, dtype="float32",
                     seed=3, extra=None, drop=(), reshape=None):
    """Qwen2ForCausalLM: biases on q/k/v only."""
    rng = np.random.RandomState(seed)
    hd = hidden // heads
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
              "vocab_size": vocab, "hidden_size": hidden,
              "intermediate_size": inter, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "hidden_act": "silu", "max_position_embeddings": 64,
              "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
              "rope_scaling": None, "use_sliding_window": False,
              "sliding_window": 64, "max_window_layers": layers,
              "attention_dropout": 0.0, "tie_word_embeddings": tied,
              "initializer_range": 0.02, "use_cache": True,
              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": dtype}
    config.update(extra or {})
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden))}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = _norm(rng, hidden)
        for name, out in (("q_proj", heads * hd), ("k_proj", kv_heads * hd),
                          ("v_proj", kv_heads * hd)):
            t[f"{p}self_attn.{name}.weight"] = _lin(rng, out, hidden)
            t[f"{p}self_attn.{name}.bias"] = 0.5 * rng.standard_normal(out)
        t[p + "self_attn.o_proj.weight"] = _lin(rng, hidden, heads * hd)
        t[p + "post_attention_layernorm.weight"] = _norm(rng, hidden)
        t[p + "mlp.gate_proj.weight"] = _lin(rng, inter, hidden)
        t[p + "mlp.up_proj.weight"] = _lin(rng, inter, hidden)
        t[p + "mlp.down_proj.weight"] = _lin(rng, hidden, inter)
    t["model.norm.weight"] = _norm(rng, hidden)
    if not tied:
        t["lm_head.weight"] = _lin(rng, vocab, hidden)
    return _write(path, config, t, dtype, drop, reshape, rng)


def phi3_checkpoint(path, *, vocab=48, hidden=48, inter=40, layers=2,
                    heads=4, kv_heads=2, partial=0.5, window=None,
                    dtype="float32", seed=4, extra=None, drop=(),
                    reshape=None):
    """Phi3ForCausalLM: fused qkv_proj [H·D + 2·KV·D, hidden] and
    gate_up_proj [2·I, hidden]; head_dim 12, 6 rotary dims by default."""
    rng = np.random.RandomState(seed)
    hd = hidden // heads
    config = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
              "vocab_size": vocab, "hidden_size": hidden,
              "intermediate_size": inter, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "hidden_act": "silu", "max_position_embeddings": 64,
              "original_max_position_embeddings": 64, "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0, "rope_scaling": None,
              "partial_rotary_factor": partial, "sliding_window": window,
              "attention_dropout": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
              "tie_word_embeddings": False, "initializer_range": 0.02,
              "use_cache": True, "bos_token_id": 1, "eos_token_id": 32000,
              "pad_token_id": 32000, "torch_dtype": dtype}
    config.update(extra or {})
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden))}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = _norm(rng, hidden)
        t[p + "self_attn.qkv_proj.weight"] = _lin(
            rng, heads * hd + 2 * kv_heads * hd, hidden)
        t[p + "self_attn.o_proj.weight"] = _lin(rng, hidden, heads * hd)
        t[p + "post_attention_layernorm.weight"] = _norm(rng, hidden)
        t[p + "mlp.gate_up_proj.weight"] = _lin(rng, 2 * inter, hidden)
        t[p + "mlp.down_proj.weight"] = _lin(rng, hidden, inter)
    t["model.norm.weight"] = _norm(rng, hidden)
    t["lm_head.weight"] = _lin(rng, vocab, hidden)
    return _write(path, config, t, dtype, drop, reshape, rng)


def gpt_neox_checkpoint(path, *, vocab=48, hidden=32, inter=64, layers=2,
                        heads=4, rotary_pct=0.5, parallel=True, tied=False,
                        dtype="float32", seed=5, extra=None, drop=(),
                        reshape=None, legacy_buffers=True):
    """GPTNeoXForCausalLM: fused query_key_value [3·hidden, hidden] laid out
    [heads, 3, head_dim], LayerNorms with bias, embed_out. Old checkpoints
    carry the attention.bias / masked_bias buffers (transformers ignores
    them on load); `legacy_buffers` writes them."""
    rng = np.random.RandomState(seed)
    config = {"architectures": ["GPTNeoXForCausalLM"],
              "model_type": "gpt_neox", "vocab_size": vocab,
              "hidden_size": hidden, "intermediate_size": inter,
              "num_hidden_layers": layers, "num_attention_heads": heads,
              "hidden_act": "gelu", "rotary_pct": rotary_pct,
              "rotary_emb_base": 10000, "max_position_embeddings": 64,
              "layer_norm_eps": 1e-5, "use_parallel_residual": parallel,
              "attention_bias": True, "attention_dropout": 0.0,
              "hidden_dropout": 0.0, "classifier_dropout": 0.1,
              "initializer_range": 0.02, "tie_word_embeddings": tied,
              "use_cache": True, "bos_token_id": 0, "eos_token_id": 0,
              "rope_scaling": None, "torch_dtype": dtype}
    config.update(extra or {})
    t = {"gpt_neox.embed_in.weight": rng.standard_normal((vocab, hidden))}
    for i in range(layers):
        p = f"gpt_neox.layers.{i}."
        for ln in ("input_layernorm", "post_attention_layernorm"):
            t[f"{p}{ln}.weight"] = _norm(rng, hidden)
            t[f"{p}{ln}.bias"] = 0.1 * rng.standard_normal(hidden)
        for name, out, inp in (("attention.query_key_value", 3 * hidden,
                                hidden),
                               ("attention.dense", hidden, hidden),
                               ("mlp.dense_h_to_4h", inter, hidden),
                               ("mlp.dense_4h_to_h", hidden, inter)):
            t[f"{p}{name}.weight"] = _lin(rng, out, inp)
            t[f"{p}{name}.bias"] = 0.3 * rng.standard_normal(out)
        if legacy_buffers:
            t[p + "attention.bias"] = np.tril(np.ones((64, 64)))[None, None]
            if dtype != "bfloat16":  # the bfloat16 writer needs rank >= 1
                t[p + "attention.masked_bias"] = np.array(-1e4)
    t["gpt_neox.final_layer_norm.weight"] = _norm(rng, hidden)
    t["gpt_neox.final_layer_norm.bias"] = 0.1 * rng.standard_normal(hidden)
    if not tied:
        t["embed_out.weight"] = _lin(rng, vocab, hidden)
    return _write(path, config, t, dtype, drop, reshape, rng)
