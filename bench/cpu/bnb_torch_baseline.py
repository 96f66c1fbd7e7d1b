#!/usr/bin/env python3
"""CPU baseline: bitsandbytes 0.50's own CPU path and torch's CPU linears.

How to run
----------
This script needs torch and bitsandbytes, which the bnb-mlir test suite never
does, so it lives in its own virtual environment::

    bench/cpu/setup_baseline_venv.sh                 # once; ~5.5 GB, ~1 min
    bench/.venv-baseline/bin/python bench/cpu/bnb_torch_baseline.py \\
        --threads 2 --json out/bnb_torch_baseline.json

It prints a markdown table (median ms of >= --runs timed calls after
--warmup calls, weight-bytes GB/s, that as a fraction of a 256 MiB
``dst.copy_(src)`` read bandwidth measured in the same run, and GFLOP/s for
M > 1) and, with ``--json``, writes the same rows plus torch/bitsandbytes
versions, threads, load average, date and CPU model. Run it on an idle
machine; the load average is recorded so noisy runs can be spotted.
``--quick`` runs only the (4096, 4096) M=1 case, for a smoke test; ``--rows 1``
only the batch-1 shapes.

What runs
---------
* bnb NF4 / NF4+DQ: ``bnb.nn.Linear4bit(K, N, bias=False,
  compute_dtype=bf16, quant_type='nf4', compress_statistics=...)`` holding a
  random bf16 weight; ``.to('cpu')`` quantizes it (``Params4bit._quantize`` ->
  ``bnb.functional.quantize_4bit``). In eval mode on a CPU with AVX512-BF16,
  the first forward repacks the weight (``_convert_weight_packed_for_cpu``:
  [N, K/2] nibble-interleaved blocks of 32 rows, absmax dequantized -- so
  double quant is undone -- and stored as bf16 [K/64, N]) and every forward
  then calls ``torch.ops.bitsandbytes.gemv_4bit`` -> native
  ``gemv_4bit_inference_cpu_nf4_bf16`` (for any M), unless the optional
  ``kernels`` package supplies ``gemm_4bit_forward``. Without AVX512-BF16 it
  falls back to dequantize + matmul. The ops and native symbols that
  actually ran are recorded per case ("path"). ``bnb_nf4_f32`` and
  ``bnb_nf4_dq_f32`` are the same with compute_dtype float32 (bitsandbytes'
  default) and float32 x.
* bnb int8: ``bnb.nn.Linear8bitLt(K, N, bias=False, has_fp16_weights=False,
  threshold=6.0)``, ``.to('cpu')`` quantizes (``int8_vectorwise_quant``),
  fp16 input; forward = ``MatMul8bitLt`` (int8 row quant of x with outlier
  columns, ``int8_linear_matmul`` = ``torch._int_mm`` with AVX-512,
  dequant, fp16 outlier matmul).
* torch ``F.linear`` in bf16, fp16 and fp32.

Weight bytes (GB/s column) are the bytes of the weight tensors the kernel
reads at run time: NF4 = N*K/2 + absmax bytes (bf16 absmax after bnb's CPU
repack; the at-rest size is in the JSON as ``weight_bytes_at_rest``),
int8 = N*K (+ fp32 row scales), bf16/fp16 = 2*N*K, fp32 = 4*N*K.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
import warnings

# Quiet the profiler (used once per case to record the path that ran).
os.environ.setdefault("KINETO_LOG_LEVEL", "5")

import torch
import torch.nn.functional as F

SHAPES = [  # (M, N, K)
    (1, 4096, 4096),
    (1, 11008, 4096),
    (1, 4096, 11008),
    (128, 11008, 4096),
    (512, 11008, 4096),
]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _llc():
    try:
        base = "/sys/devices/system/cpu/cpu0/cache"
        best = None
        for d in sorted(os.listdir(base)):
            if d.startswith("index"):
                with open(f"{base}/{d}/level") as f:
                    lvl = int(f.read())
                with open(f"{base}/{d}/size") as f:
                    size = f.read().strip()
                if best is None or lvl > best[0]:
                    best = (lvl, size)
        return f"L{best[0]} {best[1]}" if best else "unknown"
    except OSError:
        return "unknown"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    fl = line.split(":", 1)[1].split()
                    keep = ("avx2", "avx512", "amx", "avx_vnni", "fma")
                    return sorted({x for x in fl if x.startswith(keep)})
    except OSError:
        pass
    return []


_FLUSH = None  # callable run before each timed call when --flush is given


def time_fn(fn, warmup, runs, flush=None):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        if flush is not None:
            flush()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


# ---------------------------------------------------------------- tracing ---
_KEY_ATEN = ("aten::_int_mm", "aten::mm", "aten::addmm", "aten::matmul", "aten::linear",
             "aten::_weight_int8pack_mm", "aten::_weight_int4pack_mm")


def _profiled_ops(prof):
    """bitsandbytes::* ops and the key aten matmul ops, in first-seen order."""
    seen = []
    for e in prof.events():
        n = e.name
        if (n.startswith("bitsandbytes::") or n in _KEY_ATEN) and n not in seen:
            seen.append(n)
    return seen


class _LibProxy:
    """Wraps bitsandbytes' ctypes lib and records which native symbols run."""

    def __init__(self, lib, log):
        object.__setattr__(self, "_lib", lib)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name):
        attr = getattr(self._lib, name)
        if callable(attr):
            def call(*a, **k):
                if name not in self._log:
                    self._log.append(name)
                return attr(*a, **k)
            return call
        return attr


@contextlib.contextmanager
def trace_bnb():
    """Yields a dict filled with the bnb ops and native symbols that ran."""
    import bitsandbytes.functional as bf
    mods = [bf]
    try:
        import bitsandbytes.backends.cpu.ops as cpu_ops
        mods.append(cpu_ops)
    except Exception:
        pass
    native = []
    saved = [(m, m.lib) for m in mods if hasattr(m, "lib")]
    for m, lib in saved:
        m.lib = _LibProxy(lib, native)
    out = {"ops": [], "native": native}
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            yield out
    finally:
        for m, lib in saved:
            m.lib = lib
    out["ops"].extend(_profiled_ops(prof))


def describe_path(tr):
    parts = [o.replace("bitsandbytes::", "bnb::") for o in tr["ops"]]
    if tr["native"]:
        parts.append("native " + "+".join(tr["native"]))
    return ", ".join(parts) if parts else "?"


# ------------------------------------------------------------------ cases ---
def build_bnb_4bit(N, K, double_quant, gen, compute_dtype=torch.bfloat16):
    import bitsandbytes as bnb
    w = torch.randn(N, K, generator=gen, dtype=torch.float32).mul_(0.02).to(torch.bfloat16)
    lin = bnb.nn.Linear4bit(K, N, bias=False, compute_dtype=compute_dtype,
                            quant_type="nf4", compress_statistics=double_quant)
    lin.weight = bnb.nn.Params4bit(w, requires_grad=False, quant_type="nf4",
                                   compress_statistics=double_quant, module=lin)
    lin = lin.to("cpu")  # Params4bit.to -> _quantize -> quantize_4bit on CPU
    lin.eval()
    wt = lin.weight
    if not getattr(wt, "bnb_quantized", False) or wt.data.dtype != torch.uint8:
        raise RuntimeError(f"weight not quantized (dtype {wt.data.dtype})")
    qs = wt.quant_state
    at_rest = wt.data.numel() * wt.data.element_size() + qs.absmax.numel() * qs.absmax.element_size()
    if qs.nested:
        at_rest += qs.state2.absmax.numel() * qs.state2.absmax.element_size() + qs.state2.code.numel() * 4
    if qs.nested != double_quant:
        raise RuntimeError("compress_statistics did not take effect")

    def runtime_bytes():
        q = lin.weight.quant_state
        b = lin.weight.data.numel() * lin.weight.data.element_size()
        b += q.absmax.numel() * q.absmax.element_size()
        if q.nested:
            b += q.state2.absmax.numel() * q.state2.absmax.element_size()
        return b

    return lin, at_rest, runtime_bytes


def build_bnb_int8(N, K, gen):
    import bitsandbytes as bnb
    w = torch.randn(N, K, generator=gen, dtype=torch.float32).mul_(0.02).to(torch.float16)
    lin = bnb.nn.Linear8bitLt(K, N, bias=False, has_fp16_weights=False, threshold=6.0)
    lin.weight = bnb.nn.Int8Params(w, requires_grad=False, has_fp16_weights=False)
    lin = lin.to("cpu")  # Int8Params.to -> _quantize -> int8_vectorwise_quant
    lin.eval()
    if lin.weight.data.dtype != torch.int8 or lin.weight.SCB is None:
        raise RuntimeError(f"weight not quantized (dtype {lin.weight.data.dtype})")
    nbytes = lin.weight.data.numel() + lin.weight.SCB.numel() * lin.weight.SCB.element_size()
    return lin, nbytes


def run_case(kind, M, N, K, args, gen):
    """Returns a result dict for one (kind, shape)."""
    row = {"kind": kind, "M": M, "N": N, "K": K}
    lin = None
    try:
        if kind in ("bnb_nf4", "bnb_nf4_dq", "bnb_nf4_f32", "bnb_nf4_dq_f32"):
            # *_f32: bitsandbytes' default compute dtype, float32 x.
            dt = torch.float32 if kind.endswith("_f32") else torch.bfloat16
            lin, at_rest, runtime_bytes = build_bnb_4bit(
                N, K, kind.startswith("bnb_nf4_dq"), gen, dt)
            x = torch.randn(M, K, generator=gen).to(dt)
            fn = lambda: lin(x)
            row["weight_bytes_at_rest"] = at_rest
        elif kind == "bnb_int8":
            lin, nbytes = build_bnb_int8(N, K, gen)
            x = torch.randn(M, K, generator=gen).to(torch.float16)
            fn = lambda: lin(x)
            row["weight_bytes"] = row["weight_bytes_at_rest"] = nbytes
        else:
            dt = {"torch_bf16": torch.bfloat16, "torch_fp16": torch.float16,
                  "torch_fp32": torch.float32}[kind]
            w = torch.randn(N, K, generator=gen).mul_(0.02).to(dt)
            x = torch.randn(M, K, generator=gen).to(dt)
            fn = lambda: F.linear(x, w)
            row["weight_bytes"] = row["weight_bytes_at_rest"] = w.numel() * w.element_size()

        with torch.no_grad():
            # First call: bnb repacks for its CPU kernel here; trace it and the
            # second call (steady state) to report the path that is timed.
            y = fn()
            with trace_bnb() as tr:
                y = fn()
            if y.shape != (M, N) or not torch.isfinite(y.float()).all():
                raise RuntimeError(f"bad output {tuple(y.shape)} / non-finite")
            row["path"] = describe_path(tr)
            if kind.startswith("bnb_nf4"):
                row["weight_bytes"] = runtime_bytes()
                qs = lin.weight.quant_state
                row["packing_format_for_cpu"] = bool(getattr(qs, "packing_format_for_cpu", False))
            med, mn = time_fn(fn, args.warmup, args.runs, _FLUSH)
        row["ms"] = med * 1e3
        row["ms_min"] = mn * 1e3
        row["weight_GBps"] = row["weight_bytes"] / med / 1e9
        if M > 1:
            row["GFLOPs"] = 2.0 * M * N * K / med / 1e9
    except Exception as e:  # unsupported in this bnb version / on this CPU
        msg = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        row["unsupported"] = msg
    finally:
        del lin
    return row


def copy_bandwidth(args):
    n = 256 << 20
    src = torch.empty(n, dtype=torch.uint8).random_(0, 255)
    dst = torch.empty_like(src)
    med, mn = time_fn(lambda: dst.copy_(src), 3, max(args.runs, 20))
    if args.flush:
        # Evict the weights from the (large, shared) LLC before each timed call:
        # touch 2 x 256 MiB. Off by default (hot-cache numbers, like a loop
        # over one layer); with it, numbers approach DRAM-bound behaviour.
        global _FLUSH
        _FLUSH = lambda: dst.copy_(src)
    else:
        del src, dst
    return {"bytes": n, "ms": med * 1e3, "ms_min": mn * 1e3,
            "read_GBps": n / med / 1e9}


# ----------------------------------------------------------------- output ---
def fmt_table(rows, copy_bw):
    head = ("| kind | M | N | K | ms (median) | ms (min) | weight MB | weight GB/s | "
            "frac of copy BW | GFLOP/s | path |")
    out = [head, "|" + "---|" * 11]
    for r in rows:
        if "unsupported" in r:
            out.append(f"| {r['kind']} | {r['M']} | {r['N']} | {r['K']} | "
                       f"unsupported: {r['unsupported']} | | | | | | |")
            continue
        gf = f"{r['GFLOPs']:.1f}" if "GFLOPs" in r else ""
        out.append(
            f"| {r['kind']} | {r['M']} | {r['N']} | {r['K']} | {r['ms']:.3f} | {r['ms_min']:.3f} | "
            f"{r['weight_bytes'] / 1e6:.1f} | {r['weight_GBps']:.2f} | "
            f"{r['weight_GBps'] / copy_bw['read_GBps']:.2f} | {gf} | {r['path']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20, help="timed runs per case (>= 20)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", metavar="PATH", help="also write results as JSON")
    ap.add_argument("--flush", action="store_true",
                    help="touch 512 MiB before each timed call (cold LLC)")
    ap.add_argument("--quick", action="store_true", help="only (M,N,K)=(1,4096,4096)")
    ap.add_argument("--rows", metavar="M[,M...]",
                    help="only the shapes with these M (e.g. 1 for batch 1)")
    ap.add_argument("--kinds", default="bnb_nf4,bnb_nf4_dq,bnb_int8,torch_bf16,torch_fp16,torch_fp32")
    args = ap.parse_args()
    args.runs = max(args.runs, 20)

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import logging
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import bitsandbytes as bnb
    import bitsandbytes.functional as bf

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "bitsandbytes": bnb.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bnb_has_avx512bf16": bool(bf.has_avx512bf16()),
        "loadavg_start": os.getloadavg(),
        "runs": args.runs,
        "flush": args.flush,
        "llc": _llc(),
        "warmup": args.warmup,
    }
    print(f"# torch {meta['torch']}, bitsandbytes {meta['bitsandbytes']}, "
          f"threads {meta['threads']}, CPU {meta['cpu_model']} "
          f"({meta['torch_cpu_capability']}, bnb avx512bf16={meta['bnb_has_avx512bf16']}), "
          f"loadavg {meta['loadavg_start']}", file=sys.stderr, flush=True)

    copy_bw = copy_bandwidth(args)
    print(f"# copy bandwidth (256 MiB dst.copy_(src)): {copy_bw['read_GBps']:.2f} GB/s read",
          file=sys.stderr, flush=True)

    shapes = SHAPES[:1] if args.quick else SHAPES
    if args.rows:
        wanted = {int(m) for m in args.rows.split(",")}
        shapes = [s for s in shapes if s[0] in wanted]
    kinds = [k for k in args.kinds.split(",") if k]
    gen = torch.Generator().manual_seed(0)
    rows = []
    for (M, N, K) in shapes:
        for kind in kinds:
            r = run_case(kind, M, N, K, args, gen)
            if "weight_GBps" in r:
                r["frac_copy_bw"] = r["weight_GBps"] / copy_bw["read_GBps"]
            rows.append(r)
            msg = r.get("unsupported") or f"{r['ms']:.3f} ms  {r['path']}"
            print(f"# {kind:11s} M={M:<4d} N={N:<6d} K={K:<6d} {msg}", file=sys.stderr, flush=True)

    meta["loadavg_end"] = os.getloadavg()
    table = fmt_table(rows, copy_bw)
    print(f"\ntorch {meta['torch']}, bitsandbytes {meta['bitsandbytes']}, threads {meta['threads']}, "
          f"{meta['cpu_model']} ({meta['llc']}), flush={args.flush}")
    print(f"copy bandwidth: {copy_bw['read_GBps']:.2f} GB/s (256 MiB read, median)  "
          f"loadavg start {meta['loadavg_start']} end {meta['loadavg_end']}\n")
    print(table)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "copy_bandwidth": copy_bw, "results": rows,
                       "table_markdown": table}, f, indent=2)
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
