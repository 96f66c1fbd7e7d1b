"""Test helper for bnb-quantize: makes (also malformed) safetensors inputs,
shows and verifies outputs. Run with the project venv (numpy, safetensors).

  st.py make OUT NAME=DTYPE:SHAPE:GEN ...     write an input file
  st.py bad OUT KIND                          write a malformed file
  st.py show FILE [--hex KEY]...              list tensors (and bytes)
  st.py verify IN OUT [options]               compare with bnbref's model
  st.py resave FILE                           byte-compare with safetensors

GEN is randn:SEED[:SCALE], ramp:DIV (element i is (i - n/2)/DIV),
values:V1,V2,... (repeated), rows:V1,V2,... (equal runs), zeros; append
@nan:I or @inf:I or @-inf:I to set element I.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bnbref  # noqa: E402

NUMPY = {"F16": np.float16, "F32": np.float32, "F64": np.float64,
         "I8": np.int8, "U8": np.uint8, "I16": np.int16, "I32": np.int32,
         "I64": np.int64, "BOOL": np.bool_}


def bf16_bits(values):
    """float32 -> bfloat16 bits, round to nearest even (NaN kept quiet)."""
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(values)
    rounded[nan] = (bits[nan] >> 16) | 0x40
    return rounded.astype(np.uint16)


def generate(gen, n):
    parts = gen.split("@")
    kind, *args = parts[0].split(":")
    if kind == "randn":
        scale = float(args[1]) if len(args) > 1 else 0.02
        values = np.random.default_rng(int(args[0])).standard_normal(n) * scale
    elif kind == "ramp":
        values = (np.arange(n) - n // 2) / float(args[0])
    elif kind == "values":
        base = [float(v) for v in args[0].split(",")]
        values = np.resize(np.array(base), n)
    elif kind == "rows":
        base = [float(v) for v in args[0].split(",")]
        values = np.repeat(np.array(base), n // len(base))
    elif kind == "zeros":
        values = np.zeros(n)
    else:
        raise SystemExit("unknown generator " + kind)
    values = values.astype(np.float64)
    for special in parts[1:]:
        what, index = special.split(":")
        values[int(index)] = float(what)
    return values


def encode(dtype, values):
    if dtype == "BF16":
        return bf16_bits(values.astype(np.float32)).tobytes()
    return values.astype(NUMPY[dtype]).tobytes()


def write_raw(path, tensors, metadata=None):
    """A safetensors file laid out by name order (not by alignment), the way
    some other writers do it."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read_raw(path):
    """{name: (dtype, shape, bytes)} and metadata, parsed by hand."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", None)
    data = blob[8 + n:]
    tensors = {name: (info["dtype"], info["shape"],
                      data[info["data_offsets"][0]:info["data_offsets"][1]])
               for name, info in header.items()}
    return tensors, metadata


def cmd_make(args):
    tensors = {}
    for spec in args.specs:
        name, rest = spec.split("=", 1)
        dtype, shape, gen = rest.split(":", 2)
        dims = [int(d) for d in shape.split("x")] if shape else []
        values = generate(gen, int(np.prod(dims, dtype=np.int64)))
        tensors[name] = (dtype, dims, encode(dtype, values))
    write_raw(args.out, tensors, {"format": "pt"})


def cmd_bad(args):
    good = {"w": ("F32", [2, 2], np.arange(4, dtype=np.float32).tobytes())}
    if args.kind == "truncated":
        write_raw(args.out, good)
        size = os.path.getsize(args.out)
        with open(args.out, "r+b") as f:
            f.truncate(size - 3)
        return
    if args.kind == "short":
        with open(args.out, "wb") as f:
            f.write(b"\x10\x00\x00")
        return
    if args.kind == "huge-header":
        with open(args.out, "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + b"{}")
        return
    headers = {
        "oob": {"w": {"dtype": "F32", "shape": [2, 2],
                      "data_offsets": [8, 24]}},
        "size-mismatch": {"w": {"dtype": "F32", "shape": [2, 3],
                                "data_offsets": [0, 16]}},
        "unknown-dtype": {"w": {"dtype": "F8_E4M3", "shape": [16],
                                "data_offsets": [0, 16]}},
        "overlap": {"w": {"dtype": "F32", "shape": [2, 2],
                          "data_offsets": [0, 16]},
                    "v": {"dtype": "F32", "shape": [2],
                          "data_offsets": [8, 16]}},
        "not-json": None,
    }
    if args.kind not in headers:
        raise SystemExit("unknown kind " + args.kind)
    text = (b"{\"w\": " if headers[args.kind] is None
            else json.dumps(headers[args.kind]).encode())
    with open(args.out, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(16))


def cmd_show(args):
    tensors, metadata = read_raw(args.file)
    print("metadata", json.dumps(metadata, sort_keys=True))
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        print(name, dtype, shape, len(raw))
    for name in args.hex or []:
        print(name, tensors[name][2].hex(" "))
    for name in args.text or []:
        print(name, tensors[name][2].decode())


def cmd_verify(args):
    inputs, _ = read_raw(args.input)
    outputs, metadata = read_raw(args.output)
    expected = {}
    storage = np.dtype(args.storage) if args.storage else np.uint8
    for name, (dtype, shape, raw) in inputs.items():
        if name not in args.linear:
            expected[name] = (dtype, shape, raw)
            continue
        a = bnbref.to_float32(np.frombuffer(raw, dtype=np.uint8).copy(), dtype)
        a = a.reshape(shape)
        if name in (args.conv1d or []):
            a = np.ascontiguousarray(a.T)
        prefix = name[:-len("weight")]
        if args.bits == 4:
            layer = bnbref.linear4bit(prefix, a.ravel(), dtype, a.shape,
                                      args.quant_type, args.blocksize,
                                      args.double_quant, storage)
        else:
            layer = bnbref.linear8bit(prefix, a)
        for key, value in layer.items():
            st = {np.dtype(v): k for k, v in NUMPY.items()}[value.dtype] \
                if value.dtype != np.dtype(np.uint16) else "BF16"
            expected[key] = (st, list(value.shape), value.tobytes())
    problems = []
    if sorted(expected) != sorted(outputs):
        problems.append("keys differ: missing %s, unexpected %s" % (
            sorted(set(expected) - set(outputs)),
            sorted(set(outputs) - set(expected))))
    for key in sorted(set(expected) & set(outputs)):
        if expected[key][:2] != outputs[key][:2]:
            problems.append("%s: %s %s, expected %s %s" % (
                key, *outputs[key][:2], *expected[key][:2]))
        elif expected[key][2] != outputs[key][2]:
            a, b = expected[key][2], outputs[key][2]
            first = next(i for i in range(min(len(a), len(b))) if a[i] != b[i])
            problems.append("%s: bytes differ from offset %d" % (key, first))
    if metadata != {"format": "pt"}:
        problems.append("metadata %r" % (metadata,))
    for p in problems:
        print("MISMATCH", p)
    if problems:
        sys.exit(1)
    print("verified %d tensors" % len(outputs))


def cmd_resave(args):
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open
    with safe_open(args.file, "np") as f:
        metadata = f.metadata()
    tensors = load_file(args.file)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resaved.safetensors")
        save_file(tensors, path, metadata=metadata)
        with open(path, "rb") as a, open(args.file, "rb") as b:
            same = a.read() == b.read()
    print("byte-identical to safetensors.save_file" if same else "DIFFERENT")
    sys.exit(0 if same else 1)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("out")
    p.add_argument("specs", nargs="+")
    p.set_defaults(func=cmd_make)
    p = sub.add_parser("bad")
    p.add_argument("out")
    p.add_argument("kind")
    p.set_defaults(func=cmd_bad)
    p = sub.add_parser("show")
    p.add_argument("file")
    p.add_argument("--hex", action="append")
    p.add_argument("--text", action="append")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("verify")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--bits", type=int, choices=[4, 8], required=True)
    p.add_argument("--quant-type", default="fp4")
    p.add_argument("--blocksize", type=int, default=64)
    p.add_argument("--double-quant", action="store_true")
    p.add_argument("--storage")
    p.add_argument("--linear", action="append", default=[])
    p.add_argument("--conv1d", action="append")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("resave")
    p.add_argument("file")
    p.set_defaults(func=cmd_resave)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
