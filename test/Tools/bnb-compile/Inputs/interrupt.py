"""Interrupts bnb-compile while it builds an artifact and checks what is left.

    interrupt.py SIGNAL BNB_COMPILE BNB_RUN MODEL_DIR OUTPUT [--force]

Starts bnb-compile on MODEL_DIR/model.mlir, waits until its temporary
directory exists (the compile is under way), sends SIGNAL and waits for it to
end. Then no temporary directory (NAME.tmp-XXXXXX) and no set-aside artifact
(NAME.old-XXXXXX) may remain, and OUTPUT is either absent or a complete
artifact that bnb-run runs (the compile may have finished first; with --force
over an existing artifact, OUTPUT must exist: the old one or the new one).
Prints one line saying what it found; exits 1 on any violation.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def leftovers(parent: Path, name: str) -> list[str]:
    """Temporary or set-aside directories of `name` in `parent`."""
    return sorted(p.name for p in parent.iterdir()
                  if p.name.startswith(name + ".tmp-")
                  or p.name.startswith(name + ".old-"))


def main() -> int:
    sig = getattr(signal, sys.argv[1])
    compiler, runner, model_dir, output = sys.argv[2:6]
    force = "--force" in sys.argv[6:]
    out = Path(output).resolve()
    parent, name = out.parent, out.name
    had_artifact = out.exists()
    proc = subprocess.Popen(
        [compiler, f"{model_dir}/model.mlir", "--config",
         f"{model_dir}/config.json", "-o", str(out), "--quiet"] +
        (["--force"] if force else []),
        stderr=subprocess.PIPE,
        # As at a terminal: whoever runs the test may ignore SIGINT, and a
        # tool started with a signal ignored keeps running on it.
        preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in
                            (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.startswith(name + ".tmp-") for p in leftovers(parent, name)):
            break
        time.sleep(0.002)
    time.sleep(0.05)
    sent = proc.poll() is None
    if sent:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # After a crash signal sent at a random moment, LLVM's handler may
        # deadlock printing the stack trace (it allocates); the directory
        # is removed before that handler runs, which is what is checked.
        if sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            print(f"still running 60 s after {sys.argv[1]}")
            proc.kill()
            return 1
        proc.kill()
        proc.wait()
    left = leftovers(parent, name)
    if left:
        print(f"left behind: {left}")
        return 1
    if sent and proc.returncode >= 0 and not out.exists():
        err = proc.stderr.read().decode(errors="replace").strip()
        print(f"exit status {proc.returncode} after {sys.argv[1]}, no "
              f"artifact: {err}")
        return 1
    if not out.exists():
        if had_artifact:
            print("the existing artifact is gone")
            return 1
        print("interrupted: nothing left")
        return 0
    run = subprocess.run([runner, str(out), "--input",
                          f"{model_dir}/inputs.safetensors", "--output",
                          str(parent / (name + ".out.safetensors"))],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"a partial artifact is left: {run.stderr.strip()}")
        return 1
    print("a complete artifact is left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
