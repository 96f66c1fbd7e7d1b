"""Atomic file output: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import BnbMlirError


def temp_path_for(path: str | os.PathLike) -> Path:
    """A temporary name in the target's directory (same file system)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` so that `path` is either complete or untouched."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BnbMlirError(f"{path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
