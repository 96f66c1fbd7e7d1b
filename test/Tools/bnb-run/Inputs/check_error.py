#!/usr/bin/env python3
"""Checks `python -m bnb_mlir compare --json` output against bounds.

    check_error.py COMPARE.json --max-rel R

Prints "ok: finite, top-1 agreement A" when the logits are finite, the
largest error relative to the reference's largest magnitude is at most R and
every position predicts the reference's token; otherwise one line saying
what is off, and exits 1.
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("result")
    parser.add_argument("--max-rel", type=float, required=True)
    args = parser.parse_args()
    r = json.load(open(args.result))
    if not r["finite"]:
        print("error: non-finite logits")
        return 1
    if r["max_rel_error"] > args.max_rel:
        print("error: max relative error %g > %g" % (r["max_rel_error"], args.max_rel))
        return 1
    if r["top1_agreement"] != 1.0:
        print("error: top-1 agreement %g" % r["top1_agreement"])
        return 1
    print("ok: finite, top-1 agreement %.1f" % r["top1_agreement"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
