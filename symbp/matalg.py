"""Matrix-algebra helpers shared by the rule table, the primitives and the printers.

Small constructors that build SymPy matrix expressions directly (no ``doit``):
a transpose pushed inside only where that removes transposes, a scalar
multiple, a negation, the Frobenius inner product, a row-sum broadcast, and an
elementwise map that also works on a 1 x 1 matrix.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.matrices.expressions.special import OneMatrix

__all__ = ["transpose", "times", "neg", "inner", "rowsum_broadcast", "product", "Elementwise",
           "elementwise", "hashed", "TENSOR_ELEMENTWISE"]


def hashed(expr):
    """``expr`` with its hash cached now, while its children's are: SymPy hashes
    recursively, which overflows the stack on a deep network hashed all at once."""
    hash(expr)
    return expr


class Elementwise(ElementwiseApplyFunction):
    """SymPy's elementwise application, also on a 1 x 1 matrix, where SymPy's own
    constructor calls the function on the matrix itself (``Heaviside`` of a matrix
    raises, ``sigmoid`` of one is no matrix); rebuilding (``xreplace``) keeps the class."""

    def __new__(cls, function, expr):
        if tuple(expr.shape) != (1, 1):
            return super().__new__(cls, function, expr)
        return MatrixExpr.__new__(cls, function, expr)


TENSOR_ELEMENTWISE: dict = {}
"""``{"is_tensor": test, "cls": class}``, filled when the tensor family is imported
(``primitives/conv.py`` registers ``tensor.is_tensor`` and ``tensor.TensorElementwise``; the
primitives import this module, so it cannot import them)."""


def elementwise(function: sp.Lambda, x) -> ElementwiseApplyFunction:
    """``function`` applied to every entry of the matrix ``x``; of a tensor, the tensor
    family's elementwise class (so ``tanh(A) * tanh(B)`` of tensors is elementwise too)."""
    hook = TENSOR_ELEMENTWISE
    if hook and hook["is_tensor"](x):
        return hashed(hook["cls"](function, x))
    return hashed(Elementwise(function, x))


def transpose(m):
    """``m^T``, pushed inside a product or sum only where that removes transposes."""
    if isinstance(m, sp.Transpose):
        return m.arg
    if isinstance(m, (OneMatrix, sp.Identity)):
        return m.T
    if isinstance(m, sp.MatMul):
        coeff, mats = m.as_coeff_matrices()
        if all(isinstance(x, (sp.Transpose, OneMatrix)) for x in mats):
            return times(coeff, product([transpose(x) for x in reversed(mats)]))
    if isinstance(m, sp.MatAdd) and all(isinstance(t, sp.Transpose) for t in m.args):
        return sp.MatAdd(*(t.arg for t in m.args))
    return sp.Transpose(m)


def product(mats):
    """The matrix product of ``mats`` (the matrix itself when there is one)."""
    return mats[0] if len(mats) == 1 else sp.MatMul(*mats)


def times(s, m):
    """Scalar ``s`` times matrix ``m``."""
    return m if s == 1 else sp.MatMul(s, m)


def neg(m):
    """``-m``."""
    return sp.MatMul(sp.Integer(-1), m)


def inner(g, m):
    """``sum(G ⊙ M)``, written ``tr(G^T M)``."""
    return sp.Trace(sp.MatMul(transpose(g), m))


def rowsum_broadcast(m, cols):
    """``(M 𝟙) 𝟙ᵀ``: each row's sum, repeated over ``cols`` columns."""
    return sp.MatMul(sp.MatMul(m, OneMatrix(cols, 1)), OneMatrix(1, cols))
