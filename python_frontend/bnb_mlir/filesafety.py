"""What the frontend reads and writes: inputs are regular files, an output is
never one of them (compared by device and inode, not by path text), and an
existing output is replaced only if it is a regular file.

The C++ tools follow the same rules (include/bnb/Support/FileSafety.h).
"""
from __future__ import annotations

import os
import signal
import stat
from pathlib import Path
from typing import Iterable

from .errors import BnbMlirError


def _kind(mode: int) -> str:
    """'a directory', 'a FIFO', ... for a message."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular_input(path: str | os.PathLike) -> None:
    """Refuses `path` when it exists and is not a regular file (after
    following links): a FIFO or a device would hang the reader or make it
    grow without bound. A missing file passes; the reader reports it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise BnbMlirError(f"{path}: is {_kind(mode)}, not a regular file")


def checkpoint_inputs(hf_dir: str | os.PathLike) -> list[Path]:
    """The files of a checkpoint directory the importer may read (JSON and
    safetensors files), each checked with check_regular_input."""
    files = []
    directory = Path(hf_dir)
    if not directory.is_dir():
        return files
    for entry in sorted(directory.iterdir()):
        if entry.suffix in (".json", ".safetensors"):
            check_regular_input(entry)
            files.append(entry)
    return files


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(output: str | os.PathLike,
                      inputs: Iterable[str | os.PathLike]) -> None:
    """Refuses writing `output` when it is one of `inputs` (device and
    inode, through any link) or exists and is not a regular file."""
    for inp in inputs:
        if _same_file(output, inp):
            raise BnbMlirError(f"{output}: is the input file {inp}; refusing "
                               "to write over it")
    try:
        mode = os.stat(output).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise BnbMlirError(f"{output}: exists and is {_kind(mode)}; only a "
                           "regular file may be replaced")


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM or SIGHUP, so that every
    temporary output is removed on the way out (exit status 128 + signal)."""


def exit_on_termination_signals() -> None:
    """SIGTERM and SIGHUP raise Terminated instead of killing the process
    outright; signals the process was started with ignored stay ignored."""
    def handler(signum, frame):
        raise Terminated(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue
        signal.signal(sig, handler)
