"""python -m bnb_mlir: commands, one-line errors with exit status 1, no
partial outputs, and the bnb-compile invocation DESIGN.md fixes."""
import json
import os
import pathlib
import stat
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from bnb_mlir import BitsAndBytesConfig
from helpers import ROOT, bnb_opt, llama_checkpoint, shard_checkpoint


def cli(*args, env=None, cwd=None):
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT / "python_frontend")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bnb_mlir",
                           *[str(a) for a in args]], capture_output=True,
                          text=True, env=full_env, cwd=cwd)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize("command", ["", "import", "compile", "config",
                                     "reference", "compare"])
def test_help(command):
    result = cli(*([command] if command else []), "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_import_writes_the_graph(example_dir, tmp_path):
    out = tmp_path / "model.mlir"
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(quant)
    result = cli("import", example_dir, "-o", out, "--seq", 4, "--config",
                 quant)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "tensor<1x4xi64>" in text and "load_in_8bit = true" in text
    assert bnb_opt(text).returncode == 0


def test_import_inline_weights(example_dir, tmp_path):
    out = tmp_path / "inline.mlir"
    result = cli("import", example_dir, "-o", out, "--inline-weights",
                 "--dtype", "float32")
    assert result.returncode == 0, result.stderr
    assert "ml_program" not in out.read_text()


def test_import_errors_leave_no_output(tmp_path):
    ckpt = llama_checkpoint(tmp_path / "m", drop=["model.norm.weight"])
    out = tmp_path / "out"
    out.mkdir()
    assert_one_line_error(cli("import", ckpt, "-o", out / "m.mlir"),
                          "missing tensor 'model.norm.weight'")
    assert list(out.iterdir()) == []
    assert_one_line_error(cli("import", ckpt), "-o/--output")
    assert_one_line_error(cli("import", ckpt, "-o", out / "m.mlir",
                              "--dtype", "float8"), "invalid choice")
    assert_one_line_error(cli("frobnicate"), "invalid choice")
    assert list(out.iterdir()) == []


def test_config_command(tmp_path):
    out = tmp_path / "q.json"
    result = cli("config", "--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                 "--bnb-4bit-use-double-quant", "--bnb-4bit-compute-dtype",
                 "bfloat16", "--llm-int8-skip-modules", "lm_head,model.norm",
                 "-o", out)
    assert result.returncode == 0, result.stderr
    config = BitsAndBytesConfig.from_json_file(out)
    assert config == BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype="bfloat16",
        llm_int8_skip_modules=["lm_head", "model.norm"])
    assert json.loads(out.read_text())["quant_method"] == "bitsandbytes"

    empty = tmp_path / "e.json"
    assert cli("config", "--load-in-8bit", "--llm-int8-skip-modules", "",
               "-o", empty).returncode == 0
    assert BitsAndBytesConfig.from_json_file(empty).llm_int8_skip_modules \
        == []


def test_config_errors(tmp_path):
    out = tmp_path / "q.json"
    assert_one_line_error(cli("config", "--load-in-4bit", "--load-in-8bit",
                              "-o", out), "both True")
    assert_one_line_error(cli("config", "--llm-int8-threshold", "-2", "-o",
                              out), "llm_int8_threshold must be a float >= 0")
    assert_one_line_error(cli("config", "--bnb-4bit-quant-type", "int4",
                              "-o", out), "invalid choice")
    assert not out.exists()


FAKE_COMPILER = """\
#!{python}
# Stands in for bnb-compile: records its arguments and what it was given.
import json, os, sys
args = sys.argv[1:]
if os.environ.get("FAKE_FAIL"):
    print("error: model.mlir:3: unsupported op", file=sys.stderr)
    sys.exit(1)
model, weights = args[0], args[args.index("--weights") + 1]
config = args[args.index("--config") + 1]
out = args[args.index("-o") + 1]
record = {{"args": args, "model": open(model).read(),
          "config": json.load(open(config)),
          "weights_exists": os.path.isfile(weights)}}
os.makedirs(out)
json.dump(record, open(os.path.join(out, "record.json"), "w"))
"""


@pytest.fixture
def fake_build(tmp_path):
    build = tmp_path / "fakebuild"
    (build / "bin").mkdir(parents=True)
    tool = build / "bin" / "bnb-compile"
    tool.write_text(FAKE_COMPILER.format(python=sys.executable))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return build


def test_compile_drives_bnb_compile(example_dir, fake_build, tmp_path):
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_4bit=True,
                       bnb_4bit_quant_type="nf4").to_json_file(quant)
    out = tmp_path / "tiny.bnb"
    keep = tmp_path / "kept.mlir"
    result = cli("compile", example_dir, "--config", quant, "--target",
                 "cuda:sm_90", "-o", out, "--keep-mlir", keep,
                 env={"BNB_BUILD_DIR": str(fake_build)})
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "record.json").read_text())
    args = record["args"]
    assert args[0].endswith("model.mlir")
    assert args[1:] == ["--weights", args[2], "--config", args[4],
                        "--target", "cuda:sm_90", "-o", str(out)]
    assert pathlib.Path(args[2]) == (example_dir / "model.safetensors") \
        .resolve()
    assert "func.func @forward" in record["model"]
    assert record["model"] == keep.read_text()
    assert BitsAndBytesConfig.from_dict(record["config"]) == \
        BitsAndBytesConfig.from_json_file(quant)
    assert record["weights_exists"]
    # The temporary import directory is gone.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bnb")]


def test_compile_passes_with_cpu(example_dir, fake_build, tmp_path):
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(quant)
    out = tmp_path / "both.bnb"
    result = cli("compile", example_dir, "--config", quant, "--target",
                 "cuda:sm_80", "--with-cpu", "-o", out,
                 env={"BNB_BUILD_DIR": str(fake_build)})
    assert result.returncode == 0, result.stderr
    args = json.loads((out / "record.json").read_text())["args"]
    assert args[5:] == ["--target", "cuda:sm_80", "-o", str(out),
                        "--with-cpu"]


def test_compile_passes_compute_dtype(example_dir, fake_build, tmp_path):
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_4bit=True).to_json_file(quant)
    out = tmp_path / "bf16.bnb"
    result = cli("compile", example_dir, "--config", quant, "--target",
                 "cpu", "--bnb-4bit-compute-dtype", "bfloat16", "-o", out,
                 env={"BNB_BUILD_DIR": str(fake_build)})
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "record.json").read_text())
    assert record["args"][5:] == ["--target", "cpu", "-o", str(out),
                                  "--bnb-4bit-compute-dtype", "bfloat16"]
    # The config itself is passed on unchanged.
    assert record["config"]["bnb_4bit_compute_dtype"] == "float32"
    assert_one_line_error(
        cli("compile", example_dir, "--config", quant, "--target", "cpu",
            "--bnb-4bit-compute-dtype", "float64", "-o", tmp_path / "x.bnb",
            env={"BNB_BUILD_DIR": str(fake_build)}), "invalid choice")


def test_compile_reads_shards_in_place(example_dir, fake_build, tmp_path):
    sharded = shard_checkpoint(example_dir, tmp_path / "sharded")
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(quant)
    out = tmp_path / "s.bnb"
    result = cli("compile", sharded, "--config", quant, "--target", "cpu",
                 "-o", out, env={"BNB_BUILD_DIR": str(fake_build)})
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "record.json").read_text())
    assert record["weights_exists"]
    assert pathlib.Path(record["args"][2]) == (
        sharded / "model.safetensors.index.json").resolve()
    assert not list(tmp_path.glob("*.weights.safetensors"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bnb")]


def test_compile_errors(example_dir, fake_build, tmp_path):
    quant = tmp_path / "quant.json"
    BitsAndBytesConfig(load_in_8bit=True).to_json_file(quant)
    out = tmp_path / "x.bnb"
    empty = tmp_path / "nobuild"
    (empty / "bin").mkdir(parents=True)
    assert_one_line_error(
        cli("compile", example_dir, "--config", quant, "--target", "cpu",
            "-o", out, env={"BNB_BUILD_DIR": str(empty), "PATH": "/usr/bin"}),
        "bnb-compile not found")
    assert_one_line_error(
        cli("compile", example_dir, "--config", quant, "--target", "cpu",
            "-o", out, env={"BNB_BUILD_DIR": str(fake_build),
                            "FAKE_FAIL": "1"}),
        "bnb-compile failed: error: model.mlir:3: unsupported op")
    assert_one_line_error(
        cli("compile", example_dir, "--config", quant, "--target", "tpu",
            "-o", out), "invalid choice")
    bad = tmp_path / "bad.json"
    bad.write_text('{"load_in_4bit": true, "bnb_4bit_quant_type": "int3"}')
    assert_one_line_error(
        cli("compile", example_dir, "--config", bad, "--target", "cpu",
            "-o", out, env={"BNB_BUILD_DIR": str(fake_build)}),
        "bad.json: bnb_4bit_quant_type must be 'nf4' or 'fp4'")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bnb")]


def test_reference_and_compare(example_dir, tmp_path):
    ids = example_dir / "input_ids.safetensors"
    f32 = tmp_path / "f32.safetensors"
    f16 = tmp_path / "f16.safetensors"
    assert cli("reference", example_dir, "--input", ids, "-o", f32,
               "--dtype", "float32").returncode == 0
    assert cli("reference", example_dir, "--input", ids, "-o",
               f16).returncode == 0
    logits = load_file(str(f32))["logits"]
    assert logits.shape == (1, 8, 256) and logits.dtype == np.float32

    same = cli("compare", f32, f32, "--json")
    assert same.returncode == 0, same.stderr
    metrics = json.loads(same.stdout)
    assert metrics["max_abs_error"] == 0 and metrics["top1_agreement"] == 1

    diff = json.loads(cli("compare", f32, f16, "--json").stdout)
    expected = np.abs(load_file(str(f16))["logits"].astype(np.float64) -
                      logits.astype(np.float64)).max()
    assert diff["max_abs_error"] == pytest.approx(expected)
    assert 0 < diff["max_abs_error"] < 0.1

    assert_one_line_error(cli("compare", f32, tmp_path / "none.safetensors"),
                          "none.safetensors")
    assert_one_line_error(cli("reference", example_dir, "--input", f32, "-o",
                              tmp_path / "r.safetensors"),
                          "missing tensor 'input_ids'")
