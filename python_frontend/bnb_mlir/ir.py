"""Builds MLIR text for the upstream dialects the model graphs use.

MLIR's Python bindings are not available, so graphs are written as text in
MLIR's custom assembly: func, arith, math, linalg, tensor and ml_program.
`Module` owns affine-map aliases, globals and functions; `Func` appends
top-level ops; `Block` builds the scalar body of a `linalg.generic`. SSA names
are unique per function (nested regions may not redefine an outer name) and
carry a readable hint (`%l0_q`, `%logits`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .config import mlir_string


# ---------------------------------------------------------------------------
# Types and values
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorType:
    """A ranked tensor type; a `None` dimension is dynamic (`?`)."""
    shape: tuple[int | None, ...]
    elem: str

    def __str__(self) -> str:
        dims = "".join(f"{'?' if d is None else d}x" for d in self.shape)
        return f"tensor<{dims}{self.elem}>"

    @property
    def dynamic_dims(self) -> list[int]:
        """The indices of the dynamic dimensions."""
        return [i for i, d in enumerate(self.shape) if d is None]

    def with_elem(self, elem: str) -> "TensorType":
        return TensorType(self.shape, elem)

    def with_shape(self, shape: Sequence[int]) -> "TensorType":
        return TensorType(tuple(shape), self.elem)

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Value:
    """An SSA value: its name (with `%`) and its type (a TensorType, or a
    scalar type name such as "f16" or "index")."""
    name: str
    type: TensorType | str

    def __str__(self) -> str:
        return self.name

    @property
    def tensor(self) -> TensorType:
        assert isinstance(self.type, TensorType), self
        return self.type


FLOAT_ELEMS = ("f16", "bf16", "f32", "f64")

# Bit patterns of the most negative finite value per float type (finfo.min).
_FLOAT_MIN_BITS = {"f16": "0xFBFF", "bf16": "0xFF7F", "f32": "0xFF7FFFFF",
                   "f64": "0xFFEFFFFFFFFFFFFF"}
_NUMPY_OF = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


def float_literal(value: float, elem: str) -> str:
    """An exact literal of `value` rounded to `elem`: a short decimal when it
    is exact in that type, else the bit pattern in hex."""
    if elem == "bf16":
        from .dtypes import f32_to_bf16_bits, bf16_bits_to_f32
        bits = f32_to_bf16_bits(np.array([value], dtype=np.float32))
        rounded = float(bf16_bits_to_f32(bits)[0])
        hex_text = f"0x{int(bits[0]):04X}"
    else:
        typed = _NUMPY_OF[elem](value)
        rounded = float(typed)
        width = typed.dtype.itemsize * 2
        hex_text = f"0x{int(typed.view(f'u{typed.dtype.itemsize}')):0{width}X}"
    if rounded in (0.0, 1.0, -1.0, 0.5, 2.0) and not str(rounded).startswith("-0"):
        return repr(rounded)
    return hex_text


def float_min_literal(elem: str) -> str:
    """torch.finfo(dtype).min as an MLIR literal (used for masks)."""
    return _FLOAT_MIN_BITS[elem]


def dense_hex(array: np.ndarray) -> str:
    """`dense<"0x...">` of an array's little-endian bytes (bfloat16 as its
    uint16 bits)."""
    data = np.ascontiguousarray(array)
    if data.dtype.byteorder == ">":
        data = data.byteswap().view(data.dtype.newbyteorder("<"))
    return f'dense<"0x{data.tobytes().hex().upper()}">'


# ---------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------

class Module:
    """A module under construction: attributes, map aliases, globals, funcs."""

    def __init__(self):
        self.attributes: dict[str, str] = {}
        self._maps: dict[str, str] = {}  # map text -> alias
        self._globals: list[str] = []
        self._global_names: set[str] = set()
        self.funcs: list["Func"] = []

    def affine_map(self, text: str, alias: str | None = None) -> str:
        """The alias of `affine_map<text>` (defined once, named `alias` or
        `#mapN`)."""
        if text in self._maps:
            return self._maps[text]
        name = alias or f"#map{len(self._maps)}"
        assert re.fullmatch(r"#[A-Za-z_][\w$.]*", name), name
        assert name not in self._maps.values(), name
        self._maps[text] = name
        return name

    def add_global(self, symbol: str, type_: TensorType,
                   initial: str = "#ml_program.extern") -> None:
        """Declares `ml_program.global private @"symbol"` once."""
        if symbol in self._global_names:
            return
        self._global_names.add(symbol)
        init = f"{initial} : {type_}"
        self._globals.append(f"  ml_program.global private "
                             f"@{mlir_string(symbol)}({init}) : {type_}")

    def func(self, name: str, args: Sequence[tuple],
             results: Sequence[TensorType], private: bool = False,
             result_names: Sequence[str] = (),
             result_attrs: Sequence[dict[str, str | None]] = ()) -> "Func":
        """A new function. `args` are (name, type) pairs, or (name, type,
        attrs) with the argument's attribute dictionary (a None value is a
        unit attribute); by default a public function's argument carries
        `bnb.name = "<name>"`. Results are named by `result_names` or carry
        `result_attrs`."""
        f = Func(self, name, args, results, private, result_names,
                 result_attrs)
        self.funcs.append(f)
        return f

    def render(self) -> str:
        lines = [f"{alias} = affine_map<{text}>"
                 for text, alias in self._maps.items()]
        attrs = ""
        if self.attributes:
            attrs = " attributes {" + ", ".join(
                f"{k} = {v}" for k, v in self.attributes.items()) + "}"
        lines.append(f"module{attrs} {{")
        lines.extend(self._globals)
        for f in self.funcs:
            lines.extend(f.render())
        lines.append("}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Functions and generic bodies
# ---------------------------------------------------------------------------

class _Names:
    """Unique SSA names for one function."""

    def __init__(self):
        self._used: dict[str, int] = {}

    def fresh(self, hint: str) -> str:
        hint = re.sub(r"[^\w$.]", "_", hint) or "v"
        if hint[0].isdigit():
            hint = "v" + hint
        n = self._used.get(hint, 0)
        self._used[hint] = n + 1
        return f"%{hint}" if n == 0 else f"%{hint}_{n}"


class _Emitter:
    """Shared scalar-op helpers of functions and generic bodies."""

    def __init__(self, names: _Names, indent: str):
        self.names = names
        self.indent = indent
        self.lines: list[str] = []

    def emit(self, text: str) -> None:
        self.lines.append(self.indent + text)

    def op(self, hint: str, text: str, type_) -> Value:
        """Appends `%name = text` and returns the named value."""
        v = Value(self.names.fresh(hint), type_)
        self.emit(f"{v.name} = {text}")
        return v

    # Scalars ---------------------------------------------------------------

    def const(self, value, elem: str, hint: str = "c") -> Value:
        if elem in FLOAT_ELEMS:
            lit = float_literal(value, elem)
        elif elem == "i1":
            lit = "true" if value else "false"
        else:
            lit = str(int(value))
        return self.op(hint, f"arith.constant {lit} : {elem}", elem)

    def const_min(self, elem: str, hint: str = "min") -> Value:
        """The most negative finite value of a float type."""
        return self.op(hint, f"arith.constant {float_min_literal(elem)} : "
                             f"{elem}", elem)

    def _binary(self, opname: str, a: Value, b: Value, hint: str,
                fastmath: str | None = None) -> Value:
        assert a.type == b.type, (opname, a, b)
        flags = f" fastmath<{fastmath}>" if fastmath else ""
        return self.op(hint, f"{opname} {a}, {b}{flags} : {a.type}", a.type)

    def addf(self, a, b, hint="add", fastmath: str | None = None):
        return self._binary("arith.addf", a, b, hint, fastmath)

    def subf(self, a, b, hint="sub"):
        return self._binary("arith.subf", a, b, hint)

    def mulf(self, a, b, hint="mul", fastmath: str | None = None):
        return self._binary("arith.mulf", a, b, hint, fastmath)

    def divf(self, a, b, hint="div"):
        return self._binary("arith.divf", a, b, hint)

    def maximumf(self, a, b, hint="max"):
        return self._binary("arith.maximumf", a, b, hint)

    def negf(self, a, hint="neg"):
        return self.op(hint, f"arith.negf {a} : {a.type}", a.type)

    def exp(self, a, hint="exp"):
        return self.op(hint, f"math.exp {a} : {a.type}", a.type)

    def rsqrt(self, a, hint="rsqrt"):
        return self.op(hint, f"math.rsqrt {a} : {a.type}", a.type)

    def cast(self, a: Value, elem: str, hint: str = "cast") -> Value:
        """arith.extf / arith.truncf to `elem`, or `a` itself."""
        if a.type == elem:
            return a
        widths = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}
        src, dst = widths[a.type], widths[elem]
        if src == dst:  # f16 <-> bf16: through f32, as torch does
            return self.cast(self.cast(a, "f32", hint), elem, hint)
        opname = "arith.extf" if dst > src else "arith.truncf"
        return self.op(hint, f"{opname} {a} : {a.type} to {elem}", elem)

    def cmpi(self, pred: str, a: Value, b: Value, hint="cmp") -> Value:
        return self.op(hint, f"arith.cmpi {pred}, {a}, {b} : {a.type}", "i1")

    def select(self, cond: Value, a: Value, b: Value, hint="sel") -> Value:
        assert a.type == b.type
        return self.op(hint, f"arith.select {cond}, {a}, {b} : {a.type}",
                       a.type)

    def index_cast(self, a: Value, to: str, hint="idx") -> Value:
        return self.op(hint, f"arith.index_cast {a} : {a.type} to {to}", to)

    def clamp_index(self, a: Value, hi: int, hint="idx") -> Value:
        """max(0, min(a, hi)) for an index value."""
        zero = self.const(0, "index", "c0")
        top = self.const(hi, "index", "chi")
        lo = self.op(hint, f"arith.minsi {a}, {top} : index", "index")
        return self.op(hint, f"arith.maxsi {lo}, {zero} : index", "index")

    def extract(self, tensor: Value, indices: Sequence[Value],
                hint="elt") -> Value:
        idx = ", ".join(str(i) for i in indices)
        return self.op(hint, f"tensor.extract {tensor}[{idx}] : "
                             f"{tensor.type}", tensor.tensor.elem)


class Block(_Emitter):
    """The body of a linalg.generic; `args` are its block arguments."""

    def __init__(self, names: _Names, in_types: Sequence[str],
                 out_types: Sequence[str], indent: str):
        super().__init__(names, indent + "  ")
        self.args = ([Value(names.fresh("in"), t) for t in in_types] +
                     [Value(names.fresh("out"), t) for t in out_types])

    def index(self, dim: int, hint: str | None = None) -> Value:
        return self.op(hint or f"i{dim}", f"linalg.index {dim} : index",
                       "index")


class Func(_Emitter):
    """A func.func under construction."""

    def __init__(self, module: Module, name: str, args: Sequence[tuple],
                 results: Sequence[TensorType], private: bool,
                 result_names: Sequence[str] = (),
                 result_attrs: Sequence[dict[str, str | None]] = ()):
        super().__init__(_Names(), "    ")
        self.module = module
        self.name = name
        self.private = private
        self.arg_attrs = [a[2] if len(a) > 2 else
                          {"bnb.name": mlir_string(a[0])} for a in args]
        self.args = [Value(self.names.fresh(a[0]), a[1]) for a in args]
        self.results = list(results)
        self.result_attrs = [{"bnb.name": mlir_string(n)}
                             for n in result_names] + list(result_attrs)
        assert len(self.result_attrs) <= len(self.results)

    # Tensors -----------------------------------------------------------------

    def constant(self, array: np.ndarray, type_: TensorType,
                 hint: str = "cst") -> Value:
        """arith.constant dense<"0x..."> of `array`'s bytes as `type_`."""
        return self.op(hint, f"arith.constant {dense_hex(array)} : {type_}",
                       type_)

    def empty(self, type_: TensorType, hint: str = "empty",
              dynamic_sizes: Sequence[Value] = ()) -> Value:
        """tensor.empty; `dynamic_sizes` gives the `?` dimensions."""
        assert len(dynamic_sizes) == len(type_.dynamic_dims), (type_, hint)
        sizes = ", ".join(str(v) for v in dynamic_sizes)
        return self.op(hint, f"tensor.empty({sizes}) : {type_}", type_)

    def dim(self, v: Value, index: int, hint: str = "dim") -> Value:
        """tensor.dim of dimension `index`."""
        c = self.const(index, "index", f"c{index}")
        return self.op(hint, f"tensor.dim {v}, {c} : {v.type}", "index")

    def dynamic_sizes(self, v: Value) -> list[Value]:
        """tensor.dim of each dynamic dimension of `v`."""
        return [self.dim(v, i, f"{v.name[1:]}_dim{i}")
                for i in v.tensor.dynamic_dims]

    def fill(self, scalar: Value, dest: Value, hint: str = "fill") -> Value:
        return self.op(hint, f"linalg.fill ins({scalar} : {scalar.type}) "
                             f"outs({dest} : {dest.type}) -> {dest.type}",
                       dest.type)

    def filled(self, type_: TensorType, value, hint: str,
               dynamic_sizes: Sequence[Value] = ()) -> Value:
        """tensor.empty + linalg.fill with a constant."""
        scalar = self.const(value, type_.elem, "zero" if value == 0 else "c")
        return self.fill(scalar, self.empty(type_, hint + "_init",
                                            dynamic_sizes), hint)

    def matmul(self, lhs: Value, rhs: Value, init: Value,
               maps: Sequence[str] | None = None, hint: str = "mm",
               attrs: dict[str, str] | None = None) -> Value:
        """linalg.matmul (with explicit `indexing_maps` aliases if given)."""
        text = "linalg.matmul"
        if maps:
            text += f" indexing_maps = [{', '.join(maps)}]"
        if attrs:
            text += " {" + ", ".join(f"{k} = {v}" for k, v in attrs.items()) \
                    + "}"
        text += (f" ins({lhs}, {rhs} : {lhs.type}, {rhs.type})"
                 f" outs({init} : {init.type}) -> {init.type}")
        return self.op(hint, text, init.type)

    def generic(self, ins: Sequence[Value], outs: Sequence[Value],
                maps: Sequence[str], iterators: Sequence[str],
                body: Callable[..., Sequence[Value] | Value],
                hint: str = "g") -> list[Value]:
        """linalg.generic; `body(block, *args)` returns the yielded values."""
        assert len(maps) == len(ins) + len(outs)
        block = Block(self.names, [v.tensor.elem for v in ins],
                      [v.tensor.elem for v in outs], self.indent)
        yielded = body(block, *block.args)
        if isinstance(yielded, Value):
            yielded = [yielded]
        assert [v.type for v in yielded] == [o.tensor.elem for o in outs], \
            (hint, yielded, outs)
        names = [self.names.fresh(hint) for _ in outs]
        lhs = ", ".join(names)
        its = ", ".join(f'"{it}"' for it in iterators)
        ins_text = (f" ins({', '.join(str(v) for v in ins)} : "
                    f"{', '.join(str(v.type) for v in ins)})" if ins else "")
        outs_text = (f" outs({', '.join(str(v) for v in outs)} : "
                     f"{', '.join(str(v.type) for v in outs)})")
        result_types = ", ".join(str(o.type) for o in outs)
        self.emit(f"{lhs} = linalg.generic {{indexing_maps = "
                  f"[{', '.join(maps)}], iterator_types = [{its}]}}"
                  f"{ins_text}{outs_text} {{")
        args = ", ".join(f"{a}: {a.type}" for a in block.args)
        self.lines.append(f"{self.indent}^bb0({args}):")
        self.lines.extend(block.lines)
        self.lines.append(f"{block.indent}linalg.yield "
                          f"{', '.join(str(v) for v in yielded)} : "
                          f"{', '.join(v.type for v in yielded)}")
        self.emit(f"}} -> {result_types}")
        return [Value(n, o.type) for n, o in zip(names, outs)]

    def expand(self, v: Value, reassociation: Sequence[Sequence[int]],
               shape: Sequence[int], hint: str = "view") -> Value:
        """tensor.expand_shape to `shape`."""
        out = v.tensor.with_shape(shape)
        return self.op(hint, f"tensor.expand_shape {v} "
                             f"{_reassoc(reassociation)} output_shape "
                             f"[{', '.join(str(d) for d in shape)}] : "
                             f"{v.type} into {out}", out)

    def collapse(self, v: Value, reassociation: Sequence[Sequence[int]],
                 hint: str = "view") -> Value:
        """tensor.collapse_shape along `reassociation`."""
        shape = [int(np.prod([v.tensor.shape[i] for i in group]))
                 for group in reassociation]
        out = v.tensor.with_shape(shape)
        return self.op(hint, f"tensor.collapse_shape {v} "
                             f"{_reassoc(reassociation)} : {v.type} into "
                             f"{out}", out)

    def extract_slice(self, v: Value, offsets: Sequence[int | Value],
                      sizes: Sequence[int | Value],
                      hint: str = "slice") -> Value:
        """tensor.extract_slice with unit strides; an offset or size may be
        an `index` value (a size that is one makes the dimension `?`)."""
        out = v.tensor.with_shape([s if isinstance(s, int) else None
                                   for s in sizes])
        return self.op(hint, f"tensor.extract_slice {v}"
                             f"{_slice_operands(offsets, sizes)} : "
                             f"{v.type} to {out}", out)

    def insert_slice(self, source: Value, dest: Value,
                     offsets: Sequence[int | Value], hint: str = "ins"
                     ) -> Value:
        """tensor.insert_slice of all of `source` (static shape) into `dest`
        at `offsets` (ints or `index` values), unit strides."""
        sizes = list(source.tensor.shape)
        return self.op(hint, f"tensor.insert_slice {source} into {dest}"
                             f"{_slice_operands(offsets, sizes)} : "
                             f"{source.type} into {dest.type}", dest.type)

    def global_load_const(self, symbol: str, type_: TensorType,
                          hint: str = "w") -> Value:
        return self.op(hint, f"ml_program.global_load_const "
                             f"@{mlir_string(symbol)} : {type_}", type_)

    def begin_region(self) -> int:
        """Starts a region whose ops end_region wraps; returns its marker."""
        return len(self.lines)

    def end_region(self, marker: int, results: Value | Sequence[Value],
                   attrs: dict[str, str], hint: str = "r"
                   ) -> Value | list[Value]:
        """Wraps the ops emitted since `marker` in
        `scf.execute_region -> (T...) no_inline { ... scf.yield results }`
        with `attrs`; values defined inside are visible outside only through
        the returned results (one Value for one Value, else a list)."""
        single = isinstance(results, Value)
        results = [results] if single else list(results)
        body = ["  " + line for line in self.lines[marker:]]
        del self.lines[marker:]
        name = self.names.fresh(hint)
        types = ", ".join(str(r.type) for r in results)
        if single:
            outs = [Value(name, results[0].type)]
            self.emit(f"{name} = scf.execute_region -> {types} no_inline {{")
        else:
            outs = [Value(f"{name}#{i}", r.type)
                    for i, r in enumerate(results)]
            self.emit(f"{name}:{len(results)} = scf.execute_region -> "
                      f"({types}) no_inline {{")
        self.lines.extend(body)
        self.emit(f"  scf.yield {', '.join(str(r) for r in results)} : "
                  f"{types}")
        attr_text = ", ".join(f"{k} = {val}" for k, val in attrs.items())
        self.emit(f"}} {{{attr_text}}}")
        return outs[0] if single else outs

    def ret(self, values: Sequence[Value]) -> None:
        if values:
            self.emit(f"return {', '.join(str(v) for v in values)} : "
                      f"{', '.join(str(v.type) for v in values)}")
        else:
            self.emit("return")

    def render(self) -> list[str]:
        vis = " private" if self.private else ""
        # Entry points name their tensors (bnb.name), which the compiled
        # artifact's manifest and the input/output files use.
        def with_attrs(text: str, attrs: dict[str, str | None]) -> str:
            if self.private or not attrs:
                return text
            items = ", ".join(k if v is None else f"{k} = {v}"
                              for k, v in attrs.items())
            return f"{text} {{{items}}}"
        args = ", ".join(with_attrs(f"{a}: {a.type}", attrs)
                         for a, attrs in zip(self.args, self.arg_attrs))
        attrs = self.result_attrs + [{}] * (len(self.results) -
                                            len(self.result_attrs))
        results = [with_attrs(str(r), a) for r, a in zip(self.results, attrs)]
        res = ""
        if len(results) == 1 and not self.result_attrs:
            res = f" -> {results[0]}"
        elif results:
            res = f" -> ({', '.join(results)})"
        return ([f"  func.func{vis} @{self.name}({args}){res} {{"] +
                self.lines + ["  }"])


def _slice_operands(offsets: Sequence, sizes: Sequence) -> str:
    """`[offsets] [sizes] [1, ...]` of a slice op."""
    def row(items):
        return "[" + ", ".join(str(i) for i in items) + "]"
    return f"{row(offsets)} {row(sizes)} {row([1] * len(sizes))}"


def _reassoc(groups: Sequence[Sequence[int]]) -> str:
    return "[" + ", ".join("[" + ", ".join(str(i) for i in g) + "]"
                           for g in groups) + "]"
