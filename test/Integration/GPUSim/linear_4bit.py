# RUN: %python %s %t
# bnb.linear_4bit kernels in the simulator: the tensor-core GEMV (f16/bf16,
# one and two n8 tiles, partial K steps, rows beyond N), bitsandbytes' SIMT
# GEMV (f32), the tensor-core GEMM for larger batches, the generic kernel,
# double quantization, biases, 3-D and dynamically shaped activations.

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(3)


def case(m_shape, n, k, compute, tin, quant_type="nf4", blocksize=64,
         nested=False, bias=None, dynamic=False, formula=None):
    numel = n * k
    nbytes, nblocks = (numel + 1) // 2, -(-numel // blocksize)
    weight = rng.standard_normal(numel).astype(f32)
    packed, absmax = quantize_4bit(weight, blocksize, quant_type)
    args_ty = f"tensor<{nblocks}xf32>"
    inputs_extra = [absmax]
    attrs = ""
    nested_arg = ""
    if nested:
        codes = rng.integers(0, 256, nblocks).astype(np.uint8)
        nested_scale = (rng.random(-(-nblocks // 256)) * 0.5 + 0.5).astype(f32)
        offset = f32(0.25)
        absmax = nested_absmax(codes, nested_scale, offset)
        args_ty = f"tensor<{nblocks}xui8>"
        inputs_extra = [codes, nested_scale]
        nested_arg = (f" nested(%na : tensor<{nested_scale.size}xf32>)")
        attrs = ", nested_offset = 0.25 : f32"
    x_shape = tuple(m_shape) + (k,)
    x = round_to(rng.standard_normal(x_shape), tin)
    in_shape = "x".join("?" if dynamic and i == 0 else str(d)
                        for i, d in enumerate(x_shape))
    out_shape = "x".join("?" if dynamic and i == 0 else str(d)
                         for i, d in enumerate(tuple(m_shape) + (n,)))
    params = [f"%x: tensor<{in_shape}x{tin}>", f"%w: tensor<{nbytes}x1xui8>",
              f"%a: {args_ty}"]
    if nested:
        params.append(f"%na: tensor<{nested_scale.size}xf32>")
    bias_arg = ""
    b = None
    if bias:
        b = round_to(rng.standard_normal(n), bias)
        params.append(f"%b: tensor<{n}x{bias}>")
        bias_arg = f" bias(%b : tensor<{n}x{bias}>)"
    text = f"""
func.func @f({", ".join(params)}) -> tensor<{out_shape}x{tin}> {{
  %y = bnb.linear_4bit %x, %w absmax(%a : {args_ty}){nested_arg}{bias_arg}
         {{module = "m", quant_type = #bnb.quant_type<{quant_type}>, blocksize = {blocksize} : i64,
          compute_dtype = {compute}, shape = array<i64: {n}, {k}>{attrs}}}
         : tensor<{in_shape}x{tin}>, tensor<{nbytes}x1xui8> -> tensor<{out_shape}x{tin}>
  return %y : tensor<{out_shape}x{tin}>
}}
"""
    inputs = [encode(x, tin), packed] + inputs_extra
    if bias:
        inputs.append(encode(b, bias))
    (y,) = run.run(run.lower(text), "f", inputs, 1)
    y = decode(y, tin)

    # Reference: the weight formula of the kernel that runs, f64 products.
    lut = code_table(quant_type)[unpack_codes(packed, numel)]
    scale = np.repeat(absmax, blocksize)[:numel]
    if formula == "simt16":
        w = round_to(round_to(lut, compute) * round_to(scale, compute), compute)
    else:
        w = round_to((lut * scale).astype(f32), compute)
    w = w.reshape(n, k).astype(f64)
    xc = round_to(x, compute).reshape(-1, k).astype(f64)
    acc = xc @ w.T
    if bias:
        acc = acc + round_to(b, compute).astype(f64)[None, :]
    ref = round_to(round_to(acc, compute), tin).reshape(tuple(m_shape) + (n,))
    tol = ulp(ref, compute) + ulp(ref, tin) + \
        1e-5 * (np.abs(xc) @ np.abs(w).T).reshape(ref.shape)
    err = np.abs(y.astype(f64) - ref)
    name = f"linear_4bit M={m_shape} N={n} K={k} {compute}/{tin} {quant_type}"
    check(y.shape == ref.shape, name + ": shape %s" % (y.shape,))
    check(np.all(err <= tol), name + ": max error %g (tolerance %g)" %
          (err.max(), tol[np.unravel_index(err.argmax(), err.shape)]))


# Tensor-core GEMV.
case((1,), 32, 256, "f16", "f16", formula="simt16")
case((3,), 40, 352, "bf16", "bf16", nested=True, bias="bf16",
     formula="simt16")
case((12,), 32, 128, "f16", "f16", quant_type="fp4", bias="f32",
     formula="simt16")
case((2, 3), 16, 512, "f16", "f32", blocksize=128, formula="simt16")
# SIMT GEMV (f32 compute).
case((2,), 20, 1056, "f32", "f16", nested=True, formula="f32")
case((11,), 8, 64, "f32", "f32", quant_type="fp4", bias="f16",
     formula="f32")
# The generic kernel (K % 32 != 0).
case((2,), 6, 40, "f16", "f16", blocksize=32)
# Larger batches: the tensor-core GEMM.
case((70,), 72, 128, "f16", "f16", bias="f16")
case((33,), 64, 192, "bf16", "f32", nested=True)
# A dynamic batch dispatches at run time.
case((5,), 32, 128, "f16", "f16", dynamic=True, formula="simt16")
case((20,), 64, 128, "bf16", "bf16", dynamic=True)
case((3,), 32, 128, "f32", "f32", dynamic=True, formula="f32")
print("ok")
