#!/usr/bin/env python3
"""The logits bnb-run wrote for the example model, against an independent
numpy forward pass of the same checkpoint in float16 whose linears are
quantized by bnbref.py (bitsandbytes' numerics written from the
specification, test/Tools/bnb-quantize/Inputs), as the artifact's config
says. The artifact's quantized tensors must also equal bnbref's bytes.

    quantized_reference.py HF_DIR NAME.bnb OUT.safetensors [--atol A]

Prints three lines: the largest logit error ("ok" when within A), the
top-1 agreement ("ok" when at least 0.75) and whether the logits are finite.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] /
                       "bnb-quantize" / "Inputs"))
import bnbref  # noqa: E402  (independent numpy model of bitsandbytes)

F32 = np.float32


# --- the quantized reference forward ----------------------------------------

NF4_TABLE = bnbref.NF4_TABLE


def dequantize_4bit(packed, absmax, n, blocksize):
    codes = np.empty(packed.size * 2, np.uint8)
    codes[0::2] = packed.reshape(-1) >> 4
    codes[1::2] = packed.reshape(-1) & 0xF
    scale = np.repeat(absmax.astype(F32), blocksize)[:n]
    return (NF4_TABLE[codes[:n]] * scale).astype(F32)


def quantized_linears(hf_dir, config, artifact_weights):
    """{weight key: function(x f32 holding f16 values) -> f32} for every
    linear the config quantizes, built from the checkpoint with bnbref."""
    ckpt = load_file(str(pathlib.Path(hf_dir) / "model.safetensors"))
    linears = {}
    for key, w in ckpt.items():
        if w.ndim != 2 or "embed" in key or key.startswith("lm_head"):
            continue
        skip = config.get("llm_int8_skip_modules") or []
        if any(key[:-len(".weight")] == m or
               key.startswith(m + ".") for m in skip):
            continue
        prefix = key[: -len("weight")]
        w32 = w.astype(F32)
        if config.get("load_in_4bit"):
            dq = config.get("bnb_4bit_use_double_quant", False)
            dtype = "F32" if w.dtype == np.float32 else "F16"
            state = bnbref.linear4bit(prefix, w32.reshape(-1), dtype, w.shape,
                                      "nf4", 64, dq)
            packed, absmax = state[key], state[key + ".absmax"]
            if dq:
                _, nested, offset = bnbref.double_quantize(
                    bnbref.block_absmax(w32.reshape(-1), 64))
                block = np.repeat(nested, 256)[:absmax.size]
                absmax = ((bnbref.DYNAMIC_MAP[absmax] * block).astype(F32)
                          + offset).astype(F32)
            wd = dequantize_4bit(packed, absmax, w.size, 64).reshape(w.shape)
            linears[key] = ("4bit", wd)
        else:
            state = bnbref.linear8bit(prefix, w32)
            linears[key] = ("int8", state[key].astype(F32),
                            state[prefix + "SCB"],
                            F32(config.get("llm_int8_threshold", 6.0)))
        # The artifact holds the same quantized bytes under the same keys.
        for k, v in state.items():
            if k.endswith("weight_format"):
                continue
            got = artifact_weights.get(k)
            if got is None or got.tobytes() != v.tobytes():
                sys.exit(f"artifact tensor '{k}' differs from the reference "
                         "quantization")
    return linears


def int8_linear(x, cb, scb, threshold, bias, dtype="F16"):
    """LLM.int8() (docs/quantization-passes.md) on x of model dtype `dtype`
    (F16 or F32, as float32 arrays): row absmax without outlier elements
    of x cast to float16, outlier columns zeroed, int8 product, the fp16
    dequantization (bias added in fp16), then, in the input dtype, the
    outlier product of x's own values with the dequantized weight columns
    added with one rounding."""
    x2 = x.reshape(-1, x.shape[-1])
    # bitsandbytes quantizes A.to(float16) whatever the input dtype.
    x16 = x2.astype(np.float16).astype(F32)
    big = np.abs(x16) >= threshold if threshold > 0 \
        else np.zeros(x2.shape, bool)
    outliers = big.any(axis=0)
    # The row absmax leaves out |x| >= f16(threshold) (a half compare).
    excluded = np.abs(x16) >= F32(np.float16(threshold)) if threshold > 0 \
        else big
    row = np.where(excluded, F32(0), np.abs(x16)).max(axis=1).astype(F32)
    with np.errstate(divide="ignore"):
        # __fdividef(127, r) = 127 * (1 / r) (PTX div.approx), each rounded.
        inverse = (F32(1) / np.where(row > 0, row, F32(1))).astype(F32)
        scale = np.where(row > 0, F32(127) * inverse, F32(0)).astype(F32)
    ca = np.rint(np.where(big, F32(0), x16) * scale[:, None])
    ca[:, outliers] = 0
    c = ca.astype(np.float64) @ cb.T.astype(np.float64)  # exact int32 sums
    y = ((c.astype(F32) * row[:, None]).astype(F32) * scb[None, :]).astype(F32)
    y = y.astype(np.float64) * np.float64(F32(6.200012e-05))  # fmaf
    if bias is not None:
        y = y + bias.astype(np.float16).astype(np.float64)
    y = y.astype(F32).astype(np.float16).astype(F32)
    if outliers.any():
        wd = ((cb * scb[:, None]).astype(F32) * F32(7.874015718698502e-3))
        if dtype == "F16":
            wd = wd.astype(np.float16).astype(F32)
        y = (y + x2[:, outliers] @ wd[:, outliers].T).astype(F32)
    if dtype == "F16":
        y = y.astype(np.float16).astype(F32)
    return y.reshape(*x.shape[:-1], -1)


def reference_logits(hf_dir, artifact, ids, dtype="float16", noise=0.0):
    """bnb_mlir.reference's forward of `ids` in `dtype` with the linears
    quantized as the artifact's config says (bnbref), after checking the
    artifact's quantized tensors byte for byte against bnbref. With `noise`,
    each quantized linear's input is first multiplied by 1 + noise * N(0, 1)
    (seeded): how much the model itself moves when its activations move by
    about an ulp. Returns (logits [B, S, V], number of quantized linears)."""
    from bnb_mlir import reference

    artifact = pathlib.Path(artifact)
    manifest = json.loads((artifact / "manifest.json").read_text())
    weights = load_file(str(artifact / "weights.safetensors"))
    linears = quantized_linears(hf_dir, manifest["config"], weights)
    int8_dtype = "F16" if dtype == "float16" else "F32"
    rng = np.random.default_rng(0)

    class Tagged(np.ndarray):
        key = None

    original_weights, original_linear = reference._weights, reference._linear

    def tagged_weights(ckpt, rnd):
        load = original_weights(ckpt, rnd)

        def get(key):
            value = load(key).view(Tagged)
            value.key = key
            return value
        return get

    def quantized_linear(x, w, b, rnd):
        kind = linears.get(getattr(w, "key", None))
        x = np.asarray(x, F32)
        b = None if b is None else np.asarray(b, F32)
        if kind is None:
            return original_linear(x, np.asarray(w, F32), b, rnd)
        if noise:
            x = (x * (1 + noise * rng.standard_normal(x.shape))).astype(F32)
        if kind[0] == "4bit":
            y = x @ kind[1].T  # compute dtype float32, then the input dtype
            return rnd(y if b is None else y + b)
        return rnd(int8_linear(x, kind[1], kind[2], kind[3], b, int8_dtype))

    reference._weights, reference._linear = tagged_weights, quantized_linear
    try:
        return reference.reference_forward(hf_dir, ids, dtype), len(linears)
    finally:
        reference._weights, reference._linear = original_weights, \
            original_linear


def check(a):
    ids = load_file(str(pathlib.Path(a.hf_dir) / "input_ids.safetensors"))
    ref, _ = reference_logits(a.hf_dir, a.artifact, ids["input_ids"])
    got = load_file(a.output)["logits"].astype(F32)
    err = np.abs(got - ref).max()
    top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
    # The documented float16 tolerance of the graphs against the reference.
    print(f"max |logits - reference|: {'ok' if err <= a.atol else err}")
    print(f"top-1 agreement: {'ok' if top1 >= 0.75 else top1}")
    print(f"finite: {np.isfinite(got).all()}")
    if a.verbose:
        print(f"measured {err} {top1}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hf_dir")
    p.add_argument("artifact")
    p.add_argument("output")
    p.add_argument("--atol", type=float, default=0.1)
    p.add_argument("--verbose", action="store_true")
    check(p.parse_args())


if __name__ == "__main__":
    main()
