"""Plain-text (Unicode) printing of derivation expressions, for terminals.

``Xᵀ`` transposes, ``⊙`` Hadamard products, ``𝟙`` the ones vector that
broadcasts a bias over rows, ``σ`` the sigmoid, ``[x > 0]`` an Iverson
bracket (the step function). Symbols may be shown under other names
(``Z1_bar`` as ``∂L/∂Z1``); such a name is bracketed before ``ᵀ`` or a power,
``(∂L/∂Z1)ᵀ``, so it cannot be read as the gradient of ``Z1ᵀ``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .graph import U
from .order import negative_coeff, ordered_terms

__all__ = ["UnicodePrinter", "unicode", "matrix_precedence", "format_value"]


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


class UnicodePrinter(StrPrinter):
    """A ``StrPrinter`` for matrix calculus: ``Xᵀ``, ``A ⊙ B``, ``σ(Z)``.

    The vocabulary prints itself (``_sympystr`` on each primitive's class), in this
    notation where the printer says ``unicode``, as SymPy's own ``str`` elsewhere."""

    unicode = True

    def __init__(self, settings=None):
        super().__init__(settings)
        self._bound: dict = {}
        self._elementwise = False

    def _print_Symbol(self, expr):
        return self._bound.get(expr, expr.name)

    def _print_MatrixSymbol(self, expr):
        return self._bound.get(expr, expr.name)

    def _print_OneMatrix(self, expr):
        return "𝟙ᵀ" if expr.shape[0] == 1 and expr.shape[1] != 1 else "𝟙"

    def _print_Identity(self, expr):
        return "I"

    def _print_Transpose(self, expr):
        return self.parenthesize(expr.arg, PRECEDENCE["Pow"]) + "ᵀ"

    def _print_MatMul(self, expr):
        coeff, mats = expr.as_coeff_matrices()
        body = " ".join(self.parenthesize(m, PRECEDENCE["Mul"]) for m in mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return "-" + body
        num, den = sp.fraction(coeff)
        head = "" if num == 1 else self.parenthesize(num, PRECEDENCE["Mul"]) + " "
        tail = "" if den == 1 else " / " + self.parenthesize(den, PRECEDENCE["Pow"])
        if head == "" and tail:
            return f"({body}){tail}" if len(mats) > 1 else body + tail
        return head + body + tail

    def _print_MatAdd(self, expr):
        parts = []
        for k, term in enumerate(ordered_terms(expr)):
            if k and negative_coeff(term):
                coeff, mats = term.as_coeff_matrices()
                text = self.parenthesize(sp.MatMul(-coeff, *mats), PRECEDENCE["Add"])
                parts.append(" - " + text)
            else:
                parts.append((" + " if k else "") + self.parenthesize(term, PRECEDENCE["Add"], True))
        return "".join(parts)

    def parenthesize(self, item, level, strict=False):
        prec = matrix_precedence(item)
        text = self._print(item)
        if prec < level or (not strict and prec <= level):
            return f"({text})"
        if level >= PRECEDENCE["Pow"] and "/" in self._bound.get(item, ""):
            return f"({text})"  # (∂L/∂Z)ᵀ, not ∂L/∂Zᵀ
        return text

    def _print_HadamardProduct(self, expr):
        return " ⊙ ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_HadamardPower(self, expr):
        exponent = self.parenthesize(expr.exp, PRECEDENCE["Pow"])
        return f"{self.parenthesize(expr.base, PRECEDENCE['Pow'])}^∘{exponent}"

    def _print_Trace(self, expr):
        return f"tr({self._print(expr.arg)})"

    def _print_MatrixElement(self, expr):
        return f"{self.parenthesize(expr.parent, PRECEDENCE['Atom'], True)}[{expr.i}, {expr.j}]"

    def _print_ElementwiseApplyFunction(self, expr):
        var, body = expr.function.variables[0], expr.function.expr
        arg = self._print(expr.expr)
        if precedence(expr.expr) < PRECEDENCE["Atom"] and not isinstance(expr.expr, sp.MatrixSymbol):
            arg = f"({arg})"
        saved, saved_e = dict(self._bound), self._elementwise
        self._bound[var] = arg
        self._bound[U] = arg
        self._elementwise = True
        try:
            return self._print(body)
        finally:
            self._bound, self._elementwise = saved, saved_e

    def _print_Dummy(self, expr):
        return self._bound.get(expr, expr.name)

    def _print_Mul(self, expr):
        text = super()._print_Mul(expr)
        return text.replace("*", " ⊙ ") if self._elementwise else text.replace("*", "·")

    def _print_Pow(self, expr, rational=False):
        text = super()._print_Pow(expr, rational)
        return text.replace("**", "^∘" if self._elementwise else "^")

    def _print_Heaviside(self, expr):
        x = self._print(expr.args[0])
        h0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        return f"[{x} > 0]" if h0 == 0 else f"[{x} ≥ 0]" if h0 == 1 else f"H({x})"

    def _print_UnitMatrix(self, expr):
        return f"E_({expr.args[0]},{expr.args[1]})"

    def _print_BatchMean(self, expr):
        return f"mean({self._print(expr.args[0])})"


def unicode(expr, names: dict | None = None) -> str:
    """``expr`` as one line of Unicode text; ``names`` renames symbols (symbol -> text)."""
    printer = UnicodePrinter()
    printer._bound.update(names or {})
    return printer.doprint(expr)


def format_value(value) -> str:
    """A number as a teacher writes it (``0.7``, ``1000``); small matrices in full."""
    if isinstance(value, sp.MatrixBase):
        array = np.array(value.evalf(), dtype=float)
        if array.size <= 4:
            return np.array2string(array, precision=4, suppress_small=True).replace("\n", "")
        return f"({array.shape[0]}×{array.shape[1]}, ‖·‖ = {np.linalg.norm(array):.4g})"
    number = complex(sp.N(value))
    return f"{number.real:.6g}" if number.imag == 0 else f"{number:.6g}"
