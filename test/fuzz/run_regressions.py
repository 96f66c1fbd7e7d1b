"""Runs every fuzz reproducer and seed through the tool that reads such input.

    run_regressions.py SRC_DIR WORK_DIR BNB_QUANTIZE BNB_RUN BNB_OPT

For each file of test/fuzz/{corpus,regression}/TARGET the matching tool runs
on it as a user would run it:

  safetensors   bnb-quantize FILE --config q.json -o out.safetensors
  quant-config  bnb-quantize w.safetensors --config FILE -o out.safetensors
  manifest      bnb-run DIR --input in.safetensors --output out.safetensors,
                DIR holding FILE's manifest (and weights, after a NUL byte)
  mlir          bnb-opt FILE
  pass-options  bnb-opt g.mlir --pass-pipeline=builtin.module(bnb-replace-linear{FILE})

Each run must end with exit status 0 or 1 (never a signal, a sanitizer
report or a hang), and a failure must be one `error:` line on stderr with no
output file left. Prints one line per target; exits 1 on any violation.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GRAPH = """module {
  ml_program.global private @"l.weight"(dense<1.0> : tensor<4x64xf16>) : tensor<4x64xf16>
  func.func @forward(%x: tensor<2x64xf16>) -> tensor<2x4xf16> {
    %w = ml_program.global_load_const @"l.weight" : tensor<4x64xf16>
    %e = tensor.empty() : tensor<2x4xf16>
    %z = arith.constant 0.0 : f16
    %f = linalg.fill ins(%z : f16) outs(%e : tensor<2x4xf16>) -> tensor<2x4xf16>
    %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>] ins(%x, %w : tensor<2x64xf16>, tensor<4x64xf16>) outs(%f : tensor<2x4xf16>) -> tensor<2x4xf16>
    return %y : tensor<2x4xf16>
  }
}
"""

# An empty safetensors file: an 8-byte length and the JSON "{}" padded to 8.
EMPTY_SAFETENSORS = (8).to_bytes(8, "little") + b"{}      "


def main() -> int:
    src, work = Path(sys.argv[1]), Path(sys.argv[2])
    tool = dict(zip(("bnb-quantize", "bnb-run", "bnb-opt"), sys.argv[3:6]))
    work.mkdir(parents=True, exist_ok=True)
    (work / "q.json").write_text('{"load_in_4bit": true}')
    (work / "w.safetensors").write_bytes(EMPTY_SAFETENSORS)
    (work / "in.safetensors").write_bytes(EMPTY_SAFETENSORS)
    (work / "g.mlir").write_text(GRAPH)
    out = work / "out.safetensors"
    failures = 0
    for target in ("safetensors", "quant-config", "manifest", "mlir",
                   "pass-options"):
        files = sorted(p for d in ("corpus", "regression")
                       for p in (src / "test" / "fuzz" / d / target).glob("*")
                       if p.is_file())
        for file in files:
            out.unlink(missing_ok=True)
            data = file.read_bytes()
            if target == "safetensors":
                cmd = [tool["bnb-quantize"], file, "--config",
                       work / "q.json", "-o", out, "--quiet"]
            elif target == "quant-config":
                cmd = [tool["bnb-quantize"], work / "w.safetensors",
                       "--config", file, "-o", out, "--quiet"]
            elif target == "manifest":
                artifact = work / "a.bnb"
                artifact.mkdir(exist_ok=True)
                manifest, _, weights = data.partition(b"\0")
                (artifact / "manifest.json").write_bytes(manifest)
                (artifact / "weights.safetensors").write_bytes(weights)
                cmd = [tool["bnb-run"], artifact, "--input",
                       work / "in.safetensors", "--output", out]
            elif target == "mlir":
                cmd = [tool["bnb-opt"], file, "-o", out]
            else:
                if b"{" in data or b"}" in data or b"\0" in data:
                    continue
                option = data.decode("utf-8", errors="replace")
                cmd = [tool["bnb-opt"], work / "g.mlir",
                       "--pass-pipeline=builtin.module(bnb-replace-linear{"
                       + option + "})", "-o", out]
            try:
                r = subprocess.run([str(c) for c in cmd], capture_output=True,
                                   timeout=120)
            except subprocess.TimeoutExpired:
                print(f"{target}/{file.name}: hangs")
                failures += 1
                continue
            err = r.stderr.decode("utf-8", errors="replace").strip()
            if r.returncode not in (0, 1) or "Sanitizer" in err \
                    or "Stack dump" in err:
                print(f"{target}/{file.name}: exit status {r.returncode}: "
                      f"{err[-300:]}")
                failures += 1
            elif r.returncode == 1 and target != "mlir" and target != \
                    "pass-options" and (len(err.splitlines()) != 1
                                        or not err.startswith("error: ")
                                        or out.exists()):
                print(f"{target}/{file.name}: not one error line, or an "
                      f"output was left: {err[-300:]}")
                failures += 1
        print(f"{target}: {len(files)} inputs")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
