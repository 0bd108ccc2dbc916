"""Tidying adjoints after substitution: what an upstream adjoint of 1, I or all ones
leaves behind (``I A``, ``1 ⊙ A``, ``1 1^T``) is written the way a person would."""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.special import OneMatrix

from .matalg import times, transpose

__all__ = ["tidy"]


def _tidy_node(e):
    if isinstance(e, sp.MatMul):
        coeff, mats = e.as_coeff_matrices()
        if len(mats) > 1 and all(isinstance(m, OneMatrix) for m in mats):  # 1 1^T is all ones
            inner = sp.Mul(*(m.shape[1] for m in mats[:-1]))
            return times(coeff * inner, OneMatrix(mats[0].shape[0], mats[-1].shape[1]))
        kept = [m for m in mats if not isinstance(m, sp.Identity)] or mats[:1]
        return e if len(kept) == len(mats) else times(coeff, kept[0] if len(kept) == 1
                                                           else sp.MatMul(*kept))
    if isinstance(e, sp.Transpose):
        return transpose(e.arg)
    shapes = zip(*(a.shape for a in e.args), strict=True)
    full = tuple(next((d for d in dims if d != 1), 1) for dims in shapes)
    kept = [a for a in e.args if not isinstance(a, OneMatrix)]
    if len(kept) == len(e.args) or not any(a.shape == full for a in kept):
        return e
    return kept[0] if len(kept) == 1 else sp.HadamardProduct(*kept)


def tidy(expr):
    """``expr`` without identity factors in products (``I A``) and all-ones factors in
    Hadamard products (``1 ⊙ A``): what an adjoint of 1 or I leaves after substitution."""
    def untidy(e):
        return isinstance(e, (sp.MatMul, sp.HadamardProduct)) or (
            isinstance(e, sp.Transpose) and isinstance(e.arg, (OneMatrix, sp.Identity)))
    return expr.replace(untidy, _tidy_node)
