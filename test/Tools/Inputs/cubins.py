#!/usr/bin/env python3
"""Lists the SMs of the CUDA ELF images embedded in a file.

    cubins.py FILE.so

Prints "N CUDA images", then each distinct sm_XX. An ELF image with
e_machine 190 (EM_CUDA) keeps its SM in bits 8-15 of e_flags.
"""
import pathlib
import struct
import sys


def main(path):
    data = pathlib.Path(path).read_bytes()
    sms = []
    at = data.find(b"\x7fELF", 1)
    while at >= 0:
        if at + 52 <= len(data):
            machine = struct.unpack_from("<H", data, at + 18)[0]
            if machine == 190:
                flags = struct.unpack_from("<I", data, at + 48)[0]
                sms.append((flags >> 8) & 0xFF)
        at = data.find(b"\x7fELF", at + 1)
    print(f"{len(sms)} CUDA images")
    for sm in sorted(set(sms)):
        print(f"sm_{sm}")


if __name__ == "__main__":
    main(sys.argv[1])
