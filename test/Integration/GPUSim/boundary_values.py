# RUN: %python %s %t
# Values on the quantization boundaries through every path that quantizes:
# lib/Quant (bnb-quantize), the CPU artifact (bnb-compile + bnb-run), the GPU
# kernels (bnb-gpu-sim) and the numpy reference, all against bitsandbytes'
# CUDA semantics:
#  * NF4/FP4 thresholds are the kernel's decimal literals rounded once to
#    f32; values on, just below and just above each threshold, and the four
#    values whose code differs between the literals and the f32 midpoints
#    (expected codes 1, 8, 13, 15);
#  * the int8 row scale is __fdividef(127, absmax) = 127 * (1 / absmax), two
#    rounded operations; rows whose codes differ from an IEEE 127 / absmax.

import fractions
import os
import shutil
import subprocess

import numpy as np
from safetensors.numpy import load_file, save_file
from simtest import *

work = workdir()
if os.path.isdir(work):
    shutil.rmtree(work)
run = Runner(work)


def path(name):
    return os.path.join(work, name)


def tool(*args):
    subprocess.run(list(args), check=True)


def cpu_artifact(text, inputs, config):
    """Compiles `text` for the CPU and runs @forward on `inputs`."""
    stem = path("cpu%d" % len(os.listdir(work)))
    with open(stem + ".mlir", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        f.write(config)
    tool("bnb-compile", stem + ".mlir", "--config", stem + ".json",
         "--quiet", "--force", "-o", stem + ".bnb")
    save_file({"x": inputs}, stem + ".in.safetensors")
    tool("bnb-run", stem + ".bnb", "--input", stem + ".in.safetensors",
         "--output", stem + ".out.safetensors")
    out = load_file(stem + ".out.safetensors")
    return [out["output%d" % i] for i in range(len(out))]


def lib_quant(weight, config):
    """Quantizes `weight` as a linear layer with bnb-quantize."""
    name = "model.layers.0.mlp.up_proj.weight"
    save_file({name: weight}, path("w.safetensors"))
    with open(path("q.json"), "w") as f:
        f.write(config)
    tool("bnb-quantize", path("w.safetensors"), "--config", path("q.json"),
         "-q", "--force", "-o", path("q.safetensors"))
    out = load_file(path("q.safetensors"))
    return out[name], out


def bits(values):
    return np.array(values, dtype=np.uint32).view(f32)


# --- 4-bit -------------------------------------------------------------------

def boundary_block(thresholds, issue_values=()):
    """1.0 (so the absmax is 1 and x is its own normalized value), the given
    values, each threshold and its f32 neighbours, padded to 64."""
    v = [f32(1.0)] + list(issue_values)
    for t in thresholds:
        v += [np.nextafter(t, f32(-np.inf)), t, np.nextafter(t, f32(np.inf))]
    v = np.array(v, dtype=f32)
    return np.concatenate([v, np.zeros(64 - v.size, f32)])


def check_4bit(quant_type, block, expect=None):
    text = f"""
func.func @forward(%x: tensor<64xf32>) -> (tensor<32x1xui8>, tensor<1xf32>) {{
  %p, %a = bnb.quantize_4bit %x {{quant_type = #bnb.quant_type<{quant_type}>, blocksize = 64 : i64}}
             : tensor<64xf32> -> tensor<32x1xui8>, tensor<1xf32>
  return %p, %a : tensor<32x1xui8>, tensor<1xf32>
}}
"""
    ref_packed, ref_absmax = quantize_4bit(block, 64, quant_type)
    ref_codes = unpack_codes(ref_packed, 64)
    if expect is not None:
        got = ref_codes[1:1 + len(expect)].tolist()
        check(got == list(expect), f"{quant_type} reference codes {got}")
    sim_packed, sim_absmax = run.run(run.lower(text), "forward", [block], 2)
    cpu_packed, cpu_absmax = cpu_artifact(text, block, '{"load_in_4bit": true}')
    lib_packed, _ = lib_quant(
        block.reshape(1, 64),
        '{"load_in_4bit": true, "bnb_4bit_quant_type": "%s"}' % quant_type)
    for name, packed in (("bnb-gpu-sim", sim_packed), ("cpu artifact",
                         cpu_packed), ("bnb-quantize", lib_packed)):
        codes = unpack_codes(np.asarray(packed).reshape(32, 1), 64)
        bad = np.nonzero(codes != ref_codes)[0]
        check(bad.size == 0, f"{quant_type} {name}: codes differ at "
              f"{bad.tolist()}: {codes[bad].tolist()} vs "
              f"{ref_codes[bad].tolist()} for inputs "
              f"{[hex(int(b)) for b in block[bad].view(np.uint32)]}")
    for absmax in (sim_absmax, cpu_absmax):
        check(np.array_equal(absmax, ref_absmax), f"{quant_type} absmax")


# The values of the issue report: between the literal and the midpoint of
# thresholds 0|1, 8|9, 12|13 and 14|15 (0x3df64862 lies below both 8|9
# boundaries).
issue = bits([0xbf591cd8, 0x3df64862, 0x3f006d04, 0x3f5c89da])
check_4bit("nf4", boundary_block(NF4_THRESHOLDS, issue), expect=[1, 8, 13, 15])
check_4bit("fp4", boundary_block(np.concatenate([FP4_THRESHOLDS,
                                                 -FP4_THRESHOLDS])))


# --- int8 row scale ----------------------------------------------------------

def round32(fr):
    return f32_round_fraction(fr)


def fdividef_127(r):
    """127 * (1 / r) with both operations rounded to f32, exactly."""
    inverse = round32(fractions.Fraction(1) / fractions.Fraction(float(r)))
    return round32(127 * fractions.Fraction(float(inverse)))


def code(a, scale):
    return int(np.rint(round32(fractions.Fraction(float(a)) *
                               fractions.Fraction(float(scale)))))


# Every positive finite fp16 absmax whose scale differs between the two
# expressions, then fp16 values in the row whose code differs.
halves = np.arange(1, 0x7c00, dtype=np.uint16).view(np.float16)
r32 = halves.astype(f32)
with np.errstate(over="ignore"):
    by_division = (f32(127) / r32).astype(f32)
    by_inverse = (f32(127) * (f32(1) / r32).astype(f32)).astype(f32)
candidates = np.nonzero(by_division != by_inverse)[0]
check(candidates.size > 1000, "few absmax values where the scales differ")
rows = []
for index in candidates[::max(1, candidates.size // 64)]:
    r = r32[index]
    a = halves[:index + 1].astype(f32)
    q_div = np.rint((a * by_division[index]).astype(f32))
    q_inv = np.rint((a * by_inverse[index]).astype(f32))
    differ = np.nonzero(q_div != q_inv)[0]
    if differ.size:
        rows.append((r, a[differ[:3]]))
    if len(rows) == 8:
        break
check(len(rows) == 8, "no fp16 values whose int8 code depends on the scale")
width = 8
x = np.zeros((len(rows), width), np.float16)
for i, (r, values) in enumerate(rows):
    x[i, 0] = r
    x[i, 1:1 + values.size] = values
    x[i, 4:4 + values.size] = -values
ref = np.zeros(x.shape, np.int8)
ieee = np.zeros(x.shape, np.int8)
for i in range(x.shape[0]):
    r = f32(x[i, 0])
    scale = fdividef_127(r)
    check(scale == by_inverse[np.nonzero(r32 == r)[0][0]], "scale model")
    for j in range(width):
        ref[i, j] = code(f32(x[i, j]), scale)
        ieee[i, j] = code(f32(x[i, j]), round32(
            fractions.Fraction(127) / fractions.Fraction(float(r))))
check(np.count_nonzero(ref != ieee) >= 8,
      "the vectors do not tell the two scales apart")

text = f"""
func.func @forward(%x: tensor<{x.shape[0]}x{width}xf16>) -> (tensor<{x.shape[0]}x{width}xi8>, tensor<{x.shape[0]}xf32>) {{
  %q, %s = bnb.quantize_rowwise %x {{threshold = 0.0 : f32}} : tensor<{x.shape[0]}x{width}xf16> -> tensor<{x.shape[0]}x{width}xi8>, tensor<{x.shape[0]}xf32>
  return %q, %s : tensor<{x.shape[0]}x{width}xi8>, tensor<{x.shape[0]}xf32>
}}
"""
sim_q, _ = run.run(run.lower(text), "forward", [x], 2)
cpu_q, _ = cpu_artifact(text, x, '{"load_in_8bit": true}')
lib_q, _ = lib_quant(x, '{"load_in_8bit": true}')
for name, q in (("bnb-gpu-sim", sim_q), ("cpu artifact", cpu_q),
                ("bnb-quantize", lib_q)):
    q = np.asarray(q).reshape(x.shape)
    bad = np.argwhere(q != ref)
    check(bad.size == 0, f"int8 {name}: codes differ at {bad.tolist()[:4]}")
print("boundary values agree on every path")


# --- int8 outlier threshold that f16 cannot hold -----------------------------
# With threshold 6.103 (f16: 6.1015625), an element of 6.1015625 is left out
# of the row absmax (the kernel's half compare) but is not an outlier: it is
# quantized with the other elements' scale (its code overflows int8 and keeps
# the low byte) and its column is not zeroed; 6.109375 is an outlier.
x = np.array([[6.1015625, 1.0, -2.0, 0.5],
              [0.25, 6.109375, 3.0, -1.0],
              [1.5, -0.75, 2.5, 0.125]], dtype=np.float16)
ref_q, ref_stats, ref_cols = quantize_rowwise(x, 6.103)
check(ref_stats.tolist() == [2.0, 3.0, 2.5], f"threshold stats {ref_stats}")
check(ref_cols.tolist() == [1], f"threshold columns {ref_cols}")
big = code(f32(6.1015625), fdividef_127(f32(2.0)))  # 387: beyond int8
check(int(ref_q[0, 0]) == (big + 128) % 256 - 128,
      f"threshold: low byte of the overflowing code {big}: {ref_q[0, 0]}")
text = """
func.func @forward(%x: tensor<3x4xf16>) -> (tensor<3x4xi8>, tensor<3xf32>) {
  %q, %s = bnb.quantize_rowwise %x {threshold = 6.103 : f32} : tensor<3x4xf16> -> tensor<3x4xi8>, tensor<3xf32>
  return %q, %s : tensor<3x4xi8>, tensor<3xf32>
}
"""
sim_q, sim_s = run.run(run.lower(text), "forward", [x], 2)
cpu_q, cpu_s = cpu_artifact(text, x, '{"load_in_8bit": true}')
for name, q, s in (("bnb-gpu-sim", sim_q, sim_s),
                   ("cpu artifact", cpu_q, cpu_s)):
    check(np.array_equal(np.asarray(s).view(np.uint32),
                         ref_stats.view(np.uint32)),
          f"threshold {name}: row absmax {np.asarray(s).tolist()}")
    check(np.array_equal(np.asarray(q).reshape(3, 4), ref_q),
          f"threshold {name}: codes {np.asarray(q).tolist()} vs "
          f"{ref_q.tolist()}")
print("threshold 6.103 agrees on every path")


# --- blocks without a number ---------------------------------------------------
# A full block of NaN keeps the kernels' start value -FLT_MAX as its absmax;
# a partial block's zero padding takes part, so it gets 0; all codes are 0.
nan_block = np.full(100, np.nan, dtype=f32)
nan_block[64 + 30] = 0.5  # the partial block holds one number too
for quant_type in ("nf4", "fp4", "8bit"):
    if quant_type == "8bit":
        text = """
func.func @forward(%x: tensor<100xf32>) -> (tensor<100xui8>, tensor<2xf32>) {
  %q, %a = bnb.quantize_blockwise %x {blocksize = 64 : i64} : tensor<100xf32> -> tensor<100xui8>, tensor<2xf32>
  return %q, %a : tensor<100xui8>, tensor<2xf32>
}
"""
    else:
        text = f"""
func.func @forward(%x: tensor<100xf32>) -> (tensor<50x1xui8>, tensor<2xf32>) {{
  %p, %a = bnb.quantize_4bit %x {{quant_type = #bnb.quant_type<{quant_type}>, blocksize = 64 : i64}}
             : tensor<100xf32> -> tensor<50x1xui8>, tensor<2xf32>
  return %p, %a : tensor<50x1xui8>, tensor<2xf32>
}}
"""
    for values, want in ((nan_block, [-np.finfo(f32).max, 0.5]),
                         (np.full(100, np.nan, dtype=f32),
                          [-np.finfo(f32).max, 0.0])):
        sim = run.run(run.lower(text), "forward", [values], 2)
        cpu = cpu_artifact(text, values, '{"load_in_4bit": true}')
        for name, (codes, absmax) in (("bnb-gpu-sim", sim),
                                      ("cpu artifact", cpu)):
            check(np.asarray(absmax).tolist() == [f32(w) for w in want],
                  f"NaN blocks {quant_type} {name}: absmax "
                  f"{np.asarray(absmax).tolist()}, expected {want}")
            ref = (quantize_blockwise(values, 64)[0] if quant_type == "8bit"
                   else quantize_4bit(values, 64, quant_type)[0])
            check(np.array_equal(np.asarray(codes).ravel(),
                                 np.asarray(ref).ravel()),
                  f"NaN blocks {quant_type} {name}: codes")
print("blocks of NaN agree on every path")
