#!/usr/bin/env python3
"""The fp16 baselines of bnb-gpu-bench, measured with PyTorch on the same GPU.

    python bench/gpu/cublas_baseline.py [--iters N]

Prints the device-to-device copy bandwidth (read + write bytes, 256 MiB
buffers) and the time and TFLOPS of torch.nn.functional.linear in float16
(cuBLAS, f32 accumulation) at 2048 x 4096 x 4096, the shape of the
LLM.int8() benchmark, plus the fp16 GEMV at the benchmark's 4-bit shapes for
reference. Use it where bnb-gpu-bench cannot dlopen libcuBLAS (set
BNB_CUBLAS to the library inside the torch installation to avoid it).
"""
import argparse
import sys


def timed(torch, fn, iters):
    busy_src = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    busy_dst = torch.empty_like(busy_src)
    fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    for _ in range(8):  # keep the GPU busy while the launches are enqueued
        busy_dst.copy_(busy_src)
    start.record()
    for _ in range(iters):
        fn()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("cublas_baseline.py: error: PyTorch is not installed")
    if not torch.cuda.is_available():
        print("cublas_baseline.py: no CUDA GPU to measure", file=sys.stderr)
        sys.exit(2)
    print("device:", torch.cuda.get_device_name())
    src = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = timed(torch, lambda: dst.copy_(src), max(4, args.iters // 10))
    print("device-to-device copy: %.1f GB/s (read + write bytes)" %
          (2 * src.numel() / (ms * 1e-3) / 1e9))
    m, n, k = 2048, 4096, 4096
    x = torch.randn(m, k, dtype=torch.float16, device="cuda")
    w = torch.randn(n, k, dtype=torch.float16, device="cuda")
    f = torch.nn.functional.linear
    ms = timed(torch, lambda: f(x, w), args.iters)
    print("cuBLAS f16 linear %dx%dx%d: %.2f us, %.1f TFLOPS" %
          (m, n, k, ms * 1e3, 2 * m * n * k / (ms * 1e-3) / 1e12))
    for n, k in ((4096, 4096), (11008, 4096), (4096, 11008)):
        x1 = torch.randn(1, k, dtype=torch.float16, device="cuda")
        w1 = torch.randn(n, k, dtype=torch.float16, device="cuda")
        ms = timed(torch, lambda: f(x1, w1), args.iters)
        print("cuBLAS f16 GEMV %dx%d: %.2f us, %.1f GB/s" %
              (n, k, ms * 1e3, 2 * n * k / (ms * 1e-3) / 1e9))


if __name__ == "__main__":
    main()
