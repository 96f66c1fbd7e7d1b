"""Shared fixtures: the bundled example checkpoint, built once per session."""
import pathlib
import sys

import pytest

# Importable without PYTHONPATH too (scripts/test.sh sets it).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from helpers import make_example  # noqa: E402


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory):
    """examples/tiny-llama/make_model.py output (read-only for tests)."""
    return make_example(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def example_ids(example_dir):
    from safetensors.numpy import load_file
    return load_file(str(example_dir / "input_ids.safetensors"))["input_ids"]
