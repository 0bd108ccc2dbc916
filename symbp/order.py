"""The order in which a sum's terms are read: as a textbook writes them.

Products first, broadcast biases (``1 b``) after them, negated terms last:
``X W + 1 b``, ``A - Y``. Printers print sums in this order and the tracer
visits them in it, so forward and backward steps come out in textbook order.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["negative_coeff", "negated", "is_broadcast", "ordered_terms"]


def negative_coeff(term) -> bool:
    """True for ``-Y`` or ``-2 X`` (a product with a negative number in front)."""
    if not isinstance(term, sp.MatMul):
        return False
    return bool(term.as_coeff_matrices()[0].is_negative)


def negated(term):
    """``X`` for ``-X``, ``2 X`` for ``-2 X``: what a sum subtracts for a term with a negative
    coefficient."""
    coeff, mats = term.as_coeff_matrices()
    return mats[0] if coeff == -1 and len(mats) == 1 else sp.MatMul(-coeff, *mats)


def is_broadcast(term) -> bool:
    """True for ``1 b`` (a row repeated down the rows) or ``a 1^T`` (a column across)."""
    if not isinstance(term, sp.MatMul):
        return False
    _, mats = term.as_coeff_matrices()
    return len(mats) >= 2 and ((isinstance(mats[0], sp.OneMatrix) and mats[0].shape[1] == 1)
                               or (isinstance(mats[-1], sp.OneMatrix) and mats[-1].shape[0] == 1))


def ordered_terms(expr) -> list:
    """The terms of a sum as a textbook writes them: broadcast biases after the products,
    terms with a minus sign last (``X W + 1 b``, ``A - Y``)."""
    return sorted(expr.args, key=lambda t: (negative_coeff(t), is_broadcast(t)))
