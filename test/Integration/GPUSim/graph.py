# RUN: %python %s %t
# The rest of a model graph (embedding gather, RMS norm, softmax, matmuls,
# transposes, slices, concatenation, constants) next to a 4-bit linear,
# through the device preparation of bnb-lower-to-nvvm: bufferization,
# kernel mapping of all linalg and copy work, outlining and device memory.
# The simulator rejects host accesses to device buffers, use after free and
# double frees, so this checks the memory plan as well as the values.

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(5)

V, D, N, S = 40, 64, 48, 6
text = f"""
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
func.func @forward(%ids: tensor<{S}xi64>, %emb: tensor<{V}x{D}xf32>, %g: tensor<{D}xf32>,
                   %w: tensor<{N * D // 2}x1xui8>, %a: tensor<{N * D // 64}xf32>)
    -> (tensor<{S}x{S}xf32>, tensor<{S}x{N}xf32>) {{
  %e = tensor.empty() : tensor<{S}x{D}xf32>
  %x = linalg.generic {{indexing_maps = [#row, #id2], iterator_types = ["parallel", "parallel"]}}
      ins(%ids : tensor<{S}xi64>) outs(%e : tensor<{S}x{D}xf32>) {{
  ^bb0(%id: i64, %o: f32):
    %i = arith.index_cast %id : i64 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %emb[%i, %j] : tensor<{V}x{D}xf32>
    linalg.yield %v : f32
  }} -> tensor<{S}x{D}xf32>
  %z = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<{S}xf32>
  %acc = linalg.fill ins(%z : f32) outs(%e1 : tensor<{S}xf32>) -> tensor<{S}xf32>
  %ss = linalg.generic {{indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}}
      ins(%x : tensor<{S}x{D}xf32>) outs(%acc : tensor<{S}xf32>) {{
  ^bb0(%v: f32, %s: f32):
    %sq = arith.mulf %v, %v : f32
    %r = arith.addf %s, %sq : f32
    linalg.yield %r : f32
  }} -> tensor<{S}xf32>
  %xn = linalg.generic {{indexing_maps = [#id2, #row, #col, #id2], iterator_types = ["parallel", "parallel"]}}
      ins(%x, %ss, %g : tensor<{S}x{D}xf32>, tensor<{S}xf32>, tensor<{D}xf32>) outs(%e : tensor<{S}x{D}xf32>) {{
  ^bb0(%v: f32, %s: f32, %gg: f32, %o: f32):
    %c = arith.constant {float(D)} : f32
    %eps = arith.constant 1.0e-5 : f32
    %m = arith.divf %s, %c : f32
    %m2 = arith.addf %m, %eps : f32
    %rs = math.rsqrt %m2 : f32
    %y = arith.mulf %v, %rs : f32
    %r = arith.mulf %y, %gg : f32
    linalg.yield %r : f32
  }} -> tensor<{S}x{D}xf32>
  // Attention-like scores x x^T, softmax over the last dimension.
  %et = tensor.empty() : tensor<{D}x{S}xf32>
  %xt = linalg.transpose ins(%xn : tensor<{S}x{D}xf32>) outs(%et : tensor<{D}x{S}xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<{S}x{S}xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<{S}x{S}xf32>) -> tensor<{S}x{S}xf32>
  %sc = linalg.matmul ins(%xn, %xt : tensor<{S}x{D}xf32>, tensor<{D}x{S}xf32>) outs(%f2 : tensor<{S}x{S}xf32>) -> tensor<{S}x{S}xf32>
  %ninf = arith.constant -3.0e38 : f32
  %mx0 = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<{S}xf32>) -> tensor<{S}xf32>
  %mx = linalg.generic {{indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}}
      ins(%sc : tensor<{S}x{S}xf32>) outs(%mx0 : tensor<{S}xf32>) {{
  ^bb0(%v: f32, %s: f32):
    %r = arith.maximumf %s, %v : f32
    linalg.yield %r : f32
  }} -> tensor<{S}xf32>
  %ex = linalg.generic {{indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}}
      ins(%sc, %mx : tensor<{S}x{S}xf32>, tensor<{S}xf32>) outs(%e2 : tensor<{S}x{S}xf32>) {{
  ^bb0(%v: f32, %m: f32, %o: f32):
    %d = arith.subf %v, %m : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  }} -> tensor<{S}x{S}xf32>
  %sm0 = linalg.fill ins(%z : f32) outs(%e1 : tensor<{S}xf32>) -> tensor<{S}xf32>
  %sm = linalg.generic {{indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}}
      ins(%ex : tensor<{S}x{S}xf32>) outs(%sm0 : tensor<{S}xf32>) {{
  ^bb0(%v: f32, %s: f32):
    %r = arith.addf %s, %v : f32
    linalg.yield %r : f32
  }} -> tensor<{S}xf32>
  %p = linalg.generic {{indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}}
      ins(%ex, %sm : tensor<{S}x{S}xf32>, tensor<{S}xf32>) outs(%e2 : tensor<{S}x{S}xf32>) {{
  ^bb0(%v: f32, %s: f32, %o: f32):
    %r = arith.divf %v, %s : f32
    linalg.yield %r : f32
  }} -> tensor<{S}x{S}xf32>
  // A quantized linear, then the halves of its output swapped and a
  // constant added.
  %y = bnb.linear_4bit %xn, %w absmax(%a : tensor<{N * D // 64}xf32>)
         {{module = "m", quant_type = #bnb.quant_type<nf4>, blocksize = 64 : i64, compute_dtype = f32, shape = array<i64: {N}, {D}>}}
         : tensor<{S}x{D}xf32>, tensor<{N * D // 2}x1xui8> -> tensor<{S}x{N}xf32>
  %lo = tensor.extract_slice %y[0, 0] [{S}, {N // 2}] [1, 1] : tensor<{S}x{N}xf32> to tensor<{S}x{N // 2}xf32>
  %hi = tensor.extract_slice %y[0, {N // 2}] [{S}, {N // 2}] [1, 1] : tensor<{S}x{N}xf32> to tensor<{S}x{N // 2}xf32>
  %cat = tensor.concat dim(1) %hi, %lo : (tensor<{S}x{N // 2}xf32>, tensor<{S}x{N // 2}xf32>) -> tensor<{S}x{N}xf32>
  %cst = arith.constant dense<0.5> : tensor<{S}x{N}xf32>
  %e3 = tensor.empty() : tensor<{S}x{N}xf32>
  %out = linalg.add ins(%cat, %cst : tensor<{S}x{N}xf32>, tensor<{S}x{N}xf32>) outs(%e3 : tensor<{S}x{N}xf32>) -> tensor<{S}x{N}xf32>
  return %p, %out : tensor<{S}x{S}xf32>, tensor<{S}x{N}xf32>
}}
"""
ids = rng.integers(0, V, S).astype(np.int64)
emb = rng.standard_normal((V, D)).astype(f32)
g = (rng.random(D) + 0.5).astype(f32)
wf = rng.standard_normal(N * D).astype(f32)
packed, absmax = quantize_4bit(wf, 64, "nf4")

p, out = run.run(run.lower(text, PREPARE), "forward",
                 [ids, emb, g, packed, absmax], 2)

x = emb[ids].astype(f64)
xn = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5) * g
sc = xn @ xn.T
ex = np.exp(sc - sc.max(axis=1, keepdims=True))
ref_p = ex / ex.sum(axis=1, keepdims=True)
w = dequantize_4bit(packed, absmax, N * D, 64, "nf4").reshape(N, D)
y = xn @ w.astype(f64).T
ref_out = np.concatenate([y[:, N // 2:], y[:, :N // 2]], axis=1) + 0.5
check(np.allclose(p, ref_p, rtol=1e-4, atol=1e-5),
      "softmax of scores: max error %g" % np.abs(p - ref_p).max())
check(np.allclose(out, ref_out, rtol=1e-4, atol=1e-4),
      "linear, slices, concat: max error %g" % np.abs(out - ref_out).max())
print("ok")
