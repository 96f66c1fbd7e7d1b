"""Writes the files of gpu-check-compare-bf16.test: a bf16 tensor y =
[0.5, 1.0, -2.0, 3.0], the same with 1.0 one ulp up (1.0078125) and with
-2.0 replaced by -2.5, and an exact and a tolerance case."""
import json
import struct
import sys

out = sys.argv[1]


def write(path, bits):
    data = struct.pack("<4H", *bits)
    header = json.dumps({"y": {"dtype": "BF16", "shape": [4],
                               "data_offsets": [0, len(data)]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


# bf16 bit patterns: 0.5, 1.0, -2.0, 3.0.
write(out + "/e.safetensors", [0x3F00, 0x3F80, 0xC000, 0x4040])
write(out + "/ulp.safetensors", [0x3F00, 0x3F81, 0xC000, 0x4040])
write(out + "/far.safetensors", [0x3F00, 0x3F80, 0xC020, 0x4040])
json.dump({"compare": "exact", "tolerance": None}, open(out + "/exact.json", "w"))
json.dump({"compare": "tolerance", "tolerance": {"atol": 0.02, "rtol": 0.01}},
          open(out + "/tol.json", "w"))
