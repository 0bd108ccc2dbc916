"""Random inputs inside the model's domain, for the checks, the emitted tests and teaching.

``domains(model)`` says where each symbol must be drawn so the loss is defined: a
symbol under a log, a non-integer power, an inverse sine/cosine/tanh/cosh, or declared
positive is drawn inside that domain, unless the argument is surely positive already
(an ``exp``, or a vocabulary function positive by its own definition: the sigmoid,
softplus and softmax, read from their elementary forms, not from a list here).
``size_symbols`` are the dimensions that size no input (``n`` in ``OneMatrix(n, 1)``
alone); ``concrete_dims`` picks sizes; ``draw_inputs`` draws float64 parameters and data
(labels of a softmax cross-entropy as probability rows, the function's domain).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import log1p, log2, log10
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .errors import SymbpError
from .model import Model, _short, walk
from .primitives import by_class
from .primitives.tensor import Reshape

__all__ = ["domains", "size_symbols", "concrete_dims", "draw_inputs", "POSITIVE"]


POSITIVE, UNIT, ABOVE_ONE = (0.5, 2.0), (-0.9, 0.9), (1.5, 3.0)
_NEEDS = {sp.log: POSITIVE, log2: POSITIVE, log10: POSITIVE, log1p: POSITIVE, sp.asin: UNIT,
          sp.acos: UNIT, sp.atanh: UNIT, sp.acosh: ABOVE_ONE}


def size_symbols(model: Model) -> tuple:
    """Dimensions that size no input (``n`` in ``OneMatrix(n, 1)`` alone): the generated
    functions take them as keyword arguments (``n=5``)."""
    shown = {d for s in (*model.params, *model.data) for d in model.shape_of(s)}
    return tuple(d for d in model.dims if d not in shown)


def _restrictions(expr):
    """``(argument, interval)`` for each node whose argument has a restricted domain."""
    for e in walk(expr):
        if isinstance(e, (sp.Pow, sp.HadamardPower)) and not e.exp.is_integer:
            yield e.base, POSITIVE, "a non-integer power"
        elif type(e) in _NEEDS:
            yield e.args[0], _NEEDS[type(e)], type(e).__name__


def _surely_positive(e, strict: bool = True) -> bool:
    """True for ``exp(.)``, squares (``strict=False``), positive numbers, sums, products and
    logs of these that are positive (or nonnegative), and vocabulary functions whose own
    elementary form is (the sigmoid, softplus, softmax)."""
    if e.is_positive or isinstance(e, sp.exp) or (not strict and e.is_nonnegative):
        return True
    if isinstance(e, sp.log):  # log u > 0 where u > 1
        return _surely_positive(e.args[0] - 1, strict)
    if by_class(e) is not None:
        return _vocabulary_positive(e, strict)
    if isinstance(e, sp.Add):
        return (all(_surely_positive(a, False) for a in e.args)
                and (not strict or any(_surely_positive(a) for a in e.args)))
    if isinstance(e, sp.Mul):
        return all(_surely_positive(a, strict) for a in e.args)
    if isinstance(e, sp.Pow):
        even = e.exp.is_integer and e.exp.is_even
        return _surely_positive(e.base, strict) or (not strict and bool(even))
    return not strict and isinstance(e, sp.Abs)


def _vocabulary_positive(e, strict: bool) -> bool:
    """Whether the vocabulary function ``e`` is positive by its own definition: its value
    written in ``exp`` and ``log`` (``1/(1 + exp(-x))``; a softmax entry of a 2 x 2
    probe, ``exp(z_0)/(exp(z_0) + exp(z_1))``) is surely positive."""
    try:
        if getattr(e, "is_Matrix", False):
            form = type(e)(sp.MatrixSymbol("_probe", 2, 2))[0, 0] if len(e.args) == 1 else e
        else:
            form = e.rewrite(sp.exp)
    except (ValueError, TypeError):  # a matrix function the square probe does not fit
        return False
    return form != e and _surely_positive(form, strict)


def domains(model: Model) -> tuple[dict, list]:
    """``({symbol: (low, high)}, [unresolved])``: where to draw symbols so the loss is defined.

    A restricted argument that is a symbol (or the matrix an elementwise
    function is applied to) constrains that symbol; a compound one draws all
    its symbols positive (or small), which may not suffice: those nodes are
    returned as unresolved ("the argument X*W - 1 of log"), for the message when the loss is
    not finite.
    """
    bound = {e.function.variables[0]: e.args[1] for e in walk(model.loss)
             if isinstance(e, ElementwiseApplyFunction)}
    free = set(model.params) | set(model.data)
    out = {s: POSITIVE for s in free if isinstance(s, sp.Symbol) and s.is_nonnegative}
    unresolved = []
    for arg, interval, what in _restrictions(model.loss):
        arg = bound.get(arg, arg)
        if interval is POSITIVE and _surely_positive(arg):
            continue
        if arg in free:
            targets = [arg]
        else:
            unresolved.append(f"the argument {_short(arg, 60)} of {what}")
            interval = POSITIVE if interval is POSITIVE else (-0.4, 0.4)
            targets = sorted((s for s in walk(arg) if s in free), key=str)
        for s in targets:
            low, high = out.get(s, interval)
            low, high = max(low, interval[0]), min(high, interval[1])
            out[s] = (low, high) if low < high else out.get(s, interval)
    return dict(sorted(((s.name, v) for s, v in out.items()))), unresolved


def concrete_dims(model: Model, dims: Mapping | None, rng) -> dict:
    """``{dim symbol: int}``: given sizes (by symbol or name), random small ones else."""
    given = {(k.name if isinstance(k, sp.Symbol) else str(k)): int(v) for k, v in (dims or {}).items()}
    out = {}
    for d in model.dims:
        out[d] = given.pop(d.name) if d.name in given else int(rng.integers(3, 7))
    if given:
        raise SymbpError(f"dims names {', '.join(sorted(given))}, which are not dimensions of "
                         f"{model.name} ({', '.join(str(d) for d in model.dims) or 'none'}).")
    return out


def index_ranges(model: Model) -> dict:
    """``{data symbol: the size of the table it indexes}`` for the integer ids of an
    embedding (a vocabulary class's ``index_args``: argument -> the table it picks rows of),
    through the reshapes of a batch of sequences."""
    out = {}
    for e in walk(model.loss):
        for i, j in getattr(type(e), "index_args", {}).items():
            ids = e.args[i]
            while isinstance(ids, Reshape):
                ids = ids.args[0]
            if ids in model.data:
                out[ids] = e.args[j].shape[0]
    return out


def draw_inputs(model: Model, dims: dict, rng, samples: int = 7) -> tuple[dict, dict]:
    """Random float64 ``(params, data)`` dicts keyed by symbol name, inside ``domains``;
    embedding ids as int64 arrays of valid rows (``index_ranges``)."""
    def shape(sym):
        return tuple(int(sp.sympify(d).xreplace(dims)) for d in model.shape_of(sym))

    def value(sym, size):
        if sym.name in ranges:
            return rng.uniform(*ranges[sym.name], size=size)
        return rng.normal(size=size)

    ranges = domains(model)[0]
    params = {p.name: value(p, shape(p)) for p in model.params}
    labels, ids = set(model.labels), index_ranges(model)
    data = {d.name: int(dims.get(d, 3)) for d in size_symbols(model)}  # keyword sizes (n=3)
    for s in model.data:
        if s in ids:
            high = int(sp.sympify(ids[s]).xreplace(dims))
            data[s.name] = rng.integers(0, high, size=shape(s)).astype(np.int64)
        elif s in labels:  # rows of probabilities along the last axis
            logits = 2.0 * rng.normal(size=shape(s))
            e = np.exp(logits - logits.max(axis=-1, keepdims=True))
            data[s.name] = e / e.sum(axis=-1, keepdims=True)
        else:
            data[s.name] = value(s, (samples,) if model.is_scalar else shape(s))
    if model.is_scalar:
        params = {k: np.float64(v) for k, v in params.items()}
    return params, data
