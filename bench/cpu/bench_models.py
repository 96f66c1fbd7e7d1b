#!/usr/bin/env python3
"""End-to-end CPU benchmark: bnb-compile time and memory, forward latency.

    .venv/bin/python bench/cpu/bench_models.py [--build build] [--work DIR]
        [--models tiny,135m] [--configs none,int8,nf4,nf4-dq] [--json OUT]

For each model (the bundled tiny LLaMA example; a SmolLM-135M-shaped
checkpoint from bench/compile/make_llama_7b_shape.py --shape 135m, 30
layers; `7b:N`, the first N LLaMA-2-7B-shaped layers with the embedding and
lm_head) and each quantization config, it imports the checkpoint, compiles
it for `--target cpu` under /usr/bin/time (wall seconds, peak RSS), and runs
the artifact's forward on 8 tokens with `bnb-run --repeat` (median ms). In
the same run it measures the machine's copy bandwidth with bnb-cpu-bench's
BM_Copy/2 (bytes read per second, 2 threads) and reports each forward as a
ratio to the bytes/bandwidth ideal: the artifact's weight bytes read once,
divided by that bandwidth. Where the artifact has the generation entry
points it also runs `bnb-run --generate` with prompts of --positions tokens
and reports prefill tokens/s and the decode time per token right after each
prompt (the KV cache at that position). When two depths of one shape run
(`--models 7b:1,7b:2`), it also reports one decoder layer at batch 1: the
difference of their decode times per token at each position divided by the
difference in depth (attention over the KV cache included; embedding, final
norm and lm_head cancel out), against the ideal of that layer's weight bytes
read once at the copy bandwidth. Prints markdown tables; --json writes the
figures with the date, load average, commit and CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FLAGS = {
    # Every linear skipped: the checkpoint's own dtype (f16).
    "none": ["--load-in-8bit", "--llm-int8-skip-modules", "model,lm_head"],
    "int8": ["--load-in-8bit"],
    "nf4": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4"],
    "nf4-dq": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
               "--bnb-4bit-use-double-quant"],
    # bitsandbytes' compute dtype is float32 unless set; bf16 is common.
    "nf4-bf16": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                 "--bnb-4bit-compute-dtype", "bfloat16"],
    "nf4-dq-bf16": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                    "--bnb-4bit-use-double-quant",
                    "--bnb-4bit-compute-dtype", "bfloat16"],
}


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True,
                          capture_output=True, text=True, **kw)


def py(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python_frontend"))
    return run([sys.executable, *args], env=env)


def copy_bandwidth(build: Path) -> float:
    out = run([build / "bench" / "bnb-cpu-bench", "--benchmark_filter=BM_Copy/2",
               "--benchmark_format=json", "--benchmark_repetitions=3"]).stdout
    runs = [b for b in json.loads(out)["benchmarks"]
            if b.get("run_type") == "iteration"]
    return statistics.median(b["read_bytes_per_second"] for b in runs)


def make_model(name: str, work: Path) -> Path:
    ckpt = work / f"{name.replace(':', '-')}-ckpt"
    if not (ckpt / "config.json").exists():
        if name == "tiny":
            py(ROOT / "examples" / "tiny-llama" / "make_model.py", ckpt)
        else:
            # "135m", "7b", or "7b:N" for the first N layers of a shape.
            shape, _, layers = name.partition(":")
            extra = ["--layers", layers] if layers else []
            run([sys.executable, ROOT / "bench" / "compile" /
                 "make_llama_7b_shape.py", ckpt, "--shape", shape, *extra])
    return ckpt


def inputs(work: Path) -> Path:
    path = work / "input_ids.safetensors"
    py("-c", "import numpy as np; from safetensors.numpy import save_file; "
       "save_file({'input_ids': np.array([[1, 5, 9, 200, 3000, 17, 42, 7]], "
       f"dtype=np.int64) % 256}}, {str(path)!r})")
    return path


def generation(build: Path, art: Path, positions: list[int],
               new_tokens: int) -> dict:
    """Prefill tok/s of a prompt of p tokens and decode ms/token just after
    it (the mean over new_tokens - 1 decode calls), for each p that fits the
    compiled context."""
    manifest = json.loads((art / "manifest.json").read_text())
    decode = next((e for e in manifest["entry_points"]
                   if e["name"] == "decode"), None)
    if decode is None:
        return {}
    cache = next(t for t in decode["inputs"] if t.get("kv_cache"))
    max_seq = cache["shape"][2]
    out = {}
    for p in positions:
        if p + new_tokens > max_seq:
            continue
        ids = ",".join(str(1 + i % 200) for i in range(p))
        ran = run([build / "bin" / "bnb-run", art, "--generate",
                   "--prompt-ids", ids, "--max-new-tokens", str(new_tokens),
                   "--report"])
        pre = re.search(r"prefill: ([0-9.]+) ms, ([0-9.]+) tok/s", ran.stdout)
        dec = re.search(r"decode: \d+ steps, ([0-9.]+) ms/token", ran.stdout)
        out[p] = {"prefill_ms": float(pre.group(1)),
                  "prefill_tok_s": float(pre.group(2)),
                  "decode_ms_per_token": float(dec.group(1))}
    return out


def bench(build: Path, work: Path, model: str, config: str, repeat: int,
          positions: list[int], new_tokens: int, prefill_chunk: str):
    ckpt = make_model(model, work)
    tag = model.replace(":", "-")
    graph = work / f"{tag}.mlir"
    # Imported on every run: the graph follows the frontend of this commit.
    py("-m", "bnb_mlir", "import", ckpt, "-o", graph,
       *(["--prefill-chunk", prefill_chunk] if prefill_chunk else []))
    qjson = work / f"{config}.json"
    py("-m", "bnb_mlir", "config", *CONFIG_FLAGS[config], "-o", qjson)
    art = work / f"{tag}-{config}.bnb"
    timed = run(["/usr/bin/time", "-f", "%e %M", build / "bin" / "bnb-compile",
                 graph, "--config", qjson, "--target", "cpu", "--force",
                 "-o", art])
    wall, rss_kb = timed.stderr.strip().splitlines()[-1].split()
    out = work / "out.safetensors"
    ran = run([build / "bin" / "bnb-run", art, "--input", inputs(work),
               "--output", out, "--report", "--repeat", str(repeat)])
    runs = [float(m) for m in re.findall(r"run \d+: ([0-9.]+) ms", ran.stdout +
                                         ran.stderr)]
    weights = (art / "weights.safetensors").stat().st_size
    return {"model": model, "config": config, "compile_s": float(wall),
            "compile_peak_rss_gb": int(rss_kb) / 1e6,
            "model_so_bytes": (art / "model.so").stat().st_size,
            "weights_bytes": weights,
            "forward_ms": statistics.median(runs[1:] or runs),
            "generation": generation(build, art, positions, new_tokens)}


def decoder_layers(rows: list[dict]) -> list[dict]:
    """One decoder layer's decode time per token, from pairs of rows of the
    same shape and config at depths N < M: (t_M - t_N) / (M - N) at each
    position both ran, with the weight bytes of one layer the same way."""
    out = []
    by_key: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for r in rows:
        shape, _, depth = r["model"].partition(":")
        if depth.isdigit():
            by_key.setdefault((shape, r["config"]), []).append((int(depth), r))
    for (shape, config), found in by_key.items():
        found.sort(key=lambda x: x[0])
        for (n, a), (m, b) in zip(found, found[1:]):
            for p, ga in a["generation"].items():
                gb = b["generation"].get(p)
                if gb is None:
                    continue
                out.append({
                    "shape": shape, "config": config, "depths": f"{n}, {m}",
                    "position": p,
                    "ms": (gb["decode_ms_per_token"] -
                           ga["decode_ms_per_token"]) / (m - n),
                    "layer_bytes": (b["weights_bytes"] -
                                    a["weights_bytes"]) / (m - n)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=ROOT / "build")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-models")
    ap.add_argument("--models", default="tiny,135m")
    ap.add_argument("--configs", default="none,int8,nf4,nf4-dq")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--positions", default="16,128,512,1024",
                    help="prompt lengths for the prefill/decode figures")
    ap.add_argument("--new-tokens", type=int, default=8,
                    help="tokens generated after each prompt (decode time is "
                    "their mean)")
    ap.add_argument("--prefill-chunk", default="", metavar="C[,C...]",
                    help="the import's prefill chunk sizes (default: the "
                    "import's default)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    bw = copy_bandwidth(args.build)
    rows = []
    for model in args.models.split(","):
        for config in args.configs.split(","):
            r = bench(args.build, args.work, model, config, args.repeat,
                      [int(p) for p in args.positions.split(",")],
                      args.new_tokens, args.prefill_chunk)
            r["ideal_ms"] = r["weights_bytes"] / bw * 1e3
            rows.append(r)
    print(f"copy bandwidth (read, 2 threads): {bw / 1e9:.2f} GB/s; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| model | config | compile s | compile peak RSS GB | model.so KB | "
          "weights MB | forward ms (8 tokens) | ideal ms | ideal / forward |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['config']} | {r['compile_s']:.1f} | "
              f"{r['compile_peak_rss_gb']:.2f} | {r['model_so_bytes'] // 1024} | "
              f"{r['weights_bytes'] / 1e6:.1f} | {r['forward_ms']:.2f} | "
              f"{r['ideal_ms']:.2f} | {r['ideal_ms'] / r['forward_ms']:.2f} |")
    print()
    print("| model | config | prompt tokens | prefill tok/s | decode ms/token "
          "| decode tok/s | ideal ms/token | ideal / decode |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for p, g in r["generation"].items():
            d = g["decode_ms_per_token"]
            print(f"| {r['model']} | {r['config']} | {p} | "
                  f"{g['prefill_tok_s']:.1f} | {d:.2f} | {1e3 / d:.1f} | "
                  f"{r['ideal_ms']:.2f} | {r['ideal_ms'] / d:.2f} |")
    layers = decoder_layers(rows)
    if layers:
        print()
        print("| shape | config | depths | position | decode ms per layer | "
              "layer weights MB | ideal ms | ideal / measured |")
        print("|---|---|---|---|---|---|---|---|")
        for l in layers:
            ideal = l["layer_bytes"] / bw * 1e3
            l["ideal_ms"] = ideal
            print(f"| {l['shape']} | {l['config']} | {l['depths']} | "
                  f"{l['position']} | {l['ms']:.2f} | "
                  f"{l['layer_bytes'] / 1e6:.1f} | {ideal:.2f} | "
                  f"{ideal / l['ms']:.2f} |")
    if args.json:
        commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout
        cpu = next((l.split(":", 1)[1].strip() for l in
                    open("/proc/cpuinfo") if l.startswith("model name")), "")
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": commit.strip(), "cpu": cpu,
            "loadavg": os.getloadavg(), "copy_read_bytes_per_s": bw,
            "rows": rows, "decoder_layers": layers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
