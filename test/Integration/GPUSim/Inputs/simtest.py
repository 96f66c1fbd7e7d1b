# Helpers of the GPU kernel execution tests: lowering through bnb-opt, running
# the result in bnb-gpu-sim, and numpy references of bitsandbytes' numerics
# written from the specification (never from the code under test).

import fractions
import math
import os
import subprocess
import sys

import numpy as np

f16, f32, f64 = np.float16, np.float32, np.float64

# The device half of bnb-lower-to-nvvm, registered as its own pipeline: the
# kernels the simulator runs are the ones the compiler ships.
PREPARE = ["--bnb-gpu-prepare"]

# Functions with dynamically shaped results (a data-dependent outlier column
# count, a dynamic batch) cannot take the shipped calling convention, whose
# results are buffers the caller sizes: they are lowered op by op and return
# their results.
OP_LEVEL = ["--convert-bnb-to-gpu",
            "--one-shot-bufferize=bufferize-function-boundaries "
            "function-boundary-type-conversion=identity-layout-map"]


def has_dynamic_results(text):
    """Whether a function of `text` returns a dynamically shaped value."""
    for line in text.splitlines():
        if line.lstrip().startswith("func.func") and "->" in line and \
                "?" in line.split("->", 1)[1]:
            return True
    return False


class Runner:
    """Lowers MLIR text and runs functions of it in the simulator."""

    def __init__(self, workdir):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.count = 0

    def _path(self, name):
        self.count += 1
        return os.path.join(self.workdir, "%d_%s" % (self.count, name))

    def lower(self, text, passes=None):
        src = self._path("in.mlir")
        with open(src, "w") as f:
            f.write(text)
        out = self._path("out.mlir")
        if passes is None:
            passes = OP_LEVEL if has_dynamic_results(text) else PREPARE
        subprocess.run(["bnb-opt", src] + passes + ["-o", out], check=True)
        return out

    def run(self, module, entry, inputs, num_outputs, updated=()):
        """Runs `entry`; returns its outputs, then the inputs whose indices
        are in `updated` as they are after the run."""
        args = ["bnb-gpu-sim", module, "--entry", entry]
        for i, a in enumerate(inputs):
            p = self._path("arg%d.npy" % i)
            np.save(p, a)
            args += ["--input", p]
        outs = [self._path("res%d.npy" % i) for i in range(num_outputs)]
        for p in outs:
            args += ["--output", p]
        for i in updated:
            p = self._path("upd%d.npy" % i)
            args += ["--updated-input", "%d=%s" % (i, p)]
            outs.append(p)
        subprocess.run(args, check=True)
        return [np.load(p) for p in outs]


def workdir():
    return sys.argv[1] if len(sys.argv) > 1 else "sim.tmp"


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


# ---------------------------------------------------------------------------
# Float helpers
# ---------------------------------------------------------------------------

def from_bits(bits):
    return np.array(bits, dtype=np.uint32).view(f32)


def to_bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    u = np.asarray(x, dtype=f32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=f32))
    return np.where(nan, np.uint16(0x7FC0), r)


def from_bf16_bits(b):
    return (np.asarray(b, dtype=np.uint32) << 16).view(f32)


def round_to(x, dtype):
    """Round float32/float64 values to `dtype` ('f16', 'bf16', 'f32') and
    return them as float32."""
    x = np.asarray(x, dtype=f64)
    if dtype == "f32":
        return x.astype(f32)
    if dtype == "f16":
        return x.astype(f16).astype(f32)
    return from_bf16_bits(to_bf16_bits(x.astype(f32)))


def encode(x, dtype):
    """float32 values of `dtype` as the array the simulator exchanges."""
    if dtype == "f16":
        return np.asarray(x, dtype=f32).astype(f16)
    if dtype == "bf16":
        return to_bf16_bits(x)
    return np.asarray(x, dtype=f32)


def decode(a, dtype):
    if dtype == "bf16":
        return from_bf16_bits(a)
    return np.asarray(a).astype(f32)


def ulp(x, dtype):
    bits = {"f16": 10, "bf16": 7, "f32": 23}[dtype]
    x = np.maximum(np.abs(np.asarray(x, dtype=f64)), 2.0 ** -14)
    return 2.0 ** (np.floor(np.log2(x)) - bits)


def f32_round_fraction(fr):
    """Round an exact rational to the nearest float32 (ties to even)."""
    guess = f32(float(fr))
    best = None
    for c in (np.nextafter(guess, f32(-np.inf)), guess,
              np.nextafter(guess, f32(np.inf))):
        if not np.isfinite(c):
            continue
        err = abs(fractions.Fraction(float(c)) - fr)
        key = (err, int(np.array(c, f32).view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


def fma32(a, b, c):
    """A single-rounding float32 fused multiply-add of scalars."""
    fr = fractions.Fraction(float(a)) * fractions.Fraction(float(b)) + \
        fractions.Fraction(float(c))
    return f32_round_fraction(fr)


# ---------------------------------------------------------------------------
# Code books (from the specification's tables and constructions)
# ---------------------------------------------------------------------------

NF4 = from_bits([
    0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f,
    0xbdba7871, 0x00000000, 0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a,
    0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000])


def f32_literal(text):
    """A CUDA float literal: the decimal rounded once, directly to float32
    (not through a double, which rounds four NF4 thresholds differently)."""
    return f32_round_fraction(fractions.Fraction(text))


# Thresholds: the decimal literals of bitsandbytes' kQuantizeBlockwise
# decision tree. Four of them are one ulp away from the f32 midpoints of
# adjacent NF4 values.
NF4_THRESHOLDS = np.array([f32_literal(t) for t in (
    "-0.8480964004993439", "-0.6106329262256622", "-0.4599952697753906",
    "-0.33967943489551544", "-0.23460740596055984", "-0.13791173323988914",
    "-0.045525018125772476", "0.03979014977812767", "0.1202552504837513",
    "0.2035212516784668", "0.2920137718319893", "0.3893125355243683",
    "0.5016634166240692", "0.6427869200706482", "0.8614784181118011")],
    dtype=f32)
_midpoints = ((NF4[:-1] + NF4[1:]) * f32(0.5)).astype(f32)
assert np.sum(NF4_THRESHOLDS != _midpoints) == 4
assert np.all(np.abs(NF4_THRESHOLDS.view(np.int32) -
                     _midpoints.view(np.int32)) <= 1)

_fp4_raw = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3], dtype=f32) / f32(12)
FP4 = np.concatenate([_fp4_raw, -_fp4_raw]).astype(f32)
FP4_THRESHOLDS = np.array([f32_literal(t) for t in (
    "0.00260417", "0.0859375", "0.20833333", "0.29166667", "0.4166667",
    "0.583333", "0.8333333")], dtype=f32)
FP4_MAGNITUDE = np.array([0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010,
                          0b011], dtype=np.uint8)


def _dynamic_map():
    """The signed dynamic 8-bit map, built as the specification describes
    (linspace evaluated with fused multiply-adds)."""
    values = []
    for i in range(7):
        n = 2 ** i + 1
        start, end = f32(0.1), f32(1.0)
        step = f32((end - start) / f32(n - 1))
        b = []
        for k in range(n):
            if k < n // 2:
                b.append(f32(f64(start) + f64(step) * k))
            else:
                b.append(f32(f64(end) - f64(step) * (n - 1 - k)))
        scale = f32(10.0 ** (i - 6))
        for k in range(2 ** i):
            mean = f32(f32(b[k] + b[k + 1]) / f32(2))
            values.append(f32(scale * mean))
            values.append(-f32(scale * mean))
    values += [f32(0), f32(1)]
    return np.sort(np.array(values, dtype=f32))


DYNAMIC_MAP = _dynamic_map()
assert DYNAMIC_MAP[127] == 0 and DYNAMIC_MAP[255] == 1


def code_table(quant_type):
    return NF4 if quant_type == "nf4" else FP4


# ---------------------------------------------------------------------------
# Blockwise quantization
# ---------------------------------------------------------------------------

def block_absmax(blocks):
    """The kernels' block absmax: the largest |v| ignoring NaN (fmaxf),
    starting from -FLT_MAX; rows hold a partial block's zero padding."""
    return np.fmax.reduce(np.abs(blocks), axis=1,
                          initial=-np.finfo(f32).max).astype(f32)


def quantize_4bit(a, blocksize, quant_type):
    """bitsandbytes quantize_4bit with an IEEE reciprocal: packed codes
    [(n+1)/2, 1] (first element in the high nibble) and the f32 absmax."""
    x = np.asarray(a, dtype=f32).ravel()
    n = x.size
    nblocks = -(-n // blocksize)
    padded = np.zeros(nblocks * blocksize + 1, dtype=f32)
    padded[:n] = x
    blocks = padded[:nblocks * blocksize].reshape(nblocks, blocksize)
    absmax = block_absmax(blocks)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = (f32(1) / absmax).astype(f32)
        scale = np.append(np.repeat(inv, blocksize), inv[-1])
        xn = (padded * scale).astype(f32)
    if quant_type == "nf4":
        codes = (xn[:, None] > NF4_THRESHOLDS[None, :]).sum(axis=1)
    else:
        sign = np.where(xn < 0, 8, 0)
        m = (np.abs(xn)[:, None] > FP4_THRESHOLDS[None, :]).sum(axis=1)
        codes = FP4_MAGNITUDE[m] | sign
    codes = codes.astype(np.uint8)
    nbytes = (n + 1) // 2
    packed = (codes[0:2 * nbytes:2] << 4) | codes[1:2 * nbytes:2]
    return packed.reshape(nbytes, 1).astype(np.uint8), absmax


def unpack_codes(packed, n):
    flat = np.asarray(packed, dtype=np.uint8).ravel()
    codes = np.stack([flat >> 4, flat & 15], axis=1).ravel()
    return codes[:n]


def dequantize_4bit(packed, absmax, n, blocksize, quant_type):
    """f32(code * absmax) per element (round to the output type after)."""
    codes = unpack_codes(packed, n)
    scale = np.repeat(np.asarray(absmax, dtype=f32), blocksize)[:n]
    return (code_table(quant_type)[codes] * scale).astype(f32)


def quantize_dynamic(xn):
    """Nearest dynamic-map index, ties to the even index, NaN to 0."""
    out = np.zeros(xn.shape, dtype=np.uint8)
    for idx, v in np.ndenumerate(xn):
        if np.isnan(v):
            continue
        i = int(np.searchsorted(DYNAMIC_MAP, v, side="right")) - 1
        if i < 0:
            out[idx] = 0
            continue
        if i >= 255:
            out[idx] = 255
            continue
        mid = f32(f32(DYNAMIC_MAP[i] + DYNAMIC_MAP[i + 1]) * f32(0.5))
        if v > mid:
            out[idx] = i + 1
        elif v < mid:
            out[idx] = i
        else:
            out[idx] = i if i % 2 == 0 else i + 1
    return out


def quantize_blockwise(a, blocksize):
    x = np.asarray(a, dtype=f32).ravel()
    n = x.size
    nblocks = -(-n // blocksize)
    padded = np.zeros(nblocks * blocksize, dtype=f32)
    padded[:n] = x
    absmax = block_absmax(padded.reshape(nblocks, blocksize))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = (f32(1) / absmax).astype(f32)
        xn = (x * np.repeat(inv, blocksize)[:n]).astype(f32)
    return quantize_dynamic(xn).reshape(np.shape(a)), absmax.astype(f32)


def dequantize_blockwise(q, absmax, blocksize):
    flat = np.asarray(q).ravel()
    scale = np.repeat(np.asarray(absmax, dtype=f32), blocksize)[:flat.size]
    return (DYNAMIC_MAP[flat] * scale).astype(f32).reshape(np.shape(q))


def nested_absmax(codes, nested, offset):
    """Double-quantization reconstruction: f32(f32(map[q] * nested) + off)."""
    q = np.asarray(codes).ravel()
    scale = np.repeat(np.asarray(nested, dtype=f32), 256)[:q.size]
    return ((DYNAMIC_MAP[q] * scale).astype(f32) + f32(offset)).astype(f32)


# ---------------------------------------------------------------------------
# LLM.int8()
# ---------------------------------------------------------------------------

DEQUANT_CONST = from_bits([0x38820610])[0]
INV127 = f32(7.874015718698502e-3)


def quantize_rowwise(x16, threshold):
    """int8_vectorwise_quant on an f16 matrix with an IEEE division: codes
    (outlier columns zeroed), row absmax, ascending outlier columns."""
    xf = np.asarray(x16, dtype=f16).astype(f32)
    a = np.abs(xf)
    outlier = (a >= f32(threshold)) if threshold > 0 else np.zeros_like(a, bool)
    # The kernel leaves |a| >= f16(threshold) out of the row absmax (a half
    # compare); zeroing and outlier columns compare with the f32 threshold.
    excluded = (a >= f32(f16(threshold))) if threshold > 0 else outlier
    rowmax = np.where(excluded, f32(0), a).max(axis=1).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        # __fdividef(127, r) = 127 * (1 / r) (PTX div.approx), each rounded.
        s = (f32(127) * (f32(1) / rowmax).astype(f32)).astype(f32)
        v = (xf * s[:, None]).astype(f32)
    q = np.rint(v)
    q = np.where(np.isnan(q) | outlier, 0, q).astype(np.int8)
    cols = np.nonzero(outlier.any(axis=0))[0]
    q[:, cols] = 0
    return q, rowmax, cols


def dequantize_int8(c, row_stats, col_stats, bias16=None):
    """f16(fma(f32(f32(f32(c) * row) * col), 1/127^2, bias))."""
    c = np.asarray(c, dtype=np.int64)
    v = (c.astype(f32) * np.asarray(row_stats, f32)[:, None]).astype(f32)
    v = (v * np.asarray(col_stats, f32)[None, :]).astype(f32)
    out = np.empty(v.shape, dtype=f32)
    for idx, x in np.ndenumerate(v):
        b = f32(0) if bias16 is None else f32(bias16[idx[1]])
        out[idx] = fma32(x, DEQUANT_CONST, b)
    return out.astype(f16)
