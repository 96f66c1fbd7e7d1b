"""An independent numpy model of bitsandbytes' quantization, written from the
specification (bnb-numerics), used to check bnb-quantize's output bytes.

Nothing here calls bnb-mlir code. Constants are the kernels' values: the NF4
and FP4 thresholds as float32 bit patterns of the CUDA literals, the dynamic
map as the bit patterns bitsandbytes publishes.
"""

import json

import numpy as np

F32 = np.float32

NF4_TABLE = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
     -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
     0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
     0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0], dtype=np.float32)

# Exactly what bitsandbytes' get_4bit_type("fp4") builds: note the integer
# -0, which is +0.
FP4_QUANT_MAP = (np.array([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0,
                           -0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0],
                          dtype=np.float32) / F32(12.0)).astype(np.float32)

# The kernel's dequantization multiplies the magnitude by -1 for codes 8..15.
FP4_TABLE = FP4_QUANT_MAP.copy()
FP4_TABLE[8] = F32(-0.0)


def _bits(words):
    return np.array([int(w, 16) for w in words.split()],
                    dtype=np.uint32).view(np.float32)


NF4_THRESHOLDS = _bits("""
    bf591cd9 bf1c5270 beeb8480 beadea76 be703cec be0d38bc bd3a7871 3d22faff
    3df64863 3e5067e0 3e9582d4 3ec753f9 3f006d03 3f248daf 3f5c89d9""")

FP4_THRESHOLDS = _bits(
    "3b2aaab9 3db00000 3e555555 3e955555 3ed55556 3f155550 3f555555")

FP4_MAGNITUDE_CODE = np.array([0, 1, 6, 7, 4, 5, 2, 3], dtype=np.uint8)

DYNAMIC_MAP = _bits("""
    bf7e3333 bf7a999a bf770000 bf736666 bf6fcccd bf6c3333 bf68999a bf650000
    bf616666 bf5dcccd bf5a3333 bf56999a bf530000 bf4f6666 bf4bcccd bf483333
    bf44999a bf410000 bf3d6666 bf39cccd bf363334 bf32999a bf2f0000 bf2b6666
    bf27cccd bf243334 bf20999a bf1d0000 bf196666 bf15cccd bf123334 bf0e999a
    bf0b0000 bf076666 bf03cccc bf003333 bef93332 bef20000 beeacccc bee3999a
    bedc6666 bed53333 bece0000 bec6cccc bebf999a beb86666 beb13333 beaa0000
    bea2cccc be9b999a be946666 be8d3334 be860000 be7d9999 be6f3333 be60cccd
    be526666 be440000 be35999a be273333 be18cccd be0a6666 bdf80000 bddb3334
    bdc9eb85 bdc428f7 bdbe6667 bdb8a3d7 bdb2e148 bdad1eb8 bda75c2a bda1999a
    bd9bd70a bd96147b bd9051eb bd8a8f5d bd84cccd bd7e147b bd728f5d bd670a3d
    bd5b851f bd500000 bd447ae1 bd38f5c3 bd2d70a3 bd21eb85 bd166667 bd0ae148
    bcfeb852 bce7ae15 bcd0a3d7 bcb9999a bca28f5d bc8b851f bc68f5c3 bc3ae148
    bc1f3b64 bc160418 bc0ccccd bc039581 bbf4bc6a bbe24dd3 bbcfdf3b bbbd70a4
    bbab020d bb989374 bb8624dd bb676c8a bb428f5c bb1db22d baf1a9fc baa7ef9d
    ba7765ff ba59e83e ba3c6a80 ba1eecc1 ba016f01 b9c7e283 b98ce705 b923d70b
    b8ba1f4b b88aefb3 b8378034 b7b24206 b70205ff b65a1a94 b513a3b7 00000000
    3513a3b7 365a1a94 370205ff 37b24206 38378034 388aefb3 38ba1f4b 3923d70b
    398ce705 39c7e283 3a016f01 3a1eecc1 3a3c6a80 3a59e83e 3a7765ff 3aa7ef9d
    3af1a9fc 3b1db22d 3b428f5c 3b676c8a 3b8624dd 3b989374 3bab020d 3bbd70a4
    3bcfdf3b 3be24dd3 3bf4bc6a 3c039581 3c0ccccd 3c160418 3c1f3b64 3c3ae148
    3c68f5c3 3c8b851f 3ca28f5d 3cb9999a 3cd0a3d7 3ce7ae15 3cfeb852 3d0ae148
    3d166667 3d21eb85 3d2d70a3 3d38f5c3 3d447ae1 3d500000 3d5b851f 3d670a3d
    3d728f5d 3d7e147b 3d84cccd 3d8a8f5d 3d9051eb 3d96147b 3d9bd70a 3da1999a
    3da75c2a 3dad1eb8 3db2e148 3db8a3d7 3dbe6667 3dc428f7 3dc9eb85 3ddb3334
    3df80000 3e0a6666 3e18cccd 3e273333 3e35999a 3e440000 3e526666 3e60cccd
    3e6f3333 3e7d9999 3e860000 3e8d3334 3e946666 3e9b999a 3ea2cccc 3eaa0000
    3eb13333 3eb86666 3ebf999a 3ec6cccc 3ece0000 3ed53333 3edc6666 3ee3999a
    3eeacccc 3ef20000 3ef93332 3f003333 3f03cccc 3f076666 3f0b0000 3f0e999a
    3f123334 3f15cccd 3f196666 3f1d0000 3f20999a 3f243334 3f27cccd 3f2b6666
    3f2f0000 3f32999a 3f363334 3f39cccd 3f3d6666 3f410000 3f44999a 3f483333
    3f4bcccd 3f4f6666 3f530000 3f56999a 3f5a3333 3f5dcccd 3f616666 3f650000
    3f68999a 3f6c3333 3f6fcccd 3f736666 3f770000 3f7a999a 3f7e3333 3f800000
""")

TORCH_NAMES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}


def to_float32(raw, dtype):
    """Elements of a safetensors dtype ("F16", "BF16", "F32") as float32."""
    if dtype == "F16":
        return raw.view(np.float16).astype(np.float32)
    if dtype == "BF16":
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return raw.view(np.float32).copy()


def block_absmax(a, blocksize):
    """Per-block absmax: non-NaN |a|, padding zeros of a partial last block
    take part, a full all-NaN block keeps the kernel's start -FLT_MAX."""
    n = a.size
    nblocks = -(-n // blocksize)
    padded = np.full(nblocks * blocksize, np.nan, dtype=np.float32)
    padded[:n] = a
    blocks = np.abs(padded.reshape(nblocks, blocksize))
    valid = ~np.isnan(blocks)
    absmax = np.where(valid, blocks, F32(0)).max(axis=1).astype(np.float32)
    full_nan = ~valid.any(axis=1)
    if n % blocksize:
        full_nan[-1] = False  # padding zeros give 0
    absmax[full_nan] = -np.finfo(np.float32).max
    return absmax


def normalize(a, absmax, blocksize):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = (F32(1.0) / absmax).astype(np.float32)
        return (a * np.repeat(inv, blocksize)[:a.size]).astype(np.float32), inv


def nf4_codes(x):
    return (x[:, None] > NF4_THRESHOLDS[None, :]).sum(axis=1).astype(np.uint8)


def fp4_codes(x):
    sign = np.where(x < 0, 8, 0).astype(np.uint8)
    rank = (np.abs(x)[:, None] > FP4_THRESHOLDS[None, :]).sum(axis=1)
    return FP4_MAGNITUDE_CODE[rank] | sign


def quantize_4bit(a, quant_type, blocksize):
    """(packed bytes, absmax) for the flattened float32 array `a`."""
    codes_of = nf4_codes if quant_type == "nf4" else fp4_codes
    absmax = block_absmax(a, blocksize)
    x, inv = normalize(a, absmax, blocksize)
    codes = codes_of(x)
    if a.size % 2:
        with np.errstate(invalid="ignore"):
            pad = (F32(0.0) * inv[-1:]).astype(np.float32)
        codes = np.concatenate([codes, codes_of(pad)])
    packed = (codes[0::2] << 4) | codes[1::2]
    return packed.astype(np.uint8), absmax


def dynamic_codes(x):
    """Nearest dynamic-map index, f32 midpoints as boundaries, a value on a
    midpoint to the even index, NaN to 0."""
    mids = ((DYNAMIC_MAP[:-1] + DYNAMIC_MAP[1:]) * F32(0.5)).astype(np.float32)
    idx = np.searchsorted(mids, x, side="left")  # #(mids < x)
    idx = np.where(np.isnan(x), 0, idx)
    on_mid = np.zeros(x.shape, dtype=bool)
    inside = idx < mids.size
    on_mid[inside] = x[inside] == mids[idx[inside]]
    idx = np.where(on_mid & (idx % 2 == 1), idx + 1, idx)
    return idx.astype(np.uint8)


def double_quantize(absmax):
    """(codes, nested absmax, offset): mean summed in float64 in index order,
    divided in float64, rounded once to float32."""
    if absmax.size == 0:
        offset = F32(np.nan)
    else:
        total = np.cumsum(absmax.astype(np.float64))[-1]
        offset = F32(total / absmax.size)
    with np.errstate(invalid="ignore", over="ignore"):
        centered = (absmax - offset).astype(np.float32)
    nested = block_absmax(centered, 256)
    x, _ = normalize(centered, nested, 256)
    return dynamic_codes(x), nested, offset


def quant_state_json(quant_type, blocksize, dtype, shape, offset):
    state = {"quant_type": quant_type, "blocksize": blocksize,
             "dtype": TORCH_NAMES[dtype], "shape": list(shape)}
    if offset is not None:
        state.update(nested_blocksize=256, nested_dtype="float32",
                     nested_offset=float(offset))
    return json.dumps(state).encode()


def linear4bit(prefix, a, dtype, shape, quant_type, blocksize, double_quant,
               storage=np.uint8):
    """The Linear4bit state-dict tensors as {key: numpy array}."""
    packed, absmax = quantize_4bit(a, quant_type, blocksize)
    item = np.dtype(storage).itemsize
    out = {prefix + "weight": packed.view(storage).reshape(-1, 1)}
    quant_map = NF4_TABLE if quant_type == "nf4" else FP4_QUANT_MAP
    offset = None
    if double_quant:
        codes, nested, offset = double_quantize(absmax)
        out[prefix + "weight.absmax"] = codes
        out[prefix + "weight.nested_absmax"] = nested
        out[prefix + "weight.nested_quant_map"] = DYNAMIC_MAP.copy()
    else:
        out[prefix + "weight.absmax"] = absmax
    out[prefix + "weight.quant_map"] = quant_map.copy()
    blob = quant_state_json(quant_type, blocksize, dtype, shape, offset)
    out[prefix + "weight.quant_state.bitsandbytes__" + quant_type] = \
        np.frombuffer(blob, dtype=np.uint8).copy()
    assert out[prefix + "weight"].size * item == packed.size
    return out


def linear8bit(prefix, a2d):
    """Int8Params._quantize: fp16 cast, row absmax, round half to even."""
    h = a2d.astype(np.float16).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        row = np.where(np.isnan(h), F32(0), np.abs(h)).max(axis=1)
        # __fdividef(127, r) = 127 * (1 / r) (PTX div.approx), each rounded.
        scale = (F32(127.0) * (F32(1.0) / row).astype(np.float32)
                 ).astype(np.float32)
        q = np.rint(h * scale[:, None])
    q = np.where(np.isnan(q), 0, q).astype(np.int64).astype(np.int8)
    return {prefix + "weight": q, prefix + "SCB": row.astype(np.float32),
            prefix + "weight_format": np.array(0, dtype=np.uint8)}
