"""BERT-family encoders (model_type "bert"): import, compile, run, compare.

Small random-weight checkpoints in BertModel's exact Hugging Face layout
(the keys, shapes and config.json fields transformers writes; with the
`bert.` prefix of BertFor* checkpoints or without it, as
sentence-transformers models store them) are imported, compiled by
bnb-compile for the CPU without quantization, with LLM.int8(), NF4 and NF4
+ double quantization, run by bnb-run on a padded batch, and compared with
the independent numpy reference (`bnb_mlir.reference_bert`).

Tolerances (largest |last_hidden_state - reference|, hidden states are
LayerNorm outputs of magnitude ~3):
- float32, unquantized: 2e-5 (measured 9.5e-7);
- float16, unquantized: 0.02 (measured 0.0039: the linears accumulate in
  float16);
- float16, int8 / nf4 / nf4 + dq: 0.01 (measured 0 / 0.001 / 0.002) against
  the reference whose linears are quantized by
  test/Tools/bnb-quantize/Inputs/bnbref.py (bitsandbytes' numerics written
  from the specification), while the quantized models differ from the
  float32 unquantized one by 0.06 (int8) to 0.48 (nf4); the artifact's
  quantized bytes must equal bnbref's.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from helpers import ROOT, globals_declared, matmuls, write_checkpoint
from test_cli import assert_one_line_error, cli

from bnb_mlir import BnbMlirError, import_checkpoint
from bnb_mlir.reference_bert import reference_encoder

sys.path.insert(0, str(ROOT / "test" / "Tools" / "Inputs"))
sys.path.insert(0, str(ROOT / "test" / "Tools" / "bnb-quantize" / "Inputs"))
import bnbref  # noqa: E402
import quantized_reference as qref  # noqa: E402

BUILD = pathlib.Path(os.environ.get("BNB_BUILD_DIR", ROOT / "build"))
LINEARS = ("attention.self.query", "attention.self.key",
           "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
BATCH, SEQ = 2, 8


def bert_checkpoint(path, *, prefix="", dtype="float32", vocab=60, hidden=32,
                    layers=2, heads=4, inter=64, positions=16, seed=3,
                    extra=None, drop=(), reshape=None):
    """A BertModel checkpoint as transformers saves it: config.json with
    BertConfig's fields, every tensor of BertModel including the pooler.
    `prefix` is "" (BertModel, sentence-transformers) or "bert." (BertFor*
    heads' checkpoints)."""
    rng = np.random.RandomState(seed)
    config = {"architectures": ["BertModel"], "model_type": "bert",
              "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
              "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "hidden_size": hidden, "initializer_range": 0.02,
              "intermediate_size": inter, "layer_norm_eps": 1e-12,
              "max_position_embeddings": positions,
              "num_attention_heads": heads, "num_hidden_layers": layers,
              "pad_token_id": 0, "position_embedding_type": "absolute",
              "torch_dtype": dtype, "transformers_version": "4.46.0",
              "type_vocab_size": 2, "use_cache": True, "vocab_size": vocab}
    config.update(extra or {})
    p = prefix
    t = {p + "embeddings.word_embeddings.weight":
         rng.standard_normal((vocab, hidden)),
         p + "embeddings.position_embeddings.weight":
         0.3 * rng.standard_normal((positions, hidden)),
         p + "embeddings.token_type_embeddings.weight":
         0.3 * rng.standard_normal((2, hidden)),
         p + "embeddings.LayerNorm.weight":
         1 + 0.1 * rng.standard_normal(hidden),
         p + "embeddings.LayerNorm.bias": 0.1 * rng.standard_normal(hidden)}
    shapes = {"attention.self.query": (hidden, hidden),
              "attention.self.key": (hidden, hidden),
              "attention.self.value": (hidden, hidden),
              "attention.output.dense": (hidden, hidden),
              "intermediate.dense": (inter, hidden),
              "output.dense": (hidden, inter)}
    for i in range(layers):
        b = f"{p}encoder.layer.{i}."
        for name in LINEARS:
            o, k = shapes[name]
            t[f"{b}{name}.weight"] = rng.standard_normal((o, k)) / np.sqrt(k)
            t[f"{b}{name}.bias"] = 0.1 * rng.standard_normal(o)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[f"{b}{ln}.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
            t[f"{b}{ln}.bias"] = 0.1 * rng.standard_normal(hidden)
    t[p + "pooler.dense.weight"] = rng.standard_normal((hidden, hidden)) / \
        np.sqrt(hidden)
    t[p + "pooler.dense.bias"] = 0.1 * rng.standard_normal(hidden)
    for k in drop:
        del t[k]
    for k, shape in (reshape or {}).items():
        t[k] = rng.standard_normal(shape)
    write_checkpoint(path, config, {k: v.astype(np.float32)
                                    for k, v in t.items()}, dtype)
    return pathlib.Path(path)


def batch_inputs(seed=0, vocab=60):
    """A padded batch: row 0 uses all S positions (token types 0 then 1),
    row 1 has 5 tokens and 3 padding positions."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, vocab, (BATCH, SEQ)).astype(np.int64)
    mask = np.ones((BATCH, SEQ), np.int64)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    types = np.zeros((BATCH, SEQ), np.int64)
    types[0, 4:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def run_tool(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return result


def config_file(tmp, name):
    """The quantization_config of each mode; "none" skips every encoder
    module (transformers' names, without "bert.")."""
    args = {"none": ["--load-in-8bit", "--llm-int8-skip-modules", "encoder"],
            "int8": ["--load-in-8bit"],
            "nf4": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4"],
            "nf4-dq": ["--load-in-4bit", "--bnb-4bit-quant-type", "nf4",
                       "--bnb-4bit-use-double-quant"]}[name]
    path = tmp / f"{name}.json"
    assert cli("config", *args, "-o", path).returncode == 0
    return path


def compile_and_run(ckpt, tmp, mode, inputs_list):
    """Imports (batch 2, seq 8), compiles with `mode`, runs bnb-run on each
    input dict; returns (artifact, [last_hidden_state float32])."""
    compiler = BUILD / "bin" / "bnb-compile"
    if not compiler.is_file():
        pytest.skip(f"{compiler} is not built")
    model = tmp / "model.mlir"
    if not model.exists():
        import_checkpoint(ckpt, model, batch=BATCH, seq=SEQ)
    artifact = tmp / f"{mode}.bnb"
    run_tool(compiler, model, "--config", config_file(tmp, mode), "--target",
             "cpu", "-o", artifact, "--quiet")
    outs = []
    for n, inputs in enumerate(inputs_list):
        src, dst = tmp / f"in{mode}{n}.safetensors", \
            tmp / f"out{mode}{n}.safetensors"
        save_file(inputs, str(src))
        run_tool(BUILD / "bin" / "bnb-run", artifact, "--input", src,
                 "--output", dst, "--threads", "2")
        out = load_file(str(dst))
        assert list(out) == ["last_hidden_state"]
        outs.append(out["last_hidden_state"].astype(np.float32))
    return artifact, outs


# -- the graph ----------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "bert."])
def test_graph(tmp_path, prefix):
    ckpt = bert_checkpoint(tmp_path / "hf", prefix=prefix)
    text, _ = import_checkpoint(ckpt, batch=2, seq=8, generation=True)
    # Only @forward, even when generation is asked for.
    assert "@prefill" not in text and "@decode" not in text
    # input_ids and token_type_ids carry their table sizes: bnb-run refuses
    # an id outside them, as transformers' embedding lookups raise.
    assert ('func.func @forward(%input_ids: tensor<2x8xi64> {bnb.name = '
            '"input_ids", bnb.vocab_size = 60 : i64}, %attention_mask: '
            'tensor<2x8xi64> {bnb.name = "attention_mask"}, %token_type_ids: '
            'tensor<2x8xi64> {bnb.name = "token_type_ids", bnb.vocab_size = '
            '2 : i64}) -> (tensor<2x8x32xf32> {bnb.name = '
            '"last_hidden_state"})') in text
    # Six nn.Linear per layer, x·Wᵀ plus bias; skip lists see BertModel's
    # module names (no "bert.").
    mms = matmuls(text)
    assert len(mms) == 12 and all("#mBt" in m["maps"] for m in mms)
    names = [f"encoder.layer.{i}.{n}" for i in range(2) for n in LINEARS]
    if prefix:
        assert [m["attrs"] for m in mms] == \
            [f'{{bnb.module = "{n}"}}' for n in names]
    else:
        assert all(m["attrs"] == "" for m in mms)
    declared = globals_declared(text)
    assert sorted(k for k in declared if k.endswith(".weight") and
                  "encoder" in k and "LayerNorm" not in k) == \
        sorted(prefix + n + ".weight" for n in names)
    assert not any("pooler" in k for k in declared)
    assert text.count("math.erf") == 2
    assert text.count('bnb.layer = "') == 2
    assert f'bnb.layer = "{prefix}encoder.layer.1"' in text
    verified = subprocess.run([str(BUILD / "bin" / "bnb-opt"), "-"],
                              input=text, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


def test_reference_semantics(tmp_path):
    """The reference against facts of BertModel: padding leaves the other
    positions alone, token types and positions matter, the defaults are an
    all-ones mask and type 0."""
    ckpt = bert_checkpoint(tmp_path / "hf")
    x = batch_inputs()
    ref = reference_encoder(ckpt, **x)
    assert ref.shape == (2, 8, 32) and np.isfinite(ref).all()
    alone = reference_encoder(ckpt, x["input_ids"][1:, :5],
                              x["attention_mask"][1:, :5],
                              x["token_type_ids"][1:, :5])
    np.testing.assert_allclose(ref[1, :5], alone[0], rtol=0, atol=1e-5)
    default = reference_encoder(ckpt, x["input_ids"][:1])
    explicit = reference_encoder(ckpt, x["input_ids"][:1],
                                 np.ones((1, 8), np.int64),
                                 np.zeros((1, 8), np.int64))
    np.testing.assert_array_equal(default, explicit)
    assert np.abs(default - ref[:1]).max() > 1e-3  # token types matter


# -- compiled and run on the CPU ----------------------------------------------


def _garbage_in_padding(inputs):
    """The same batch with other token ids and types where the mask is 0."""
    other = {k: v.copy() for k, v in inputs.items()}
    pad = other["attention_mask"] == 0
    other["input_ids"][pad] = 7
    other["token_type_ids"][pad] = 1
    return other


def test_unquantized_float32(tmp_path):
    ckpt = bert_checkpoint(tmp_path / "hf")
    x = batch_inputs()
    _, (got, got2) = compile_and_run(ckpt, tmp_path, "none",
                                     [x, _garbage_in_padding(x)])
    ref = reference_encoder(ckpt, **x)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5)
    # Padding does not change the other positions: bit for bit.
    keep = x["attention_mask"] == 1
    np.testing.assert_array_equal(got[keep], got2[keep])


def _quantized_linear(ckpt_dir, artifact, prefix):
    """The reference's linear for the artifact's config: every encoder
    linear quantized by bnbref from the checkpoint (and the artifact's bytes
    checked against it), computed as bitsandbytes computes it."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    config = manifest["config"]
    if config.get("llm_int8_skip_modules") == ["encoder"]:
        return None
    weights = load_file(str(artifact / "weights.safetensors"))
    ckpt = load_file(str(ckpt_dir / "model.safetensors"))
    cache = {}

    def state(key):
        if key in cache:
            return cache[key]
        w = ckpt[prefix + key + ".weight"].astype(np.float32)
        # The state is stored under the module name (no "bert.").
        if config.get("load_in_4bit"):
            dq = config.get("bnb_4bit_use_double_quant", False)
            st = bnbref.linear4bit(key + ".", w.reshape(-1), "F16", w.shape,
                                   "nf4", 64, dq)
            absmax = st[key + ".weight.absmax"]
            if dq:
                _, nested, offset = bnbref.double_quantize(
                    bnbref.block_absmax(w.reshape(-1), 64))
                block = np.repeat(nested, 256)[:absmax.size]
                absmax = ((bnbref.DYNAMIC_MAP[absmax] * block)
                          .astype(np.float32) + offset).astype(np.float32)
            value = ("4bit", qref.dequantize_4bit(
                st[key + ".weight"], absmax, w.size, 64).reshape(w.shape))
        else:
            st = bnbref.linear8bit(key + ".", w)
            value = ("int8", st[key + ".weight"].astype(np.float32),
                     st[key + ".SCB"],
                     np.float32(config["llm_int8_threshold"]))
        for k, v in st.items():
            if k.endswith("weight_format"):
                continue
            assert k in weights, f"artifact lacks '{k}'"
            assert weights[k].tobytes() == v.tobytes(), k
        cache[key] = value
        return value

    def linear(key, x, w, b):
        kind = state(key)
        if kind[0] == "4bit":  # compute dtype float32, then T
            return x @ kind[1].T + b
        return qref.int8_linear(x, kind[1], kind[2], kind[3], b)

    return linear


@pytest.mark.parametrize("mode", ["none", "int8", "nf4", "nf4-dq"])
def test_float16_modes(tmp_path, mode):
    ckpt = bert_checkpoint(tmp_path / "hf", prefix="bert.", dtype="float16")
    x = batch_inputs(seed=1)
    artifact, (got, got2) = compile_and_run(
        ckpt, tmp_path, mode, [x, _garbage_in_padding(x)])
    linear = _quantized_linear(ckpt, artifact, "bert.")
    ref = reference_encoder(ckpt, **x, linear=linear)
    err = np.abs(got - ref).max()
    assert np.isfinite(got).all()
    assert err <= (0.02 if mode == "none" else 0.01), err
    keep = x["attention_mask"] == 1
    if mode == "int8":
        # LLM.int8() picks outlier columns over all rows of the batch, so
        # padding rows may change the others (as in bitsandbytes).
        np.testing.assert_allclose(got[keep], got2[keep], atol=0.05)
    else:
        np.testing.assert_array_equal(got[keep], got2[keep])


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize("extra,drop,reshape,message", [
    ({"hidden_act": "relu"}, (), None,
     "hidden_act 'relu' is not supported (gelu)"),
    ({"position_embedding_type": "relative_key"}, (), None,
     "position_embedding_type 'relative_key' is not supported"),
    ({"is_decoder": True}, (), None, "'is_decoder' is not supported"),
    ({"add_cross_attention": True}, (), None,
     "'add_cross_attention' is not supported"),
    ({"num_attention_heads": 5}, (), None,
     "hidden_size 32 is not a multiple of num_attention_heads 5"),
    ({}, ("encoder.layer.1.output.dense.bias",), None,
     "missing tensor 'encoder.layer.1.output.dense.bias'"),
    ({}, (), {"embeddings.token_type_embeddings.weight": (3, 32)},
     "tensor 'embeddings.token_type_embeddings.weight' has shape [3, 32], "
     "but config.json implies [2, 32]"),
])
def test_config_errors(tmp_path, extra, drop, reshape, message):
    ckpt = bert_checkpoint(tmp_path / "hf", extra=extra, drop=drop,
                           reshape=reshape)
    with pytest.raises(BnbMlirError, match=".*" + message.replace(
            "(", r"\(").replace(")", r"\)").replace("[", r"\[").replace(
            "]", r"\]")):
        import_checkpoint(ckpt)
    out = tmp_path / "m.mlir"
    result = cli("import", ckpt, "-o", out)
    assert_one_line_error(result, message)
    assert not out.exists()


def test_sequence_longer_than_positions(tmp_path):
    ckpt = bert_checkpoint(tmp_path / "hf")
    out = tmp_path / "m.mlir"
    result = cli("import", ckpt, "--seq", "17", "-o", out)
    assert_one_line_error(result, "sequence length 17 exceeds "
                                  "max_position_embeddings 16")
    assert not out.exists()


@pytest.mark.parametrize("name,index,bad", [("input_ids", (0, 3), 60),
                                            ("input_ids", (1, 0), -1),
                                            ("token_type_ids", (0, 1), 2)])
def test_ids_outside_their_tables_are_refused(tmp_path, name, index, bad):
    """transformers' embedding lookups raise on such ids; bnb-run refuses
    them with one line and writes nothing (the graph would clamp)."""
    ckpt = bert_checkpoint(tmp_path / "hf")
    artifact, _ = compile_and_run(ckpt, tmp_path, "none", [])
    inputs = batch_inputs()
    inputs[name][index] = bad
    src, dst = tmp_path / "bad.safetensors", tmp_path / "out.safetensors"
    save_file(inputs, str(src))
    result = subprocess.run([str(BUILD / "bin" / "bnb-run"), str(artifact),
                             "--input", str(src), "--output", str(dst)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f"input '{name}' holds token id {bad}" in lines[0]
    assert not dst.exists()
