"""``Model``: a scalar loss expression, its parameters, its data and outputs.

Every free symbol of the loss that is not a parameter is data, except the
symbols that size a matrix (``n`` in ``MatrixSymbol("X", n, 4)``): those are
dimensions, bound from the arrays' shapes at run time. Strings are never
parsed (SymPy's parser evaluates them): every expression must be SymPy already.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Set

import numpy as np
import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from .errors import SymbpError

__all__ = ["Model", "walk", "free_symbols", "as_expr", "checked_values", "KEYWORDS"]

KEYWORDS = frozenset({"params", "state", "data", "lr", "optimizer", "momentum", "beta1", "beta2",
                      "eps", "rng", "dtype", "samples", "epochs", "batch_size", "seed",
                      "val_data", "verbose"})
"""Keyword arguments of the generated functions: data and dimensions cannot be named so."""


def walk(expr):
    """Every distinct sub-expression of ``expr`` once, without recursion."""
    seen = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        yield e
        stack.extend(a for a in e.args if isinstance(a, sp.Basic))


def free_symbols(expr) -> set:
    """The Symbols and MatrixSymbols of ``expr`` (iteratively, unlike SymPy's)."""
    bound = set()
    found = set()
    for e in walk(expr):
        if isinstance(e, sp.Lambda):
            bound |= set(e.variables)
        elif isinstance(e, sp.Sum):
            bound |= {limit[0] for limit in e.limits}
        elif isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            found.add(e)
    return found - bound


def _is_leaf(sym) -> bool:
    return isinstance(sym, (sp.Symbol, sp.MatrixSymbol))


def _short(expr, limit: int = 80) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_expr(what: str, expr):
    """``expr`` as a SymPy expression; a string is refused, never parsed (parsing runs code)."""
    if isinstance(expr, (str, bytes)):
        raise SymbpError(f"{what} is the string {_short(repr(expr))}; symbp never evaluates "
                         "strings, so build it from SymPy symbols.")
    try:
        expr = sp.sympify(expr, strict=True)
    except (sp.SympifyError, TypeError, ValueError) as exc:
        raise SymbpError(f"{what} is {_short(repr(expr))}, not a SymPy expression.") from exc
    if not isinstance(expr, sp.Expr):
        raise SymbpError(f"{what} is {_short(expr)}, a {type(expr).__name__} and not an "
                         "expression with a number value.")
    return expr


def _check_entries(expr) -> None:
    """Refuse an entry ``A[i, j]`` whose index may lie outside ``A``: SymPy reads an entry of a
    broadcast sum ``(X W + b)[n - 1, 1]`` as ``... + b[n - 1, 1]``, a row a (1, k) bias lacks."""
    limits = {v: (lo, hi) for e in walk(expr) if isinstance(e, sp.Sum) for v, lo, hi in e.limits}
    for e in walk(expr):
        if not (isinstance(e, MatrixElement) and getattr(e.parent, "is_Matrix", False)):
            continue
        for index, size, axis in ((e.i, e.parent.shape[0], "row"), (e.j, e.parent.shape[1], "column")):
            if not size.is_Integer:
                continue  # a row of the batch: the sizes the data bring (and per-row sums) decide
            ends = [index]  # a summation index: both ends of its range
            for v in index.free_symbols & limits.keys():
                ends = [x.subs(v, end) for x in ends for end in limits[v]]
            if all(sp.And(sp.Ge(x, 0), sp.Lt(x, size)) is sp.true for x in ends):
                continue
            raise SymbpError(
                f"{_short(e)} reads {axis} {index} of {_short(e.parent)}, which has {size} "
                f"{axis}{'' if size == 1 else 's'}: an entry of a broadcast sum such as (X W + b)[i, j] "
                f"is read from each term, so take it from the terms, e.g. (X*W)[i, j] + b[0, j].")


_NOT_FINITE = {sp.oo: "oo", sp.S.NegativeInfinity: "-oo", sp.zoo: "zoo", sp.nan: "nan",
               sp.I: "the imaginary unit I"}


def _check_finite(what: str, expr) -> None:
    for e in walk(expr):
        if e.is_Atom and e in _NOT_FINITE:
            raise SymbpError(f"{what} {_short(expr)} contains {_NOT_FINITE[e]}; it must be a "
                             "finite real number for every input.")


def _as_scalar_loss(loss):
    loss = as_expr("the loss", loss)
    _check_finite("the loss", loss)
    if getattr(loss, "is_Matrix", False):
        if loss.shape != (1, 1):
            raise SymbpError(
                f"the loss {_short(loss)} is a matrix of shape {loss.shape}; it must be a scalar "
                "(wrap it in Trace(...), a [0, 0] element of a 1x1 product, or a mean)."
            )
        return sp.Trace(loss)
    return loss


def _symbol_list(what: str, items) -> tuple:
    if items is None:
        return ()
    if _is_leaf(items):
        items = [items]
    if isinstance(items, (str, bytes)):
        raise SymbpError(f"{what} is the string {items!r}; list the symbols themselves "
                         "(symbp never evaluates strings).")
    if isinstance(items, Set):
        raise SymbpError(f"{what} is a set, whose order changes from run to run; give a list.")
    if not isinstance(items, Iterable):
        raise SymbpError(f"{what} must be a list of Symbols or MatrixSymbols, not {_short(items)}.")
    out = {}
    for item in items:
        if not _is_leaf(item):
            raise SymbpError(
                f"{what} entry {_short(repr(item) if isinstance(item, str) else item)} is not a "
                "Symbol or MatrixSymbol; list the symbols themselves."
            )
        if item in out:
            raise SymbpError(f"{what} lists {item} twice.")
        out[item] = None
    return tuple(out)


def _unviewed(x):
    """``x`` under its reshapes (the ``view_of`` argument of a reshape class)."""
    while hasattr(type(x), "view_of"):
        x = x.args[type(x).view_of]
    return x


def _dims_of(symbols: Iterable, products: bool = False) -> set:
    """The dimension symbols of the shapes of ``symbols``; a symbol's dimension is an integer
    or a single symbol, a constant's (``products``) may be ``n T`` (a tensor's rows)."""
    dims = set()
    for sym in symbols:
        if getattr(sym, "is_Matrix", False):
            for d in sym.shape:
                if not (d.is_Integer or d.is_Symbol or (products and d.is_Mul)):
                    raise SymbpError(
                        f"{sym} has shape {sym.shape}; each dimension must be an integer or a "
                        f"single symbol such as n, not {d}."
                    )
                dims |= d.free_symbols
    return dims


def _outputs_dict(outputs) -> dict:
    if outputs is None:
        return {}
    if isinstance(outputs, Mapping):
        items = list(outputs.items())
    else:
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        items = [(f"output{i}" if len(outputs) > 1 else "output", e) for i, e in enumerate(outputs)]
    result = {}
    for name, expr in items:
        if not (isinstance(name, str) and name.isidentifier()):
            raise SymbpError(f"output name {name!r} is not a valid identifier.")
        result[name] = as_expr(f"the output {name!r}", expr)
        _check_finite(f"the output {name!r}", result[name])
    return result


def _names_dict(names) -> dict:
    if names is not None and not isinstance(names, Mapping):
        raise SymbpError("names must be a dict {sub-expression: name}.")
    out = {}
    for expr, name in (names or {}).items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise SymbpError(f"the node name {name!r} for {_short(expr)} is not an identifier.")
        out[as_expr(f"the sub-expression named {name!r}", expr)] = name
    return out


def _number(sym, value):
    """``value`` as a finite real SymPy number; strings are refused, never parsed."""
    try:
        number = None if isinstance(value, (str, bytes)) else sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        number = None
    if not (isinstance(number, sp.Expr) and number.is_number and number.is_extended_real
            and number.is_finite):
        note = " (strings are never evaluated)" if isinstance(value, (str, bytes)) else ""
        raise SymbpError(f"the value given for {sym.name} is {_short(repr(value))}, not a finite "
                         f"real number{note}.")
    return number


def _matrix_view(sym, value):
    """A tensor's value as the matrix SymPy sees (rows = the first axis, row-major)."""
    value = np.asarray(value)
    if value.ndim != len(sym.tensor_shape):
        raise SymbpError(f"the value given for {sym.name} has shape {value.shape}; {sym.name} is a "
                         f"tensor of shape {tuple(sym.tensor_shape)}.")
    return value.reshape(1, -1) if value.ndim == 1 else value.reshape(value.shape[0], -1)


def checked_values(values, symbols: tuple) -> dict:
    """``{symbol: value}`` checked entry by entry; a key may be a symbol or its exact name."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise SymbpError("values must be a dict {symbol: number or array}, such as {w: 0.5}.")
    by_name = {s.name: s for s in symbols}
    out = {}
    for key, value in values.items():
        sym = by_name.get(key) if isinstance(key, str) else key
        if not (isinstance(sym, sp.Basic) and sym in by_name.values()):
            raise SymbpError(f"values gives a number for {_short(repr(key))}, which is not a "
                             f"symbol of the model ({', '.join(by_name)}).")
        if isinstance(sym, sp.MatrixSymbol):
            for entry in np.ravel(np.asarray(value, dtype=object)):
                _number(sym, entry)
            out[sym] = _matrix_view(sym, value) if hasattr(sym, "tensor_shape") else value
        else:
            out[sym] = _number(sym, value)
    return out


class Model:
    """A network: a scalar ``loss``, the ``params`` to train, optional ``outputs``.

    ``outputs`` is an expression, a list of them or a dict ``name -> expr``
    (what the generated ``predict`` returns). ``values`` optionally gives a
    point (symbol -> number) used by the teaching outputs; ``names`` names
    intermediate nodes (``{shirt + pants * count: "subtotal"}``) in the steps.
    """

    def __init__(self, loss, params, outputs=None, name: str = "model",
                 description: str = "", values: Mapping | None = None,
                 names: Mapping | None = None):
        self.loss = _as_scalar_loss(loss)
        self.params = _symbol_list("params", params)
        if not self.params:
            raise SymbpError("params is empty: name at least one symbol to differentiate.")
        if not (isinstance(name, str) and name.isidentifier()):
            raise SymbpError(f"the model name {name!r} must be a Python identifier such as 'mlp'.")
        if not isinstance(description, str):
            raise SymbpError(f"the description {_short(repr(description))} must be a string.")
        self.name = name
        self.description = description
        self.outputs = _outputs_dict(outputs)
        free = free_symbols(self.loss)
        for p in self.params:
            if p not in free:
                raise SymbpError(f"the parameter {p} does not appear in the loss {_short(self.loss)}.")
        every = set(free)
        for expr in self.outputs.values():
            extra = {s for s in free_symbols(expr) if s not in free and _is_leaf(s)}
            every |= extra
        for sym in every:
            if not _is_leaf(sym):
                raise SymbpError(f"{_short(sym)} in the loss is neither a Symbol nor a MatrixSymbol.")
        for expr in (self.loss, *self.outputs.values()):
            _check_entries(expr)
        constants = {e for expr in (self.loss, *self.outputs.values()) for e in walk(expr)
                     if isinstance(e, (sp.OneMatrix, sp.ZeroMatrix, sp.Identity))}  # n in 𝟙 (n x 1)
        dims = _dims_of(every) | _dims_of(constants, products=True) | _dims_of(self.params)
        self.dims = tuple(sorted(dims, key=str))
        self._check_dims_not_params(every)
        known = {*self.params, *self.dims}
        self.data = tuple(sorted((s for s in every if s not in known), key=str))
        self._check_names()
        self.is_scalar = not any(isinstance(s, sp.MatrixSymbol) for s in (*self.params, *self.data))
        """True when no symbol is a matrix: the model describes one sample."""
        self.values = checked_values(values, self.symbols)
        self.names = _names_dict(names)

    def _check_dims_not_params(self, every: set) -> None:
        for p in self.params:
            if p in self.dims:
                owner = next(s for s in sorted(every | set(self.params), key=str)
                             if isinstance(s, sp.MatrixSymbol) and p in s.shape)
                raise SymbpError(f"{p} sizes the matrix {owner}, so it is a dimension read from "
                                 "the data's shapes, not a parameter; remove it from params.")

    def _check_names(self) -> None:
        for sym in (*self.data, *self.dims):
            if unicodedata.normalize("NFKC", sym.name) in KEYWORDS:  # Python reads ｌｒ= as lr=
                raise SymbpError(
                    f"the {'dimension' if sym in self.dims else 'data'} symbol {sym.name!r} "
                    "clashes with a keyword argument of the generated functions; rename it."
                )
        seen = {}
        for sym in (*self.params, *self.data, *self.dims):
            if sym.name.startswith("_symbp_"):
                raise SymbpError(f"the symbol name {sym.name!r} starts with _symbp_, which symbp "
                                 "keeps for its own placeholders; rename it.")
            if sym.name in seen and seen[sym.name] != sym:
                raise SymbpError(
                    f"two different symbols are both named {sym.name!r} (different shapes or "
                    "assumptions); give them distinct names."
                )
            seen[sym.name] = sym

    @property
    def symbols(self) -> tuple:
        """Params, then data, then dimensions."""
        return (*self.params, *self.data, *self.dims)


    @property
    def labels(self) -> tuple:
        """The data matrices used as the labels of a softmax cross-entropy."""
        found = {_unviewed(e.args[k]) for e in walk(self.loss)
                 for k in getattr(type(e), "label_args", ())}
        return tuple(s for s in self.data if s in found)

    def shape_of(self, sym) -> tuple:
        """``()`` for a scalar symbol, else the matrix shape (a tensor's full N-d shape)."""
        if hasattr(sym, "tensor_shape"):
            return tuple(sym.tensor_shape)
        return tuple(sym.shape) if isinstance(sym, sp.MatrixSymbol) else ()

    def __repr__(self) -> str:
        params = ", ".join(str(p) for p in self.params)
        return f"Model({self.name!r}, params=[{params}], loss={_short(self.loss, 60)})"
