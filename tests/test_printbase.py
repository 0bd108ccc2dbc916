"""The three printers share one notation (printbase.MatrixNotation): the same brackets,
subtractions, transposes, ones vectors and step functions, each in its own spelling."""

import pytest
import sympy as sp

from symbp.latexprint import MathPrinter
from symbp.naming import Namer
from symbp.printbase import MatrixNotation, compact_shape
from symbp.printing import CodePrinter
from symbp.text import UnicodePrinter

n = sp.Symbol("n", integer=True, positive=True)
A, B, C = (sp.MatrixSymbol(name, n, 3) for name in "ABC")
b = sp.MatrixSymbol("b", 1, 3)
x = sp.Symbol("x")


def _code(expr):
    return CodePrinter({}, Namer(set()))._print(expr)


CASES = [  # expression, Unicode, LaTeX, code
    (A + B - 2 * C, "A + B - 2 C", r"A + B - 2 C", "A + B - 2 * C"),
    (sp.Transpose(A - B), "(A - B)ᵀ", r"\left(A - B\right)^{\top}", "(A - B).T"),
    (sp.HadamardProduct(A + B, C), "(A + B) ⊙ C", r"\left(A + B\right) \odot C",
     "(A + B) * C"),
    (sp.OneMatrix(n, 1) * b + A, "A + 𝟙 b", r"A + \mathbf{1} b", "A + b"),
    (sp.Heaviside(x, 0), "[x > 0]", r"\left[x > 0\right]", "xp.astype((x > 0.0), dtype)"),
    (sp.Heaviside(x, 1), "[x ≥ 0]", r"\left[x \geq 0\right]", "xp.astype((x >= 0.0), dtype)"),
]


@pytest.mark.parametrize("expr, text, latex, code", CASES)
def test_each_printer_writes_the_shared_notation_in_its_own_spelling(expr, text, latex, code):
    assert UnicodePrinter().doprint(expr) == text
    assert MathPrinter().doprint(expr) == latex
    assert _code(expr) == code


def test_the_printers_share_one_base():
    for printer in (UnicodePrinter, MathPrinter, CodePrinter):
        assert issubclass(printer, MatrixNotation)
        assert printer._signed_sum is MatrixNotation._signed_sum


def test_a_broadcast_bias_prints_as_one_row():
    assert compact_shape(sp.OneMatrix(n, 1) * b) == (1, 3)
    assert compact_shape(A + sp.OneMatrix(n, 1) * b) == (n, 3)
