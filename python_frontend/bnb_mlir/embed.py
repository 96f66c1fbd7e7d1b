"""`python -m bnb_mlir embed`: sentence embeddings with an encoder artifact.

An artifact compiled from a BERT-family checkpoint (`@forward(input_ids,
attention_mask, token_type_ids) -> last_hidden_state`, all `[B, S]`) runs
on batches of B texts; the texts are tokenized with the checkpoint's
tokenizer.json (`generate.load_tokenizer`, special tokens added as
transformers' `tokenizer(text)` adds them), right-padded to the compiled
sequence length S with `attention_mask` 0, and the last hidden states are
pooled as sentence-transformers pools them:

- `modules.json` (when present) lists the modules: the Transformer, a
  `Pooling` module whose directory holds its `config.json` (usually
  `1_Pooling/config.json`), and optionally `Normalize`;
- pooling modes (concatenated in sentence-transformers' order when several
  are on): `cls` (the first token), `max` (padding set to -1e9, then the
  maximum), `mean` (the sum over attended tokens divided by their number,
  at least 1e-9), `mean_sqrt_len` (the sum divided by the square root of
  that number);
- `Normalize`: x / max(||x||₂, 1e-12).

Without modules.json the embedding is mean-pooled and L2-normalized.
Pooling runs in float32 on the artifact's output. A text with more tokens
than S is an error (nothing is truncated); so is a tokenizer.json that
cannot be read, or an artifact whose entry point is not an encoder's.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np

from .bounded_json import check_bounds
from .errors import BnbMlirError

#: The entry point's inputs and output (arch_bert.ENCODER_INPUTS / OUTPUT).
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"

#: sentence-transformers' pooling modes, in the order it concatenates them:
#: (our name, the config.json field).
POOLING_MODES = (("cls", "pooling_mode_cls_token"),
                 ("max", "pooling_mode_max_tokens"),
                 ("mean", "pooling_mode_mean_tokens"),
                 ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"))
_UNSUPPORTED_MODES = ("pooling_mode_weightedmean_tokens",
                      "pooling_mode_lasttoken")
_FLOAT_DTYPES = ("F32", "F16", "BF16")


@dataclass
class Pooling:
    """How hidden states become one vector per text."""
    modes: list[str]
    normalize: bool
    #: Where the settings came from (for messages).
    source: str = "default"
    #: The hidden size the pooling config expects, if it says.
    dimension: int | None = None


@dataclass
class EncoderSignature:
    """The compiled shape of an encoder artifact's @forward."""
    batch: int
    seq: int
    hidden: int
    dtype: str


def _read_json(path: Path):
    try:
        return json.loads(check_bounds(path.read_text(encoding="utf-8"),
                                       path))
    except UnicodeDecodeError as e:
        raise BnbMlirError(f"{path}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise BnbMlirError(f"{path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise BnbMlirError(f"{path}: invalid JSON: line {e.lineno} column "
                           f"{e.colno}: {e.msg}") from None


def load_pooling(directory: str | os.PathLike | None) -> Pooling:
    """The pooling of the sentence-transformers model in `directory`
    (modules.json and its Pooling module's config.json), or mean pooling
    with normalization when there is none."""
    if directory is None or not (Path(directory) / "modules.json").is_file():
        return Pooling(["mean"], True)
    directory = Path(directory)
    path = directory / "modules.json"
    modules = _read_json(path)
    if not isinstance(modules, list) or not all(
            isinstance(m, dict) and isinstance(m.get("type"), str)
            for m in modules):
        raise BnbMlirError(f"{path}: expected a list of modules with a "
                           "'type' each")
    pooling_dir = None
    normalize = False
    for m in modules:
        kind = m["type"].rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            sub = m.get("path", "")
            if not isinstance(sub, str) or Path(sub).is_absolute() or \
                    ".." in Path(sub).parts:
                raise BnbMlirError(f"{path}: Pooling module path {sub!r} is "
                                   "not a directory inside the model")
            pooling_dir = directory / sub
        elif kind == "Normalize":
            normalize = True
        else:
            raise BnbMlirError(f"{path}: module type '{m['type']}' is not "
                               "supported (Transformer, Pooling, Normalize)")
    if pooling_dir is None:
        raise BnbMlirError(f"{path}: no Pooling module")
    cpath = pooling_dir / "config.json"
    if not cpath.is_file():
        raise BnbMlirError(f"{cpath}: no such file")
    config = _read_json(cpath)
    if not isinstance(config, dict):
        raise BnbMlirError(f"{cpath}: expected a JSON object")
    for field in _UNSUPPORTED_MODES:
        if config.get(field):
            raise BnbMlirError(f"{cpath}: '{field}' is not supported (cls, "
                               "max, mean, mean_sqrt_len)")
    for field in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                  "pooling_mode_mean_tokens",
                  "pooling_mode_mean_sqrt_len_tokens"):
        if not isinstance(config.get(field, False), bool):
            raise BnbMlirError(f"{cpath}: '{field}' must be true or false")
    modes = [name for name, field in POOLING_MODES if config.get(field)]
    if not modes:
        raise BnbMlirError(f"{cpath}: no pooling mode is enabled")
    dim = config.get("word_embedding_dimension")
    if dim is not None and (not isinstance(dim, int) or
                            isinstance(dim, bool) or dim < 1):
        raise BnbMlirError(f"{cpath}: 'word_embedding_dimension' must be a "
                           f"positive integer, got {dim!r}")
    return Pooling(modes, normalize, str(cpath), dim)


def encoder_signature(artifact: str | os.PathLike) -> EncoderSignature:
    """Reads the artifact's manifest and checks that `forward` is an
    encoder's: int64 input_ids, attention_mask and token_type_ids [B, S],
    a float last_hidden_state [B, S, H]."""
    path = Path(artifact) / "manifest.json"
    if not path.is_file():
        raise BnbMlirError(f"{artifact}: no such artifact (no manifest.json)")
    manifest = _read_json(path)
    entries = manifest.get("entry_points") if isinstance(manifest, dict) \
        else None
    forward = next((e for e in entries or [] if isinstance(e, dict) and
                    e.get("name") == "forward"), None)
    if forward is None:
        raise BnbMlirError(f"{path}: no entry point 'forward'")
    inputs = {t.get("name"): t for t in forward.get("inputs", [])
              if isinstance(t, dict)}
    shape = None
    for name in INPUTS:
        t = inputs.get(name)
        if t is None:
            raise BnbMlirError(f"{path}: entry point 'forward' has no input "
                               f"'{name}' (embed needs an encoder compiled "
                               "from a BERT-family checkpoint)")
        if t.get("dtype") != "I64" or not isinstance(t.get("shape"), list) \
                or len(t["shape"]) != 2:
            raise BnbMlirError(f"{path}: input '{name}' is "
                               f"{t.get('dtype')} {t.get('shape')}, "
                               "expected I64 [B, S]")
        if shape is not None and t["shape"] != shape:
            raise BnbMlirError(f"{path}: input '{name}' has shape "
                               f"{t['shape']}, input_ids {shape}")
        shape = t["shape"]
    outputs = {t.get("name"): t for t in forward.get("outputs", [])
               if isinstance(t, dict)}
    out = outputs.get(OUTPUT)
    if out is None or out.get("dtype") not in _FLOAT_DTYPES or \
            not isinstance(out.get("shape"), list) or \
            len(out["shape"]) != 3 or out["shape"][:2] != shape:
        raise BnbMlirError(f"{path}: entry point 'forward' has no float "
                           f"output '{OUTPUT}' [{shape[0]}, {shape[1]}, H]")
    return EncoderSignature(shape[0], shape[1], out["shape"][2],
                            out["dtype"])


def tokenize(tokenizer, texts: Sequence[str], seq: int
             ) -> dict[str, np.ndarray]:
    """input_ids, attention_mask, token_type_ids [N, S] of the texts: the
    ids transformers' `tokenizer(text)` gives (no truncation), right-padded
    with the pad token (id 0 without one)."""
    backend = tokenizer.backend
    # tokenizer.json may carry truncation/padding settings; the artifact's
    # length decides instead, and too long is an error.
    backend.no_truncation()
    backend.no_padding()
    pad = tokenizer.special_token_id("pad_token")
    pad = 0 if pad is None else pad
    out = {k: np.zeros((len(texts), seq), np.int64) for k in INPUTS}
    out["input_ids"][:] = pad
    for n, text in enumerate(texts):
        enc = backend.encode(text, add_special_tokens=True)
        ids = list(enc.ids)
        if len(ids) > seq:
            raise BnbMlirError(f"text {n + 1} has {len(ids)} tokens, more "
                               f"than the artifact's sequence length {seq} "
                               "(import with a larger --seq)")
        out["input_ids"][n, :len(ids)] = ids
        out["attention_mask"][n, :len(ids)] = list(enc.attention_mask)
        out["token_type_ids"][n, :len(ids)] = list(enc.type_ids)
    return out


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: Pooling
         ) -> np.ndarray:
    """Sentence embeddings [N, len(modes) * H] (float32) of hidden states
    [N, S, H] under `mask` [N, S], as sentence-transformers' Pooling and
    Normalize modules compute them."""
    h = hidden.astype(np.float32)
    m = (mask != 0).astype(np.float32)[:, :, None]
    count = m.sum(axis=1)
    parts = []
    for mode in pooling.modes:
        if mode == "cls":
            parts.append(h[:, 0])
        elif mode == "max":
            parts.append(np.where(m > 0, h, np.float32(-1e9)).max(axis=1))
        elif mode == "mean":
            parts.append((h * m).sum(axis=1) /
                         np.maximum(count, np.float32(1e-9)))
        else:  # mean_sqrt_len
            parts.append((h * m).sum(axis=1) / np.sqrt(count))
    x = np.concatenate(parts, axis=1).astype(np.float32)
    if pooling.normalize:
        norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
        x = x / np.maximum(norm, np.float32(1e-12))
    return x.astype(np.float32)


def run_encoder(artifact: str | os.PathLike, sig: EncoderSignature,
                inputs: dict[str, np.ndarray], extra_args: Sequence[str] = ()
                ) -> np.ndarray:
    """Runs `bnb-run` on the rows of `inputs`, B at a time (the last batch
    filled with copies of a padded one-token row); returns the last hidden
    states [N, S, H] as float32."""
    from .dtypes import to_f32
    from .safetensors_io import (SafetensorsFile, TensorToWrite,
                                 write_safetensors)
    from .tools import find_tool, run_tool
    bnb_run = find_tool("bnb-run")
    n = inputs["input_ids"].shape[0]
    out = np.zeros((n, sig.seq, sig.hidden), np.float32)
    with tempfile.TemporaryDirectory(prefix="bnb-embed-") as tmp:
        src, dst = Path(tmp) / "in.safetensors", Path(tmp) / "out.safetensors"
        for start in range(0, n, sig.batch):
            rows = min(sig.batch, n - start)
            chunk = {}
            for name, a in inputs.items():
                c = np.zeros((sig.batch, sig.seq), np.int64)
                c[:rows] = a[start:start + rows]
                chunk[name] = c
            chunk["attention_mask"][rows:, 0] = 1
            write_safetensors(src, [
                TensorToWrite(name, "I64", (sig.batch, sig.seq),
                              lambda c=c: c) for name, c in chunk.items()])
            run_tool([bnb_run, artifact, "--input", src, "--output", dst,
                      *extra_args], what="bnb-run")
            with SafetensorsFile(dst) as f:
                if OUTPUT not in f.tensors:
                    raise BnbMlirError(f"bnb-run wrote no '{OUTPUT}'")
                info = f.tensors[OUTPUT]
                h = to_f32(f.raw(OUTPUT), info.dtype)
            out[start:start + rows] = np.asarray(h, np.float32).reshape(
                sig.batch, sig.seq, sig.hidden)[:rows]
    return out


def embed_command(artifact: str, texts: Sequence[str], *,
                  tokenizer_dir: str | None = None,
                  pooling: str | None = None,
                  normalize: bool | None = None,
                  threads: int | None = None, device: str | None = None,
                  out: TextIO | None = None) -> np.ndarray:
    """`python -m bnb_mlir embed`: one JSON line per text, `{"index": i,
    "text": ..., "embedding": [...]}`, written once every text is
    embedded. `pooling` / `normalize` override the sentence-transformers
    configuration. Returns the embeddings [N, D]."""
    from .generate import find_tokenizer_dir, load_tokenizer
    out = out or sys.stdout
    if not Path(artifact).is_dir():
        raise BnbMlirError(f"{artifact}: no such artifact directory")
    if not texts:
        raise BnbMlirError("no text to embed (--text)")
    sig = encoder_signature(artifact)
    tokenizer = load_tokenizer(find_tokenizer_dir(artifact, tokenizer_dir))
    config = load_pooling(tokenizer_dir if tokenizer_dir is not None
                          else artifact)
    if config.dimension is not None and config.dimension != sig.hidden:
        raise BnbMlirError(f"{config.source}: word_embedding_dimension "
                           f"{config.dimension} differs from the artifact's "
                           f"hidden size {sig.hidden}")
    if pooling is not None:
        config.modes = [pooling]
    if normalize is not None:
        config.normalize = normalize
    inputs = tokenize(tokenizer, texts, sig.seq)
    extra = []
    if threads is not None:
        extra.append(f"--threads={threads}")
    if device is not None:
        extra.append(f"--device={device}")
    hidden = run_encoder(artifact, sig, inputs, extra)
    vectors = pool(hidden, inputs["attention_mask"], config)
    if not np.isfinite(vectors).all():
        raise BnbMlirError(f"{artifact}: the model produced non-finite "
                           "hidden states")
    lines = []
    for i, (text, v) in enumerate(zip(texts, vectors)):
        values = [float(f"{x:.9g}") for x in v.tolist()]
        lines.append(json.dumps({"index": i, "text": text,
                                 "embedding": values}, ensure_ascii=False))
    out.write("\n".join(lines) + "\n")
    out.flush()
    return vectors


__all__ = ["Pooling", "EncoderSignature", "load_pooling",
           "encoder_signature", "tokenize", "pool", "run_encoder",
           "embed_command"]
