# RUN: %python %s %t
# bnb.linear_int8 in the simulator: row quantization with outlier detection,
# column compaction and the int8 GEMM with the dequantization / bias /
# outlier epilogue, compared exactly with bitsandbytes' formulas (outlier
# products summed in f32 FMAs over ascending columns).

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(4)


def reference(x, cb, scb, bias, threshold, tin):
    q, sca, cols = quantize_rowwise(x.astype(f16), threshold)
    c = (q.astype(np.int64) @ cb.astype(np.int64).T).astype(np.int32)
    bias_t = round_to(bias, tin) if bias is not None else None
    fused = bias_t.astype(f16) if bias is not None and tin == "f16" else None
    v = dequantize_int8(c, sca, scb, fused)
    if bias is not None and tin != "f16":
        v = (v.astype(f32) + bias_t).astype(f32).astype(f16)
    out = round_to(v.astype(f32), tin)
    if threshold > 0 and cols.size:
        sub_b = round_to(((cb[:, cols].astype(f32) * scb[:, None]).astype(f32)
                          * INV127).astype(f32), tin)
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                acc = f32(0)
                for ci, col in enumerate(cols):
                    acc = fma32(x[i, col], sub_b[j, ci], acc)
                out[i, j] = round_to(f32(out[i, j] + acc), tin)
    return out


def case(m, n, k, tin, threshold, bias=None, fp16_weight=False,
         dynamic=False):
    x = round_to(rng.standard_normal((m, k)) * 1.5, tin)
    if threshold > 0:
        x[:, 5] *= 8.0            # an outlier column
        x[m - 1, k - 3] = 7.5     # a single outlier element
    w16 = rng.standard_normal((n, k)).astype(f16)
    cb, scb, _ = quantize_rowwise(w16, 0.0)
    b = round_to(rng.standard_normal(n), bias) if bias else None
    rows = "?" if dynamic else str(m)
    params = [f"%x: tensor<{rows}x{k}x{tin}>"]
    if fp16_weight:
        params.append(f"%w: tensor<{n}x{k}xf16>")
        weight = f"%w"
        wty = f"tensor<{n}x{k}xf16>"
        inputs = [encode(x, tin), w16]
    else:
        params += [f"%w: tensor<{n}x{k}xi8>", f"%s: tensor<{n}xf32>"]
        weight = f"%w scb(%s : tensor<{n}xf32>)"
        wty = f"tensor<{n}x{k}xi8>"
        inputs = [encode(x, tin), cb, scb]
    bias_arg = ""
    if bias:
        params.append(f"%b: tensor<{n}x{bias}>")
        bias_arg = f" bias(%b : tensor<{n}x{bias}>)"
        inputs.append(encode(b, bias))
    flag = ", has_fp16_weight" if fp16_weight else ""
    text = f"""
func.func @f({", ".join(params)}) -> tensor<{rows}x{n}x{tin}> {{
  %y = bnb.linear_int8 %x, {weight}{bias_arg} {{module = "m", threshold = {threshold:.1f} : f32{flag}}}
         : tensor<{rows}x{k}x{tin}>, {wty} -> tensor<{rows}x{n}x{tin}>
  return %y : tensor<{rows}x{n}x{tin}>
}}
"""
    (y,) = run.run(run.lower(text), "f", inputs, 1)
    ref = reference(x, cb, scb, b, threshold, tin)
    y = decode(y, tin)
    bad = np.nonzero(y.view(np.uint32) != ref.view(np.uint32))
    check(bad[0].size == 0,
          f"linear_int8 {m}x{n}x{k} {tin} threshold {threshold}: "
          f"{bad[0].size} mismatches, first at {list(zip(*bad))[:3]}: "
          f"{y[bad][:3]} vs {ref[bad][:3]}")


case(3, 64, 128, "f16", 6.0, bias="f16")
case(70, 136, 192, "bf16", 6.0, bias="bf16")
case(2, 20, 96, "f32", 6.0, bias="bf16", fp16_weight=True)
case(5, 32, 64, "f16", 0.0)
case(4, 32, 128, "f16", 6.0, bias="f32", dynamic=True)
print("ok")
