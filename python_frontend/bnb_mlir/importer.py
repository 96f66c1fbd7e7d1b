"""Imports a Hugging Face checkpoint directory as an MLIR model graph.

The graph follows the model-graph contract: `func.func @forward(%input_ids:
tensor<BxSxi64>) -> tensor<BxSxVxT>`, every weight an
`ml_program.global private @"<checkpoint key>"(#ml_program.extern : ...)`
loaded with `ml_program.global_load_const`, and the module attribute
`bnb.weights = "<file>"` naming the safetensors file that holds their bytes,
relative to the directory of the .mlir file.

That file is the checkpoint's own model.safetensors when its tensors already
have the model dtype. A sharded checkpoint, or one whose tensors must be
converted (a different `dtype` was asked for, or the file mixes dtypes), is
streamed one tensor at a time into `<output stem>.weights.safetensors` next to
the .mlir file, holding every checkpoint tensor (floating-point ones in the
model dtype).
"""
from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import Checkpoint, storage_code
from .config import BitsAndBytesConfig, mlir_string
from .dtypes import canonical_float_name, convert, is_float, mlir_type
from .errors import BnbMlirError
from .fileutil import atomic_write_text
from .graph import ExternWeights, GraphBuilder, InlineWeights
from .ir import Module, TensorType
from .models import architecture_for
from .safetensors_io import TensorToWrite, write_safetensors


def weights_file_for(output: str | os.PathLike) -> Path:
    """Where the merged/converted weights of `output` (a .mlir path) go."""
    output = Path(output)
    return output.with_name(output.stem + ".weights.safetensors")


def import_checkpoint(hf_dir: str | os.PathLike,
                      output: str | os.PathLike | None = None, *,
                      batch: int = 1, seq: int = 8, dtype: str | None = None,
                      inline_weights: bool = False,
                      quant_config: BitsAndBytesConfig | None = None
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

    Returns (mlir_text, weights_path): the absolute path of the weights file
    the graph refers to, or None with inline weights.
    """
    for name, value in (("batch", batch), ("seq", seq)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BnbMlirError(f"{name} must be a positive integer, got "
                               f"{value!r}")
    if output is not None and not Path(output).resolve().parent.is_dir():
        raise BnbMlirError(f"{output}: directory "
                           f"{Path(output).resolve().parent} does not exist")
    with Checkpoint(hf_dir) as ckpt:
        model = architecture_for(ckpt)
        torch_name = (canonical_float_name(dtype, "dtype") if dtype
                      else ckpt.torch_dtype())
        code = storage_code(torch_name)
        elem = mlir_type(code)

        out_dir = Path(output).resolve().parent if output else ckpt.dir.resolve()
        rewrite = not inline_weights and (ckpt.sharded or any(
            ckpt.info(k).dtype != code for k in model.tensors))
        if rewrite and output is None:
            raise BnbMlirError(f"{ckpt.dir}: the weights must be merged or "
                               f"converted to {torch_name}; give an output "
                               "path for them")
        weights_path = None
        if not inline_weights:
            weights_path = (weights_file_for(Path(output).resolve()) if rewrite
                            else ckpt.files[0].path.resolve())

        module = Module()
        if weights_path is not None:
            rel = os.path.relpath(weights_path, out_dir)
            module.attributes["bnb.weights"] = mlir_string(
                Path(rel).as_posix())
        if quant_config is not None:
            module.attributes["bnb.config"] = quant_config.to_mlir_attr()
        func = module.func("forward",
                           [("input_ids", TensorType((batch, seq), "i64"))],
                           [TensorType((batch, seq, model.vocab), elem)],
                           result_names=["logits"])
        source = (InlineWeights if inline_weights else ExternWeights)(
            module, ckpt, code)
        gb = GraphBuilder(module, func, source, elem)
        logits = model.build(gb, func.args[0], batch, seq)
        logits = func.expand(logits, [[0, 1], [2]],
                             [batch, seq, model.vocab], "logits")
        func.ret([logits])
        text = module.render()

        if output is not None:
            if rewrite:
                write_converted_weights(ckpt, code, weights_path)
            atomic_write_text(output, text)
    return text, weights_path


def write_converted_weights(ckpt: Checkpoint, code: str,
                            path: str | os.PathLike) -> None:
    """Streams every tensor of `ckpt` into one safetensors file, converting
    floating-point tensors to `code`; one tensor in memory at a time."""
    def producer(name, src):
        return lambda: convert(ckpt.raw(name), src, code)

    tensors = []
    for info in ckpt.iter_infos():
        dst = code if is_float(info.dtype) else info.dtype
        tensors.append(TensorToWrite(info.name, dst, info.shape,
                                     producer(info.name, info.dtype)))
    write_safetensors(path, tensors, {"format": "pt"})
