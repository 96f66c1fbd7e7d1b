#!/usr/bin/env python3
"""Runs GPU check cases on this machine's GPU and compares them with the CPU
build (which equals lib/Quant bit for bit, see test/unit/Conversion).

    gpu_vs_cpu.py --chip sm_XX WORKDIR CASE [CASE ...]

For each case of scripts/gpu_check/cases.py: writes it, compiles it with
bnb-compile for cuda:CHIP and for cpu, runs both with bnb-run and prints
`CASE: ok (...)` or `CASE: FAIL ...` (compare.py's verdict). Exits 1 if a
case failed.
"""
import argparse
import contextlib
import io
import pathlib
import subprocess
import sys

import cases
import compare


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError("%s failed: %s" % (cmd[0], last))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", required=True)
    parser.add_argument("work")
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    cases.main(work, args.cases)
    failed = 0
    for name in args.cases:
        d = work / name
        try:
            for target, out in (("cuda:" + args.chip, "gpu.bnb"), ("cpu", "cpu.bnb")):
                run(["bnb-compile", str(d / "model.mlir"), "--config",
                     str(d / "config.json"), "--target", target, "-o",
                     str(d / out), "--quiet", "--force"])
            run(["bnb-run", str(d / "cpu.bnb"), "--device", "cpu", "--input",
                 str(d / "inputs.safetensors"), "--output", str(d / "expected.safetensors")])
            run(["bnb-run", str(d / "gpu.bnb"), "--device", "cuda", "--input",
                 str(d / "inputs.safetensors"), "--output", str(d / "actual.safetensors")])
            verdict = io.StringIO()
            with contextlib.redirect_stdout(verdict):
                rc = compare.main(str(d / "case.json"), str(d / "expected.safetensors"),
                                  str(d / "actual.safetensors"))
            line = verdict.getvalue().strip()
        except RuntimeError as e:
            rc, line = 1, "FAIL " + str(e)
        print("%s: %s" % (name, line))
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
