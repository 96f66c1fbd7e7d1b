#!/usr/bin/env python3
"""Checks of libbnb_runtime that need the built library and MLIR 22's tools.

  library    the library's dependencies and exported symbols
  abi        every mgpu*/memref function MLIR 22 emits is exported with the
             exact LLVM signature of the declaration MLIR emits
  cpu-model  a CPU model compiled by MLIR runs against the runtime alone
  gpu-model  a GPU model compiled by MLIR links against the runtime alone and,
             without a usable GPU, fails cleanly at its first driver use
  exit-report  outstanding allocations are reported when the process exits

Each prints what it found and exits non-zero with an `error:` line on failure.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

# Libraries the runtime may depend on: the C and C++ runtimes only (the
# dynamic loader provides the thread-local storage of the microkernels'
# thread pool).
ALLOWED_NEEDED = re.compile(
    r"^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|"
    r"ld-linux-x86-64|ld-linux-aarch64|"
    # the sanitizer runtimes of scripts/test.sh --sanitize
    r"libasan|libubsan)\.so(\.\d+)*$")
FORBIDDEN = re.compile(r"libLLVM|libMLIR|libmlir|libcuda|libcudart|libnv",
                       re.IGNORECASE)
EXPORTED = re.compile(r"^(mgpu\w+|bnbrt\w+|_mlir_memref_to_llvm_\w+|memrefCopy|"
                      r"_mlir_ciface_bnbrt_uk_\w+)$")
# mgpu* functions of the cuSPARSE/cuSPARSELt wrappers, which bnb never emits.
SPARSE = re.compile(r"Sp[A-Z]|SpMat|Dn(Vec|Mat|Tensor)|Csr|Csc|Coo|Bsr|SDDMM|"
                    r"Sparse|SpGEMM|Cusparse|CuSparse|SparseEnv")
# mgpu* functions for ops bnb's pipelines never emit (thread-block cluster
# launches, TMA descriptors), so the runtime does not provide them.
NOT_EMITTED = {"mgpuLaunchClusterKernel", "mgpuTensorMapEncodeTiledMemref"}

INPUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs")

GPU_PIPELINE = ("--gpu-lower-to-nvvm-pipeline=cubin-chip={chip} "
                "cubin-features=+ptx80 cubin-format=isa")
CPU_PIPELINE = ["--expand-strided-metadata", "--convert-scf-to-cf",
                "--finalize-memref-to-llvm=use-generic-functions=true "
                "use-aligned-alloc=true",
                "--convert-to-llvm", "--reconcile-unrealized-casts"]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n"
             f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def exported_symbols(lib):
    out = run(["nm", "-D", "--defined-only", lib])
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def check_library(args):
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run(["readelf", "-d", args.lib]))
    bad = [n for n in needed if not ALLOWED_NEEDED.match(n)]
    if bad:
        fail(f"{args.lib} needs {', '.join(bad)}")
    ldd = run(["ldd", args.lib])
    if FORBIDDEN.search(ldd):
        fail(f"{args.lib} loads LLVM, MLIR or CUDA:\n{ldd}")
    symbols = exported_symbols(args.lib)
    stray = sorted(s for s in symbols if not EXPORTED.match(s))
    if stray:
        fail(f"{args.lib} exports symbols outside the ABI: {', '.join(stray)}")
    print(f"NEEDED: {', '.join(needed)}")
    print(f"exports {len(symbols)} symbols, all in the ABI")


def declarations(llvm_ir, pattern):
    """Maps name -> (return type, [parameter types]) for `declare` lines."""
    decls = {}
    for line in llvm_ir.splitlines():
        m = re.match(r"declare\s+(.*?)\s*@([\w.]+)\((.*)\)", line)
        if not m or not re.match(pattern, m.group(2)):
            continue
        # The return type is the last token before the name (attributes such
        # as noundef come first); each parameter's type is its first token.
        ret = m.group(1).split()[-1]
        params = [p.split()[0] for p in m.group(3).split(",") if p.strip()]
        decls[m.group(2)] = (ret, params)
    return decls


def mlir_declarations(args):
    """The mgpu*/memref declarations MLIR 22 emits for the Inputs."""
    translate = [args.mlir_translate, "--mlir-to-llvmir"]
    jobs = [
        ("gpu_abi_async.mlir", [GPU_PIPELINE.format(chip="sm_80")]),
        ("gpu_abi_cubin.mlir", [GPU_PIPELINE.format(chip="sm_90")]),
        ("cpu_abi.mlir", CPU_PIPELINE),
        ("cpu_abi.mlir", ["--finalize-memref-to-llvm=use-generic-functions=true",
                          "--convert-to-llvm", "--reconcile-unrealized-casts"]),
    ]
    decls = {}
    for name, passes in jobs:
        mlir = run([args.mlir_opt, os.path.join(INPUTS, name)] + passes)
        ir = run(translate, input=mlir)
        decls.update(declarations(
            ir, r"^(mgpu|_mlir_memref_to_llvm_|memrefCopy$)"))
    return decls


def header_declarations(args, names):
    """What clang makes of the runtime header's prototypes of `names`."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.c")
        with open(probe, "w") as f:
            f.write('#include "bnb_runtime_abi.h"\n')
            f.write("void *const refs[] = {\n")
            for name in sorted(names):
                f.write(f"  (void *)&{name},\n")
            f.write("};\n")
        ir = run([args.clang, "-std=c11", "-Wall", "-Werror", "-S",
                  "-emit-llvm", "-O0", "-o", "-", "-I", args.include, probe])
    return declarations(ir, r".*")


def check_abi(args):
    emitted = mlir_declarations(args)
    ours = header_declarations(args, emitted)
    exported = exported_symbols(args.lib)
    problems = []
    for name, signature in sorted(emitted.items()):
        if name not in exported:
            problems.append(f"{name} is not exported by {args.lib}")
        elif ours.get(name) != signature:
            problems.append(f"{name}: MLIR declares {signature}, the header "
                            f"gives {ours.get(name)}")
    # Every non-sparse mgpu* function libMLIR knows must have been covered by
    # the inputs, so a new emitter in a later 22.x is noticed here.
    with open(args.libmlir, "rb") as f:
        known = {s.decode() for s in re.findall(rb"\bmgpu[A-Za-z0-9]+\b",
                                                f.read())}
    for name in sorted(known):
        if SPARSE.search(name) or name in NOT_EMITTED:
            continue
        if name not in emitted:
            problems.append(f"{name} is referenced by libMLIR but no input "
                            "makes MLIR emit it")
        if name not in exported:
            problems.append(f"{name} is referenced by libMLIR but not exported")
    if problems:
        fail("\n".join(problems))
    for name, (ret, params) in sorted(emitted.items()):
        print(f"declare {ret} @{name}({', '.join(params)})")
    print(f"{len(emitted)} declarations match the runtime")


def build_model(args, mlir_name, passes, main_name, tmp):
    obj = os.path.join(tmp, "model.o")
    exe = os.path.join(tmp, "model")
    mlir = run([args.mlir_opt, os.path.join(INPUTS, mlir_name)] + passes)
    ir = run([args.mlir_translate, "--mlir-to-llvmir"], input=mlir)
    run([args.llc, "-O2", "-relocation-model=pic", "-filetype=obj", "-o",
         obj], input=ir)
    libdir = os.path.dirname(os.path.abspath(args.lib))
    run([args.cc, "-I", args.include, os.path.join(INPUTS, main_name), obj,
         "-L", libdir, "-lbnb_runtime", f"-Wl,-rpath,{libdir}", "-o", exe])
    ldd = run(["ldd", exe])
    if re.search(r"libLLVM|libMLIR|libmlir", ldd):
        fail(f"the model program loads LLVM or MLIR:\n{ldd}")
    return exe


def run_model(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n"
             f"{proc.stdout}{proc.stderr}")


def check_cpu_model(args):
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_model(args, "cpu_model.mlir", CPU_PIPELINE,
                          "cpu_model_main.c", tmp)
        run_model([exe])


def check_gpu_model(args):
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_model(args, "gpu_model.mlir",
                          [GPU_PIPELINE.format(chip="sm_80")],
                          "gpu_model_main.c", tmp)
        # Whatever this machine has: a GPU runs it, no GPU fails cleanly.
        run_model([exe])
        # No driver at all, forced.
        env = dict(os.environ, BNB_CUDA_DRIVER="/nonexistent/libcuda.so.1")
        run_model([exe, "--expect-no-cuda"], env=env)


def check_exit_report(args):
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "leak")
        libdir = os.path.dirname(os.path.abspath(args.lib))
        run([args.cc, "-I", args.include, os.path.join(INPUTS, "leak_main.c"),
             "-L", libdir, "-lbnb_runtime", f"-Wl,-rpath,{libdir}", "-o", exe])
        env = dict(os.environ)
        env.pop("BNB_RT_NO_LEAK_REPORT", None)
        proc = subprocess.run([exe], capture_output=True, text=True, env=env)
        want = ("bnb runtime: 1 outstanding allocation(s), 4096 bytes\n"
                "  host kv-cache: 1 block(s), 4096 bytes\n")
        if proc.returncode != 0 or proc.stderr != want:
            fail(f"exit report: status {proc.returncode}, stderr:\n"
                 f"{proc.stderr}expected:\n{want}")
        print(proc.stderr, end="")
        env["BNB_RT_NO_LEAK_REPORT"] = "1"
        proc = subprocess.run([exe], capture_output=True, text=True, env=env)
        if proc.returncode != 0 or proc.stderr:
            fail(f"BNB_RT_NO_LEAK_REPORT=1 still printed:\n{proc.stderr}")
        print("BNB_RT_NO_LEAK_REPORT=1 silences it")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check",
                        choices=["library", "abi", "cpu-model", "gpu-model",
                                 "exit-report"])
    parser.add_argument("--lib", required=True, help="libbnb_runtime.so")
    parser.add_argument("--include", help="runtime/include")
    parser.add_argument("--mlir-opt")
    parser.add_argument("--mlir-translate")
    parser.add_argument("--llc")
    parser.add_argument("--clang")
    parser.add_argument("--cc", help="C compiler that links the test programs")
    parser.add_argument("--libmlir", help="libMLIR.so of the MLIR install")
    args = parser.parse_args()
    {"library": check_library, "abi": check_abi, "cpu-model": check_cpu_model,
     "gpu-model": check_gpu_model,
     "exit-report": check_exit_report}[args.check](args)


if __name__ == "__main__":
    main()
