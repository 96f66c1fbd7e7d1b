#!/usr/bin/env python3
"""The generation case of gpu-check.sh: greedy decoding on the GPU, compared
with the CPU build, and the decode speed.

    generation.py prepare OUTDIR --chip sm_90 [--bin DIR] [--python PY]
        on the build machine: imports the tiny LLaMA (examples/tiny-llama)
        with its prefill/decode entry points, quantizes it with NF4 and f16
        compute, compiles it for cuda:CHIP (OUTDIR/gpu.bnb) and for the CPU,
        and writes the prompt and the CPU build's greedy tokens
        (OUTDIR/generation.json).
    generation.py check OUTDIR --bnb-run PATH [--device cuda]
        on the GPU machine: runs `bnb-run gpu.bnb --generate --report` with
        that prompt and prints one line: PASS when the first MATCH tokens
        equal the CPU build's (greedy decoding; a later token may differ
        where two logits are within the summation-order error), with the
        matching prefix, prefill and decode tokens per second; FAIL
        otherwise. Exits 1 on FAIL. Needs only the standard library.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

PROMPT = [1, 7, 42, 3, 99, 5, 6, 200, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
          18, 19]  # one prefill chunk of 16, then four decode steps
NEW_TOKENS = 32
MATCH = 8
QUANT = ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
         "--bnb-4bit-compute-dtype", "float16"]


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], check=True, text=True,
                          stdout=subprocess.PIPE, **kwargs).stdout


def prepare(out, chip, bindir, python):
    root = pathlib.Path(__file__).resolve().parents[2]  # the source tree
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(root / "python_frontend"))
    tool = lambda name: str(pathlib.Path(bindir) / name) if bindir else name
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        run([python, root / "examples" / "tiny-llama" / "make_model.py",
             tmp / "model"], env=env)
        run([python, "-m", "bnb_mlir", "import", tmp / "model", "-o",
             tmp / "model.mlir"], env=env)
        run([python, "-m", "bnb_mlir", "config", *QUANT, "-o",
             tmp / "config.json"], env=env)
        for target, path in ((f"cuda:{chip}", out / "gpu.bnb"),
                             ("cpu", tmp / "cpu.bnb")):
            run([tool("bnb-compile"), tmp / "model.mlir", "--config",
                 tmp / "config.json", "--target", target, "--force",
                 "--quiet", "-o", path])
        tokens = run([tool("bnb-run"), tmp / "cpu.bnb", "--generate",
                      "--prompt-ids", ",".join(map(str, PROMPT)),
                      "--max-new-tokens", NEW_TOKENS]).split()
    spec = {"model": "examples/tiny-llama, nf4, f16 compute",
            "prompt_ids": PROMPT, "max_new_tokens": NEW_TOKENS,
            "expected_tokens": [int(t) for t in tokens], "match": MATCH}
    (out / "generation.json").write_text(json.dumps(spec, indent=1) + "\n")
    print(f"prepared {out}: {len(tokens)} expected tokens")


def check(out, bnb_run, device):
    spec = json.loads((out / "generation.json").read_text())
    cmd = [bnb_run, out / "gpu.bnb", "--generate", "--device", device,
           "--report", "--prompt-ids", ",".join(map(str, spec["prompt_ids"])),
           "--max-new-tokens", spec["max_new_tokens"]]
    proc = subprocess.run([str(a) for a in cmd], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"FAIL generation: bnb-run: {last}")
        return 1
    lines = proc.stdout.splitlines()
    tokens = [int(t) for t in lines[0].split()] if lines else []
    expected = spec["expected_tokens"]
    same = 0
    while same < min(len(tokens), len(expected)) and \
            tokens[same] == expected[same]:
        same += 1
    speed = {}
    for key, pattern in (("prefill", r"^prefill: .*?([0-9.]+) tok/s"),
                         ("decode", r"^decode: .*?([0-9.]+) ms/token, "
                                    r"([0-9.]+) tok/s")):
        m = re.search(pattern, proc.stdout, re.M)
        if m:
            speed[key] = m.groups()
    figures = ""
    if "prefill" in speed and "decode" in speed:
        figures = (f"; prefill {speed['prefill'][0]} tok/s, decode "
                   f"{speed['decode'][1]} tok/s ({speed['decode'][0]} "
                   f"ms/token)")
    verdict = (f"{same}/{len(expected)} greedy tokens equal the CPU "
               f"build's{figures}")
    if len(tokens) != len(expected) or same < spec["match"] or not figures:
        print(f"FAIL generation: {verdict} (the first {spec['match']} must "
              f"match and the report must give the speed)")
        return 1
    print(f"PASS generation: {verdict}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--chip", default="sm_90")
    p.add_argument("--bin", default="", help="directory of bnb-compile and "
                   "bnb-run (default: PATH)")
    p.add_argument("--python", default=sys.executable)
    c = sub.add_parser("check")
    c.add_argument("out", type=pathlib.Path)
    c.add_argument("--bnb-run", required=True)
    c.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.mode == "prepare":
        prepare(args.out, args.chip, args.bin, args.python)
        return 0
    return check(args.out, args.bnb_run, args.device)


if __name__ == "__main__":
    sys.exit(main())
