#!/usr/bin/env python3
"""Writes a tiny LLaMA-style checkpoint in Hugging Face layout.

    make_model.py OUTDIR

OUTDIR gets config.json (LlamaConfig fields), model.safetensors (fp16 weights
under transformers' key names) and input_ids.safetensors ("input_ids", int64
[1, 8]). The weights come from numpy's RandomState with a fixed seed, so every
run writes the same bytes.

Shape: vocab 256, hidden 128, intermediate 352, 2 layers, 4 heads of 32
(2 KV heads: grouped-query attention), 64 positions, an untied lm_head. The
projections reading the hidden state have K = 128 (two 4-bit blocks of 64 per
row); down_proj has K = 352 = 5.5 blocks, so its 4-bit blocks span rows.

Scaling: linear weights ~ N(0, 1/in_features), so activations stay O(1);
the RMSNorm weights of three hidden channels per norm are 7-12, the kind of
systematic outlier features LLM.int8() was designed for, so the inputs of
q/k/v and gate/up have |x| >= 6 (its outlier path) in those columns; the
weight columns reading those channels are scaled down by the same factor.
"""
import argparse
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

SEED = 20240607
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 256,
    "hidden_size": 128,
    "intermediate_size": 352,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "use_cache": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float16",
}
BATCH, SEQ = 1, 8


def make_weights(rng: np.random.RandomState) -> dict:
    c = CONFIG
    hidden, inter = c["hidden_size"], c["intermediate_size"]
    q_out = c["num_attention_heads"] * c["head_dim"]
    kv_out = c["num_key_value_heads"] * c["head_dim"]

    def linear(out_features, in_features):
        w = rng.standard_normal((out_features, in_features))
        return w / np.sqrt(in_features)

    def norm(outliers):
        w = 1.0 + 0.1 * rng.standard_normal(hidden)
        channels = rng.choice(hidden, size=outliers, replace=False)
        w[channels] = rng.uniform(7.0, 12.0, size=outliers) * \
            rng.choice([-1.0, 1.0], size=outliers)
        return w

    def damp(linear_weight, norm_weight):
        # The weights reading an outlier feature are correspondingly small,
        # so the layer outputs stay O(1).
        return linear_weight / np.maximum(1.0, np.abs(norm_weight))[None, :]

    weights = {"model.embed_tokens.weight":
               rng.standard_normal((c["vocab_size"], hidden))}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        n = weights[p + "input_layernorm.weight"] = norm(3)
        weights[p + "self_attn.q_proj.weight"] = damp(linear(q_out, hidden), n)
        weights[p + "self_attn.k_proj.weight"] = damp(linear(kv_out, hidden), n)
        weights[p + "self_attn.v_proj.weight"] = damp(linear(kv_out, hidden), n)
        weights[p + "self_attn.o_proj.weight"] = linear(hidden, q_out)
        n = weights[p + "post_attention_layernorm.weight"] = norm(3)
        weights[p + "mlp.gate_proj.weight"] = damp(linear(inter, hidden), n)
        weights[p + "mlp.up_proj.weight"] = damp(linear(inter, hidden), n)
        weights[p + "mlp.down_proj.weight"] = linear(hidden, inter)
    weights["model.norm.weight"] = norm(0)
    weights["lm_head.weight"] = linear(c["vocab_size"], hidden)
    return {k: np.ascontiguousarray(v.astype(np.float16))
            for k, v in weights.items()}


def _atomic(path: str, write_to) -> None:
    """Calls write_to(temporary path), then renames it to `path`."""
    tmp = os.path.join(os.path.dirname(path),
                       f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        write_to(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(outdir: str) -> None:
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.RandomState(SEED)
    weights = make_weights(rng)
    input_ids = rng.randint(0, CONFIG["vocab_size"], size=(BATCH, SEQ))

    def write_config(path):
        with open(path, "w") as f:
            json.dump(CONFIG, f, indent=2, sort_keys=True)
            f.write("\n")

    _atomic(os.path.join(outdir, "config.json"), write_config)
    _atomic(os.path.join(outdir, "model.safetensors"),
            lambda p: save_file(weights, p, metadata={"format": "pt"}))
    _atomic(os.path.join(outdir, "input_ids.safetensors"),
            lambda p: save_file({"input_ids": input_ids.astype(np.int64)}, p,
                                metadata={"format": "pt"}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="directory to write the checkpoint to")
    args = parser.parse_args(argv)
    try:
        write(args.outdir)
    except OSError as e:
        print(f"error: {args.outdir}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
