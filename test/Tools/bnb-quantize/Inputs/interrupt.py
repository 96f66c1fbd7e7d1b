"""Interrupts bnb-quantize while it writes its output and checks what is left.

    interrupt.py SIGNAL BNB_QUANTIZE INPUT CONFIG OUTPUT

Starts bnb-quantize, waits until its temporary file (.NAME.tmp-XXXXXXXX
beside OUTPUT) exists, sends SIGNAL and waits for the process to end. No
temporary may remain, and OUTPUT is either absent or complete (the run may
have finished first: its exit status is then 0). Prints one line; exits 1
on any violation.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def temporaries(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.tmp-"))


def main() -> int:
    sig = getattr(signal, sys.argv[1])
    tool, inp, config, output = sys.argv[2:6]
    out = Path(output).resolve()
    proc = subprocess.Popen(
        [tool, inp, "--config", config, "-o", str(out), "--quiet"],
        stderr=subprocess.PIPE,
        preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in
                            (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None \
            and not temporaries(out):
        time.sleep(0.001)
    sent = proc.poll() is None
    if sent:
        proc.send_signal(sig)
    status = proc.wait(timeout=120)
    left = temporaries(out)
    if left:
        print(f"left behind: {left}")
        return 1
    if status == -sig:
        if out.exists():
            print("killed, yet an output exists")
            return 1
        print("interrupted: nothing left")
        return 0
    if status == 0 and out.exists():
        print("finished before the signal")
        return 0
    print(f"exit status {status}: {proc.stderr.read().decode().strip()}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
