#!/usr/bin/env python3
"""Writes an edited copy of an artifact's manifest.json, as a hostile or
careless user would: edit_manifest.py ARTIFACT EDIT (in place).

Edits: small-output, swap-weights, symbol-abort, symbol-free, no-inputs,
no-weights, no-outputs, dotdot-checksum, huge-output, version-1,
duplicate-entry, vocab-on-float, unknown-checksum, deep (100,000
nested brackets)."""
import json
import sys


def main() -> int:
    path = sys.argv[1] + "/manifest.json"
    edit = sys.argv[2]
    if edit == "deep":
        with open(path, "w") as f:
            f.write('{"format": ' + "[" * 100000 + "]" * 100000 + "}")
        return 0
    with open(path) as f:
        m = json.load(f)
    entry = m["entry_points"][0]
    if edit == "small-output":
        entry["outputs"][0]["shape"][-1] //= 2
    elif edit == "swap-weights":
        w = entry["weights"]
        w[0]["name"], w[1]["name"] = w[1]["name"], w[0]["name"]
        w[0]["dtype"], w[1]["dtype"] = w[1]["dtype"], w[0]["dtype"]
        w[0]["shape"], w[1]["shape"] = w[1]["shape"], w[0]["shape"]
    elif edit == "symbol-abort":
        entry["symbol"] = "abort"
    elif edit == "symbol-free":
        entry["name"] = "free"
        entry["symbol"] = "bnb_entry_free"
    elif edit in ("no-inputs", "no-weights", "no-outputs"):
        entry[edit[3:]] = []
    elif edit == "dotdot-checksum":
        m["checksums"][".."] = m["checksums"]["model.so"]
    elif edit == "unknown-checksum":
        m["checksums"]["other.so"] = m["checksums"]["model.so"]
    elif edit == "huge-output":
        entry["outputs"][0]["shape"] = [4294967296, 4294967296]
        entry["outputs"][0]["dtype"] = "F32"
    elif edit == "version-1":
        m["format_version"] = 1
    elif edit == "duplicate-entry":
        m["entry_points"].append(dict(entry))
    elif edit == "vocab-on-float":
        entry["inputs"][0]["vocab_size"] = 10
    else:
        print(f"unknown edit {edit}", file=sys.stderr)
        return 2
    with open(path, "w") as f:
        json.dump(m, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
