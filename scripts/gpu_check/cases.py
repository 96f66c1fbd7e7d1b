#!/usr/bin/env python3
"""Writes the GPU check cases: small model graphs, their weights, inputs and
quantization configs. Each case is compiled twice by gpu-check.sh, for the
GPU and for the CPU; the CPU build equals lib/Quant bit for bit, so its
outputs are what the GPU build must reproduce (exactly, or within the
case's tolerance where floats are summed in another order).

    cases.py OUTDIR [CASE ...]
        writes OUTDIR/<case>/{model.mlir,weights.safetensors,
        inputs.safetensors,config.json,case.json} for every case, or only
        for the named ones
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

MAPS = """#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
"""


def config(load_in_4bit=False, quant_type="nf4", double_quant=False,
           compute="float16", threshold=6.0):
    return {
        "quant_method": "bitsandbytes",
        "load_in_8bit": not load_in_4bit,
        "load_in_4bit": load_in_4bit,
        "llm_int8_threshold": threshold,
        "llm_int8_skip_modules": [],
        "llm_int8_has_fp16_weight": False,
        "llm_int8_enable_fp32_cpu_offload": False,
        "bnb_4bit_compute_dtype": compute,
        "bnb_4bit_quant_type": quant_type,
        "bnb_4bit_use_double_quant": double_quant,
        "bnb_4bit_quant_storage": "uint8",
    }


def linear_graph(m, k, n, dtype="f16", bias=True):
    """One nn.Linear y = x·Wᵀ + b on external weights."""
    bias_global = (f'  ml_program.global private @"layer.bias"'
                   f'(#ml_program.extern : tensor<{n}x{dtype}>) : '
                   f'tensor<{n}x{dtype}>\n') if bias else ""
    bias_ops = f"""    %b = ml_program.global_load_const @"layer.bias" : tensor<{n}x{dtype}>
    %yb = linalg.generic {{indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}}
           ins(%y, %b : tensor<{m}x{n}x{dtype}>, tensor<{n}x{dtype}>) outs(%e : tensor<{m}x{n}x{dtype}>) {{
    ^bb0(%a: {dtype}, %c: {dtype}, %o: {dtype}):
      %s = arith.addf %a, %c : {dtype}
      linalg.yield %s : {dtype}
    }} -> tensor<{m}x{n}x{dtype}>
    return %yb : tensor<{m}x{n}x{dtype}>""" if bias else \
        f"    return %y : tensor<{m}x{n}x{dtype}>"
    return MAPS + f"""module attributes {{bnb.weights = "weights.safetensors"}} {{
  ml_program.global private @"layer.weight"(#ml_program.extern : tensor<{n}x{k}x{dtype}>) : tensor<{n}x{k}x{dtype}>
{bias_global}  func.func @forward(%x: tensor<{m}x{k}x{dtype}> {{bnb.name = "x"}}) -> (tensor<{m}x{n}x{dtype}> {{bnb.name = "y"}}) {{
    %zero = arith.constant 0.0 : {dtype}
    %w = ml_program.global_load_const @"layer.weight" : tensor<{n}x{k}x{dtype}>
    %e = tensor.empty() : tensor<{m}x{n}x{dtype}>
    %f = linalg.fill ins(%zero : {dtype}) outs(%e : tensor<{m}x{n}x{dtype}>) -> tensor<{m}x{n}x{dtype}>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]
           ins(%x, %w : tensor<{m}x{k}x{dtype}>, tensor<{n}x{k}x{dtype}>) outs(%f : tensor<{m}x{n}x{dtype}>) -> tensor<{m}x{n}x{dtype}>
{bias_ops}
  }}
}}
"""


def primitives_graph(n):
    """The blockwise primitives on an f16 vector, outputs compared exactly."""
    blocks = (n + 63) // 64
    nested = (blocks + 255) // 256
    return f"""module {{
  func.func @forward(%x: tensor<{n}xf16> {{bnb.name = "x"}}, %r: tensor<64x{n // 64}xf16> {{bnb.name = "rows"}})
      -> (tensor<{(n + 1) // 2}x1xui8> {{bnb.name = "nf4"}}, tensor<{blocks}xf32> {{bnb.name = "absmax"}},
          tensor<{n}xbf16> {{bnb.name = "nf4_deq"}}, tensor<{(n + 1) // 2}x1xui8> {{bnb.name = "fp4"}},
          tensor<{n}xf32> {{bnb.name = "fp4_deq"}}, tensor<{n}xui8> {{bnb.name = "codes8"}},
          tensor<{n}xf32> {{bnb.name = "deq8"}}, tensor<64x{n // 64}xi8> {{bnb.name = "rowwise"}},
          tensor<64xf32> {{bnb.name = "row_stats"}}) {{
    %p, %a = bnb.quantize_4bit %x {{quant_type = #bnb.quant_type<nf4>}} : tensor<{n}xf16> -> tensor<{(n + 1) // 2}x1xui8>, tensor<{blocks}xf32>
    %d = bnb.dequantize_4bit %p, %a {{quant_type = #bnb.quant_type<nf4>}} : tensor<{(n + 1) // 2}x1xui8>, tensor<{blocks}xf32> -> tensor<{n}xbf16>
    %p2, %a2 = bnb.quantize_4bit %x {{quant_type = #bnb.quant_type<fp4>}} : tensor<{n}xf16> -> tensor<{(n + 1) // 2}x1xui8>, tensor<{blocks}xf32>
    %d2 = bnb.dequantize_4bit %p2, %a2 {{quant_type = #bnb.quant_type<fp4>}} : tensor<{(n + 1) // 2}x1xui8>, tensor<{blocks}xf32> -> tensor<{n}xf32>
    %q8, %a8 = bnb.quantize_blockwise %x {{blocksize = 256 : i64}} : tensor<{n}xf16> -> tensor<{n}xui8>, tensor<{(n + 255) // 256}xf32>
    %d8 = bnb.dequantize_blockwise %q8, %a8 {{blocksize = 256 : i64}} : tensor<{n}xui8>, tensor<{(n + 255) // 256}xf32> -> tensor<{n}xf32>
    %q, %s = bnb.quantize_rowwise %r {{threshold = 6.0 : f32}} : tensor<64x{n // 64}xf16> -> tensor<64x{n // 64}xi8>, tensor<64xf32>
    return %p, %a, %d, %p2, %d2, %q8, %d8, %q, %s : tensor<{(n + 1) // 2}x1xui8>, tensor<{blocks}xf32>, tensor<{n}xbf16>, tensor<{(n + 1) // 2}x1xui8>, tensor<{n}xf32>, tensor<{n}xui8>, tensor<{n}xf32>, tensor<64x{n // 64}xi8>, tensor<64xf32>
  }}
}}
"""


def activations(rng, m, k, outlier_cols=()):
    x = rng.randn(m, k).astype(np.float32)
    for c in outlier_cols:
        x[:, c] *= 12.0
    return x.astype(np.float16)


def write(out, name, graph, weights, inputs, cfg, compare, tolerance=None):
    if ONLY and name not in ONLY:
        return
    WRITTEN.add(name)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.mlir").write_text(graph)
    save_file(weights, str(d / "weights.safetensors"))
    save_file(inputs, str(d / "inputs.safetensors"))
    (d / "config.json").write_text(json.dumps(cfg, indent=2))
    (d / "case.json").write_text(json.dumps(
        {"compare": compare, "tolerance": tolerance}, indent=2))


def write_model(out, name, cfg):
    """A whole-model case: the tiny LLaMA checkpoint, imported by
    `python -m bnb_mlir import` (its graph names the checkpoint's weights)."""
    if ONLY and name not in ONLY:
        return
    WRITTEN.add(name)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "python_frontend"))
    subprocess.run([sys.executable, str(root / "examples/tiny-llama/make_model.py"),
                    str(d / "hf")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "bnb_mlir", "import", str(d / "hf"),
                    "-o", str(d / "model.mlir")], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    shutil.copy(d / "hf" / "input_ids.safetensors", d / "inputs.safetensors")
    (d / "config.json").write_text(json.dumps(cfg, indent=2))
    # f16 logits summed in another order (docs/gpu.md, whole-model bound).
    (d / "case.json").write_text(json.dumps(
        {"compare": "tolerance", "tolerance": {"atol": 2e-2, "rtol": 1e-2}},
        indent=2))


ONLY = set()
WRITTEN = set()


def main(out, only=()):
    ONLY.update(only)
    out = pathlib.Path(out)
    rng = np.random.RandomState(1234)

    # Blockwise and int8 primitives: exact.
    n = 64 * 96
    x = (rng.randn(n) * 2).astype(np.float16)
    x[64:128] = 0  # an all-zero block
    rows = activations(rng, 64, n // 64, outlier_cols=(3, 40))
    write(out, "primitives", primitives_graph(n), {"unused": np.zeros(1, np.float32)},
          {"x": x, "rows": rows}, config(load_in_4bit=True), "exact")

    # The fused 4-bit GEMV (batch 1) and small-batch GEMM at model shapes.
    for name, m, k, n_out, qt, dq, compute in [
            ("nf4_dq_gemv_4096x4096", 1, 4096, 4096, "nf4", True, "float16"),
            ("nf4_gemv_k11008", 1, 11008, 512, "nf4", False, "bfloat16"),
            ("fp4_dq_gemv_n11008", 1, 512, 11008, "fp4", True, "float16"),
            ("nf4_f32_gemv", 1, 2048, 512, "nf4", True, "float32"),
            ("nf4_dq_gemm_m16", 16, 4096, 1024, "nf4", True, "float16"),
            ("nf4_dq_gemm_m64", 64, 2048, 1024, "nf4", True, "float16")]:
        w = (rng.randn(n_out, k) * 0.05).astype(np.float16)
        b = (rng.randn(n_out) * 0.1).astype(np.float16)
        # With bf16 compute (8 significant bits) the GPU GEMV's weight
        # T(T(code) * T(absmax)) is up to two bf16 roundings from the CPU
        # build's T(f32(code * absmax)) (docs/gpu.md), which over K = 11008
        # terms moves an output by about 0.03 (a numpy model of both
        # formulas on this case: 0.032, at outputs near zero); f16 compute
        # stays within 2e-2.
        atol = 6e-2 if compute == "bfloat16" else 2e-2
        write(out, name, linear_graph(m, k, n_out),
              {"layer.weight": w, "layer.bias": b},
              {"x": activations(rng, m, k)},
              config(load_in_4bit=True, quant_type=qt, double_quant=dq,
                     compute=compute),
              "tolerance", {"atol": atol, "rtol": 1e-2})

    # LLM.int8() with outliers in a few columns, and threshold 0.
    for name, m, threshold in [("int8_outliers_m256", 256, 6.0),
                               ("int8_m1", 1, 6.0),
                               ("int8_no_outliers_m64", 64, 0.0)]:
        k, n_out = 1024, 1024
        w = (rng.randn(n_out, k) * 0.05).astype(np.float16)
        b = (rng.randn(n_out) * 0.1).astype(np.float16)
        write(out, name, linear_graph(m, k, n_out),
              {"layer.weight": w, "layer.bias": b},
              {"x": activations(rng, m, k, outlier_cols=(5, 700))},
              config(threshold=threshold), "tolerance",
              {"atol": 2e-2, "rtol": 1e-2})

    # The whole demo model (examples/tiny-llama: LLaMA, f16, GQA, outlier
    # channels) in every mode, imported by the frontend as users do.
    for name, cfg in [
            ("tiny_llama_int8", config(threshold=6.0)),
            ("tiny_llama_nf4", config(load_in_4bit=True)),
            ("tiny_llama_nf4_dq", config(load_in_4bit=True, double_quant=True))]:
        write_model(out, name, cfg)

    unknown = ONLY - WRITTEN
    if unknown:
        sys.exit("cases.py: error: unknown case '%s'" % sorted(unknown)[0])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cases.py OUTDIR [CASE ...]")
    main(sys.argv[1], sys.argv[2:])
