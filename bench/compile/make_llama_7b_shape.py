#!/usr/bin/env python3
"""Writes a checkpoint with LLaMA-2-7B's shapes for measuring bnb-compile.

    make_llama_7b_shape.py OUTDIR [--layers N] [--shape 7b|135m] [--shards N]

OUTDIR gets config.json (LlamaConfig: hidden 4096, intermediate 11008,
32 layers, 32 heads, vocab 32000) and model.safetensors in float16 under
transformers' key names, 6.74e9 parameters (13.5 GB). `--shape 135m` writes
SmolLM-135M's shapes instead (hidden 576, intermediate 1536, 30 layers,
9 heads with 3 KV heads, vocab 49152, tied embeddings: 0.27 GB). The tensor data is one
16 MiB block of N(0, 0.02) values repeated, written in a single streaming
pass, so the file takes a minute to write and little memory; quantization
speed does not depend on the values being distinct. With `--shards N` the
tensors go, in order, into N files of about equal size plus
model.safetensors.index.json, as transformers' save_pretrained lays out a
sharded checkpoint.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

SHAPES = {
    # hidden, intermediate, vocab, heads, kv heads, layers, tied
    "7b": (4096, 11008, 32000, 32, 32, 32, False),
    "135m": (576, 1536, 49152, 9, 3, 30, True),
}
HIDDEN, INTER, VOCAB, HEADS, KV_HEADS, _, TIED = SHAPES["7b"]


def tensors(layers):
    yield "model.embed_tokens.weight", [VOCAB, HIDDEN]
    for i in range(layers):
        p = "model.layers.%d." % i
        kv = KV_HEADS * (HIDDEN // HEADS)
        for name, out in (("q_proj", HIDDEN), ("k_proj", kv),
                          ("v_proj", kv), ("o_proj", HIDDEN)):
            yield p + "self_attn.%s.weight" % name, [out, HIDDEN]
        yield p + "mlp.gate_proj.weight", [INTER, HIDDEN]
        yield p + "mlp.up_proj.weight", [INTER, HIDDEN]
        yield p + "mlp.down_proj.weight", [HIDDEN, INTER]
        yield p + "input_layernorm.weight", [HIDDEN]
        yield p + "post_attention_layernorm.weight", [HIDDEN]
    yield "model.norm.weight", [HIDDEN]
    if not TIED:
        yield "lm_head.weight", [VOCAB, HIDDEN]


def write_file(path, named, block):
    """Writes one safetensors file of F16 tensors [(name, shape)], each
    filled by repeating `block`, in a single streaming pass."""
    header, offset, layout = {"__metadata__": {"format": "pt"}}, 0, []
    for name, shape in named:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "F16", "shape": shape,
                        "data_offsets": [offset, offset + nbytes]}
        layout.append(nbytes)
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for nbytes in layout:
            while nbytes:
                n = min(nbytes, len(block))
                f.write(block[:n])
                nbytes -= n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--shards", type=int, default=1)
    args = parser.parse_args()
    global HIDDEN, INTER, VOCAB, HEADS, KV_HEADS, TIED
    HIDDEN, INTER, VOCAB, HEADS, KV_HEADS, layers, TIED = SHAPES[args.shape]
    if args.layers is None:
        args.layers = layers
    os.makedirs(args.outdir, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": INTER,
        "num_hidden_layers": args.layers, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "head_dim": HIDDEN // HEADS,
        "hidden_act": "silu", "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": None,
        "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
        "tie_word_embeddings": TIED, "pretraining_tp": 1,
        "torch_dtype": "float16",
    }
    with open(os.path.join(args.outdir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    named = list(tensors(args.layers))
    total = sum(2 * int(np.prod(shape)) for _, shape in named)
    # Consecutive tensors per shard, each shard about total / N bytes.
    groups, current, size = [], [], 0
    for name, shape in named:
        current.append((name, shape))
        size += 2 * int(np.prod(shape))
        if size >= total * (len(groups) + 1) / args.shards and \
                len(groups) < args.shards - 1:
            groups.append(current)
            current = []
    groups.append(current)
    block = (np.random.RandomState(7).randn(8 << 20) * 0.02).astype(np.float16).tobytes()
    weight_map = {}
    for i, group in enumerate(groups):
        fname = ("model.safetensors" if args.shards == 1 else
                 "model-%05d-of-%05d.safetensors" % (i + 1, len(groups)))
        write_file(os.path.join(args.outdir, fname), group, block)
        weight_map.update({name: fname for name, _ in group})
    if args.shards > 1:
        with open(os.path.join(args.outdir, "model.safetensors.index.json"),
                  "w") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": weight_map}, f, indent=2)
    print("%s: %.2f GB, %d tensors in %d file(s)" % (
        args.outdir, total / 1e9, len(named), len(groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
