"""Small checkpoints for the tests, written in Hugging Face layout.

Weights are random (fixed seeds) and scaled like real models so activations
stay O(1). float16/float32 checkpoints are written with the `safetensors`
package (an independent writer); bfloat16 ones with bnb_mlir's writer, since
numpy has no bfloat16.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))
BNB_OPT = BUILD / "bin" / "bnb-opt"
MLIR_OPT = pathlib.Path("/usr/lib/llvm-22/bin/mlir-opt")
EXAMPLE = ROOT / "examples" / "tiny-llama" / "make_model.py"


def write_checkpoint(path, config: dict, tensors: dict, dtype: str) -> None:
    """config.json + model.safetensors with float tensors stored as `dtype`."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=2))
    if dtype == "bfloat16":
        from bnb_mlir.dtypes import f32_to_bf16_bits
        from bnb_mlir.safetensors_io import TensorToWrite, write_safetensors
        items = [TensorToWrite(k, "BF16", v.shape,
                               (lambda v=v: f32_to_bf16_bits(v)))
                 for k, v in tensors.items()]
        write_safetensors(path / "model.safetensors", items)
        return
    np_dtype = {"float16": np.float16, "float32": np.float32}[dtype]
    save_file({k: np.ascontiguousarray(v.astype(np_dtype))
               for k, v in tensors.items()},
              str(path / "model.safetensors"), metadata={"format": "pt"})


def llama_checkpoint(path, *, vocab=48, hidden=32, inter=40, layers=1, heads=4,
                     kv_heads=2, head_dim=None, tied=False, dtype="float16",
                     model_type="llama", attention_bias=False, mlp_bias=False,
                     seed=0, extra=None, drop=(), reshape=None):
    """A small LLaMA (or Mistral) checkpoint. `drop` leaves tensors out,
    `reshape` replaces a tensor's shape (to provoke errors)."""
    rng = np.random.RandomState(seed)
    head_dim = head_dim or hidden // heads
    config = {"model_type": model_type, "vocab_size": vocab,
              "hidden_size": hidden, "intermediate_size": inter,
              "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv_heads, "head_dim": head_dim,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "max_position_embeddings": 64, "tie_word_embeddings": tied,
              "attention_bias": attention_bias, "mlp_bias": mlp_bias,
              "hidden_act": "silu", "torch_dtype": dtype}
    config.update(extra or {})

    def lin(o, i):
        return rng.standard_normal((o, i)) / np.sqrt(i)

    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden))}
    q, kv = heads * head_dim, kv_heads * head_dim
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
        for name, o, n in (("q_proj", q, hidden), ("k_proj", kv, hidden),
                           ("v_proj", kv, hidden), ("o_proj", hidden, q)):
            t[f"{p}self_attn.{name}.weight"] = lin(o, n)
            if attention_bias:
                t[f"{p}self_attn.{name}.bias"] = 0.1 * rng.standard_normal(o)
        t[p + "post_attention_layernorm.weight"] = \
            1 + 0.1 * rng.standard_normal(hidden)
        for name, o, n in (("gate_proj", inter, hidden),
                           ("up_proj", inter, hidden),
                           ("down_proj", hidden, inter)):
            t[f"{p}mlp.{name}.weight"] = lin(o, n)
            if mlp_bias:
                t[f"{p}mlp.{name}.bias"] = 0.1 * rng.standard_normal(o)
    t["model.norm.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
    if not tied:
        t["lm_head.weight"] = lin(vocab, hidden)
    for k in drop:
        del t[k]
    for k, shape in (reshape or {}).items():
        t[k] = rng.standard_normal(shape)
    write_checkpoint(path, config, {k: v.astype(np.float32)
                                    for k, v in t.items()}, dtype)
    return pathlib.Path(path)


def gpt2_checkpoint(path, *, vocab=40, hidden=32, layers=2, heads=4,
                    positions=16, prefix="", dtype="float32", seed=1):
    """A small GPT-2 checkpoint; `prefix` is "" (GPT2Model keys, as the
    published gpt2 files) or "transformer." (GPT2LMHeadModel keys)."""
    rng = np.random.RandomState(seed)
    config = {"model_type": "gpt2", "vocab_size": vocab, "n_embd": hidden,
              "n_layer": layers, "n_head": heads, "n_positions": positions,
              "n_inner": None, "layer_norm_epsilon": 1e-5,
              "activation_function": "gelu_new", "torch_dtype": dtype}
    t = {prefix + "wte.weight": 0.5 * rng.standard_normal((vocab, hidden)),
         prefix + "wpe.weight": 0.1 * rng.standard_normal((positions, hidden))}
    for i in range(layers):
        b = f"{prefix}h.{i}."
        for ln in ("ln_1", "ln_2"):
            t[f"{b}{ln}.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
            t[f"{b}{ln}.bias"] = 0.1 * rng.standard_normal(hidden)
        for name, n, o in (("attn.c_attn", hidden, 3 * hidden),
                           ("attn.c_proj", hidden, hidden),
                           ("mlp.c_fc", hidden, 4 * hidden),
                           ("mlp.c_proj", 4 * hidden, hidden)):
            t[f"{b}{name}.weight"] = rng.standard_normal((n, o)) / np.sqrt(n)
            t[f"{b}{name}.bias"] = 0.1 * rng.standard_normal(o)
        # The causal-mask buffer old checkpoints carry; the importer ignores it.
        t[f"{b}attn.bias"] = np.tril(np.ones((positions, positions)))[None,
                                                                        None]
    t[prefix + "ln_f.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
    t[prefix + "ln_f.bias"] = 0.1 * rng.standard_normal(hidden)
    write_checkpoint(path, config, {k: v.astype(np.float32)
                                    for k, v in t.items()}, dtype)
    return pathlib.Path(path)


def shard_checkpoint(src, dst, shards: int = 2):
    """Copies a single-file checkpoint as `shards` shards plus an index, the
    way transformers' save_pretrained(max_shard_size=...) lays them out."""
    from safetensors.numpy import load_file
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text((src / "config.json").read_text())
    tensors = load_file(str(src / "model.safetensors"))
    names = list(tensors)
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s::shards]}
        save_file(part, str(dst / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in part})
    (dst / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=2))
    return dst


def make_example(outdir) -> pathlib.Path:
    """Runs examples/tiny-llama/make_model.py into `outdir`."""
    subprocess.run([sys.executable, str(EXAMPLE), str(outdir)], check=True)
    return pathlib.Path(outdir)


def bnb_opt(text: str, *args: str, tool=BNB_OPT) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool), "-", *args], input=text,
                          capture_output=True, text=True)


# -- reading the emitted IR ---------------------------------------------------

_DEF = re.compile(r"^\s*(%[\w$.]+)(?:, %[\w$.]+)* = ([\w.]+)")


def definitions(text: str) -> dict[str, str]:
    """SSA name -> the name of the op defining it (first result only)."""
    defs = {}
    for line in text.splitlines():
        m = _DEF.match(line)
        if m:
            defs[m.group(1)] = m.group(2)
    return defs


def matmuls(text: str) -> list[dict]:
    """Every linalg.matmul: its operands, maps, attributes and full line."""
    out = []
    pat = re.compile(r"(%[\w$.]+) = linalg\.matmul(?P<maps> indexing_maps = "
                     r"\[[^\]]*\])?(?P<attrs> \{[^}]*\})? ins\((%[\w$.]+), "
                     r"(%[\w$.]+) : [^)]*\) outs\((%[\w$.]+) :")
    for line in text.splitlines():
        m = pat.search(line)
        if m:
            out.append({"result": m.group(1), "lhs": m.group(4),
                        "rhs": m.group(5), "init": m.group(6),
                        "maps": (m.group("maps") or "").strip(),
                        "attrs": (m.group("attrs") or "").strip(),
                        "line": line})
    return out


def global_loads(text: str) -> dict[str, str]:
    """SSA name -> symbol for every ml_program.global_load_const."""
    pat = re.compile(r'(%[\w$.]+) = ml_program\.global_load_const @"([^"]+)"')
    return {m.group(1): m.group(2) for m in pat.finditer(text)}


def globals_declared(text: str) -> dict[str, str]:
    """Symbol -> type of every extern ml_program.global."""
    pat = re.compile(r'ml_program\.global private @"([^"]+)"'
                     r'\(#ml_program\.extern : (tensor<[^>]*>)\)')
    return {m.group(1): m.group(2) for m in pat.finditer(text)}
