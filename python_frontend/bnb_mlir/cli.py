"""The `python -m bnb_mlir` command line.

    import     HF_DIR -o MODEL.mlir    checkpoint -> model graph (+ weights file)
    compile    HF_DIR --config Q.json --target T -o NAME.bnb   import + bnb-compile
    config     [--load-in-4bit ...] -o Q.json                 write a quantization_config
    reference  HF_DIR --input IDS.safetensors -o OUT.safetensors   numpy logits
    compare    A.safetensors B.safetensors                    error metrics
    generate   NAME.bnb --prompt TEXT [--chat]                stream generated text
    embed      NAME.bnb --text TEXT [--text ...]              sentence embeddings (JSON lines)

Every error is one line `error: ...` on stderr with exit status 1, and no
output file is left behind (outputs are written to a temporary name and
renamed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .config import BitsAndBytesConfig, COMPUTE_DTYPES, QUANT_STORAGE_DTYPES
from .errors import BnbMlirError
from .safetensors_io import escape_name

TARGETS = ("cpu", "cuda:sm_80", "cuda:sm_90")


def chunk_sizes(text: str) -> list[int]:
    """`--prefill-chunk`: comma-separated token counts."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 1."""

    def error(self, message):
        raise BnbMlirError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m bnb_mlir",
                description="Import Hugging Face checkpoints into bnb-mlir "
                            "and drive its compiler.")
    p.add_argument("--version", action="version",
                   version=f"bnb_mlir {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           parser_class=_Parser)
    sub.required = True

    def shape_options(s):
        s.add_argument("--batch", type=int, default=1,
                       help="static batch size B of input_ids (default 1)")
        s.add_argument("--seq", type=int, default=8,
                       help="static sequence length S (default 8)")
        s.add_argument("--dtype", choices=("float32", "float16", "bfloat16"),
                       help="model dtype (default: config.json torch_dtype); "
                            "weights are converted to it")

    def generation_options(s):
        s.add_argument("--no-generation", dest="generation",
                       action="store_false",
                       help="emit only @forward (no @prefill/@decode)")
        s.add_argument("--max-seq-len", type=int, metavar="N",
                       help="positions of the KV cache of @prefill/@decode "
                            "(default: max_position_embeddings, at most "
                            "2048)")
        s.add_argument("--prefill-chunk", type=chunk_sizes, metavar="C[,C...]",
                       help="tokens per @prefill call; several sizes add "
                            "@prefill_<C> for each but the smallest, and "
                            "bnb-run picks among them (default 16,128; 128 "
                            "only with a KV cache of 128 positions or more)")

    s = sub.add_parser("import", help="write the model graph of a checkpoint",
                       description="Writes the model graph (MLIR) of a "
                       "checkpoint directory: @forward, and @prefill/@decode "
                       "for generation with a KV cache (docs/generation.md); "
                       "a converted checkpoint (or a sharded pre-quantized "
                       "one) also gets MODEL.weights.safetensors beside it; "
                       "a sharded one is read through its index.")
    s.add_argument("hf_dir", metavar="HF_DIR",
                   help="directory with config.json and model.safetensors "
                        "(or model.safetensors.index.json and shards)")
    s.add_argument("-o", "--output", required=True, metavar="MODEL.mlir")
    shape_options(s)
    s.add_argument("--inline-weights", action="store_true",
                   help="embed weights as dense constants (small models, "
                        "tests) instead of external globals")
    s.add_argument("--config", metavar="QUANT.json",
                   help="attach this quantization_config as bnb.config")
    generation_options(s)

    s = sub.add_parser("compile", help="import a checkpoint and run "
                       "bnb-compile", description="Imports a checkpoint into "
                       "a temporary directory and runs `bnb-compile MODEL.mlir "
                       "--weights W.safetensors --config QUANT.json --target "
                       "T -o NAME.bnb`.")
    s.add_argument("hf_dir", metavar="HF_DIR")
    s.add_argument("--config", metavar="QUANT.json",
                   help="quantization_config JSON (or a config.json holding "
                        "one); default, and only allowed value, for a "
                        "pre-quantized checkpoint: its own")
    s.add_argument("--target", required=True, choices=TARGETS)
    s.add_argument("-o", "--output", required=True, metavar="NAME.bnb")
    shape_options(s)
    s.add_argument("--keep-mlir", metavar="MODEL.mlir",
                   help="also write the imported graph here")
    s.add_argument("--bnb-4bit-compute-dtype", choices=COMPUTE_DTYPES,
                   help="compute the 4-bit layers in this dtype instead of "
                        "the config's, also for a pre-quantized checkpoint "
                        "(bnb-compile --bnb-4bit-compute-dtype)")
    s.add_argument("--with-cpu", action="store_true",
                   help="for a cuda target, also build the model for the "
                        "CPU (bnb-compile --with-cpu)")

    s = sub.add_parser("config", help="write a quantization_config JSON",
                       description="Writes a BitsAndBytesConfig as the "
                       "quantization_config JSON transformers writes. Options "
                       "are the config fields with dashes.")
    s.add_argument("--load-in-8bit", action="store_true")
    s.add_argument("--load-in-4bit", action="store_true")
    s.add_argument("--llm-int8-threshold", type=float, default=6.0)
    s.add_argument("--llm-int8-skip-modules", metavar="NAME[,NAME...]",
                   help="comma-separated; replaces the automatic lm_head "
                        "list (an empty string: skip nothing)")
    s.add_argument("--llm-int8-enable-fp32-cpu-offload", action="store_true")
    s.add_argument("--llm-int8-has-fp16-weight", action="store_true")
    s.add_argument("--bnb-4bit-compute-dtype", choices=COMPUTE_DTYPES,
                   default="float32")
    s.add_argument("--bnb-4bit-quant-type", choices=("fp4", "nf4"),
                   default="fp4")
    s.add_argument("--bnb-4bit-use-double-quant", action="store_true")
    s.add_argument("--bnb-4bit-quant-storage", choices=QUANT_STORAGE_DTYPES,
                   default="uint8")
    s.add_argument("-o", "--output", required=True, metavar="QUANT.json")

    s = sub.add_parser("reference", help="numpy logits of a checkpoint",
                       description="Computes the logits with the numpy "
                       "reference and writes them as 'logits' (float32).")
    s.add_argument("hf_dir", metavar="HF_DIR")
    s.add_argument("--input", required=True, metavar="IDS.safetensors",
                   help="safetensors file with an int64 'input_ids' [B, S]")
    s.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    s.add_argument("--dtype", choices=("float32", "float16", "bfloat16"),
                   help="compute dtype (default: the checkpoint's)")

    s = sub.add_parser("compare", help="error of logits against a baseline",
                       description="Prints the error of ACTUAL against "
                       "BASELINE (max/mean absolute, relative to the "
                       "baseline's largest magnitude, top-1 agreement).")
    s.add_argument("baseline", metavar="BASELINE.safetensors")
    s.add_argument("actual", metavar="ACTUAL.safetensors")
    s.add_argument("--key", help="tensor to compare (default: the only one, "
                                 "or 'logits')")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("generate", help="generate text with an artifact",
                       description="Tokenizes the prompt with the "
                       "checkpoint's tokenizer files, runs `bnb-run NAME.bnb "
                       "--generate` and streams the text to stdout (the "
                       "prompt, then what the model adds; with --chat only "
                       "the reply). Generation ends at an eos token "
                       "(generation_config.json, the tokenizer's eos "
                       "token), which is not printed. bnb-run's report "
                       "(prompt tokens, prefill and decode speed, peak "
                       "memory) goes to stderr. Batch 1. See "
                       "docs/generation.md.")
    s.add_argument("artifact", metavar="NAME.bnb",
                   help="an artifact compiled from a graph with "
                        "@prefill/@decode")
    s.add_argument("--prompt", required=True, metavar="TEXT")
    s.add_argument("--chat", action="store_true",
                   help="wrap the prompt as one user message with the "
                        "chat template of tokenizer_config.json")
    s.add_argument("--tokenizer", metavar="HF_DIR",
                   help="directory with tokenizer.json, "
                        "tokenizer_config.json, generation_config.json "
                        "(the checkpoint); used when NAME.bnb carries no "
                        "tokenizer.json")
    s.add_argument("--max-new-tokens", type=int, default=256, metavar="N",
                   help="tokens to generate at most (default 256; "
                        "generation also stops at the artifact's maximum "
                        "context)")
    s.add_argument("--temperature", type=float, metavar="T",
                   help="0 (bnb-run's default): greedy; else sample at "
                        "this temperature")
    s.add_argument("--top-k", type=int, metavar="K",
                   help="sample from the K most likely tokens (0: all)")
    s.add_argument("--top-p", type=float, metavar="P",
                   help="nucleus sampling mass, in (0, 1]")
    s.add_argument("--seed", type=int, metavar="S", help="sampler seed")
    s.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: bnb-run's)")
    s.add_argument("--device", choices=("cpu", "cuda"),
                   help="default: the artifact's target")
    s.add_argument("--no-stream", dest="stream", action="store_false",
                   help="print the text once generation has ended")

    s = sub.add_parser("embed", help="sentence embeddings with an encoder "
                       "artifact", description="Tokenizes each text with the "
                       "checkpoint's tokenizer.json, runs the encoder "
                       "artifact (a BERT-family model) with bnb-run, and "
                       "prints one JSON line per text: {\"index\", \"text\", "
                       "\"embedding\"}, pooled and normalized as the "
                       "sentence-transformers modules.json and "
                       "1_Pooling/config.json say (mean pooling and L2 "
                       "normalization without them). A text longer than the "
                       "compiled sequence length is an error. See "
                       "docs/frontend.md.")
    s.add_argument("artifact", metavar="NAME.bnb",
                   help="an artifact compiled from a BERT-family checkpoint")
    s.add_argument("--text", action="append", required=True, metavar="TEXT",
                   help="a text to embed (repeat for several)")
    s.add_argument("--tokenizer", metavar="HF_DIR",
                   help="the checkpoint directory: tokenizer.json (when "
                        "NAME.bnb carries none), modules.json and the "
                        "pooling config")
    s.add_argument("--pooling", choices=("mean", "cls", "max",
                                         "mean_sqrt_len"),
                   help="override the pooling mode")
    s.add_argument("--normalize", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="override L2 normalization (default: whether "
                        "modules.json has a Normalize module; on without "
                        "modules.json)")
    s.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: bnb-run's)")
    s.add_argument("--device", choices=("cpu", "cuda"),
                   help="default: the artifact's target")
    return p


def _cmd_import(a) -> None:
    from .importer import import_checkpoint
    config = BitsAndBytesConfig.from_json_file(a.config) if a.config else None
    _, weights = import_checkpoint(a.hf_dir, a.output, batch=a.batch,
                                   seq=a.seq, dtype=a.dtype,
                                   inline_weights=a.inline_weights,
                                   quant_config=config,
                                   generation=a.generation,
                                   max_seq_len=a.max_seq_len,
                                   prefill_chunk=a.prefill_chunk)
    print(f"wrote {a.output}" + (f" (weights: {weights})" if weights else ""),
          file=sys.stderr)


def _cmd_compile(a) -> None:
    from .fileutil import atomic_write_text
    from .importer import import_checkpoint
    from .tools import find_tool, run_tool
    from .prequantized import read_stored_quant_config
    given = BitsAndBytesConfig.from_json_file(a.config) if a.config else None
    stored = read_stored_quant_config(a.hf_dir)
    config = stored or given
    if config is None:
        raise BnbMlirError("compile: --config is required (the checkpoint "
                           "is not pre-quantized)")
    compiler = find_tool("bnb-compile")
    out_parent = Path(a.output).resolve().parent
    if not out_parent.is_dir():
        raise BnbMlirError(f"{a.output}: directory {out_parent} does not "
                           "exist")
    with tempfile.TemporaryDirectory(prefix=".bnb-import-",
                                     dir=out_parent) as tmp:
        model = Path(tmp) / "model.mlir"
        text, weights = import_checkpoint(a.hf_dir, model, batch=a.batch,
                                          seq=a.seq, dtype=a.dtype,
                                          # checked against the stored one
                                          quant_config=given if stored
                                          else None)
        quant = Path(tmp) / "quant.json"
        quant.write_text(config.to_json_string())
        run_tool([compiler, model, "--weights", weights, "--config", quant,
                  "--target", a.target, "-o", a.output] +
                 (["--with-cpu"] if a.with_cpu else []) +
                 (["--bnb-4bit-compute-dtype", a.bnb_4bit_compute_dtype]
                  if a.bnb_4bit_compute_dtype else []))
        if a.keep_mlir:
            atomic_write_text(a.keep_mlir, text)
    print(f"wrote {a.output}", file=sys.stderr)


def _cmd_config(a) -> None:
    skip = None
    if a.llm_int8_skip_modules is not None:
        skip = [m for m in a.llm_int8_skip_modules.split(",") if m]
    try:
        config = BitsAndBytesConfig(
            load_in_8bit=a.load_in_8bit, load_in_4bit=a.load_in_4bit,
            llm_int8_threshold=a.llm_int8_threshold,
            llm_int8_skip_modules=skip,
            llm_int8_enable_fp32_cpu_offload=(
                a.llm_int8_enable_fp32_cpu_offload),
            llm_int8_has_fp16_weight=a.llm_int8_has_fp16_weight,
            bnb_4bit_compute_dtype=a.bnb_4bit_compute_dtype,
            bnb_4bit_quant_type=a.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=a.bnb_4bit_use_double_quant,
            bnb_4bit_quant_storage=a.bnb_4bit_quant_storage)
    except (TypeError, ValueError) as e:
        raise BnbMlirError(str(e)) from None
    config.to_json_file(a.output)


def _read_tensor(path: str, key: str | None) -> tuple[str, np.ndarray]:
    from .dtypes import to_f32
    from .safetensors_io import SafetensorsFile
    with SafetensorsFile(path) as f:
        names = list(f.tensors)
        if key is None:
            key = names[0] if len(names) == 1 else \
                "logits" if "logits" in names else None
            if key is None:
                raise BnbMlirError(f"{path}: holds {len(names)} tensors; "
                                   "choose one with --key")
        if key not in f.tensors:
            raise BnbMlirError(f"{path}: missing tensor '{key}'")
        info = f.tensors[key]
        return key, np.array(to_f32(f.raw(key), info.dtype)
                             if info.dtype in ("F16", "BF16", "F32", "F64")
                             else f.raw(key))


def _cmd_reference(a) -> None:
    from .reference import reference_forward
    from .safetensors_io import TensorToWrite, write_safetensors
    _, ids = _read_tensor(a.input, "input_ids")
    logits = np.ascontiguousarray(reference_forward(a.hf_dir, ids, a.dtype),
                                  dtype=np.float32)
    write_safetensors(a.output, [TensorToWrite("logits", "F32", logits.shape,
                                               lambda: logits)],
                      {"format": "pt"})


def compare(baseline: np.ndarray, actual: np.ndarray) -> dict:
    """Error metrics of `actual` against `baseline` (same shape)."""
    base = baseline.astype(np.float64)
    act = actual.astype(np.float64)
    err = np.abs(act - base)
    scale = float(np.abs(base).max()) or 1.0
    result = {
        "max_abs_error": float(err.max()),
        "mean_abs_error": float(err.mean()),
        "max_rel_error": float(err.max()) / scale,
        "finite": bool(np.isfinite(act).all()),
    }
    if base.ndim >= 1 and base.shape[-1] > 1:
        result["top1_agreement"] = float(
            (base.argmax(-1) == act.argmax(-1)).mean())
    return result


def _cmd_compare(a) -> None:
    kb, base = _read_tensor(a.baseline, a.key)
    ka, act = _read_tensor(a.actual, a.key)
    if base.shape != act.shape:
        raise BnbMlirError(f"{a.actual}: '{ka}' has shape {list(act.shape)}, "
                           f"{a.baseline} has {list(base.shape)}")
    result = compare(base, act)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    for k, v in result.items():
        print(f"{k:>16}: {v:.6g}" if isinstance(v, float) and
              not isinstance(v, bool) else f"{k:>16}: {v}")


def _cmd_generate(a) -> None:
    from .generate import generate_command
    generate_command(a.artifact, a.prompt, chat=a.chat,
                     tokenizer_dir=a.tokenizer,
                     max_new_tokens=a.max_new_tokens,
                     temperature=a.temperature, top_k=a.top_k, top_p=a.top_p,
                     seed=a.seed, threads=a.threads, device=a.device,
                     stream=a.stream)


def _cmd_embed(a) -> None:
    from .embed import embed_command
    embed_command(a.artifact, a.text, tokenizer_dir=a.tokenizer,
                  pooling=a.pooling, normalize=a.normalize,
                  threads=a.threads, device=a.device)


COMMANDS = {"import": _cmd_import, "compile": _cmd_compile,
            "config": _cmd_config, "reference": _cmd_reference,
            "compare": _cmd_compare, "generate": _cmd_generate,
            "embed": _cmd_embed}


def main(argv=None) -> int:
    def show_warning(message, category, filename, lineno, file=None,
                     line=None):
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    from .filesafety import exit_on_termination_signals
    exit_on_termination_signals()
    try:
        args = _parser().parse_args(argv)
        COMMANDS[args.command](args)
    except BnbMlirError as e:
        # Names from files may hold newlines or terminal escapes.
        print(f"error: {escape_name(str(e))}", file=sys.stderr)
        return 1
    except OSError as e:
        name = f"{e.filename}: " if e.filename else ""
        print(f"error: {escape_name(f'{name}{e.strerror or e}')}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
