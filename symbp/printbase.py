"""What the Unicode, LaTeX and array-API printers share: the notation of matrix calculus.

``MatrixNotation`` is a mixin in front of a SymPy printer. It writes once how each form is
read: precedence of matrix forms and where brackets go, a sum of matrices with its
subtractions, the transpose mark, the ones vector ``𝟙`` that broadcasts (``𝟙ᵀ`` as a row),
the identity, Hadamard products and powers, the step function as an Iverson bracket
``[x > 0]``, and the shapes broadcasting allows (``compact_shape``: ``𝟙 b`` is ``b``, one
row). A printer says only how its notation spells these: the class attributes below, and
``_wrap`` for a bracket.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.special import OneMatrix
from sympy.printing.precedence import PRECEDENCE, precedence

from .functions import broadcast
from .order import negated, negative_coeff, ordered_terms

__all__ = ["MatrixNotation", "matrix_precedence", "compact_shape", "is_ones", "COMPACT_FORMS"]


def matrix_precedence(expr) -> int:
    """SymPy's precedence, with elementwise maps as tight as their body; products and
    sums of matrices are read off directly (SymPy's own check negates the product)."""
    if isinstance(expr, ElementwiseApplyFunction):
        return precedence(expr.function.expr)
    if isinstance(expr, sp.MatMul):
        return PRECEDENCE["Add"] if negative_coeff(expr) else PRECEDENCE["Mul"]
    if isinstance(expr, (sp.MatrixSymbol, sp.Symbol)):
        return PRECEDENCE["Atom"]
    if isinstance(expr, sp.MatAdd):
        return PRECEDENCE["Add"]
    if isinstance(expr, sp.HadamardProduct):
        return PRECEDENCE["Mul"]
    return precedence(expr)


def is_ones(m, rows=None, cols=None) -> bool:
    if not isinstance(m, OneMatrix):
        return False
    r, c = m.shape
    return (rows is None or r == rows) and (cols is None or c == cols)


COMPACT_FORMS = (sp.MatAdd, sp.HadamardProduct, sp.HadamardPower, sp.MatMul, sp.Transpose, OneMatrix)
"""The matrix forms that may print as a smaller array NumPy broadcasts (see ``compact_shape``)."""


def compact_shape(m) -> tuple:
    """The shape ``CodePrinter`` gives ``m`` where broadcasting is allowed.

    A ones factor is never materialised: ``𝟙`` prints as ``1`` (shape (1, 1)),
    ``𝟙 b`` as ``b`` (one row), ``a 𝟙ᵀ`` as ``a`` (one column); elementwise
    sums and products take NumPy's broadcast of their terms. Every other form
    prints at its full symbolic shape.
    """
    if isinstance(m, OneMatrix):
        return (sp.Integer(1), sp.Integer(1))
    if isinstance(m, sp.Transpose):
        return compact_shape(m.arg)[::-1]
    if isinstance(m, sp.HadamardPower):
        return compact_shape(m.base)
    if isinstance(m, (sp.MatAdd, sp.HadamardProduct)):
        return broadcast([compact_shape(a) for a in m.args])
    if isinstance(m, sp.MatMul):
        _, mats = m.as_coeff_matrices()
        if len(mats) == 1:
            return compact_shape(mats[0])
        rows, cols = m.shape
        if isinstance(mats[0], OneMatrix) and mats[0].shape[0] != 1:
            return (sp.Integer(1), cols)  # 𝟙 B: B's column sums, or B itself, on every row
        if isinstance(mats[-1], OneMatrix) and mats[-1].shape[1] != 1:
            return (rows, sp.Integer(1))
    return tuple(m.shape)


class MatrixNotation:
    """The shared half of the symbp printers (a mixin before a SymPy printer class)."""

    _transpose_mark = "ᵀ"
    _ones = ("𝟙", "𝟙ᵀ")  # the ones vector as a column (or any ones matrix), as a row
    _identity = "I"
    _hadamard = " ⊙ "
    _hadamard_power = "{base}^∘{exp}"
    _step = ("[{x} > 0]", "[{x} ≥ 0]", "H({x})")  # Heaviside(x, 0), Heaviside(x, 1), other

    def _wrap(self, text: str) -> str:
        """``text`` in brackets, as this notation writes them."""
        return f"({text})"

    def parenthesize(self, item, level, strict=False):
        """``item`` printed, bracketed where it binds less tightly than ``level`` (or as
        tightly, unless ``strict``)."""
        prec = matrix_precedence(item)
        text = self._print(item)
        return self._wrap(text) if prec < level or (not strict and prec <= level) else text

    def _paren(self, expr, level=PRECEDENCE["Mul"]) -> str:
        """``expr`` bracketed unless it binds more tightly than ``level``."""
        return self.parenthesize(expr, level)

    def _print_MatAdd(self, expr):
        return self._signed_sum(ordered_terms(expr))

    def _signed_sum(self, terms) -> str:
        """``A + B - C``: a term with a negative coefficient is subtracted."""
        parts = []
        for k, term in enumerate(terms):
            if k and negative_coeff(term):
                parts.append(" - " + self.parenthesize(negated(term), PRECEDENCE["Add"]))
            else:
                parts.append((" + " if k else "") + self.parenthesize(term, PRECEDENCE["Add"], True))
        return "".join(parts)

    def _print_Transpose(self, expr):
        return self.parenthesize(expr.arg, PRECEDENCE["Pow"]) + self._transpose_mark

    def _print_OneMatrix(self, expr):
        return self._ones[expr.shape[0] == 1 and expr.shape[1] != 1]

    def _print_Identity(self, expr):
        return self._identity

    def _print_HadamardProduct(self, expr):
        return self._hadamard.join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_HadamardPower(self, expr):
        return self._hadamard_power.format(base=self.parenthesize(expr.base, PRECEDENCE["Pow"]),
                                           exp=self._hadamard_exponent(expr.exp))

    def _hadamard_exponent(self, exp) -> str:
        return self.parenthesize(exp, PRECEDENCE["Pow"])

    def _print_Heaviside(self, expr):
        return self._step_text(self._print(expr.args[0]), expr)

    def _step_text(self, x: str, step) -> str:
        """The step function of ``x`` (``Heaviside(x, h0)``): an Iverson bracket where its
        value at 0 is 0 or 1 (``[x > 0]``, ``[x ≥ 0]``), else the named function."""
        h0 = step.args[1] if len(step.args) > 1 else sp.Rational(1, 2)
        return self._step[0 if h0 == 0 else 1 if h0 == 1 else 2].format(x=x)
