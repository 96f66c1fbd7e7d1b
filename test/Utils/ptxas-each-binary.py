#!/usr/bin/env python3
# Assembles the PTX of every gpu.binary of an MLIR module with ptxas, one
# binary at a time (a module whose host code launches outlined kernels holds
# one binary per kernel, and ptxas takes one PTX module per run). Prints the
# number of binaries assembled; exits non-zero at the first ptxas error.
#
#   ptxas-each-binary.py PTXAS ARCH lowered.mlir

import importlib.util
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "dump_gpu_binary", os.path.join(here, "dump-gpu-binary.py"))
dump = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dump)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: ptxas-each-binary.py PTXAS ARCH MODULE")
    ptxas, arch, module = sys.argv[1:]
    text = open(module).read()
    starts = [(m.start(), m.group(1)) for m in dump.BINARY.finditer(text)]
    if not starts:
        sys.exit("error: no gpu.binary in " + module)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (start, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            ptx = b"".join(dump.unescape(p)
                           for p in dump.object_payloads(text, start, end))
            path = os.path.join(tmp, "%d.ptx" % i)
            with open(path, "wb") as f:
                f.write(ptx)
            r = subprocess.run([ptxas, "-arch=" + arch, path, "-o",
                                path + ".cubin"], capture_output=True,
                               text=True)
            if r.returncode != 0:
                sys.exit("error: ptxas failed on gpu.binary @%s:\n%s" %
                         (name, r.stderr))
    print("assembled %d binaries for %s" % (len(starts), arch))


if __name__ == "__main__":
    main()
