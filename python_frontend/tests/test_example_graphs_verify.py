"""The bundled examples parse and verify with bnb-opt."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))


def test_contract_example_verifies():
    example = ROOT / "examples" / "contract" / "up_proj.mlir"
    out = subprocess.run([str(BUILD / "bin" / "bnb-opt"), str(example)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "@model.layers.0.mlp.up_proj.weight(" in out.stdout
    assert "load_in_4bit = true" in out.stdout
