"""python -m bnb_mlir embed: sentence embeddings with an encoder artifact.

A small BertModel checkpoint (test_arch_bert.bert_checkpoint, float32)
gets a WordPiece tokenizer.json built with the `tokenizers` package and the
files sentence-transformers saves (modules.json, 1_Pooling/config.json,
2_Normalize); it is imported with batch 2 and sequence length 8 and
compiled for the CPU without quantization. The printed embeddings are
compared with the numpy reference's last hidden state of the same tokens,
pooled and normalized here (independently of bnb_mlir.embed), to 1e-5
(measured 9e-8).
"""
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from helpers import ROOT
from test_arch_bert import bert_checkpoint
from test_cli import assert_one_line_error, cli

from bnb_mlir.reference_bert import reference_encoder

tokenizers = pytest.importorskip("tokenizers")

BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))
WORDS = ("the cat sat on mat a dog ran in park quick brown fox jumps over "
         "lazy hello world this is test sentence embedding model small "
         "text red blue green big house tree river stone light dark day "
         "night sun moon star sky sea").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + WORDS + ["##s", "##ing"]
TEXTS = ["The cat sat on the mat", "hello world", "A quick brown fox"]


def write_tokenizer(directory: pathlib.Path) -> None:
    """tokenizer.json as BertTokenizerFast saves it (lower-casing
    normalizer, BERT pre-tokenizer, WordPiece, "[CLS] $A [SEP]"), with the
    truncation to 6 tokens some Hub files carry, and tokenizer_config.json."""
    from tokenizers import (Tokenizer, models, normalizers, pre_tokenizers,
                            processors)
    vocab = {t: i for i, t in enumerate(VOCAB)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.enable_truncation(max_length=6)
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True,
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
        "sep_token": "[SEP]", "mask_token": "[MASK]",
        "model_max_length": 16}))


def write_sentence_transformers(directory: pathlib.Path, *, mean=True,
                                cls=False, max_=False, normalize=True,
                                extra=None) -> None:
    """modules.json, 1_Pooling/config.json (and 2_Normalize) as
    sentence-transformers saves them."""
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (directory / "2_Normalize").mkdir(exist_ok=True)
    (directory / "modules.json").write_text(json.dumps(modules, indent=2))
    (directory / "1_Pooling").mkdir(exist_ok=True)
    config = {"word_embedding_dimension": 32,
              "pooling_mode_cls_token": cls,
              "pooling_mode_mean_tokens": mean,
              "pooling_mode_max_tokens": max_,
              "pooling_mode_mean_sqrt_len_tokens": False,
              "pooling_mode_weightedmean_tokens": False,
              "pooling_mode_lasttoken": False, "include_prompt": True}
    config.update(extra or {})
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(config, indent=2))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(checkpoint directory, artifact compiled with batch 2, seq 8)."""
    compiler = BUILD / "bin" / "bnb-compile"
    if not compiler.is_file():
        pytest.skip(f"{compiler} is not built")
    tmp = tmp_path_factory.mktemp("embed")
    ckpt = bert_checkpoint(tmp / "hf", vocab=len(VOCAB))
    write_tokenizer(ckpt)
    write_sentence_transformers(ckpt)
    mlir = tmp / "model.mlir"
    assert cli("import", ckpt, "--batch", 2, "--seq", 8, "-o",
               mlir).returncode == 0
    none = tmp / "none.json"
    assert cli("config", "--load-in-8bit", "--llm-int8-skip-modules",
               "encoder", "-o", none).returncode == 0
    artifact = tmp / "enc.bnb"
    result = subprocess.run([str(compiler), str(mlir), "--config", str(none),
                             "--target", "cpu", "-o", str(artifact),
                             "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # The artifact carries the checkpoint's tokenizer files.
    assert (artifact / "tokenizer.json").is_file()
    return ckpt, artifact


def embed(artifact, *args):
    return cli("embed", artifact, *args, "--threads", 2)


def parse(result):
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["index"] for r in rows] == list(range(len(rows)))
    return rows, np.array([r["embedding"] for r in rows], np.float32)


def expected(ckpt, texts, mode="mean", normalize=True):
    """The reference: token ids from the tokenizers package directly,
    hidden states of the numpy reference, sentence-transformers' pooling."""
    tok = tokenizers.Tokenizer.from_file(str(ckpt / "tokenizer.json"))
    tok.no_truncation()
    out = []
    for text in texts:
        enc = tok.encode(text)
        n = len(enc.ids)
        ids = np.zeros((1, 8), np.int64)
        ids[0, :n] = enc.ids
        mask = np.zeros((1, 8), np.int64)
        mask[0, :n] = 1
        types = np.zeros((1, 8), np.int64)
        types[0, :n] = enc.type_ids
        h = reference_encoder(ckpt, ids, mask, types)[0]
        if mode == "mean":
            v = h[:n].sum(axis=0) / n
        elif mode == "cls":
            v = h[0]
        else:
            v = h[:n].max(axis=0)
        if normalize:
            v = v / np.linalg.norm(v)
        out.append(v)
    return np.array(out, np.float32)


def test_mean_normalized(model):
    ckpt, artifact = model
    # Three texts: a full batch of 2, then one with a filler row.
    rows, got = parse(embed(artifact, *sum((["--text", t] for t in TEXTS),
                                           [])))
    assert [r["text"] for r in rows] == TEXTS
    assert got.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(got, expected(ckpt, TEXTS), atol=1e-5)
    # Different texts, different embeddings.
    assert np.abs(got[0] - got[1]).max() > 1e-2


def test_pooling_config_and_overrides(model, tmp_path):
    ckpt, artifact = model
    st = tmp_path / "st"
    shutil.copytree(ckpt, st)
    # cls pooling without a Normalize module: not normalized.
    write_sentence_transformers(st, mean=False, cls=True, normalize=False)
    _, got = parse(embed(artifact, "--tokenizer", st, "--text", TEXTS[0],
                         "--text", TEXTS[1]))
    np.testing.assert_allclose(got, expected(ckpt, TEXTS[:2], "cls", False),
                               atol=1e-5)
    # max pooling, normalized.
    write_sentence_transformers(st, mean=False, max_=True)
    _, got = parse(embed(artifact, "--tokenizer", st, "--text", TEXTS[2]))
    np.testing.assert_allclose(got, expected(ckpt, TEXTS[2:], "max"),
                               atol=1e-5)
    # Two modes are concatenated in sentence-transformers' order.
    write_sentence_transformers(st, mean=True, cls=True)
    _, got = parse(embed(artifact, "--tokenizer", st, "--text", TEXTS[0]))
    both = np.concatenate([expected(ckpt, TEXTS[:1], "cls", False),
                           expected(ckpt, TEXTS[:1], "mean", False)], axis=1)
    np.testing.assert_allclose(got, both / np.linalg.norm(both), atol=1e-5)
    # Command-line overrides.
    _, got = parse(embed(artifact, "--pooling", "mean", "--no-normalize",
                         "--text", TEXTS[0]))
    np.testing.assert_allclose(got, expected(ckpt, TEXTS[:1], "mean", False),
                               atol=1e-5)
    # No modules.json: mean pooling, normalized.
    for f in ("modules.json",):
        (st / f).unlink()
    _, got = parse(embed(artifact, "--tokenizer", st, "--text", TEXTS[1]))
    np.testing.assert_allclose(got, expected(ckpt, TEXTS[1:2]), atol=1e-5)


def test_errors(model, tmp_path):
    ckpt, artifact = model
    # Too long for the compiled length: 9 tokens, S = 8 (tokenizer.json's
    # own truncation to 6 is not applied).
    long_text = "the cat sat on the mat in park"
    result = embed(artifact, "--text", "hello", "--text", long_text)
    assert_one_line_error(result, "text 2 has 10 tokens, more than the "
                                  "artifact's sequence length 8")
    assert result.stdout == ""
    # No tokenizer anywhere.
    bare = tmp_path / "bare.bnb"
    shutil.copytree(artifact, bare)
    (bare / "tokenizer.json").unlink()
    result = embed(bare, "--text", "hello")
    assert_one_line_error(result, "tokenizer.json: no such file")
    assert result.stdout == ""
    # Not an encoder: a decoder's forward takes only input_ids.
    decoder = tmp_path / "decoder.bnb"
    decoder.mkdir()
    (decoder / "manifest.json").write_text(json.dumps({
        "entry_points": [{"name": "forward",
                          "inputs": [{"name": "input_ids", "dtype": "I64",
                                      "shape": [1, 8]}],
                          "outputs": [{"name": "logits", "dtype": "F32",
                                       "shape": [1, 8, 64]}]}]}))
    assert_one_line_error(embed(decoder, "--text", "hello"),
                          "entry point 'forward' has no input "
                          "'attention_mask'")
    assert_one_line_error(embed(tmp_path / "none.bnb", "--text", "hi"),
                          "no such artifact directory")
    # sentence-transformers files that cannot be followed.
    st = tmp_path / "st"
    shutil.copytree(ckpt, st)
    write_sentence_transformers(st, extra={
        "pooling_mode_weightedmean_tokens": True})
    assert_one_line_error(embed(artifact, "--tokenizer", st, "--text", "a"),
                          "'pooling_mode_weightedmean_tokens' is not "
                          "supported")
    write_sentence_transformers(st, extra={"word_embedding_dimension": 384})
    assert_one_line_error(embed(artifact, "--tokenizer", st, "--text", "a"),
                          "1_Pooling/config.json: word_embedding_dimension "
                          "384 differs from the artifact's hidden size 32")
    write_sentence_transformers(st, mean=False)
    assert_one_line_error(embed(artifact, "--tokenizer", st, "--text", "a"),
                          "no pooling mode is enabled")
    (st / "modules.json").write_text("[{")
    assert_one_line_error(embed(artifact, "--tokenizer", st, "--text", "a"),
                          "modules.json: invalid JSON")
    (st / "modules.json").write_text(json.dumps(
        [{"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    assert_one_line_error(embed(artifact, "--tokenizer", st, "--text", "a"),
                          "module type 'sentence_transformers.models.Dense' "
                          "is not supported")
    assert_one_line_error(cli("embed", artifact), "--text")


def test_help():
    result = cli("embed", "--help")
    assert result.returncode == 0
    assert "--text" in result.stdout and "--pooling" in result.stdout
