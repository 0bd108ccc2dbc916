"""The LaTeX printer of matrix calculus, and the equations of a derivation.

``MathPrinter`` is a SymPy ``LatexPrinter`` that writes matrix calculus the
textbook way: ``X^{\\top}``, ``A \\odot B``, ``\\mathbf{1}`` for the ones vector
that broadcasts a bias, adjoints as ``\\overline{Z}_{1}`` (the bar spans the whole
name: ``\\overline{\\mathrm{subtotal}}``); the vocabulary prints itself (``_latex``
on each primitive's class: ``\\sigma``, ``\\operatorname{ReLU}``). Names come from
``naming.latex_name``: words upright, every character escaped, trailing indices as
subscripts. Factors with a word in them are separated (``\\cdot`` between scalars,
``\\,`` between matrices). ``symbp.latex`` (blocks, documents) and ``symbp.nielsen``
read it.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .graph import U
from .ir import Derivation, Step
from .naming import latex_name
from .order import ordered_terms
from .printbase import MatrixNotation, matrix_precedence

__all__ = ["MathPrinter", "symbol_latex", "equations", "align"]

_LINE = 70  # characters of LaTeX source per displayed line, roughly a line of the page


def symbol_latex(d: Derivation) -> dict:
    """symbol -> LaTeX of every model symbol and step; ``\\overline{..}`` for adjoints."""
    out = {s: latex_name(s.name) for s in d.model.symbols}
    for step in d.steps:
        of = step.of if step.role == "gradient" else ""
        out[step.symbol] = latex_name(of, bar=True) if of else latex_name(step.name)
    return out


_WORDY = re.compile(r"\\mathrm\{[^}][^}]|\\operatorname")


def _join(pieces: list[str], sep: str, wordy_sep: str) -> str:
    """``pieces`` joined by ``sep``, or ``wordy_sep`` next to a multi-letter word."""
    out = pieces[0]
    for left, right in zip(pieces, pieces[1:], strict=False):
        wordy = _WORDY.search(left) or _WORDY.search(right)
        out += (wordy_sep if wordy else sep) + right
    return out


class MathPrinter(MatrixNotation, LatexPrinter):
    """LaTeX for derivation expressions (``printbase.MatrixNotation`` spelt in LaTeX);
    ``names`` maps symbols to their LaTeX."""

    _transpose_mark = r"^{\top}"
    _ones = (r"\mathbf{1}", r"\mathbf{1}^{\top}")
    _hadamard = r" \odot "
    _hadamard_power = r"{base}^{{\circ {exp}}}"
    _step = (r"\left[{x} > 0\right]", r"\left[{x} \geq 0\right]", r"H\left({x}\right)")

    def __init__(self, names: dict | None = None):
        super().__init__({"mat_symbol_style": "plain"})
        self.names = dict(names or {})

    def parenthesize(self, item, level, is_neg=False, strict=False):
        return MatrixNotation.parenthesize(self, item, level, strict)

    def _wrap(self, text: str) -> str:
        return self._add_parens(text)

    def _hadamard_exponent(self, exp) -> str:
        return self._print(exp)

    def _print_Symbol(self, expr, style="plain"):
        return self.names.get(expr) or latex_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_MatrixSymbol(self, expr):
        return self.names.get(expr) or latex_name(expr.name)

    def _print_Mul(self, expr):
        wordy = any(_WORDY.search(self._print(a)) for a in expr.args  # a word among the factors
                    if a.is_Symbol or (a.is_Pow and a.base.is_Symbol))
        if not wordy or self._settings["mul_symbol_latex"] != " ":
            return super()._print_Mul(expr)
        saved = self._settings["mul_symbol_latex"]
        self._settings["mul_symbol_latex"] = r" \cdot "
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["mul_symbol_latex"] = saved

    def _print_MatMul(self, expr):
        coeff, mats = expr.as_coeff_matrices()
        body = _join([self.parenthesize(m, PRECEDENCE["Mul"],
                                        strict=not isinstance(m, sp.HadamardProduct))
                      for m in mats], " ", r" \, ")
        if coeff == 1:
            return body
        if coeff == -1:
            return "-" + body
        num, den = sp.fraction(coeff)
        if den != 1:
            if len(mats) == 1:
                body = self._print(mats[0])
            top = body if num == 1 else f"{self._print(num)} {body}"
            return rf"\frac{{{top}}}{{{self._print(den)}}}"
        return _join([self.parenthesize(coeff, PRECEDENCE["Mul"]), body], " ", r" \, ")

    def _print_Trace(self, expr):
        return rf"\operatorname{{tr}}\left({self._print(expr.arg)}\right)"

    def _print_ElementwiseApplyFunction(self, expr):
        var, body = expr.function.variables[0], expr.function.expr
        arg = self._print(expr.expr)
        if matrix_precedence(expr.expr) < PRECEDENCE["Atom"]:
            arg = self._add_parens(arg)
        saved, saved_settings = dict(self.names), dict(self._settings)
        self.names.update({var: arg, U: arg})
        self._settings["mul_symbol_latex"] = r" \odot "
        self._settings["elementwise"] = True
        try:
            return self._print(body)
        finally:
            self.names, self._settings = saved, saved_settings

    def _print_Pow(self, expr):
        if self._settings.get("elementwise") and expr.exp.is_Integer and expr.exp > 1:
            base = self.parenthesize(expr.base, PRECEDENCE["Pow"])
            return rf"{base}^{{\circ {expr.exp}}}"
        return super()._print_Pow(expr)



def _rhs_lines(printer: MathPrinter, expr) -> list[str]:
    """The right-hand side, split at top-level sums when it is long."""
    text = printer.doprint(expr)
    if len(text) <= _LINE or not isinstance(expr, (sp.Add, sp.MatAdd)):
        return [text]
    terms = ordered_terms(expr) if isinstance(expr, sp.MatAdd) else list(expr.args)
    lines, current = [], ""
    for term in terms:
        piece = printer.doprint(term)
        joined = piece if not current else f"{current} + {piece}"
        if current and len(joined) > _LINE:
            lines.append(current)
            current = piece
        else:
            current = joined
    lines.append(current)
    return lines


def equations(d: Derivation, steps: list[Step], printer: MathPrinter, fit: bool = False) -> list[str]:
    """``lhs &= rhs`` rows (a long sum over several rows); ``fit``: a long row in ``\\symbpfit``,
    which a document defines to shrink it to the page's width where it would overflow."""
    rows = []
    for step in steps:
        lhs = printer.names[step.symbol]
        lines = _rhs_lines(printer, step.expr)
        if fit:
            lines = [rf"\symbpfit{{{line}}}" if len(line) > 2 * _LINE else line for line in lines]
        rows.append(f"{lhs} &= {lines[0]}")
        rows += [rf"&\quad + {line}" for line in lines[1:]]
    return rows


def align(rows: list[str], env: str = "align*") -> str:
    body = ""
    for k, row in enumerate(rows):
        follows_text = k and rows[k - 1].startswith("\\intertext")
        body += ("" if k == 0 else "\n" if follows_text else " \\\\\n") + row
    return f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"


