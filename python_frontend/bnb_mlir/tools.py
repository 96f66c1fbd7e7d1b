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


def with_print_main(mlir_text: str, input_ids: np.ndarray,
                    logits_shape: Sequence[int], elem: str) -> str:
    """Appends `@main`, which calls @forward on constant `input_ids` and
    prints the logits' float32 bit patterns with printMemrefI32 (exact)."""
    from .ir import dense_hex
    ids = np.ascontiguousarray(input_ids, dtype=np.int64)
    ids_t = f"tensor<{ids.shape[0]}x{ids.shape[1]}xi64>"
    dims = "x".join(str(d) for d in logits_shape)
    out_t, f32_t, i32_t = (f"tensor<{dims}x{e}>" for e in (elem, "f32", "i32"))
    idx = ", ".join(f"d{i}" for i in range(len(logits_shape)))
    ident = f"affine_map<({idx}) -> ({idx})>"
    to_f32 = "" if elem == "f32" else \
        f"      %w = arith.extf %a : {elem} to f32\n"
    src = "%a" if elem == "f32" else "%w"
    main = f"""  func.func @main() {{
    %ids = arith.constant {dense_hex(ids)} : {ids_t}
    %logits = func.call @forward(%ids) : ({ids_t}) -> {out_t}
    %e = tensor.empty() : {i32_t}
    %bits = linalg.generic {{indexing_maps = [{ident}, {ident}], iterator_types = [{", ".join(['"parallel"'] * len(logits_shape))}]}} ins(%logits : {out_t}) outs(%e : {i32_t}) {{
    ^bb0(%a: {elem}, %o: i32):
{to_f32}      %b = arith.bitcast {src} : f32 to i32
      linalg.yield %b : i32
    }} -> {i32_t}
    %u = tensor.cast %bits : {i32_t} to tensor<*xi32>
    func.call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
    return
  }}
  func.func private @printMemrefI32(tensor<*xi32>)
"""
    body = mlir_text.rstrip()
    assert body.endswith("}")
    return body[:-1] + main + "}\n"


def run_forward_cpu(mlir_text: str, input_ids: np.ndarray,
                    logits_shape: Sequence[int], elem: str) -> np.ndarray:
    """Lowers a graph with inline weights with upstream passes, runs
    @forward under mlir-runner and returns the logits as float32."""
    module = with_print_main(mlir_text, input_ids, logits_shape, elem)
    llvm = run_tool([find_tool("mlir-opt"), "-", *CPU_PIPELINE], stdin=module)
    libs = ",".join(str(p) for p in runner_libs())
    out = run_tool([find_tool("mlir-runner"), "-", "-e", "main",
                    "-entry-point-result=void", f"-shared-libs={libs}"],
                   stdin=llvm)
    data = out.split("data =", 1)
    if len(data) != 2:
        raise BnbMlirError("mlir-runner printed no memref")
    ints = np.array([int(t) for t in re.findall(r"-?\d+", data[1])],
                    dtype=np.int64)
    expected = int(np.prod(logits_shape))
    if ints.size != expected:
        raise BnbMlirError(f"mlir-runner printed {ints.size} values, expected "
                           f"{expected}")
    return ints.astype(np.int32).view(np.float32).reshape(logits_shape)
