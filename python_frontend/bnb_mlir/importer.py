"""Imports a Hugging Face checkpoint directory as an MLIR model graph.

The graph follows the model-graph contract: `func.func @forward(%input_ids:
tensor<BxSxi64>) -> tensor<BxSxVxT>`, every weight an
`ml_program.global private @"<checkpoint key>"(#ml_program.extern : ...)`
loaded with `ml_program.global_load_const`, and the module attribute
`bnb.weights = "<file>"` naming the safetensors file that holds their bytes,
relative to the directory of the .mlir file.

With `generation=True` the module also holds the two entry points of
incremental decoding with a KV cache, `@prefill` (C tokens) and `@decode`
(one token), described in docs/generation.md.

When the checkpoint's tensors already have the model dtype, that file is the
checkpoint's own model.safetensors, or for a sharded checkpoint its
model.safetensors.index.json (bnb-compile reads each tensor from its shard):
nothing is copied. A checkpoint whose tensors must be converted (a different
`dtype` was asked for, or the file mixes dtypes), and a sharded pre-quantized
one, is streamed one tensor at a time into `<output stem>.weights.safetensors`
next to the .mlir file, holding every checkpoint tensor (floating-point ones
in the model dtype).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .checkpoint import Checkpoint, storage_code
from .config import BitsAndBytesConfig, mlir_string
from .dtypes import canonical_float_name, convert, is_float, mlir_type
from .errors import BnbMlirError
from .filesafety import check_output_file, checkpoint_inputs
from .fileutil import atomic_write_text
from .graph import GraphBuilder, WeightSource
from .ir import Module, TensorType
from .models import Architecture, architecture_for
from .prequantized import (PrequantizedCheckpoint, open_checkpoint,
                           resolve_quant_config, weight_source)
from .safetensors_io import TensorToWrite, write_safetensors

#: The default cache length (at most the model's positions).
DEFAULT_MAX_SEQ_LEN = 2048

#: Prefill chunk sizes without prefill_chunk: 16, and 128 where the KV cache
#: holds 128 positions. A call of 128 rows runs the linears as a GEMM that
#: does about twice (AVX512-BF16) to four times (AMX) the work per second of
#: eight calls of 16 (docs/benchmarks.md); 16 keeps short prompts cheap.
DEFAULT_PREFILL_CHUNKS = (16, 128)


def weights_file_for(output: str | os.PathLike) -> Path:
    """Where the merged/converted weights of `output` (a .mlir path) go."""
    output = Path(output)
    return output.with_name(output.stem + ".weights.safetensors")


def in_place_weights(ckpt: Checkpoint) -> Path:
    """The checkpoint file `bnb.weights` names when nothing is converted:
    the shard index of a sharded checkpoint, else its one safetensors
    file."""
    if ckpt.sharded and ckpt.index_path is not None:
        return ckpt.index_path.resolve()
    return ckpt.files[0].path.resolve()


def import_checkpoint(hf_dir: str | os.PathLike,
                      output: str | os.PathLike | None = None, *,
                      batch: int = 1, seq: int = 8, dtype: str | None = None,
                      inline_weights: bool = False,
                      quant_config: BitsAndBytesConfig | None = None,
                      generation: bool = False,
                      max_seq_len: int | None = None,
                      prefill_chunk: int | Sequence[int] | None = None
                      ) -> tuple[str, Path | None]:
    """Builds the model graph of the checkpoint in `hf_dir`.

    Args:
      output: the .mlir path. When given, the text is written there (and any
        merged/converted weights file beside it) atomically; `bnb.weights` is
        relative to its directory. Without it, nothing is written and
        `bnb.weights` is relative to `hf_dir`.
      batch, seq: the static input shape [batch, seq].
      dtype: the model dtype T (default: config.json's torch_dtype); like
        `from_pretrained(torch_dtype=...)`, weights are converted to it.
      inline_weights: weights as inline dense constants (for tests and CPU
        runs with upstream tools) instead of external globals.
      quant_config: attached as the module's `bnb.config` attribute.
      generation: also emit `@prefill` and `@decode` (docs/generation.md),
        with KV caches of `max_seq_len` positions (default: the config's
        max_position_embeddings / n_positions, at most 2048) and prefill
        chunks of `prefill_chunk` tokens. Several sizes (a sequence) give
        one prefill entry point each: `@prefill` takes the smallest,
        `@prefill_<C>` each other; bnb-run picks among them per prompt.
        Default: 16, and 128 when max_seq_len >= 128.

    Returns (mlir_text, weights_path): the absolute path of the weights file
    the graph refers to, or None with inline weights.
    """
    sizes = [("batch", batch), ("seq", seq)]
    chunks = []
    if generation and prefill_chunk is not None:
        chunks = prefill_chunks(prefill_chunk)
    if generation:
        sizes += [("prefill_chunk", c) for c in chunks]
        if max_seq_len is not None:
            sizes.append(("max_seq_len", max_seq_len))
    for name, value in sizes:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BnbMlirError(f"{name} must be a positive integer, got "
                               f"{value!r}")
    if output is not None and not Path(output).resolve().parent.is_dir():
        raise BnbMlirError(f"{output}: directory "
                           f"{Path(output).resolve().parent} does not exist")
    checkpoint_inputs(hf_dir)
    with open_checkpoint(hf_dir) as ckpt:
        model = architecture_for(ckpt)
        quant_config = resolve_quant_config(ckpt, quant_config)
        # Encoders (BERT) have only @forward: no @prefill/@decode.
        generation = generation and not getattr(model, "encoder", False)
        if generation:
            if max_seq_len is None:
                max_seq_len = min(model.max_positions, DEFAULT_MAX_SEQ_LEN)
            if prefill_chunk is None:
                chunks = [c for c in DEFAULT_PREFILL_CHUNKS
                          if c == DEFAULT_PREFILL_CHUNKS[0] or
                          c <= max_seq_len]
            for c in chunks:
                if c > max_seq_len:
                    raise BnbMlirError(f"prefill_chunk {c} exceeds "
                                       f"max_seq_len {max_seq_len}")
                model.check_generation(max_seq_len, c)
        torch_name = (canonical_float_name(dtype, "dtype") if dtype
                      else ckpt.torch_dtype())
        code = storage_code(torch_name)
        elem = mlir_type(code)

        out_dir = Path(output).resolve().parent if output else ckpt.dir.resolve()
        # A sharded checkpoint already in dtype T is read in place through
        # its index; pre-quantized shards are still merged.
        merge = ckpt.sharded and (ckpt.index_path is None or
                                  isinstance(ckpt, PrequantizedCheckpoint))
        rewrite = not inline_weights and (merge or any(
            ckpt.info(k).dtype != code for k in model.tensors))
        if rewrite and output is None:
            raise BnbMlirError(f"{ckpt.dir}: the weights must be merged or "
                               f"converted to {torch_name}; give an output "
                               "path for them")
        weights_path = None
        if not inline_weights:
            weights_path = (weights_file_for(Path(output).resolve()) if rewrite
                            else in_place_weights(ckpt))
        if output is not None:
            # Never write over a file of the checkpoint (by any path).
            inputs = checkpoint_inputs(hf_dir)
            check_output_file(output, inputs)
            if rewrite:
                check_output_file(weights_path, inputs + [Path(output)])

        module = Module()
        if weights_path is not None:
            rel = os.path.relpath(weights_path, out_dir)
            module.attributes["bnb.weights"] = mlir_string(
                Path(rel).as_posix())
        if quant_config is not None:
            module.attributes["bnb.config"] = quant_config.to_mlir_attr()
        source = weight_source(module, ckpt, code, inline_weights)
        emit_forward(module, model, source, elem, batch, seq)
        if generation:
            for c in sorted(set(chunks)):
                name = "prefill" if c == min(chunks) else f"prefill_{c}"
                emit_step(module, model, source, elem, name, c, max_seq_len)
            emit_step(module, model, source, elem, "decode", 1, max_seq_len)
        text = module.render()

        if output is not None:
            if rewrite:
                write_converted_weights(ckpt, code, weights_path)
            atomic_write_text(output, text)
    return text, weights_path


def prefill_chunks(prefill_chunk: int | Sequence[int]) -> list[int]:
    """The prefill chunk sizes of `prefill_chunk`: one int, or a non-empty
    sequence of them without repeats (each checked positive later)."""
    chunks = (list(prefill_chunk) if isinstance(prefill_chunk, (list, tuple))
              else [prefill_chunk])
    if not chunks:
        raise BnbMlirError("prefill_chunk is an empty list")
    if any(chunks.count(c) > 1 for c in chunks):
        raise BnbMlirError(f"prefill_chunk {chunks!r} repeats a size")
    return chunks


def token_ids_attrs(model: Architecture) -> dict[str, str | None]:
    """The attributes of an input_ids argument: its name, and the vocabulary
    size bnb-run checks every id against (transformers raises on an id
    outside [0, vocab); the graph itself clamps)."""
    return {"bnb.name": mlir_string("input_ids"),
            "bnb.vocab_size": f"{model.vocab} : i64"}


def emit_forward(module: Module, model: Architecture, source: WeightSource,
                 elem: str, batch: int, seq: int) -> None:
    """`func.func @forward(%input_ids: tensor<BxSxi64>) -> tensor<BxSxVxT>`;
    an encoder emits its own (input_ids, attention_mask, token_type_ids ->
    last_hidden_state)."""
    if getattr(model, "encoder", False):
        model.emit_forward(module, source, elem, batch, seq)
        return
    func = module.func("forward",
                       [("input_ids", TensorType((batch, seq), "i64"),
                         token_ids_attrs(model))],
                       [TensorType((batch, seq, model.vocab), elem)],
                       result_names=["logits"])
    gb = GraphBuilder(module, func, source, elem)
    logits, _ = model.build(gb, func.args[0], batch, seq)
    func.ret([func.expand(logits, [[0, 1], [2]], [batch, seq, model.vocab],
                          "logits")])


def cache_type(model: Architecture, elem: str, max_seq: int) -> TensorType:
    """One layer's key (or value) cache: [1, KV, S, D] in T."""
    return TensorType((1, model.kv_heads, max_seq, model.head_dim), elem)


def emit_step(module: Module, model: Architecture, source: WeightSource,
              elem: str, name: str, chunk: int, max_seq: int) -> None:
    """`@prefill` (chunk C) or `@decode` (chunk 1): C tokens at positions
    position[0] .. +C-1 with the KV caches of every layer (key then value,
    layer by layer, `bnb.kv_cache`); returns the last token's logits
    [1, 1, V] and the updated caches in the same order."""
    ct = cache_type(model, elem, max_seq)
    args: list[tuple] = [("input_ids", TensorType((1, chunk), "i64"),
                          token_ids_attrs(model)),
                         ("position", TensorType((1,), "i64"))]
    cache_attrs = []
    for i in range(model.layers):
        for short, kind in (("k", "key"), ("v", "value")):
            attrs = {"bnb.kv_cache": None,
                     "bnb.name": mlir_string(f"past_key_values.{i}.{kind}")}
            args.append((f"{short}{i}", ct, attrs))
            cache_attrs.append(attrs)
    logits_t = TensorType((1, 1, model.vocab), elem)
    func = module.func(name, args, [logits_t] + [ct] * len(cache_attrs),
                       result_names=["logits"], result_attrs=cache_attrs)
    gb = GraphBuilder(module, func, source, elem)
    step = gb.kv_step(func.args[1], chunk, max_seq, func.args[2:])
    logits, caches = model.build(gb, func.args[0], 1, chunk, step)
    func.ret([func.expand(logits, [[0, 1], [2]], [1, 1, model.vocab],
                          "logits")] + caches)


def write_converted_weights(ckpt: Checkpoint, code: str,
                            path: str | os.PathLike) -> None:
    """Streams every tensor of `ckpt` into one safetensors file, converting
    floating-point tensors to `code`; one tensor in memory at a time."""
    def producer(name, src, dst):
        return lambda: convert(ckpt.raw(name), src, dst)

    tensors = []
    for info in ckpt.iter_infos():
        dst = (code if is_float(info.dtype) and
               not ckpt.keeps_stored_dtype(info.name) else info.dtype)
        tensors.append(TensorToWrite(info.name, dst, info.shape,
                                     producer(info.name, info.dtype, dst)))
    write_safetensors(path, tensors, {"format": "pt"})
