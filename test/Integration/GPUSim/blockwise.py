# RUN: %python %s %t
# Blockwise quantize/dequantize kernels (4-bit NF4/FP4 and 8-bit dynamic),
# compared bit for bit with the specification's numerics.

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(1)


def q4_case(shape, dtype, quant_type, blocksize, data):
    n = int(np.prod(shape))
    nbytes, nblocks = (n + 1) // 2, -(-n // blocksize)
    ty = "x".join(map(str, shape))
    text = f"""
func.func @q(%w: tensor<{ty}x{dtype}>) -> (tensor<{nbytes}x1xui8>, tensor<{nblocks}xf32>) {{
  %p, %a = bnb.quantize_4bit %w {{quant_type = #bnb.quant_type<{quant_type}>, blocksize = {blocksize} : i64}}
             : tensor<{ty}x{dtype}> -> tensor<{nbytes}x1xui8>, tensor<{nblocks}xf32>
  return %p, %a : tensor<{nbytes}x1xui8>, tensor<{nblocks}xf32>
}}
func.func @d(%p: tensor<{nbytes}x1xui8>, %a: tensor<{nblocks}xf32>) -> tensor<{ty}x{dtype}> {{
  %w = bnb.dequantize_4bit %p, %a {{quant_type = #bnb.quant_type<{quant_type}>, blocksize = {blocksize} : i64}}
         : tensor<{nbytes}x1xui8>, tensor<{nblocks}xf32> -> tensor<{ty}x{dtype}>
  return %w : tensor<{ty}x{dtype}>
}}
"""
    module = run.lower(text)
    values = round_to(data.reshape(shape), dtype)
    packed, absmax = run.run(module, "q", [encode(values, dtype)], 2)
    ref_packed, ref_absmax = quantize_4bit(values, blocksize, quant_type)
    name = f"quantize_4bit {quant_type} {dtype} {shape} b{blocksize}"
    check(np.array_equal(absmax.view(np.uint32), ref_absmax.view(np.uint32)),
          name + ": absmax")
    check(np.array_equal(packed, ref_packed), name + ": codes")
    (out,) = run.run(module, "d", [ref_packed, ref_absmax], 1)
    ref = round_to(dequantize_4bit(ref_packed, ref_absmax, n, blocksize,
                                   quant_type), dtype).reshape(shape)
    check(np.array_equal(decode(out, dtype).view(np.uint32),
                         ref.view(np.uint32)), name + ": dequantize")


# Random data, an odd length (tail padding), an all-zero block and exact
# thresholds (ties go to the lower code).
for quant_type in ("nf4", "fp4"):
    for dtype in ("f16", "bf16", "f32"):
        q4_case((8, 24), dtype, quant_type, 64, rng.standard_normal(192))
    q4_case((5, 13), "f32", quant_type, 32, rng.standard_normal(65))
    zero = rng.standard_normal(256)
    zero[64:128] = 0
    q4_case((256,), "f16", quant_type, 64, zero)
ties = np.concatenate([[1.0], NF4_THRESHOLDS, -NF4_THRESHOLDS, NF4])
q4_case((ties.size,), "f32", "nf4", 128, ties)
fp4_ties = np.concatenate([[1.0], FP4_THRESHOLDS, -FP4_THRESHOLDS])
q4_case((fp4_ties.size,), "f32", "fp4", 32, fp4_ties)


def q8_case(n, dtype, blocksize, data):
    nblocks = -(-n // blocksize)
    text = f"""
func.func @q(%x: tensor<{n}x{dtype}>) -> (tensor<{n}xui8>, tensor<{nblocks}xf32>) {{
  %q, %a = bnb.quantize_blockwise %x {{blocksize = {blocksize} : i64}} : tensor<{n}x{dtype}> -> tensor<{n}xui8>, tensor<{nblocks}xf32>
  return %q, %a : tensor<{n}xui8>, tensor<{nblocks}xf32>
}}
func.func @d(%q: tensor<{n}xui8>, %a: tensor<{nblocks}xf32>) -> tensor<{n}x{dtype}> {{
  %x = bnb.dequantize_blockwise %q, %a {{blocksize = {blocksize} : i64}} : tensor<{n}xui8>, tensor<{nblocks}xf32> -> tensor<{n}x{dtype}>
  return %x : tensor<{n}x{dtype}>
}}
"""
    module = run.lower(text)
    values = round_to(data, dtype)
    q, absmax = run.run(module, "q", [encode(values, dtype)], 2)
    ref_q, ref_absmax = quantize_blockwise(values, blocksize)
    name = f"quantize_blockwise {dtype} n{n} b{blocksize}"
    check(np.array_equal(absmax.view(np.uint32), ref_absmax.view(np.uint32)),
          name + ": absmax")
    check(np.array_equal(q, ref_q), name + ": codes %s" %
          np.nonzero(q != ref_q)[0][:8])
    (out,) = run.run(module, "d", [ref_q, ref_absmax], 1)
    ref = round_to(dequantize_blockwise(ref_q, ref_absmax, blocksize), dtype)
    check(np.array_equal(decode(out, dtype).view(np.uint32),
                         ref.view(np.uint32)), name + ": dequantize")


q8_case(512, "f32", 256, rng.standard_normal(512))
q8_case(300, "f16", 64, rng.standard_normal(300))
# Every map value, every midpoint (ties to the even index) and values
# beyond both ends, in a block whose absmax is 1.
mids = ((DYNAMIC_MAP[:-1] + DYNAMIC_MAP[1:]) * f32(0.5)).astype(f32)
special = np.concatenate([[1.0], DYNAMIC_MAP, mids, [-1.0]])
q8_case(special.size, "f32", 1024, special)
print("ok")
