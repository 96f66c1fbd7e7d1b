"""Transformer building blocks emitted as MLIR (the model-graph contract).

Activations between blocks are 2-D `[B*S, features]` tensors in the model
dtype T. Every linear layer is the contract's linear:

    %init = linalg.fill ins(%zero) outs(tensor.empty)
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC]      // x·Wᵀ (nn.Linear)
           ins(%x, %w) outs(%init)                             // or no maps: x·W (Conv1D)
    %yb = linalg.generic {#id, #row, #id} ins(%y, %b) ...     // bias, if any

where `%w` is the weight value itself: an `ml_program.global_load_const` of the
global named by the checkpoint key (or, with inline weights, an
`arith.constant`). Everything else is `linalg.generic`.

Dtypes follow transformers' eager PyTorch computation op by op: tensor-tensor
arithmetic in T; an op with a Python scalar is computed in float32 with the
scalar rounded to float32 and then rounded to T; RMSNorm, LayerNorm, softmax
and activations are computed in float32 where PyTorch does so internally;
attention matmuls accumulate in float32 and round to T (as cuBLAS does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .checkpoint import Checkpoint
from .config import mlir_string
from .dtypes import mlir_type
from .ir import Block, Func, Module, TensorType, Value

PAR, RED = "parallel", "reduction"


def amap(module: Module, ndims: int, results: Sequence[int | str],
         alias: str | None = None) -> str:
    """The alias of `(d0, ..., dn-1) -> (results)`; an int result is a dim,
    a string an affine expression over d0..."""
    dims = ", ".join(f"d{i}" for i in range(ndims))
    res = ", ".join(f"d{r}" if isinstance(r, int) else r for r in results)
    return module.affine_map(f"({dims}) -> ({res})", alias)


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

class WeightSource:
    """Materializes checkpoint tensors in the graph, in the model dtype."""

    def __init__(self, module: Module, ckpt: Checkpoint, dtype_code: str):
        self.module = module
        self.ckpt = ckpt
        self.code = dtype_code  # safetensors code of T ("F16", ...)
        self.used: list[str] = []

    def type_of(self, key: str) -> TensorType:
        return TensorType(self.ckpt.info(key).shape, mlir_type(self.code))

    def load(self, f: Func, key: str) -> Value:
        if key not in self.used:
            self.used.append(key)
        return self._load(f, key)

    def _load(self, f: Func, key: str) -> Value:
        raise NotImplementedError

    def quantized_linear(self, gb: "GraphBuilder", x: Value, weight: str,
                         bias: str | None, module_name: str | None,
                         hint: str) -> Value | None:
        """The layer op of a linear whose weight is already quantized in the
        checkpoint (prequantized.py), or None for a float weight."""
        return None


class ExternWeights(WeightSource):
    """`ml_program.global private @"key"(#ml_program.extern : T)` per tensor,
    loaded with `ml_program.global_load_const` at each use; the bytes stay in
    the safetensors file named by the module's `bnb.weights`."""

    def _load(self, f: Func, key: str) -> Value:
        type_ = self.type_of(key)
        self.module.add_global(key, type_)
        return f.global_load_const(key, type_, _hint(key))


class InlineWeights(WeightSource):
    """Each tensor as an inline `arith.constant dense<"0x...">` (converted to
    the model dtype), defined at its first use in a function and reused
    after."""

    def __init__(self, module: Module, ckpt: Checkpoint, dtype_code: str):
        super().__init__(module, ckpt, dtype_code)
        self._values: dict[tuple[str, str], Value] = {}

    def _load(self, f: Func, key: str) -> Value:
        # One constant per function (SSA values do not cross functions).
        if (f.name, key) not in self._values:
            data = self.ckpt.as_dtype(key, self.code)
            self._values[(f.name, key)] = f.constant(data, self.type_of(key),
                                                     _hint(key))
        return self._values[(f.name, key)]


def _hint(key: str) -> str:
    """A short SSA name for a weight: "model.layers.0.mlp.up_proj.weight" ->
    "l0_up_proj_w"."""
    parts = key.split(".")
    out = []
    for i, p in enumerate(parts):
        if p in ("model", "transformer", "self_attn", "mlp", "attn"):
            continue
        if p in ("layers", "h") and i + 1 < len(parts) and parts[i + 1].isdigit():
            continue
        if p.isdigit() and i > 0 and parts[i - 1] in ("layers", "h"):
            out.append(f"l{p}")
        elif p == "weight":
            out.append("w")
        elif p == "bias":
            out.append("b")
        else:
            out.append(p)
    return "_".join(out) or "w"


# ---------------------------------------------------------------------------
# Graph builder
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class KVStep:
    """What the layers of a decode/prefill function share: the clamped first
    position p and the attended length p + C (index values), C, the cache
    length S, and each layer's (key cache, value cache) arguments."""
    position: Value
    length: Value
    chunk: int
    max_seq: int
    caches: list[tuple[Value, Value]]


class GraphBuilder:
    """Emits transformer blocks into one function.

    `elem` is the model dtype T as an MLIR type ("f16", "bf16", "f32").
    """

    def __init__(self, module: Module, func: Func, weights: WeightSource,
                 elem: str):
        self.m = module
        self.f = func
        self.w = weights
        self.T = elem

    # -- small helpers ------------------------------------------------------

    def id_map(self, n: int) -> str:
        return amap(self.m, n, list(range(n)), "#id" if n == 2 else f"#id{n}")

    def elementwise(self, ins: Sequence[Value], out: TensorType,
                    body: Callable[..., Value], hint: str,
                    in_maps: Sequence[str] | None = None) -> Value:
        """A parallel generic over `out`'s shape; inputs use identity maps
        unless `in_maps` says otherwise. A dynamic dimension of `out` takes
        its size from an input of the same shape."""
        n = out.rank
        ident = self.id_map(n)
        maps = list(in_maps) if in_maps else [ident] * len(ins)
        sizes = []
        if out.dynamic_dims:
            like = next(v for v in ins if v.tensor.shape == out.shape)
            sizes = self.f.dynamic_sizes(like)
        empty = self.f.empty(out, hint + "_init", sizes)
        return self.f.generic(ins, [empty], maps + [ident], [PAR] * n,
                              lambda b, *a: body(b, *a[:len(ins)]), hint)[0]

    def scalar_op_f32(self, b: Block, x: Value, scalar: float,
                      op: str) -> Value:
        """`x (T) <op> python_scalar` as PyTorch computes it: in float32 with
        the scalar rounded to float32, then rounded to T."""
        xf = b.cast(x, "f32")
        c = b.const(scalar, "f32")
        r = {"mul": b.mulf, "add": b.addf}[op](xf, c)
        return b.cast(r, x.type)

    # -- layers -------------------------------------------------------------

    def begin_layer(self) -> int:
        """Starts a transformer layer: its ops are wrapped by end_layer."""
        return self.f.begin_region()

    def end_layer(self, marker: int, results: Value | Sequence[Value],
                  name: str) -> Value | list[Value]:
        """Ends the layer started at `marker` whose outputs are `results`
        (the residual stream first; in decode/prefill also the layer's
        updated key and value caches): the ops become one
        `scf.execute_region {bnb.layer = name}`, which the compiler outlines
        so that identical layers are compiled once. Returns the region's
        result (a list for several)."""
        return self.f.end_region(marker, results,
                                 {"bnb.layer": mlir_string(name)}, "layer")

    def linear(self, x: Value, weight: str, bias: str | None = None,
               transposed: bool = True, module_name: str | None = None,
               hint: str = "y") -> Value:
        """nn.Linear (x·Wᵀ, W [out, in]) or Conv1D (x·W, W [in, out]) on a 2-D
        x. `module_name` is recorded as `bnb.module` when it differs from the
        weight key without ".weight" (e.g. a tied lm_head)."""
        y = self.w.quantized_linear(self, x, weight, bias, module_name, hint)
        if y is not None:
            return y
        w = self.w.load(self.f, weight)
        n = x.tensor.shape[0]
        out_features = w.tensor.shape[0 if transposed else 1]
        out_t = TensorType((n, out_features), self.T)
        zero = self.f.const(0.0, self.T, "zero")
        empty = self.f.empty(out_t, hint + "_init")
        init = self.f.fill(zero, empty, hint + "_zero")
        maps = None
        if transposed:
            maps = [self.m.affine_map("(m, n, k) -> (m, k)", "#mA"),
                    self.m.affine_map("(m, n, k) -> (n, k)", "#mBt"),
                    self.m.affine_map("(m, n, k) -> (m, n)", "#mC")]
        attrs = None
        if module_name is not None and module_name != _module_of(weight):
            attrs = {"bnb.module": mlir_string(module_name)}
        y = self.f.matmul(x, w, init, maps, hint, attrs)
        if bias is None:
            return y
        b = self.w.load(self.f, bias)
        row = amap(self.m, 2, [1], "#row")
        return self.f.generic([y, b], [empty], [self.id_map(2), row,
                                                self.id_map(2)],
                              [PAR, PAR], lambda blk, a, c, o: blk.addf(a, c),
                              hint + "_b")[0]

    def embedding(self, ids: Value, table_key: str,
                  positions_key: str | None = None,
                  position: Value | None = None, hint: str = "h") -> Value:
        """Gathers rows of the table for ids [B, S] -> [B*S, hidden]; with
        `positions_key`, adds the learned position rows 0..S-1 (GPT-2), or
        rows p..p+S-1 for a `position` p (an index value). Token ids are
        clamped to the table (out-of-range ids are not checked at run
        time)."""
        table = self.w.load(self.f, table_key)
        vocab, hidden = table.tensor.shape
        bsz, seq = ids.tensor.shape
        pos = self.w.load(self.f, positions_key) if positions_key else None
        if pos is not None and position is not None:
            pos = self.rows(pos, position, seq, hint + "_pos")
        out_t = TensorType((bsz, seq, hidden), self.T)

        def body(b: Block, token: Value) -> Value:
            row = b.clamp_index(b.index_cast(token, "index", "tok"), vocab - 1,
                                "tok")
            col = b.index(2, "col")
            v = b.extract(table, [row, col], "emb")
            if pos is not None:
                v = b.addf(v, b.extract(pos, [b.index(1, "pos"), col], "pe"))
            return v

        h = self.elementwise([ids], out_t, body, hint,
                             [amap(self.m, 3, [0, 1], "#token")])
        return self.f.collapse(h, [[0, 1], [2]], hint)

    def rms_norm(self, x: Value, weight: str, eps: float,
                 hint: str = "norm", unit_offset: bool = False) -> Value:
        """LlamaRMSNorm: in float32, x * rsqrt(mean(x²) + eps), rounded to T,
        times the weight in T. With `unit_offset` (GemmaRMSNorm): the
        normalized float32 value times (1 + weight) in float32, rounded to
        T once."""
        n, k = x.tensor.shape
        sumsq = self.f.generic(
            [x], [self.f.filled(TensorType((n,), "f32"), 0.0, hint + "_ss")],
            [self.id_map(2), amap(self.m, 2, [0], "#col")], [PAR, RED],
            _sum_squares, hint + "_sumsq")[0]
        w = self.w.load(self.f, weight)

        def body(b: Block, a: Value, ss: Value, g: Value) -> Value:
            # torch.mean multiplies the sum by 1/N.
            mean = b.mulf(ss, b.const(1.0 / k, "f32", "inv_n"))
            r = b.rsqrt(b.addf(mean, b.const(eps, "f32", "eps")))
            if unit_offset:
                scale = b.addf(b.const(1.0, "f32", "one"), b.cast(g, "f32"))
                return b.cast(b.mulf(b.mulf(b.cast(a, "f32"), r), scale),
                              self.T)
            y = b.cast(b.mulf(b.cast(a, "f32"), r), self.T)
            return b.mulf(g, y)

        return self.elementwise([x, sumsq, w], x.tensor, body, hint,
                                [self.id_map(2), amap(self.m, 2, [0], "#col"),
                                 amap(self.m, 2, [1], "#row")])

    def layer_norm(self, x: Value, weight: str, bias: str, eps: float,
                   hint: str = "ln") -> Value:
        """nn.LayerNorm computed in float32 (as PyTorch's kernels do) and
        rounded to T once."""
        n, k = x.tensor.shape
        col = amap(self.m, 2, [0], "#col")
        row = amap(self.m, 2, [1], "#row")
        inv_n = 1.0 / k

        total = self.f.generic(
            [x], [self.f.filled(TensorType((n,), "f32"), 0.0, hint + "_s")],
            [self.id_map(2), col], [PAR, RED],
            lambda b, a, acc: b.addf(acc, b.cast(a, "f32")), hint + "_sum")[0]
        mean = self.elementwise(
            [total], TensorType((n,), "f32"),
            lambda b, s: b.mulf(s, b.const(inv_n, "f32", "inv_n")),
            hint + "_mean", [amap(self.m, 1, [0], "#id1")])

        def sq(b: Block, a: Value, mu: Value, acc: Value) -> Value:
            d = b.subf(b.cast(a, "f32"), mu)
            return b.addf(acc, b.mulf(d, d))

        var_sum = self.f.generic(
            [x, mean],
            [self.f.filled(TensorType((n,), "f32"), 0.0, hint + "_v")],
            [self.id_map(2), col, col], [PAR, RED], sq, hint + "_varsum")[0]
        w = self.w.load(self.f, weight)
        bias_v = self.w.load(self.f, bias)

        def body(b, a, mu, vs, g, beta):
            var = b.mulf(vs, b.const(inv_n, "f32", "inv_n"))
            rstd = b.rsqrt(b.addf(var, b.const(eps, "f32", "eps")))
            y = b.mulf(b.subf(b.cast(a, "f32"), mu), rstd)
            y = b.addf(b.mulf(y, b.cast(g, "f32")), b.cast(beta, "f32"))
            return b.cast(y, self.T)

        return self.elementwise([x, mean, var_sum, w, bias_v], x.tensor, body,
                                hint, [self.id_map(2), col, col, row, row])

    def add(self, a: Value, c: Value, hint: str = "res") -> Value:
        return self.elementwise([a, c], a.tensor,
                                lambda b, x, y: b.addf(x, y), hint)

    def rotary(self, x: Value, heads: int, head_dim: int, bsz: int, seq: int,
               cos: Value, sin_signed: Value, hint: str) -> Value:
        """q·cos + rotate_half(q)·sin on x [B*S, heads*D], in T.

        The head dimension is viewed as [2, D/2]; rotate_half swaps the halves
        and negates the first, which is folded into `sin_signed` (negation
        is exact) and the affine map `1 - c`.
        """
        half = head_dim // 2
        x5 = self.f.expand(x, [[0, 1], [2, 3, 4]],
                           [bsz, seq, heads, 2, half], hint + "_v")
        maps = [self.id_map(5), amap(self.m, 5, [0, 1, 2, "1 - d3", 4],
                                     "#swap_half"),
                amap(self.m, 5, [1, 3, 4], "#rope_table"),
                amap(self.m, 5, [1, 3, 4], "#rope_table")]

        def body(b, v, swapped, c, s):
            return b.addf(b.mulf(v, c), b.mulf(swapped, s))

        y = self.elementwise([x5, x5, cos, sin_signed], x5.tensor, body, hint,
                             maps)
        return self.f.collapse(y, [[0, 1], [2, 3, 4]], hint)

    def partial_rope_tables(self, cos: np.ndarray, sin: np.ndarray,
                            head_dim: int, code: str) -> tuple[Value, Value]:
        """[S, head_dim] constants in T for `partial_rotary`: cos and the
        sign-folded sin of the R = cos.shape[1] rotated dims, then cos 1 and
        sin 0 over the head_dim - R dims that pass through."""
        from .dtypes import from_f32
        seq, rot = cos.shape
        c = np.ones((seq, head_dim), np.float32)
        s = np.zeros((seq, head_dim), np.float32)
        c[:, :rot] = cos
        s[:, :rot] = sin
        s[:, : rot // 2] *= -1
        t = TensorType((seq, head_dim), self.T)
        return (self.f.constant(from_f32(c, code), t, "rope_cos"),
                self.f.constant(from_f32(s, code), t, "rope_sin"))

    def partial_rotary(self, x: Value, heads: int, head_dim: int,
                       rot_dim: int, bsz: int, seq: int, cos: Value,
                       sin_signed: Value, hint: str) -> Value:
        """transformers' partial rotary on x [B*S, heads*D]: the first R =
        `rot_dim` dims of each head become q·cos + rotate_half(q)·sin (in
        T), the other D - R pass through.

        One generic over [B, S, H, D] with the `partial_rope_tables`:
        rotate_half's partner of dim d < R is (d + R/2) mod R (its sign is in
        sin); past R, cos is 1 and sin 0, so x·1 + partner·0 is x exactly.
        """
        half = rot_dim // 2
        x4 = self.f.expand(x, [[0, 1], [2, 3]], [bsz, seq, heads, head_dim],
                           hint + "_v")
        maps = [self.id_map(4),
                amap(self.m, 4, [0, 1, 2, f"(d3 + {half}) mod {rot_dim}"],
                     f"#rope_partner{rot_dim}"),
                amap(self.m, 4, [1, 3], "#rope_row"),
                amap(self.m, 4, [1, 3], "#rope_row")]

        def body(b, v, partner, c, s):
            return b.addf(b.mulf(v, c), b.mulf(partner, s))

        y = self.elementwise([x4, x4, cos, sin_signed], x4.tensor, body, hint,
                             maps)
        return self.f.collapse(y, [[0, 1], [2, 3]], hint)

    def rows(self, table: Value, start: Value, count: int,
             hint: str) -> Value:
        """Rows start..start+count-1 of a table (dynamic offset, static
        size): position-dependent rows of rope tables and GPT-2's wpe."""
        shape = table.tensor.shape
        return self.f.extract_slice(table, [start] + [0] * (len(shape) - 1),
                                    [count] + list(shape[1:]), hint)

    def last_row(self, x: Value, hint: str = "last") -> Value:
        """The last row of a 2-D [N, K] activation as [1, K]."""
        n, k = x.tensor.shape
        return x if n == 1 else self.f.extract_slice(x, [n - 1, 0], [1, k],
                                                     hint)

    def rope_tables(self, cos: np.ndarray, sin: np.ndarray,
                    code: str) -> tuple[Value, Value]:
        """cos and sign-folded sin, [S, 2, D/2] constants in T."""
        from .dtypes import from_f32
        seq, dim = cos.shape
        t = TensorType((seq, 2, dim // 2), self.T)
        sin_signed = sin.copy()
        sin_signed[:, : dim // 2] *= -1
        c = self.f.constant(from_f32(cos, code).reshape(t.shape), t, "rope_cos")
        s = self.f.constant(from_f32(sin_signed, code).reshape(t.shape), t,
                            "rope_sin")
        return c, s

    def attention(self, q: Value, k: Value, v: Value, bsz: int, seq: int,
                  heads: int, kv_heads: int, head_dim: int,
                  scale: tuple[str, float], window: int | None,
                  hint: str, softcap: float | None = None) -> Value:
        """Causal multi-head attention with grouped KV heads (forward).

        q [B*S, H*D], k/v [B*S, KV*D] -> [B*S, H*D]; see `_attend`.
        """
        q5 = self.f.expand(q, [[0, 1], [2, 3, 4]],
                           [bsz, seq, kv_heads, heads // kv_heads, head_dim],
                           hint + "_q")
        k4 = self.f.expand(k, [[0, 1], [2, 3]],
                           [bsz, seq, kv_heads, head_dim], hint + "_k")
        v4 = self.f.expand(v, [[0, 1], [2, 3]],
                           [bsz, seq, kv_heads, head_dim], hint + "_v")
        # keys/values [B, S, KV, D]: k[b, j, kv, d]
        return self._attend(q5, k4, v4, ([0, 4, 1, 5], "#attn_k"),
                            ([0, 5, 2, 4], "#attn_v"), seq, None, scale,
                            window, hint, softcap)

    def kv_step(self, position: Value, chunk: int, max_seq: int,
                caches: Sequence[Value]) -> "KVStep":
        """The decode/prefill context from the `position` argument
        (tensor<1xi64>): p = position[0] clamped to [0, S - C], the attended
        length p + C, and the cache arguments (key, value per layer)."""
        f = self.f
        zero = f.const(0, "index", "c0")
        raw = f.index_cast(f.extract(position, [zero], "pos"), "index",
                           "pos_index")
        top = f.const(max_seq - chunk, "index", "pos_max")
        low = f.op("pos_low", f"arith.minsi {raw}, {top} : index", "index")
        p = f.op("p", f"arith.maxsi {low}, {zero} : index", "index")
        length = self.f.op("len", f"arith.addi {p}, "
                           f"{self.f.const(chunk, 'index', 'chunk')} : index",
                           "index")
        pairs = [(caches[i], caches[i + 1]) for i in range(0, len(caches), 2)]
        return KVStep(p, length, chunk, max_seq, pairs)

    def cached_attention(self, q: Value, k: Value, v: Value, step: "KVStep",
                         layer: int, heads: int, kv_heads: int,
                         head_dim: int, scale: tuple[str, float],
                         window: int | None, hint: str,
                         softcap: float | None = None
                         ) -> tuple[Value, Value, Value]:
        """Attention of C new tokens at positions p..p+C-1 (decode/prefill,
        batch 1) over a KV cache [1, KV, S, D].

        The new keys/values (q [C, H*D], k/v [C, KV*D]) are written into the
        layer's caches at slots p..p+C-1 (`tensor.insert_slice`, the updated
        caches are returned); queries attend slots 0..p+C-1 of the updated
        caches through a dynamically sized `tensor.extract_slice`, with the
        causal (and sliding-window) mask of absolute positions. Returns
        (out [C, H*D], key cache, value cache).
        """
        seq = step.chunk
        k_arg, v_arg = step.caches[layer]
        caches = []
        for x, arg, name in ((k, k_arg, "k"), (v, v_arg, "v")):
            x4 = self.f.expand(x, [[0, 1], [2, 3]],
                               [1, seq, kv_heads, head_dim],
                               f"{hint}_{name}_heads")
            new = self.elementwise(
                [x4], TensorType((1, kv_heads, seq, head_dim), self.T),
                lambda b, a: a, f"{hint}_{name}_new",
                [amap(self.m, 4, [0, 2, 1, 3], "#to_cache")])
            caches.append(self.f.insert_slice(new, arg,
                                              [0, 0, step.position, 0],
                                              f"{hint}_{name}_cache"))
        k_all, v_all = (self.f.extract_slice(
            c, [0, 0, 0, 0], [1, kv_heads, step.length, head_dim],
            f"{hint}_{name}_all") for c, name in zip(caches, "kv"))
        q5 = self.f.expand(q, [[0, 1], [2, 3, 4]],
                           [1, seq, kv_heads, heads // kv_heads, head_dim],
                           hint + "_q")
        # keys/values [1, KV, len, D]: k[b, kv, j, d]
        out = self._attend(q5, k_all, v_all, ([0, 1, 4, 5], "#cache_k"),
                           ([0, 2, 4, 5], "#cache_v"), step.length,
                           step.position, scale, window, hint, softcap)
        return out, caches[0], caches[1]

    def _attend(self, q5: Value, keys: Value, values: Value,
                k_map: tuple[list[int], str], v_map: tuple[list[int], str],
                key_len: int | Value, q_offset: Value | None,
                scale: tuple[str, float], window: int | None,
                hint: str, softcap: float | None = None) -> Value:
        # The cached attention of prefill/decode (CPU only for now) sums the
        # context with d innermost, a contiguous vector update per key; the
        # forward graph keeps j innermost, which the GPU mapping expects.
        ctx_d_inner = q_offset is not None
        """Scores, mask, softmax and weighted sum of grouped-query attention.

        q5 [B, S, KV, G, D]; `keys`/`values` are read through `k_map` /
        `v_map` (map results and alias) over the loops (b, kv, g, i, j, d) (scores) and (b, i, kv,
        g, d, j) (context; (b, i, kv, g, j, d) for the cached attention: the
        same sums over j in ascending order); there are `key_len` keys (an index value for a
        dynamic number). Query head h = kv*G + g uses KV head kv, as
        repeat_kv does. Query i sits at position i (+ `q_offset`), key j at
        position j. Scores and the weighted sum accumulate in float32 and are
        rounded to T; `scale` is ("mul", s) for `scores * s` (a Python float)
        or ("div", d) for division by a T-typed d; keys after the query (and,
        with `window`, keys at or before position - window) get
        finfo(T).min; softmax in float32. Returns [B*S, H*D].
        """
        T = self.T
        bsz, seq, kv_heads, groups, head_dim = q5.tensor.shape
        dynamic = not isinstance(key_len, int)
        sc_t = TensorType((bsz, kv_heads, groups, seq,
                           None if dynamic else key_len), "f32")

        # scores[b, kv, g, i, j] = sum_d q[b, i, kv, g, d] * k[.., j, .., d]
        # The attention dot products are f32 sums whose order is free (as in
        # any BLAS): `reassoc, contract` lets the code generator vectorize the
        # reduction over the head dimension with fused multiply-adds.
        def dot(b, x, y, acc):
            fast = "reassoc,contract"
            return b.addf(acc, b.mulf(b.cast(x, "f32"), b.cast(y, "f32"),
                                      fastmath=fast), fastmath=fast)

        scores = self.f.generic(
            [q5, keys], [self.f.filled(sc_t, 0.0, hint + "_s",
                                       [key_len] if dynamic else [])],
            [amap(self.m, 6, [0, 3, 1, 2, 5], "#attn_q"),
             amap(self.m, 6, *k_map),
             amap(self.m, 6, [0, 1, 2, 3, 4], "#drop_last6")],
            [PAR] * 5 + [RED], dot, hint + "_scores")[0]

        def mask(b: Block, s: Value) -> Value:
            s = b.cast(s, T)  # the matmul result in T
            if scale[0] == "mul":
                s = self.scalar_op_f32(b, s, scale[1], "mul")
            else:
                s = b.divf(s, b.const(scale[1], T, "scale"))
            if softcap is not None:  # Gemma 2, before the mask
                s = self.softcap_scalar(b, s, softcap)
            i, j = b.index(3, "qi"), b.index(4, "kj")
            if q_offset is not None:
                i = b.op("qpos", f"arith.addi {i}, {q_offset} : index",
                         "index")
            masked = b.cmpi("ugt", j, i, "future")
            if window is not None:
                # Mistral keeps keys with j > i - window.
                jw = b.op("jw", f"arith.addi {j}, "
                          f"{b.const(window, 'index', 'win')} : index", "index")
                old = b.cmpi("ule", jw, i, "old")
                masked = b.op("masked", f"arith.ori {masked}, {old} : i1",
                              "i1")
            s = b.select(masked, b.const_min(T), s, "masked")
            return b.cast(s, "f32")

        logits = self.elementwise([scores], sc_t, mask, hint + "_logits")
        probs = self.softmax_last(logits, T, hint + "_p")

        # out[b, i, kv, g, d] = sum_j p[b, kv, g, i, j] * v[.., j, .., d]
        out_acc_t = TensorType((bsz, seq, kv_heads, groups, head_dim), "f32")
        if ctx_d_inner:
            p_map = amap(self.m, 6, [0, 2, 3, 1, 4], "#attn_pc")
            out_map = amap(self.m, 6, [0, 1, 2, 3, 5], "#ctx_out")
            iterators = [PAR] * 4 + [RED, PAR]
        else:
            p_map = amap(self.m, 6, [0, 2, 3, 1, 5], "#attn_p")
            out_map = amap(self.m, 6, [0, 1, 2, 3, 4], "#drop_last6")
            iterators = [PAR] * 5 + [RED]
        ctx = self.f.generic(
            [probs, values], [self.f.filled(out_acc_t, 0.0, hint + "_o")],
            [p_map, amap(self.m, 6, *v_map), out_map], iterators, dot,
            hint + "_ctx")[0]
        ctx = self.elementwise([ctx], out_acc_t.with_elem(T),
                               lambda b, a: b.cast(a, T), hint + "_ctx")
        return self.f.collapse(ctx, [[0, 1], [2, 3, 4]], hint)

    def softmax_last(self, x: Value, out_elem: str, hint: str) -> Value:
        """softmax over the last dim of a float32 tensor: exp(x - max) / sum,
        rounded to `out_elem`."""
        shape = x.tensor.shape
        n = len(shape)
        red_t = TensorType(shape[:-1], "f32")
        keep = amap(self.m, n, list(range(n - 1)), f"#drop_last{n}")
        neg_inf = self.f.op("ninf", "arith.constant 0xFF800000 : f32", "f32")
        mx = self.f.generic(
            [x], [self.f.fill(neg_inf, self.f.empty(red_t, hint + "_max_init"),
                              hint + "_mx")],
            [self.id_map(n), keep], [PAR] * (n - 1) + [RED],
            lambda b, a, acc: b.maximumf(acc, a), hint + "_max")[0]
        e = self.elementwise([x, mx], x.tensor,
                             lambda b, a, m_: b.exp(b.subf(a, m_)),
                             hint + "_exp", [self.id_map(n), keep])
        total = self.f.generic(
            [e], [self.f.filled(red_t, 0.0, hint + "_sum")],
            [self.id_map(n), keep], [PAR] * (n - 1) + [RED],
            lambda b, a, acc: b.addf(acc, a), hint + "_sum")[0]
        return self.elementwise([e, total], x.tensor.with_elem(out_elem),
                                lambda b, a, s: b.cast(b.divf(a, s),
                                                       out_elem),
                                hint, [self.id_map(n), keep])

    def silu_mul(self, gate: Value, up: Value, hint: str) -> Value:
        """act_fn(gate) * up with SiLU computed in float32 as
        x / (1 + exp(-x)) and rounded to T (PyTorch's kernel), times up in T."""
        def body(b, g, u):
            gf = b.cast(g, "f32")
            s = b.divf(gf, b.addf(b.const(1.0, "f32", "one"),
                                  b.exp(b.negf(gf))))
            return b.mulf(b.cast(s, self.T), u)
        return self.elementwise([gate, up], gate.tensor, body, hint)

    def gelu_new(self, x: Value, hint: str) -> Value:
        """GPT-2's "gelu_new":
        0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), each PyTorch op rounded
        to T; tanh(u) = 1 - 2/(exp(2u) + 1) in float32."""
        T = self.T

        def body(b, a):
            half_x = self.scalar_op_f32(b, a, 0.5, "mul")
            cube = b.mulf(b.mulf(a, a), a)
            inner = b.addf(a, self.scalar_op_f32(b, cube, 0.044715, "mul"))
            u = b.cast(self.scalar_op_f32(b, inner, math.sqrt(2.0 / math.pi),
                                          "mul"), "f32")
            e2u = b.exp(b.addf(u, u))
            one = b.const(1.0, "f32", "one")
            tanh = b.subf(one, b.divf(b.const(2.0, "f32", "two"),
                                      b.addf(e2u, one)))
            t = self.scalar_op_f32(b, b.cast(tanh, T), 1.0, "add")
            return b.mulf(half_x, t)
        return self.elementwise([x], x.tensor, body, hint)

    def gelu(self, x: Value, hint: str) -> Value:
        """nn.functional.gelu (exact, "gelu"): x·½·(1 + erf(x·√½)) in
        float32, rounded to T once (PyTorch's kernel computes in float32)."""
        def body(b, a):
            xf = b.cast(a, "f32")
            u = b.mulf(xf, b.const(math.sqrt(0.5), "f32", "rsqrt2"))
            erf = b.op("erf", f"math.erf {u} : f32", "f32")
            one = b.const(1.0, "f32", "one")
            y = b.mulf(b.mulf(xf, b.const(0.5, "f32", "half")),
                       b.addf(one, erf))
            return b.cast(y, self.T)
        return self.elementwise([x], x.tensor, body, hint)

    def gelu_tanh_mul(self, gate: Value, up: Value, hint: str) -> Value:
        """act_fn(gate) * up with "gelu_pytorch_tanh" (F.gelu(approximate=
        "tanh")): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) in float32 (one
        kernel), rounded to T, times up in T."""
        def body(b, g, u):
            x = b.cast(g, "f32")
            cube = b.mulf(b.mulf(x, x), x)
            inner = b.mulf(b.const(math.sqrt(2.0 / math.pi), "f32", "beta"),
                           b.addf(x, b.mulf(b.const(0.044715, "f32", "kappa"),
                                            cube)))
            one = b.const(1.0, "f32", "one")
            y = b.mulf(b.mulf(b.const(0.5, "f32", "half"), x),
                       b.addf(one, _tanh_f32(b, inner)))
            return b.mulf(b.cast(y, self.T), u)
        return self.elementwise([gate, up], gate.tensor, body, hint)

    def relu(self, x: Value, hint: str) -> Value:
        """nn.ReLU: max(x, 0) in T (exact)."""
        return self.elementwise(
            [x], x.tensor,
            lambda b, a: b.maximumf(a, b.const(0.0, self.T, "zero")), hint)

    def scale(self, x: Value, factor: float, hint: str) -> Value:
        """`x * python_float` as PyTorch computes it (float32, rounded to
        T)."""
        return self.elementwise(
            [x], x.tensor,
            lambda b, a: self.scalar_op_f32(b, a, factor, "mul"), hint)

    def mul_const(self, x: Value, value: float, hint: str) -> Value:
        """`x * torch.tensor(value, dtype=T)`: a T product; `value` must be
        exact in T."""
        return self.elementwise(
            [x], x.tensor, lambda b, a: b.mulf(a, b.const(value, self.T,
                                                           "factor")), hint)

    def softcap_scalar(self, b: Block, x: Value, cap: float) -> Value:
        """Gemma 2's soft-capping of a T scalar, op by op as PyTorch does:
        x / cap, tanh, * cap, each in float32 and rounded to T."""
        T = x.type
        y = b.cast(b.divf(b.cast(x, "f32"), b.const(cap, "f32", "cap")), T)
        y = b.cast(_tanh_f32(b, b.cast(y, "f32")), T)
        return b.cast(b.mulf(b.cast(y, "f32"), b.const(cap, "f32", "cap")), T)

    def softcap(self, x: Value, cap: float, hint: str) -> Value:
        """`softcap_scalar` over a tensor (Gemma 2's final logits)."""
        return self.elementwise([x], x.tensor,
                                lambda b, a: self.softcap_scalar(b, a, cap),
                                hint)


def _tanh_f32(b: Block, u: Value) -> Value:
    """tanh of a float32 value as 1 - 2/(exp(2u) + 1) (exact limits ±1; no
    math.tanh, which not every lowering has)."""
    one = b.const(1.0, "f32", "one")
    e2u = b.exp(b.addf(u, u))
    return b.subf(one, b.divf(b.const(2.0, "f32", "two"), b.addf(e2u, one)))


def _sum_squares(b: Block, a: Value, acc: Value) -> Value:
    af = b.cast(a, "f32")
    return b.addf(acc, b.mulf(af, af))


def _module_of(weight_key: str) -> str:
    return weight_key[: -len(".weight")] if weight_key.endswith(".weight") \
        else weight_key
