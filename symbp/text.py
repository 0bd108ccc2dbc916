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
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .graph import U
from .printbase import MatrixNotation, matrix_precedence

__all__ = ["UnicodePrinter", "unicode", "matrix_precedence", "format_value"]


class UnicodePrinter(MatrixNotation, StrPrinter):
    """A ``StrPrinter`` for matrix calculus: ``Xᵀ``, ``A ⊙ B``, ``σ(Z)`` (the notation of
    ``printbase.MatrixNotation`` as it is).

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

    def parenthesize(self, item, level, strict=False):
        text = super().parenthesize(item, level, strict)
        if level >= PRECEDENCE["Pow"] and "/" in self._bound.get(item, "") and text[0] != "(":
            return f"({text})"  # (∂L/∂Z)ᵀ, not ∂L/∂Zᵀ
        return text

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

    def _print_UnitMatrix(self, expr):
        return f"E_({expr.args[0]},{expr.args[1]})"


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
