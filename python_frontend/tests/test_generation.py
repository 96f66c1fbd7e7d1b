"""Generation entry points (@prefill, @decode; docs/generation.md): the
signatures of the contract, the KV-cache structure of the IR, and the
numerics of incremental decoding against full forward passes.

Tolerances. The incremental numpy reference (`reference_generate`) and the
full forward reference compute the same values row by row; they differ only
in the summation order of float32 matmuls of different shapes (BLAS
blocking), and masked keys contribute exact zeros. float32: |Δ| ≤ 1e-5 +
1e-5·|ref| (measured 2e-6 on logits up to 10). float16/bfloat16: every
value is rounded to T, so a float32 difference can flip a rounding; bound
2 ulp of T at the logit's magnitude (2·2⁻¹⁰·|ref| for float16, 2·2⁻⁷·|ref|
for bfloat16, plus the same at magnitude 1 absolute); measured 0. The
emitted graphs, lowered with upstream passes and run under mlir-runner,
match the incremental reference in float32 like forward does (2e-5 +
1e-5·|ref|, measured 4e-6 on logits up to 9); in float16 within forward's
0.1 (T-accumulated linears when lowered naively; measured 0.006).
"""
import json
import re

import numpy as np
import pytest

from bnb_mlir import BnbMlirError, import_checkpoint, reference_forward
from bnb_mlir.reference import (ReferenceDecoder, generation_schedule,
                                reference_generate)
from bnb_mlir.tools import run_generation_cpu
from helpers import (MLIR_OPT, bnb_opt, global_loads, gpt2_checkpoint,
                     llama_checkpoint, matmuls)

ELEM = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
ULP = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}

# name -> (checkpoint builder kwargs, layers, heads, KV heads, head_dim)
MODELS = {
    "llama": (lambda p, **kw: llama_checkpoint(
        p, layers=2, heads=4, kv_heads=2, **kw), 2, 4, 2, 8),
    "mistral": (lambda p, **kw: llama_checkpoint(
        p, layers=2, heads=4, kv_heads=1, model_type="mistral",
        extra={"sliding_window": 3}, **kw), 2, 4, 1, 8),
    "gpt2": (lambda p, **kw: gpt2_checkpoint(p, layers=2, heads=4, **kw),
             2, 4, 4, 8),
}


def make(name, tmp_path, dtype="float32"):
    return MODELS[name][0](tmp_path / name, dtype=dtype)


def vocab_of(ckpt):
    return json.loads((ckpt / "config.json").read_text())["vocab_size"]


def step_signature(entry, chunk, layers, kv, seq, dim, vocab, elem):
    """The exact text of a @prefill/@decode signature."""
    cache = f"tensor<1x{kv}x{seq}x{dim}x{elem}>"
    names = [f"past_key_values.{i}.{kind}" for i in range(layers)
             for kind in ("key", "value")]
    args = [f'%input_ids: tensor<1x{chunk}xi64> {{bnb.name = "input_ids", '
            f'bnb.vocab_size = {vocab} : i64}}',
            '%position: tensor<1xi64> {bnb.name = "position"}']
    args += [f'%{n.split(".")[2][0]}{n.split(".")[1]}: {cache} '
             f'{{bnb.kv_cache, bnb.name = "{n}"}}' for n in names]
    results = [f'tensor<1x1x{vocab}x{elem}> {{bnb.name = "logits"}}']
    results += [f'{cache} {{bnb.kv_cache, bnb.name = "{n}"}}' for n in names]
    return (f"func.func @{entry}({', '.join(args)}) -> "
            f"({', '.join(results)}) {{")


def function_text(text, name):
    m = re.search(rf"^  func\.func @{name}\(.*?^  }}$", text, re.M | re.S)
    assert m, name
    return m.group(0)


# -- the contract --------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_signatures_and_verification(tmp_path, name):
    ckpt = make(name, tmp_path, "float16")
    _, layers, heads, kv, dim = MODELS[name]
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    for tool in (None, MLIR_OPT):
        result = bnb_opt(text) if tool is None else bnb_opt(text, tool=tool)
        assert result.returncode == 0, result.stderr
    vocab = vocab_of(ckpt)
    assert kv < heads or name == "gpt2"  # GQA is exercised
    assert re.search(r'^  func\.func @forward\(%input_ids: tensor<1x8xi64> '
                     r'\{bnb\.name = "input_ids", '
                     rf'bnb\.vocab_size = {vocab} : i64\}}\) -> \(tensor<1x8x'
                     rf'{vocab}xf16> \{{bnb\.name = "logits"\}}\) \{{$',
                     text, re.M)
    for entry, chunk in (("prefill", 4), ("decode", 1)):
        sig = step_signature(entry, chunk, layers, kv, 16, dim, vocab, "f16")
        assert re.search(r"^  " + re.escape(sig) + "$", text, re.M), \
            (sig, [l for l in text.splitlines() if f"@{entry}(" in l])
    # The printed form keeps the attributes the runtime reads.
    printed = bnb_opt(text).stdout
    assert printed.count("bnb.kv_cache") == text.count("bnb.kv_cache") == \
        2 * 2 * 2 * layers


def test_forward_is_unchanged_by_generation(tmp_path):
    ckpt = make("llama", tmp_path)
    plain, _ = import_checkpoint(ckpt, inline_weights=True)
    both, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4, inline_weights=True)
    assert "@prefill" not in plain and "@decode" not in plain
    assert function_text(plain, "forward") == function_text(both, "forward")


@pytest.mark.parametrize("name", ["llama", "gpt2"])
@pytest.mark.parametrize("entry,chunk", [("decode", 1), ("prefill", 4)])
def test_cache_structure(tmp_path, name, entry, chunk):
    """L key and L value cache args; in each layer region the new keys and
    values are inserted at [0, 0, %p, 0] of that layer's caches, the region
    yields (hidden, key cache, value cache), and the function returns the
    caches in argument order; attention reads [0, 0, 0, 0] [1, KV, %len, D]
    with %len = %p + C; %p is the clamped position[0]."""
    ckpt = make(name, tmp_path)
    _, layers, heads, kv, dim = MODELS[name]
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4)
    f = function_text(text, entry)
    header = f.splitlines()[0]
    args = re.findall(r"(%\w+): tensor<[^>]+> \{bnb\.kv_cache, bnb\.name = "
                      r'"past_key_values\.(\d+)\.(key|value)"\}', header)
    assert [a for a, _, _ in args] == [f"%{kind}{i}" for i in range(layers)
                                       for kind in "kv"]
    assert [(int(i), k) for _, i, k in args] == [
        (i, k) for i in range(layers) for k in ("key", "value")]

    # %p: index_cast of position[0], clamped to [0, S - C].
    lines = "\n".join(f.splitlines()[:12])
    assert re.search(r"%pos = tensor\.extract %position\[%c0\] : "
                     r"tensor<1xi64>", lines)
    assert "%pos_index = arith.index_cast %pos : i64 to index" in lines
    assert f"%pos_max = arith.constant {16 - chunk} : index" in lines
    assert "%pos_low = arith.minsi %pos_index, %pos_max : index" in lines
    assert "%p = arith.maxsi %pos_low, %c0 : index" in lines
    assert f"%chunk = arith.constant {chunk} : index" in lines
    assert "%len = arith.addi %p, %chunk : index" in lines

    regions = re.findall(
        r"^    (%\w+):3 = scf\.execute_region -> \((tensor<[^>]+>), "
        r"(tensor<[^>]+>), (tensor<[^>]+>)\) no_inline \{\n(.*?)"
        r"^      scf\.yield (%\w+), (%\w+), (%\w+) : [^\n]*\n"
        r'^    \} \{bnb\.layer = "([^"]+)"\}', f, re.M | re.S)
    assert len(regions) == layers
    assert f.count("scf.execute_region") == layers
    cache_t = f"tensor<1x{kv}x16x{dim}xf32>"
    returned = []
    for i, (res, h_t, k_t, v_t, body, h, kc, vc, lname) in \
            enumerate(regions):
        assert lname.endswith(f"h.{i}") or lname == f"model.layers.{i}"
        assert h_t == f"tensor<{chunk}x32xf32>" and k_t == v_t == cache_t
        for value, arg in ((kc, f"%k{i}"), (vc, f"%v{i}")):
            m = re.search(rf"^      {value} = tensor\.insert_slice (%\w+) "
                          rf"into {arg}\[0, 0, %p, 0\] \[1, {kv}, {chunk}, "
                          rf"{dim}\] \[1, 1, 1, 1\] : tensor<1x{kv}x{chunk}x"
                          rf"{dim}xf32> into {cache_t}$", body, re.M)
            assert m, (value, arg)
            # Attention reads the updated cache up to %len.
            assert re.search(rf"= tensor\.extract_slice {value}\[0, 0, 0, 0\] "
                             rf"\[1, {kv}, %len, {dim}\] \[1, 1, 1, 1\] : "
                             rf"{cache_t} to tensor<1x{kv}x\?x{dim}xf32>",
                             body)
            # The cache argument is used by nothing else.
            assert f.count(f"{arg}[") == 1 and \
                len(re.findall(rf"{arg}\b", f)) == 2  # the arg + insert
        returned += [f"{res}#1", f"{res}#2"]
    ret = re.search(r"^    return (.*) : ", f, re.M).group(1).split(", ")
    assert ret[1:] == returned
    # The linears are the contract's static matmuls of global_load_consts.
    loads = global_loads(f)
    mms = matmuls(f)
    per_layer = 7 if name == "llama" else 4
    assert len(mms) == per_layer * layers + 1
    for mm in mms:
        assert mm["rhs"] in loads and "?" not in mm["line"]
    # Dynamic shapes appear only in the attention over the cache.
    for line in f.splitlines():
        if "?" in line:
            assert re.match(r"\s+(%l\d+_attn\w* = |\} -> )", line), line
    # Logits of the last token only.
    assert re.search(rf"^    return %logits\w*, .* : tensor<1x1x"
                     rf"{vocab_of(ckpt)}xf32>, ", f, re.M)
    if chunk > 1:
        assert re.search(rf"%last = tensor\.extract_slice %\S+\[{chunk - 1}, "
                         r"0\] \[1, 32\]", f)


def test_rope_and_position_rows_are_dynamic_slices(tmp_path):
    llama, _ = import_checkpoint(make("llama", tmp_path), generation=True,
                                 max_seq_len=16, prefill_chunk=4)
    f = function_text(llama, "prefill")
    for table in ("cos", "sin"):
        assert re.search(rf"%rope_{table}_rows = tensor\.extract_slice "
                         rf"%rope_{table}\[%p, 0, 0\] \[4, 2, 4\] \[1, 1, 1\]"
                         rf" : tensor<16x2x4xf32> to tensor<4x2x4xf32>", f)
    gpt2, _ = import_checkpoint(make("gpt2", tmp_path), generation=True,
                                max_seq_len=16, prefill_chunk=4)
    f = function_text(gpt2, "decode")
    assert re.search(r"= tensor\.extract_slice %wpe_w\[%p, 0\] \[1, 32\] "
                     r"\[1, 1\] : tensor<16x32xf32> to tensor<1x32xf32>", f)


# -- numerics --------------------------------------------------------------------

def test_schedule():
    # A prompt of T tokens: floor(T/C) prefills, T mod C decodes, then one
    # decode per generated token.
    assert generation_schedule(7, 9, 3) == [
        ("prefill", 0, 3), ("prefill", 3, 3), ("decode", 6, 1),
        ("decode", 7, 1), ("decode", 8, 1)]
    assert generation_schedule(2, 2, 4) == [("decode", 0, 1),
                                            ("decode", 1, 1)]
    with pytest.raises(BnbMlirError):
        generation_schedule(0, 4, 2)


def last_positions(prompt, total, chunk):
    return [p + n - 1 for _, p, n in generation_schedule(prompt, total,
                                                         chunk)]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_incremental_reference_equals_forward(tmp_path, name, dtype):
    """prefill(C) + decode steps give the logits a full forward pass gives
    at the same positions (prompt 7, C = 3: not a multiple; mistral's
    window 3 is shorter than the sequence)."""
    ckpt = make(name, tmp_path, dtype)
    ids = np.random.RandomState(11).randint(0, vocab_of(ckpt), size=(1, 13))
    got = reference_generate(ckpt, ids, 7, 3, 16)
    ref = reference_forward(ckpt, ids)[0, last_positions(7, 13, 3)]
    assert got.shape == ref.shape == (9, vocab_of(ckpt))
    assert np.abs(ref).max() > 1.0
    if dtype == "float32":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    else:
        ulp = ULP[dtype]
        np.testing.assert_allclose(got, ref, rtol=2 * ulp, atol=2 * ulp)


def test_window_matters(tmp_path):
    """The sliding window changes the incremental logits (it is applied)."""
    ckpt = make("mistral", tmp_path)
    config = json.loads((ckpt / "config.json").read_text())
    config["sliding_window"] = 64
    (ckpt / "config.json").write_text(json.dumps(config))
    ids = np.random.RandomState(11).randint(0, 48, size=(1, 10))
    wide = reference_generate(ckpt, ids, 5, 2, 16)
    config["sliding_window"] = 3
    (ckpt / "config.json").write_text(json.dumps(config))
    narrow = reference_generate(ckpt, ids, 5, 2, 16)
    assert np.abs(wide[-1] - narrow[-1]).max() > 1e-3


def run_schedule(text, ids, prompt, chunk, elem):
    calls = [(entry, ids[:, p:p + n], p) for entry, p, n in
             generation_schedule(prompt, ids.shape[1], chunk)]
    return np.concatenate([r[0] for r in run_generation_cpu(text, calls,
                                                            elem)])


@pytest.mark.parametrize("name", list(MODELS))
def test_graph_matches_incremental_reference(tmp_path, name):
    """The emitted @prefill/@decode, lowered with upstream passes and run
    under mlir-runner with the caches threaded from call to call, give the
    reference's logits, which equal the full forward pass."""
    ckpt = make(name, tmp_path)
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=3, inline_weights=True)
    ids = np.random.RandomState(12).randint(0, vocab_of(ckpt), size=(1, 12))
    got = run_schedule(text, ids, 7, 3, "f32")
    ref = reference_generate(ckpt, ids, 7, 3, 16)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)
    full = reference_forward(ckpt, ids)[0, last_positions(7, 12, 3)]
    np.testing.assert_allclose(got, full, rtol=1e-5, atol=2e-5)


def test_graph_float16(tmp_path):
    ckpt = make("llama", tmp_path, "float16")
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=16,
                                prefill_chunk=4, inline_weights=True)
    ids = np.random.RandomState(13).randint(0, 48, size=(1, 10))
    got = run_schedule(text, ids, 6, 4, "f16")
    np.testing.assert_array_equal(got, got.astype(np.float16))
    ref = reference_generate(ckpt, ids, 6, 4, 16)
    assert np.abs(got - ref).max() < 0.1
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.75


def test_out_of_range_position_is_clamped(tmp_path):
    """A position outside [0, S - C] is clamped (the runtime refuses such
    calls; the reference does too)."""
    ckpt = make("llama", tmp_path)
    text, _ = import_checkpoint(ckpt, generation=True, max_seq_len=8,
                                prefill_chunk=4, inline_weights=True)
    ids = np.random.RandomState(14).randint(0, 48, size=(1, 5))
    prompt = ("prefill", ids[:, :4], 0)
    a, b = (run_generation_cpu(text, [prompt, ("decode", ids[:, 4:], p)],
                               "f32")[1] for p in (7, 1000))
    np.testing.assert_array_equal(a, b)
    c, d = (run_generation_cpu(text, [(entry, ids[:, :4], p)], "f32")[0]
            for entry, p in (("prefill", 0), ("prefill", -3)))
    np.testing.assert_array_equal(c, d)
    with ReferenceDecoder(ckpt, 8) as dec:
        with pytest.raises(BnbMlirError, match="outside the cache of 8"):
            dec.step(ids[:, :4], 5)


# -- options -----------------------------------------------------------------------

def test_defaults_and_errors(tmp_path):
    llama = make("llama", tmp_path)  # max_position_embeddings 64
    text, _ = import_checkpoint(llama, generation=True)
    assert "%input_ids: tensor<1x16xi64>" in function_text(text, "prefill")
    assert "%k0: tensor<1x2x64x8xf32>" in text
    config = json.loads((llama / "config.json").read_text())
    config["max_position_embeddings"] = 100000
    (llama / "config.json").write_text(json.dumps(config))
    text, _ = import_checkpoint(llama, generation=True, prefill_chunk=8)
    assert "%k0: tensor<1x2x2048x8xf32>" in text
    with pytest.raises(BnbMlirError, match="prefill_chunk 32 exceeds "
                                           "max_seq_len 16"):
        import_checkpoint(llama, generation=True, max_seq_len=16,
                          prefill_chunk=32)
    with pytest.raises(BnbMlirError, match="max_seq_len must be a positive"):
        import_checkpoint(llama, generation=True, max_seq_len=0)
    gpt2 = make("gpt2", tmp_path)  # n_positions 16
    with pytest.raises(BnbMlirError, match="max_seq_len 17 exceeds "
                                           "n_positions 16"):
        import_checkpoint(gpt2, generation=True, max_seq_len=17)


def test_several_chunk_sizes(tmp_path):
    """One prefill entry point per size: @prefill takes the smallest,
    @prefill_<C> the others, whatever the order given; each is the same
    step graph at its own size."""
    llama = make("llama", tmp_path)  # max_position_embeddings 64
    text, _ = import_checkpoint(llama, generation=True, prefill_chunk=[8, 4])
    assert step_signature("prefill", 4, 2, 2, 64, 8, 48, "f32") in text
    assert step_signature("prefill_8", 8, 2, 2, 64, 8, 48, "f32") in text
    assert "@prefill_4" not in text
    single, _ = import_checkpoint(llama, generation=True, prefill_chunk=8)
    assert function_text(single, "prefill") == \
        function_text(text, "prefill_8").replace("@prefill_8", "@prefill")
    for bad, message in (([], "prefill_chunk is an empty list"),
                         ([4, 4], r"prefill_chunk \[4, 4\] repeats a size"),
                         ([4, 0], "prefill_chunk must be a positive integer, "
                                  "got 0"),
                         ((4, 65), "prefill_chunk 65 exceeds max_seq_len 64")):
        with pytest.raises(BnbMlirError, match=message):
            import_checkpoint(llama, generation=True, prefill_chunk=bad)


def test_cli_options(tmp_path):
    from test_cli import assert_one_line_error, cli
    ckpt = make("llama", tmp_path)
    out = tmp_path / "m.mlir"
    result = cli("import", ckpt, "-o", out, "--max-seq-len", 32,
                 "--prefill-chunk", 8)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert step_signature("prefill", 8, 2, 2, 32, 8, 48, "f32") in text
    assert step_signature("decode", 1, 2, 2, 32, 8, 48, "f32") in text
    assert cli("import", ckpt, "-o", out).returncode == 0  # defaults
    assert step_signature("prefill", 16, 2, 2, 64, 8, 48, "f32") in \
        out.read_text()
    assert cli("import", ckpt, "-o", out, "--no-generation").returncode == 0
    text = out.read_text()
    assert "@forward(" in text and "@prefill" not in text and \
        "@decode" not in text
    assert_one_line_error(cli("import", ckpt, "-o", tmp_path / "n.mlir",
                              "--prefill-chunk", 100),
                          "prefill_chunk 100 exceeds max_seq_len 64")
    assert not (tmp_path / "n.mlir").exists()
