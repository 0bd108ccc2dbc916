"""Matrix algebra: products, sums, Hadamard products and powers, scalings, transposes,
ones-vector broadcasts and sums, traces, inverses and entries, one record per node kind.

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

from ..matalg import elementwise, inner, neg, times, transpose
from .base import Primitive, U, register

__all__ = ["UnitMatrix"]


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
