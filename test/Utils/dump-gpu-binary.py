#!/usr/bin/env python3
# Prints the payload of every object of every gpu.binary in an MLIR module
# (the PTX of format=isa, or the raw cubin/fatbin bytes with --raw), so that
# lit tests can FileCheck generated PTX and assemble it with ptxas.
#
#   bnb-opt m.mlir --bnb-lower-to-nvvm="format=isa" | dump-gpu-binary.py
#   dump-gpu-binary.py m.mlir --binary bnb_kernels -o kernels.ptx

import argparse
import re
import sys

BINARY = re.compile(r'gpu\.binary\s+@([\w$.]+)')
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


def object_payloads(text, start, end):
    """The payload strings of the #gpu.object<...> attributes in
    text[start:end]: the only string literal at the top level of an object
    (target parameters and properties are nested)."""
    pos = text.find("#gpu.object<", start, end)
    while pos != -1:
        i = pos + len("#gpu.object<")
        depth = 0
        while i < end:
            c = text[i]
            if c == '"':
                m = STRING.match(text, i)
                if depth == 0:
                    yield m.group(1)
                i = m.end()
                continue
            if c in "<{[(":
                depth += 1
            elif c in ">}])":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        pos = text.find("#gpu.object<", i, end)


def unescape(body):
    """Decodes MLIR's string escapes (\\XX hex, \\\\, \\", \\n, \\t)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1:i + 3]
        if re.fullmatch(r"[0-9A-Fa-f]{2}", nxt):
            out.append(int(nxt, 16))
            i += 3
            continue
        out += {"n": b"\n", "t": b"\t"}.get(body[i + 1], body[i + 1].encode())
        i += 2
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(
        description="Print the objects of the gpu.binary ops of a module")
    parser.add_argument("input", nargs="?", default="-")
    parser.add_argument("--binary", help="only this gpu.binary")
    parser.add_argument("-o", "--output", default="-")
    parser.add_argument("--raw", action="store_true",
                        help="write bytes as they are (cubin/fatbin)")
    args = parser.parse_args()
    text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    payloads = []
    starts = [(m.start(), m.group(1)) for m in BINARY.finditer(text)]
    if not starts:
        sys.exit("error: no gpu.binary in the input")
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        if args.binary and name != args.binary:
            continue
        for payload in object_payloads(text, start, end):
            payloads.append(unescape(payload))
    if not payloads:
        sys.exit("error: no object in the selected gpu.binary")
    data = b"".join(payloads)
    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    out.write(data)


if __name__ == "__main__":
    main()
