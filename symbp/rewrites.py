"""SymPy forms rewritten into the forms the tracer has nodes for.

* NumPy-style broadcasting: a one-row (one-column) term of an elementwise sum or
  product is spread over the rows (columns), ``X W + b`` -> ``X W + 𝟙 b``;
* a ``Sum`` over the row index of entries ``M[i, j]`` -> ``𝟙ᵀ`` of a column
  (``(𝟙ᵀ v)[0, 0]``, ``(Aᵀ B)[i, j]`` with a symbolic inner size, index notation);
* the expressions a ``Piecewise`` condition compares, traced as its arguments.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.matrices.expressions.special import OneMatrix

from .errors import SymbpError
from .functions import broadcast, broadcast_shape, elementwise
from .model import _short
from .primitives.algebra import UnitMatrix

__all__ = ["full_shape", "broadcast_terms", "condition_sides", "rows_sum"]


def full_shape(e) -> tuple:
    """The shape the terms of an elementwise sum or product broadcast to."""
    shapes = [broadcast_shape(t) for t in e.args]
    full = broadcast(shapes)
    if full is None:
        listed = ", ".join(f"{_short(t, 30)} is {s[0]} x {s[1]}"
                           for t, s in zip(e.args, shapes, strict=True))
        raise SymbpError(f"the terms of {_short(e)} do not broadcast to one shape ({listed}).")
    return full


def broadcast_terms(e) -> tuple:
    """The terms of an elementwise sum or product, a one-row (one-column) term spread over
    the rows (columns) as NumPy broadcasts it: ``X W + b`` with ``b`` of shape (1, k) is
    ``X W + 𝟙 b``. SymPy accepts such a sum because it cannot tell that n is not 1."""
    rows, cols = full_shape(e)
    terms = []
    for t in e.args:
        shape = broadcast_shape(t)
        if shape[0] != rows:
            t = sp.MatMul(OneMatrix(rows, 1), t)
        if shape[1] != cols:
            t = sp.MatMul(t, OneMatrix(1, cols))
        terms.append(t)
    return tuple(terms)


def condition_sides(cond) -> list:
    """The expressions a Piecewise condition compares (``|r|`` and 1 in ``|r| <= 1``)."""
    if isinstance(cond, sp.core.relational.Relational):
        return [cond.lhs, cond.rhs]
    if isinstance(cond, (sp.And, sp.Or, sp.Not)):
        return [side for c in cond.args for side in condition_sides(c)]
    if cond in (sp.true, sp.false):
        return []
    raise SymbpError(f"symbp cannot branch on the condition {_short(cond)}; compare expressions "
                     "with <, <=, >, >= (joined by & and |).")


def rows_sum(e):
    """A ``Sum`` over a row index as a matrix expression: entries become columns."""
    if len(e.limits) != 1:
        raise SymbpError(f"the sum {_short(e)} runs over several indices; write one sum per index.")
    i, lo, hi = e.limits[0]
    if lo != 0:
        raise SymbpError(f"the sum {_short(e)} starts at {lo}; symbp sums over whole rows (from 0).")
    col = column(e.function, i, hi + 1, e)
    return MatrixElement(sp.MatMul(OneMatrix(1, hi + 1), col), 0, 0)


def column(f, i, rows, whole):
    """The ``rows x 1`` column whose entry ``i`` is ``f``."""
    if not f.has(i):
        return sp.MatMul(f, OneMatrix(rows, 1))
    if isinstance(f, MatrixElement):
        m, r, c = f.args
        if r == i and not c.has(i) and m.shape[0] == rows:
            cols = m.shape[1]
            return m if cols == 1 else sp.MatMul(m, UnitMatrix(c, 0, cols, 1))
        if c == i and not r.has(i) and m.shape[1] == rows:
            return column(MatrixElement(sp.Transpose(m), c, r), i, rows, whole)
    elif f.is_Add:
        return sp.MatAdd(*[column(t, i, rows, whole) for t in f.args])
    elif f.is_Mul:
        coeff = sp.Mul(*[t for t in f.args if not t.has(i)])
        parts = [column(t, i, rows, whole) for t in f.args if t.has(i)]
        col = parts[0] if len(parts) == 1 else sp.HadamardProduct(*parts)
        return col if coeff == 1 else sp.MatMul(coeff, col)
    elif f.is_Pow and not f.exp.has(i):
        return sp.HadamardPower(column(f.base, i, rows, whole), f.exp)
    elif isinstance(f, sp.Function) and len(f.args) == 1:
        d = sp.Dummy("d", real=True)
        return elementwise(sp.Lambda(d, f.func(d)), column(f.args[0], i, rows, whole))
    raise SymbpError(f"symbp cannot sum {_short(f)} over the rows in {_short(whole)}: write it with "
                     f"entries M[{i}, j] of matrices with {rows} rows and functions of one argument.")
