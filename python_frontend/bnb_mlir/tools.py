"""Locating and driving the command-line tools (bnb-opt, bnb-compile,
mlir-opt, mlir-runner).

Project tools are looked up in `$BNB_BUILD_DIR/bin` (default: `build/bin` of
the source tree), then on PATH; upstream MLIR tools in `/usr/lib/llvm-22/bin`,
then on PATH.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import BnbMlirError

LLVM_DIR = Path(os.environ.get("BNB_LLVM_DIR", "/usr/lib/llvm-22"))
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Upstream passes that lower a graph with inline weights to the LLVM dialect.
CPU_PIPELINE = (
    "--one-shot-bufferize=bufferize-function-boundaries",
    "--convert-linalg-to-loops",
    "--expand-strided-metadata",
    "--lower-affine",
    "--convert-scf-to-cf",
    # math.erf (exact GELU) has no LLVM lowering: libm's erff, after the
    # ops LLVM lowers itself (libm has no rsqrtf).
    "--convert-math-to-llvm",
    "--convert-math-to-libm",
    "--convert-to-llvm",
    "--reconcile-unrealized-casts",
)


def build_dir() -> Path:
    return Path(os.environ.get("BNB_BUILD_DIR", REPO_ROOT / "build"))


def find_tool(name: str) -> Path:
    """The path of a tool, or a BnbMlirError saying where it was sought."""
    if name.startswith("bnb-"):
        candidates = [build_dir() / "bin" / name]
    else:
        candidates = [LLVM_DIR / "bin" / name]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BnbMlirError(f"{name} not found (looked in "
                       f"{', '.join(str(c.parent) for c in candidates)} and "
                       "PATH; build the project or set BNB_BUILD_DIR)")


def run_tool(args: Sequence[str | os.PathLike], stdin: str | None = None,
             what: str | None = None) -> str:
    """Runs a tool; a failure raises BnbMlirError with its first error line."""
    proc = subprocess.run([str(a) for a in args], input=stdin,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        first = next((l for l in lines if "error" in l), lines[0] if lines
                     else f"exit status {proc.returncode}")
        raise BnbMlirError(f"{what or Path(str(args[0])).name} failed: "
                           f"{first.strip()}")
    return proc.stdout


def verify(mlir_text: str, tool: str = "bnb-opt") -> str:
    """Parses and verifies a module; returns the tool's printed form."""
    return run_tool([find_tool(tool), "-"], stdin=mlir_text)


def runner_libs() -> list[Path]:
    return [LLVM_DIR / "lib" / "libmlir_c_runner_utils.so",
            LLVM_DIR / "lib" / "libmlir_runner_utils.so"]


def _print_bits(value: str, shape: Sequence[int], elem: str,
                tag: str) -> str:
    """@main lines printing a tensor's float32 bit patterns with
    printMemrefI32 (exact); SSA names are suffixed with `tag`."""
    dims = "x".join(str(d) for d in shape)
    out_t, i32_t = (f"tensor<{dims}x{e}>" for e in (elem, "i32"))
    idx = ", ".join(f"d{i}" for i in range(len(shape)))
    ident = f"affine_map<({idx}) -> ({idx})>"
    to_f32 = "" if elem == "f32" else \
        f"      %w{tag} = arith.extf %a{tag} : {elem} to f32\n"
    src = f"%a{tag}" if elem == "f32" else f"%w{tag}"
    iters = ", ".join(['"parallel"'] * len(shape))
    return f"""    %e{tag} = tensor.empty() : {i32_t}
    %bits{tag} = linalg.generic {{indexing_maps = [{ident}, {ident}], iterator_types = [{iters}]}} ins({value} : {out_t}) outs(%e{tag} : {i32_t}) {{
    ^bb0(%a{tag}: {elem}, %o{tag}: i32):
{to_f32}      %b{tag} = arith.bitcast {src} : f32 to i32
      linalg.yield %b{tag} : i32
    }} -> {i32_t}
    %u{tag} = tensor.cast %bits{tag} : {i32_t} to tensor<*xi32>
    func.call @printMemrefI32(%u{tag}) : (tensor<*xi32>) -> ()
"""


def _with_main(mlir_text: str, body: str) -> str:
    main = (f"  func.func @main() {{\n{body}    return\n  }}\n"
            "  func.func private @printMemrefI32(tensor<*xi32>)\n")
    text = mlir_text.rstrip()
    assert text.endswith("}")
    return text[:-1] + main + "}\n"


def with_print_main(mlir_text: str, input_ids: np.ndarray,
                    logits_shape: Sequence[int], elem: str) -> str:
    """Appends `@main`, which calls @forward on constant `input_ids` and
    prints the logits' float32 bit patterns with printMemrefI32 (exact)."""
    from .ir import dense_hex
    ids = np.ascontiguousarray(input_ids, dtype=np.int64)
    ids_t = f"tensor<{ids.shape[0]}x{ids.shape[1]}xi64>"
    dims = "x".join(str(d) for d in logits_shape)
    out_t = f"tensor<{dims}x{elem}>"
    body = (f"    %ids = arith.constant {dense_hex(ids)} : {ids_t}\n"
            f"    %logits = func.call @forward(%ids) : ({ids_t}) -> {out_t}\n"
            + _print_bits("%logits", logits_shape, elem, ""))
    return _with_main(mlir_text, body)


def _run_main(module: str) -> list[np.ndarray]:
    """Lowers and runs a module with @main; returns the int32 values of
    each printed memref."""
    llvm = run_tool([find_tool("mlir-opt"), "-", *CPU_PIPELINE], stdin=module)
    libs = ",".join(str(p) for p in runner_libs())
    out = run_tool([find_tool("mlir-runner"), "-", "-e", "main",
                    "-entry-point-result=void", f"-shared-libs={libs}"],
                   stdin=llvm)
    # Each print: "Unranked Memref base@ = 0x... rank = ... data = [...]".
    blocks = [b.split("Unranked Memref")[0] for b in out.split("data =")[1:]]
    if not blocks:
        raise BnbMlirError("mlir-runner printed no memref")
    return [np.array([int(t) for t in re.findall(r"-?\d+", b)],
                     dtype=np.int64).astype(np.int32) for b in blocks]


def run_forward_cpu(mlir_text: str, input_ids: np.ndarray,
                    logits_shape: Sequence[int], elem: str) -> np.ndarray:
    """Lowers a graph with inline weights with upstream passes, runs
    @forward under mlir-runner and returns the logits as float32."""
    module = with_print_main(mlir_text, input_ids, logits_shape, elem)
    ints = _run_main(module)[0]
    expected = int(np.prod(logits_shape))
    if ints.size != expected:
        raise BnbMlirError(f"mlir-runner printed {ints.size} values, expected "
                           f"{expected}")
    return ints.view(np.float32).reshape(logits_shape)


def run_generation_cpu(mlir_text: str, calls: Sequence[tuple[str, np.ndarray,
                                                             int]],
                       elem: str) -> list[np.ndarray]:
    """Runs a sequence of @prefill / @decode calls of a graph with inline
    weights (upstream lowering + mlir-runner), threading the KV caches from
    call to call, starting from zero caches.

    `calls` are (entry, input_ids [1, C], position); returns each call's
    logits [1, 1, V] as float32.
    """
    from .ir import dense_hex
    sig = re.search(r"func\.func @decode\((.*?)\) -> \((.*?)\) \{",
                    mlir_text)
    if sig is None:
        raise BnbMlirError("the module has no @decode")
    cache_types = re.findall(r"%\w+: (tensor<[^>]+>) \{bnb\.kv_cache",
                             sig.group(1))
    logits_t = re.match(r"(tensor<[^>]+>)", sig.group(2)).group(1)
    vocab = int(logits_t.split("x")[2])
    lines = []
    caches = []
    for n, t in enumerate(cache_types):
        lines.append(f"    %cache0_{n} = arith.constant dense<0.0> : {t}")
        caches.append(f"%cache0_{n}")
    result_types = ", ".join([logits_t] + cache_types)
    for s, (entry, ids, position) in enumerate(calls):
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(1, -1)
        ids_t = f"tensor<1x{ids.shape[1]}xi64>"
        pos = np.array([position], dtype=np.int64)
        arg_types = ", ".join([ids_t, "tensor<1xi64>"] + cache_types)
        lines.append(f"    %ids{s} = arith.constant {dense_hex(ids)} : "
                     f"{ids_t}")
        lines.append(f"    %pos{s} = arith.constant {dense_hex(pos)} : "
                     f"tensor<1xi64>")
        lines.append(f"    %r{s}:{1 + len(caches)} = func.call @{entry}("
                     f"{', '.join([f'%ids{s}', f'%pos{s}'] + caches)}) : "
                     f"({arg_types}) -> ({result_types})")
        lines.append(_print_bits(f"%r{s}#0", (1, 1, vocab), elem,
                                 f"_{s}").rstrip("\n"))
        caches = [f"%r{s}#{i + 1}" for i in range(len(caches))]
    printed = _run_main(_with_main(mlir_text, "\n".join(lines) + "\n"))
    if len(printed) != len(calls) or any(p.size != vocab for p in printed):
        raise BnbMlirError(f"mlir-runner printed {len(printed)} memrefs, "
                           f"expected {len(calls)} of {vocab} values")
    return [p.view(np.float32).reshape(1, 1, vocab) for p in printed]
