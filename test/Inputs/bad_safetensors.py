#!/usr/bin/env python3
"""The shared corpus of malformed safetensors files.

Both readers -- the C++ one (lib/Support/Safetensors.cpp, exercised through
bnb-quantize) and the Python one (bnb_mlir.safetensors_io) -- must refuse
every case here with one line naming the file, and neither may accept what
the other refuses. CASES lists each file as its raw header text (so that
duplicate keys and number spellings survive) and its data size; `expect` is
the part of the C++ reader's message the lit test looks for.

    bad_safetensors.py write DIR            writes DIR/<case>.safetensors
    bad_safetensors.py check TOOL DIR       runs TOOL (bnb-quantize) on each
"""
from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys

# (name, header text, data bytes, expected C++ message part)
CASES: list[tuple[str, str | bytes, int, str]] = [
    ("float-offset",
     '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}', 4,
     "tensor 'w' holds the number '4.0', which is not an integer"),
    ("exponent-offset",
     '{"w":{"dtype":"F32","shape":[16],"data_offsets":[0,64e0]}}', 64,
     "tensor 'w' holds the number '64e0', which is not an integer"),
    ("float-dim",
     '{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', 4,
     "tensor 'w' holds the number '1.0', which is not an integer"),
    ("bool-dim",
     '{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', 4,
     "tensor 'w': 'shape' holds something other than a non-negative integer"),
    ("negative-dim",
     '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4,
     "tensor 'w': 'shape' holds something other than a non-negative integer"),
    ("duplicate-field",
     '{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}', 4,
     "tensor 'w' has the field 'dtype' twice"),
    ("duplicate-key",
     '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
     '"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8,
     "header has the key 'w' twice"),
    ("duplicate-escaped-key",
     '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
     '"\\u0077":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8,
     "header has the key 'w' twice"),
    ("overlap",
     '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
     '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8,
     "tensors 'a' and 'b' overlap in the data section"),
    ("gap",
     '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
     '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', 12,
     "bytes [4, 8) of the data section before tensor 'b' belong to no tensor"),
    ("trailing-bytes",
     '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 8,
     "bytes [4, 8) at the end of the data section belong to no tensor"),
    ("size-mismatch",
     '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4,
     "tensor 'w': data_offsets [0, 4] hold 4 bytes but 2 of F32 need 8"),
    ("shape-overflow",
     '{"w":{"dtype":"F32","shape":[4294967296,4294967296,2],'
     '"data_offsets":[0,0]}}', 0,
     "tensor 'w': the size of shape [4294967296, 4294967296, 2] overflows 64 "
     "bits"),
    ("bytes-overflow",
     '{"w":{"dtype":"F64","shape":[4611686018427387904],'
     '"data_offsets":[0,0]}}', 0,
     "tensor 'w': the size of shape [4611686018427387904] overflows 64 bits"),
    ("offset-beyond-u64",
     '{"w":{"dtype":"U8","shape":[0],'
     '"data_offsets":[18446744073709551616,18446744073709551616]}}', 0,
     "tensor 'w': 'data_offsets' is not a pair of non-negative integers"),
    ("three-offsets",
     '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}', 1,
     "tensor 'w': 'data_offsets' is not a pair of non-negative integers"),
    ("end-before-begin",
     '{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}', 4,
     "tensor 'w': data_offsets [4, 0] end before they begin"),
    ("out-of-bounds",
     '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 4,
     "tensor 'w': data_offsets [0, 8] are out of bounds of the 4-byte data "
     "section"),
    ("unknown-field",
     '{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', 1,
     "tensor 'w' has an unknown field 'x'"),
    ("missing-dtype",
     '{"w":{"shape":[1],"data_offsets":[0,1]}}', 1,
     "tensor 'w' has no 'dtype'"),
    ("unknown-dtype",
     '{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16,
     "tensor 'w' has an unsupported dtype 'F128'"),
    ("unsigned-32-dtype",
     '{"w":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}}', 4,
     "tensor 'w' has an unsupported dtype 'U32'"),
    ("entry-not-object",
     '{"w":[1,2]}', 0,
     "tensor 'w' is not a JSON object"),
    ("header-not-object",
     '[1]', 0,
     "header is not a JSON object"),
    ("metadata-not-strings",
     '{"__metadata__":{"k":1}}', 0,
     "'__metadata__' entry 'k' is not a string"),
    ("metadata-not-object",
     '{"__metadata__":[]}', 0,
     "'__metadata__' is not a JSON object"),
    ("deep-nesting",
     '{"__metadata__":' + "[" * 100000 + "]" * 100000 + "}", 0,
     "header is not valid JSON: JSON nests deeper than 64 levels"),
    ("not-json",
     '{"w":', 0,
     "header is not valid JSON"),
    ("not-utf8",
     b'{"w\xff":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}', 0,
     "header is not valid UTF-8"),
    ("escaped-name",
     '{"w\\n\\u001b[31mred":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}',
     4,
     "tensor 'w\\n\\x1b[31mred': data_offsets [0, 4] hold 4 bytes"),
]

# Files that are not a header plus data.
RAW: list[tuple[str, bytes, str]] = [
    ("short", b"\x01\x00\x00", "3 bytes is too short for the 8-byte header "
     "length"),
    ("header-past-end", struct.pack("<Q", 64) + b"{}", "header length 64 "
     "exceeds the 2 bytes after the length field"),
    ("header-too-large", struct.pack("<Q", 100000001) + b"{}",
     "header length 100000001 exceeds the 100000000-byte limit"),
]


def image(header: str | bytes, data: int) -> bytes:
    """A file: the 8-byte length, the header as given, `data` zero bytes."""
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw + bytes(data)


def files() -> list[tuple[str, bytes, str]]:
    """(name, file bytes, expected C++ message part) of every case."""
    out = [(name, image(h, d), expect) for name, h, d, expect in CASES]
    return out + RAW


def write(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for name, data, _ in files():
        with open(os.path.join(directory, name + ".safetensors"), "wb") as f:
            f.write(data)


def check(tool: str, directory: str) -> int:
    """Runs `tool FILE --config ... -o OUT` on each case: exit 1, one line
    starting with error: that holds the expected part, no output file, the
    input unchanged."""
    config = os.path.join(directory, "q.json")
    with open(config, "w") as f:
        f.write('{"load_in_4bit": true}\n')
    failures = 0
    for name, _, expect in files():
        path = os.path.join(directory, name + ".safetensors")
        out = os.path.join(directory, name + ".out.safetensors")
        before = hashlib.sha256(open(path, "rb").read()).hexdigest()
        run = subprocess.run([tool, path, "--config", config, "-o", out],
                             capture_output=True)
        stderr = run.stderr.decode("utf-8", "replace")
        lines = stderr.splitlines()
        problems = []
        if run.returncode != 1:
            problems.append(f"exit {run.returncode}")
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"{len(lines)} lines")
        if expect not in stderr:
            problems.append("message")
        if "\x1b" in stderr:
            problems.append("raw escape")
        if os.path.exists(out):
            problems.append("output written")
        if hashlib.sha256(open(path, "rb").read()).hexdigest() != before:
            problems.append("input changed")
        if problems:
            failures += 1
            print(f"FAIL {name}: {', '.join(problems)}: {stderr!r}")
        else:
            print(f"ok {name}")
    print(f"{len(files()) - failures} of {len(files())} refused as expected")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 3:
        write(sys.argv[2])
        return 0
    if sys.argv[1:2] == ["check"] and len(sys.argv) == 4:
        return check(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
