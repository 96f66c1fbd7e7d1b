#!/usr/bin/env python3
"""Register, spill and shared-memory use of every generated GPU kernel.

    python bench/gpu/ptxas_report.py [--build build] [--chips sm_80,sm_90]
                                     [FILE.mlir ...]

Lowers each module (by default the PTX tests in test/Pipelines/ptx-*.mlir
and the benchmark's bench/gpu/kernels.mlir) with
`bnb-opt --bnb-lower-to-nvvm="chip=CHIP format=isa"`, assembles the PTX with
`ptxas -v` for each chip and prints a Markdown table with one row per
kernel: registers per thread, spill stores/loads (bytes) and static shared
memory (bytes), per chip. docs/benchmarks.md records its output.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+a?)'")
SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")
SMEM = re.compile(r"(\d+) bytes smem")


def fail(message):
    sys.exit("ptxas_report.py: error: " + message)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        fail("'%s' failed: %s" % (" ".join(cmd[:2]), last))
    return proc


def parse_ptxas(log):
    """{kernel: (registers, spill stores, spill loads, smem)} from ptxas -v."""
    kernels, current = {}, None
    for line in log.splitlines():
        m = ENTRY.search(line)
        if m:
            current = m.group(1)
            kernels[current] = [0, 0, 0, 0]
            continue
        if current is None:
            continue
        m = SPILL.search(line)
        if m:
            kernels[current][1:3] = [int(m.group(1)), int(m.group(2))]
        m = USED.search(line)
        if m:
            kernels[current][0] = int(m.group(1))
            s = SMEM.search(line)
            kernels[current][3] = int(s.group(1)) if s else 0
    return kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--chips", default="sm_80,sm_90")
    parser.add_argument("--ptxas", default=shutil.which("ptxas") or
                        "/usr/local/cuda/bin/ptxas")
    args = parser.parse_args()
    inputs = args.inputs or (
        sorted(glob.glob(os.path.join(ROOT, "test/Pipelines/ptx-*.mlir"))) +
        [os.path.join(ROOT, "bench/gpu/kernels.mlir")])
    bnb_opt = os.path.join(args.build, "bin", "bnb-opt")
    dump = os.path.join(ROOT, "test/Utils/dump-gpu-binary.py")
    for tool in (bnb_opt, args.ptxas):
        if not os.path.exists(tool):
            fail("'%s' not found" % tool)
    chips = args.chips.split(",")
    table = {}  # kernel -> chip -> figures
    with tempfile.TemporaryDirectory() as tmp:
        for path in inputs:
            if not os.path.exists(path):
                fail("'%s' not found" % path)
            for chip in chips:
                lowered = run([bnb_opt, path,
                               "--bnb-lower-to-nvvm=chip=%s format=isa" % chip]).stdout
                ptx = os.path.join(tmp, "kernels.ptx")
                run([sys.executable, dump, "-o", ptx], input=lowered)
                log = run([args.ptxas, "-v", "-arch=" + chip, ptx,
                           "-o", os.path.join(tmp, "kernels.cubin")]).stderr
                for kernel, figures in parse_ptxas(log).items():
                    table.setdefault(kernel, {})[chip] = figures
    header = "| kernel | " + " | ".join(
        "%s regs | %s spill st/ld (B) | %s smem (B)" % (c, c, c) for c in chips) + " |"
    print(header)
    print("|---" * (1 + 3 * len(chips)) + "|")
    for kernel in sorted(table):
        cells = []
        for chip in chips:
            f = table[kernel].get(chip)
            cells += ["-"] * 3 if f is None else [
                str(f[0]), "%d/%d" % (f[1], f[2]), str(f[3])]
        print("| `%s` | %s |" % (kernel, " | ".join(cells)))


if __name__ == "__main__":
    main()
