"""Matrix algebra: products, sums, Hadamard products and powers, scalings, transposes,
ones-vector broadcasts and sums, traces, inverses, determinants, diagonal matrices,
entries, slices and block matrices, one record per node kind.

Each record gives the forward value (a SymPy expression of the argument values),
the shape, the vector-Jacobian product (``c.g`` is the upstream adjoint, ``c.a``
the argument values, ``c.out`` the node's value) and the flags the graph and the
sweep read: ``transposable`` (an equal node of transposed arguments is looked up),
``view`` (never a step of its own: a transpose or a broadcast), ``foldable`` and
``absorbing`` (a node used once is written into an absorbing user), ``pair`` (the
kind that computes its transpose: ``1 b`` and ``a 1ᵀ``, column and row sums).
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement, MatrixExpr
from sympy.matrices.expressions.special import OneMatrix

from ..errors import SymbpError
from ..matalg import elementwise, inner, neg, times, transpose
from .base import Primitive, U, code_paren, np_name, register, unicode_call

__all__ = ["UnitMatrix", "Det", "Diag", "Slice", "Pad", "Block"]


class UnitMatrix(MatrixExpr):
    """``E_ij``: the ``rows x cols`` matrix with a single one at ``(i, j)``."""

    def __new__(cls, i, j, rows, cols):
        return super().__new__(cls, *map(sp.sympify, (i, j, rows, cols)))

    @property
    def shape(self):
        return self.args[2], self.args[3]

    def _entry(self, i, j, **kwargs):
        return sp.KroneckerDelta(i, self.args[0]) * sp.KroneckerDelta(j, self.args[1])

    def _latex(self, printer):
        i, j = (printer._print(a) for a in self.args[:2])
        return rf"E_{{{i}{j}}}"


class Det(sp.Determinant):
    """``det(A)`` of a square matrix: the value of a ``det`` node (SymPy's ``Determinant``,
    which the tracer reads, printing as NumPy's ``np.linalg.det``)."""

    def doit(self, **hints):
        return sp.Determinant(self.arg).doit(**hints)

    def _latex(self, printer, exp=None):
        head = r"\det" if exp is None else rf"\det^{{{exp}}}"
        return rf"{head}\left({printer._print(self.arg)}\right)"

    def _sympystr(self, printer):
        return unicode_call(printer, self, "det")

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'linalg.det')}({printer._print(self.arg)})"


class Diag(sp.DiagMatrix):
    """``diag(v)``: the square matrix with the column (or row) ``v`` on its diagonal, the
    value of a ``diag`` node (SymPy's ``DiagMatrix``, printing as ``np.diagflat``)."""

    def _latex(self, printer, exp=None):
        return rf"\operatorname{{diag}}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return unicode_call(printer, self, "diag")

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'diagflat')}({printer._print(self.args[0])})"


def _diag_vjp(c):
    """The diagonal of the upstream adjoint, shaped as the argument: ``(G ⊙ I) 𝟙`` for a
    column, ``𝟙ᵀ (G ⊙ I)`` for a row."""
    k = c.out.shape[0]
    diagonal = sp.HadamardProduct(c.g, sp.Identity(k))
    if c.a[0].shape[1] == 1:
        return (sp.MatMul(diagonal, OneMatrix(k, 1)),)
    return (sp.MatMul(OneMatrix(1, k), diagonal),)


def _diag_shape(shapes, attr):
    rows, cols = shapes[0]
    k = rows if cols == 1 else cols
    return (k, k)


class Slice(sp.MatrixSlice):
    """``Z[r0:r1, c0:c1]``: the value of a ``slice`` node (SymPy's ``MatrixSlice``, step 1),
    printing as a NumPy slice; a bound that is the whole axis prints empty (``Z[:, :2]``)."""

    def _numpycode(self, printer, **kwargs):
        parent, rows, cols = self.args
        parts = [_bounds(printer, s, full) for s, full in zip((rows, cols), parent.shape, strict=True)]
        return f"{code_paren(printer, parent)}[{parts[0]}, {parts[1]}]"

    def _sympystr(self, printer):
        return printer._print_MatrixSlice(self)

    def _latex(self, printer):
        return printer._print_MatrixSlice(self)


def _bounds(printer, s, full) -> str:
    start, stop = s[0], s[1]
    return ("" if start == 0 else printer._print(start)) + ":" + (
        "" if stop == full else printer._print(stop))


class Pad(MatrixExpr):
    """``G`` placed at rows ``r0..`` and columns ``c0..`` of a ``rows x cols`` zero matrix
    (the adjoint of a slice)."""

    def __new__(cls, g, rows, cols, r0, c0):
        return super().__new__(cls, g, *map(sp.sympify, (rows, cols, r0, c0)))

    @property
    def shape(self):
        return self.args[1], self.args[2]

    def _entry(self, i, j, **kwargs):
        g, _, _, r0, c0 = self.args
        inside = sp.And(r0 <= i, i < r0 + g.shape[0], c0 <= j, j < c0 + g.shape[1])
        return sp.Piecewise((g[i - r0, j - c0], inside), (0, True)) if inside is not sp.false else 0

    def _sympystr(self, printer):
        g, rows, cols, r0, c0 = (printer._print(a) for a in self.args)
        return f"pad({g} at [{r0}, {c0}] of {rows}×{cols})"

    def _latex(self, printer):
        g, rows, cols, r0, c0 = (printer._print(a) for a in self.args)
        return rf"\operatorname{{pad}}_{{{rows} \times {cols}}}^{{({r0}, {c0})}}\left({g}\right)"

    def _numpycode(self, printer, **kwargs):
        g, rows, cols, r0, c0 = self.args
        after = [printer._print(rows - r0 - g.shape[0]), printer._print(cols - c0 - g.shape[1])]
        return (f"{np_name(printer, 'pad')}({printer._print(g)}, (({printer._print(r0)}, "
                f"{after[0]}), ({printer._print(c0)}, {after[1]})))")


def _slice_operands(e):
    parent, rows, cols = e.args
    if rows[2] != 1 or cols[2] != 1:
        raise SymbpError(f"the slice {e} has a step other than 1; symbp slices contiguous rows "
                         "and columns only.")
    return (parent,), (tuple(rows), tuple(cols))


def _slice_vjp(c):
    (rows, cols), (rows_total, cols_total) = c.node.attr, c.a[0].shape
    return (Pad(c.g, rows_total, cols_total, rows[0], cols[0]),)


class Block(sp.BlockMatrix):
    """``[[A, B], [C, D]]``: the value of a ``block`` node (SymPy's ``BlockMatrix``, e.g. the
    concatenated weights of several gates), printing as ``np.block``."""

    def _sympystr(self, printer):
        rows = self.blocks.tolist()
        return "[" + "; ".join(" ".join(printer._print(b) for b in row) for row in rows) + "]"

    def _latex(self, printer):
        return printer._print(self.blocks)

    def _numpycode(self, printer, **kwargs):
        rows = ", ".join("[" + ", ".join(printer._print(b) for b in row) + "]"
                         for row in self.blocks.tolist())
        return f"{np_name(printer, 'block')}([{rows}])"


def _block_operands(e):
    rows, cols = e.blocks.shape
    return tuple(e.blocks[i, j] for i in range(rows) for j in range(cols)), (rows, cols)


def _block_value(node, a):
    rows, cols = node.attr
    return Block([[a[i * cols + j] for j in range(cols)] for i in range(rows)])


def _block_shape(shapes, attr):
    rows, cols = attr
    return (sum(shapes[i * cols][0] for i in range(rows)), sum(shapes[j][1] for j in range(cols)))


def _block_vjp(c):
    """Each block's adjoint is the matching slice of the upstream adjoint."""
    rows, cols = c.node.attr
    heights = [c.a[i * cols].shape[0] for i in range(rows)]
    widths = [c.a[j].shape[1] for j in range(cols)]
    out = []
    for i in range(rows):
        r0 = sum(heights[:i])
        for j in range(cols):
            c0 = sum(widths[:j])
            out.append(Slice(c.g, (r0, r0 + heights[i], 1), (c0, c0 + widths[j], 1)))
    return tuple(out)


def _first(shapes, attr):
    return shapes[0]


def _scalar(shapes, attr):
    return ()


def _hpow_vjp(c):
    a, p = c.a
    power = a if p - 1 == 1 else sp.HadamardPower(a, p - 1)
    d_a = sp.HadamardProduct(c.g, times(p, power))
    d_p = inner(c.g, sp.HadamardProduct(c.out, elementwise(sp.Lambda(U, sp.log(U)), a)))
    return d_a, d_p


def _element_vjp(c):
    i, j = c.node.attr
    rows, cols = c.a[0].shape
    if (rows, cols) == (1, 1):  # the only entry: the adjoint itself, as a 1 x 1 matrix
        return (times(c.g, OneMatrix(1, 1)),)
    return (times(c.g, UnitMatrix(i, j, rows, cols)),)


def _inverse_vjp(c):
    t = transpose(c.out)
    return (neg(sp.MatMul(t, c.g, t)),)


register(Primitive(
    "matmul", sp.MatMul, value=lambda node, a: sp.MatMul(*a),
    shape=lambda shapes, attr: (shapes[0][0], shapes[1][1]),
    vjp=lambda c: (sp.MatMul(c.g, transpose(c.a[1])), sp.MatMul(transpose(c.a[0]), c.g)),
    transposable=True, foldable=True))
register(Primitive(
    "add", sp.MatAdd, value=lambda node, a: sp.MatAdd(*a) if node.shape else sp.Add(*a),
    shape=_first, vjp=lambda c: (c.g,) * len(c.a), transposable=True, foldable=True,
    absorbing=True))
register(Primitive(
    "hadamard", sp.HadamardProduct, value=lambda node, a: sp.HadamardProduct(*a), shape=_first,
    vjp=lambda c: tuple(sp.HadamardProduct(c.g, *(x for k, x in enumerate(c.a) if k != i))
                        for i in range(len(c.a))),
    prefix="H", elementwise=True, transposable=True, foldable=True, absorbing=True))
register(Primitive(
    "hpow", sp.HadamardPower, value=lambda node, a: sp.HadamardPower(*a), shape=_first,
    vjp=_hpow_vjp, prefix="H", elementwise=True, transposable=True, foldable=True))
register(Primitive(
    "scale", sp.MatMul, value=lambda node, a: sp.MatMul(*a), shape=lambda shapes, attr: shapes[1],
    vjp=lambda c: (inner(c.g, c.a[1]), times(c.a[0], c.g)), transposable=True, foldable=True,
    absorbing=True))
register(Primitive(
    "transpose", sp.Transpose, value=lambda node, a: transpose(a[0]),
    shape=lambda shapes, attr: shapes[0][::-1], vjp=lambda c: (transpose(c.g),), view=True))
register(Primitive(
    "broadcast_rows", sp.MatMul, value=lambda node, a: sp.MatMul(OneMatrix(node.attr, 1), a[0]),
    shape=lambda shapes, attr: (attr, shapes[0][1]),
    vjp=lambda c: (sp.MatMul(OneMatrix(1, c.node.attr), c.g),), view=True, pair="broadcast_cols"))
register(Primitive(
    "broadcast_cols", sp.MatMul, value=lambda node, a: sp.MatMul(a[0], OneMatrix(1, node.attr)),
    shape=lambda shapes, attr: (shapes[0][0], attr),
    vjp=lambda c: (sp.MatMul(c.g, OneMatrix(c.node.attr, 1)),), view=True, pair="broadcast_rows"))
register(Primitive(
    "colsum", sp.MatMul, value=lambda node, a: sp.MatMul(OneMatrix(1, a[0].shape[0]), a[0]),
    shape=lambda shapes, attr: (sp.Integer(1), shapes[0][1]),
    vjp=lambda c: (sp.MatMul(OneMatrix(c.a[0].shape[0], 1), c.g),), foldable=True, pair="rowsum"))
register(Primitive(
    "rowsum", sp.MatMul, value=lambda node, a: sp.MatMul(a[0], OneMatrix(a[0].shape[1], 1)),
    shape=lambda shapes, attr: (shapes[0][0], sp.Integer(1)),
    vjp=lambda c: (sp.MatMul(c.g, OneMatrix(1, c.a[0].shape[1])),), foldable=True, pair="colsum"))
register(Primitive(
    "trace", sp.Trace, value=lambda node, a: sp.Trace(a[0]), shape=_scalar,
    vjp=lambda c: (times(c.g, sp.Identity(c.a[0].shape[0])),), prefix="t", foldable=True))
register(Primitive(
    "inverse", sp.Inverse, value=lambda node, a: sp.Inverse(a[0]), shape=_first, vjp=_inverse_vjp))
register(Primitive(
    "frobenius", sp.Trace, value=lambda node, a: sp.Trace(sp.MatMul(*a)), shape=_scalar,
    vjp=lambda c: (times(c.g, transpose(c.a[1])), times(c.g, transpose(c.a[0]))), prefix="t",
    foldable=True))
register(Primitive(
    "element", MatrixElement, value=lambda node, a: MatrixElement(a[0], *node.attr), shape=_scalar,
    vjp=_element_vjp, prefix="t", foldable=True))
register(Primitive(
    "det", sp.Determinant, value=lambda node, a: Det(a[0]), shape=_scalar,
    vjp=lambda c: (times(c.g * c.out, transpose(sp.Inverse(c.a[0]))),), prefix="t",
    traced=True))  # d det(A) / dA = det(A) A^-T (Jacobi's formula)
register(Primitive(
    "diag", sp.DiagMatrix, value=lambda node, a: Diag(a[0]), shape=_diag_shape, vjp=_diag_vjp,
    prefix="D", traced=True))
register(Primitive(
    "slice", sp.MatrixSlice, value=lambda node, a: Slice(a[0], *node.attr),
    shape=lambda shapes, attr: tuple(s[1] - s[0] for s in attr), vjp=_slice_vjp, prefix="Z",
    traced=True, operands=_slice_operands))
register(Primitive(
    "block", sp.BlockMatrix, value=_block_value, shape=_block_shape, vjp=_block_vjp,
    traced=True, operands=_block_operands))
