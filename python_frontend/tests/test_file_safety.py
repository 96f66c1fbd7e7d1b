"""`python -m bnb_mlir import` never writes over one of its inputs (by device
and inode), never replaces an output that is not a regular file, refuses
checkpoint files that are not regular files, and leaves no temporary behind
when it is terminated."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYTHONPATH = str(Path(__file__).resolve().parents[1])


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m bnb_mlir ARGS`, capturing its output."""
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    return subprocess.run([sys.executable, "-m", "bnb_mlir", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)


def digests(directory: Path) -> dict[str, str]:
    """sha256 of every regular file under `directory`."""
    return {str(p.relative_to(directory)):
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()
            and not p.is_symlink()}


@pytest.fixture
def ckpt(example_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the example checkpoint."""
    copy = tmp_path / "ckpt"
    shutil.copytree(example_dir, copy)
    return copy


def assert_one_line_error(result: subprocess.CompletedProcess,
                          message: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines[0]


def no_temporaries(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("target", ["config.json", "model.safetensors"])
def test_output_is_a_checkpoint_file(ckpt: Path, tmp_path: Path,
                                     target: str) -> None:
    before = digests(ckpt)
    result = cli("import", str(ckpt), "-o", str(ckpt / target))
    assert_one_line_error(result, f"is the input file {ckpt / target}")
    assert digests(ckpt) == before
    assert no_temporaries(tmp_path)


def test_output_links_to_a_checkpoint_file(ckpt: Path, tmp_path: Path) -> None:
    before = digests(ckpt)
    (tmp_path / "soft.mlir").symlink_to(ckpt / "config.json")
    os.link(ckpt / "config.json", tmp_path / "hard.mlir")
    for name in ("soft.mlir", "hard.mlir"):
        result = cli("import", str(ckpt), "-o", str(tmp_path / name))
        assert_one_line_error(result, "is the input file")
    assert digests(ckpt) == before
    assert (tmp_path / "soft.mlir").is_symlink()
    assert no_temporaries(tmp_path)


def test_output_that_is_not_a_regular_file(ckpt: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.mlir")
    (tmp_path / "dir.mlir").mkdir()
    (tmp_path / "null.mlir").symlink_to("/dev/null")
    for name, kind in (("fifo.mlir", "a FIFO"), ("dir.mlir", "a directory"),
                       ("null.mlir", "a character device")):
        result = cli("import", str(ckpt), "-o", str(tmp_path / name))
        assert_one_line_error(result, f"exists and is {kind}; only a regular "
                                      "file may be replaced")
    assert (tmp_path / "fifo.mlir").is_fifo()
    assert (tmp_path / "dir.mlir").is_dir()
    assert (tmp_path / "null.mlir").is_symlink()
    assert no_temporaries(tmp_path)


def test_checkpoint_file_that_is_not_a_regular_file(ckpt: Path,
                                                    tmp_path: Path) -> None:
    (ckpt / "config.json").unlink()
    os.mkfifo(ckpt / "config.json")
    result = cli("import", str(ckpt), "-o", str(tmp_path / "m.mlir"))
    assert_one_line_error(result, "config.json: is a FIFO, not a regular file")
    assert not (tmp_path / "m.mlir").exists()


def test_terminated_writer_leaves_no_temporary(tmp_path: Path) -> None:
    """SIGTERM while a weights file is being written: exit status 143, no
    output and no temporary."""
    script = textwrap.dedent("""
        import sys, time
        import numpy as np
        from bnb_mlir.filesafety import exit_on_termination_signals
        from bnb_mlir.safetensors_io import TensorToWrite, write_safetensors

        def slow():
            print("ready", flush=True)
            time.sleep(60)
            return np.zeros(4, np.float32)

        exit_on_termination_signals()
        write_safetensors(sys.argv[1], [TensorToWrite("w", "F32", (4,), slow)])
    """)
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    out = tmp_path / "w.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    assert list(tmp_path.iterdir()), "the temporary exists while writing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
