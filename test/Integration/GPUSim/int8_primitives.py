# RUN: %python %s %t
# LLM.int8() primitive kernels: row-wise quantization with and without
# outliers, outlier split, int8 matmul (tensor-core and generic) and the
# int32 dequantization, compared exactly with the specification's numerics.

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(2)


def rowwise_case(m, k, threshold, x):
    text = f"""
func.func @q(%x: tensor<{m}x{k}xf16>) -> (tensor<{m}x{k}xi8>, tensor<{m}xf32>) {{
  %q, %s = bnb.quantize_rowwise %x {{threshold = {threshold:.1f} : f32}} : tensor<{m}x{k}xf16> -> tensor<{m}x{k}xi8>, tensor<{m}xf32>
  return %q, %s : tensor<{m}x{k}xi8>, tensor<{m}xf32>
}}
"""
    q, stats = run.run(run.lower(text), "q", [x.astype(f16)], 2)
    ref_q, ref_stats, _ = quantize_rowwise(x.astype(f16), threshold)
    name = f"quantize_rowwise {m}x{k} threshold {threshold}"
    check(np.array_equal(stats.view(np.uint32), ref_stats.view(np.uint32)),
          name + ": stats")
    check(np.array_equal(q, ref_q), name + ": codes")


x = rng.standard_normal((5, 96)).astype(f32) * 2
x[1, 7] = 9.0       # an outlier column
x[3, 40] = -6.0     # exactly at the threshold: an outlier
x[4, :] = 0         # a zero row
x[2, 11] = 0.5 * (1 / 127)  # values quantizing to exact halves
rowwise_case(5, 96, 0.0, x)
rowwise_case(5, 96, 6.0, x)
# Half-to-even rounding: x * 127 / r lands exactly on .5 values.
halves = np.array([[127, 0.5, 1.5, 2.5, -2.5, 126.5, 3.5, -0.5]], dtype=f32)
rowwise_case(1, 8, 0.0, halves)

# Outlier split with dynamic result shapes.
text = """
func.func @s(%x: tensor<5x96xf32>) -> (tensor<?xi64>, tensor<5x?xf32>) {
  %c, %o = bnb.outlier_split %x {threshold = 6.0 : f32} : tensor<5x96xf32> -> tensor<?xi64>, tensor<5x?xf32>
  return %c, %o : tensor<?xi64>, tensor<5x?xf32>
}
"""
x[0, 90] = 70000.0  # only an outlier through the f16 cast (inf)
cols, sub = run.run(run.lower(text), "s", [x], 2)
_, _, ref_cols = quantize_rowwise(x.astype(f16), 6.0)
check(np.array_equal(cols, ref_cols.astype(np.int64)), "outlier_split columns")
check(np.array_equal(sub, x[:, ref_cols]), "outlier_split values")


def matmul_case(m, n, k):
    a = rng.integers(-127, 128, (m, k), dtype=np.int8)
    b = rng.integers(-127, 128, (n, k), dtype=np.int8)
    text = f"""
func.func @mm(%a: tensor<{m}x{k}xi8>, %b: tensor<{n}x{k}xi8>) -> tensor<{m}x{n}xi32> {{
  %c = bnb.int8_matmul %a, %b : tensor<{m}x{k}xi8>, tensor<{n}x{k}xi8> -> tensor<{m}x{n}xi32>
  return %c : tensor<{m}x{n}xi32>
}}
"""
    (c,) = run.run(run.lower(text), "mm", [a, b], 1)
    ref = a.astype(np.int64) @ b.astype(np.int64).T
    check(np.array_equal(c, ref.astype(np.int32)), f"int8_matmul {m}x{n}x{k}")


matmul_case(130, 136, 192)  # tensor cores, partial tiles in M and N
matmul_case(3, 5, 40)       # K % 64 != 0: the generic kernel

# Dequantization of the int32 product, with and without the f16 bias.
c = rng.integers(-200000, 200000, (4, 24)).astype(np.int32)
rows = (rng.random(4) * 5).astype(f32)
cols_s = (rng.random(24) * 3).astype(f32)
bias = rng.standard_normal(24).astype(f16)
text = """
func.func @d(%c: tensor<4x24xi32>, %r: tensor<4xf32>, %s: tensor<24xf32>, %b: tensor<24xf16>) -> (tensor<4x24xf16>, tensor<4x24xf16>) {
  %y = bnb.dequantize_int8 %c, %r, %s bias(%b : tensor<24xf16>) : tensor<4x24xi32>, tensor<4xf32>, tensor<24xf32> -> tensor<4x24xf16>
  %z = bnb.dequantize_int8 %c, %r, %s : tensor<4x24xi32>, tensor<4xf32>, tensor<24xf32> -> tensor<4x24xf16>
  return %y, %z : tensor<4x24xf16>, tensor<4x24xf16>
}
"""
y, z = run.run(run.lower(text), "d", [c, rows, cols_s, bias], 2)
check(np.array_equal(y.view(np.uint16),
                     dequantize_int8(c, rows, cols_s, bias).view(np.uint16)),
      "dequantize_int8 with bias")
check(np.array_equal(z.view(np.uint16),
                     dequantize_int8(c, rows, cols_s).view(np.uint16)),
      "dequantize_int8")
print("ok")
