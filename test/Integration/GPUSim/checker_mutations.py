# RUN: %python %s %t
# The simulator is a checker, not only an interpreter: the int8 GEMM the
# pipeline generates (3-stage cp.async pipeline, ldmatrix, mma.sync) runs
# clean, and each synchronization mistake a code generator could make in it
# is reported with the kernel, operation and thread at fault, although the
# lockstep execution alone would still compute the right product.

import re
import subprocess

import numpy as np
from simtest import *

run = Runner(workdir())
rng = np.random.default_rng(7)

m, n, k = 16, 24, 192
a = rng.integers(-127, 128, (m, k), dtype=np.int8)
b = rng.integers(-127, 128, (n, k), dtype=np.int8)
text = f"""
func.func @mm(%a: tensor<{m}x{k}xi8>, %b: tensor<{n}x{k}xi8>) -> tensor<{m}x{n}xi32> {{
  %c = bnb.int8_matmul %a, %b : tensor<{m}x{k}xi8>, tensor<{n}x{k}xi8> -> tensor<{m}x{n}xi32>
  return %c : tensor<{m}x{n}xi32>
}}
"""
module = run.lower(text)
(c,) = run.run(module, "mm", [a, b], 1)
check(np.array_equal(c, (a.astype(np.int64) @ b.astype(np.int64).T)
                     .astype(np.int32)), "int8 GEMM through the checker")
lowered = open(module).read()
check(lowered.count("nvgpu.device_async_wait") == 1 and
      lowered.count("gpu.barrier") == 1,
      "the GEMM has one wait and one barrier in its main loop")


def expect_error(name, mutated, pattern):
    path = module.replace(".mlir", "." + name + ".mlir")
    with open(path, "w") as f:
        f.write(mutated)
    args = ["bnb-gpu-sim", path, "--entry", "mm"]
    for i, x in enumerate((a, b)):
        p = path + ".arg%d.npy" % i
        np.save(p, x)
        args += ["--input", p]
    args += ["--output", path + ".out.npy"]
    res = subprocess.run(args, capture_output=True, text=True)
    check(res.returncode != 0, name + ": the simulator accepted it")
    check(re.search(pattern, res.stderr) is not None,
          name + ": unexpected error: " + res.stderr)


kernel = r"error: bnb-gpu-sim: kernel @bnb_int8_gemm\w*, block \(\d+,\d+,\d+\): "

# Without the barrier, a thread's landed copies are read by other warps'
# ldmatrix in the same phase, and new copies overwrite a stage other warps
# may still be reading.
expect_error("no-barrier", lowered.replace("gpu.barrier\n", "\n", 1),
             kernel + r"'nvgpu\.\w+': thread \(\d+,0,0\): data race")

# Allowing one more group in flight leaves the stage about to be read
# pending.
expect_error("wait-count",
             re.sub(r"(nvgpu\.device_async_wait %\w+ \{numGroups = )(\d+)",
                    lambda g: g.group(1) + str(int(g.group(2)) + 1),
                    lowered),
             kernel + r"'nvgpu\.ldmatrix': thread \(\d+,0,0\): reads byte "
             r"\d+ of workgroup buffer \d+ before the asynchronous copy to "
             r"it by thread \(\d+,0,0\) landed \(missing wait\)")

# No wait at all.
expect_error("no-wait",
             re.sub(r"nvgpu\.device_async_wait %\w+ \{numGroups = \d+ : i32\}\n",
                    "\n", lowered),
             kernel + r"'nvgpu\.ldmatrix': .*\(missing wait\)")
