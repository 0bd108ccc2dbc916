"""LaTeX of a derivation: an ``align*`` block, a compilable document, Markdown.

``MathPrinter`` is a SymPy ``LatexPrinter`` that writes matrix calculus the
textbook way: ``X^{\\top}``, ``A \\odot B``, ``\\mathbf{1}`` for the ones vector
that broadcasts a bias, ``\\sigma``, ``\\operatorname{ReLU}``, adjoints as
``\\overline{Z}_{1}`` (the bar spans the whole name: ``\\overline{\\mathrm{subtotal}}``).
Names come from ``naming.latex_name``: words upright, every character escaped,
trailing indices as subscripts. Factors with a word in them are separated
(``\\cdot`` between scalars, ``\\,`` between matrices). The document uses only
amsmath and amssymb (texlive-latex-base) and is pure ASCII.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .derive import as_derivation
from .errors import SymbpError
from .graph import U
from .ir import Derivation, Step
from .model import Model
from .naming import latex_char, latex_name
from .nielsen import nielsen_latex
from .order import negative_coeff, ordered_terms
from .source import MARK
from .text import matrix_precedence
from .version import __version__

__all__ = ["MathPrinter", "latex_block", "latex_document", "markdown", "symbol_latex",
           "compile_pdf", "nielsen_latex"]

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


class MathPrinter(LatexPrinter):
    """LaTeX for derivation expressions; ``names`` maps symbols to their LaTeX."""

    def __init__(self, names: dict | None = None):
        super().__init__({"mat_symbol_style": "plain"})
        self.names = dict(names or {})

    def parenthesize(self, item, level, is_neg=False, strict=False):
        prec = matrix_precedence(item)
        if prec < level or (not strict and prec <= level):
            return self._add_parens(self._print(item))
        return self._print(item)

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

    def _print_OneMatrix(self, expr):
        return r"\mathbf{1}^{\top}" if expr.shape[0] == 1 and expr.shape[1] != 1 else r"\mathbf{1}"

    def _print_Identity(self, expr):
        return "I"

    def _print_Transpose(self, expr):
        return self.parenthesize(expr.arg, PRECEDENCE["Pow"]) + r"^{\top}"

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

    def _print_MatAdd(self, expr):
        parts = []
        for k, term in enumerate(ordered_terms(expr)):
            if k and negative_coeff(term):
                coeff, mats = term.as_coeff_matrices()
                parts.append(" - " + self.parenthesize(sp.MatMul(-coeff, *mats), PRECEDENCE["Add"]))
            else:
                parts.append((" + " if k else "") + self.parenthesize(term, PRECEDENCE["Add"], strict=True))
        return "".join(parts)

    def _print_HadamardProduct(self, expr):
        return r" \odot ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_HadamardPower(self, expr):
        return rf"{self.parenthesize(expr.base, PRECEDENCE['Pow'])}^{{\circ {self._print(expr.exp)}}}"

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

    def _print_Heaviside(self, expr):
        x = self._print(expr.args[0])
        h0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        if h0 in (0, 1):
            relation = ">" if h0 == 0 else r"\geq"
            return rf"\left[{x} {relation} 0\right]"
        return rf"H\left({x}\right)"


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


def _equations(d: Derivation, steps: list[Step], printer: MathPrinter) -> list[str]:
    rows = []
    for step in steps:
        lhs = printer.names[step.symbol]
        lines = _rhs_lines(printer, step.expr)
        rows.append(f"{lhs} &= {lines[0]}")
        rows += [rf"&\quad + {line}" for line in lines[1:]]
    return rows


def _align(rows: list[str], env: str = "align*") -> str:
    body = ""
    for k, row in enumerate(rows):
        follows_text = k and rows[k - 1].startswith("\\intertext")
        body += ("" if k == 0 else "\n" if follows_text else " \\\\\n") + row
    return f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"


def _adjoint_note(printer: MathPrinter, d: Derivation) -> str:
    return rf"\overline{{x}} = \partial {printer.names[d.loss]} / \partial x"


def latex_block(d: Derivation, display: bool = False) -> str:
    r"""An ``align*`` block: the forward steps, then the backward steps.

    ``display=True`` gives ``$$\begin{aligned}..\end{aligned}$$`` instead, what
    Jupyter shows (MathJax, KaTeX) and valid LaTeX when a notebook goes to PDF.
    """
    printer = MathPrinter(symbol_latex(d))
    rows = _equations(d, d.forward, printer)
    note = _adjoint_note(printer, d)
    rows.append(rf"&\text{{Backward pass, }} {note}\text{{:}}" if display else
                rf"\intertext{{Backward pass (${note}$):}}")
    rows += _equations(d, d.backward, printer)
    return "$$" + _align(rows, "aligned") + "$$" if display else _align(rows)


def _sections(d: Derivation) -> list[tuple[str, str]]:
    printer = MathPrinter(symbol_latex(d))
    forward = [s for s in d.forward if s.role != "loss"]
    loss = [s for s in d.forward if s.role == "loss"]
    adjoints = [s for s in d.backward if s.role == "adjoint"]
    grads = [s for s in d.backward if s.role == "gradient"]
    gradients = {s.of: s.symbol for s in grads}
    update = [rf"{printer.names[p]} &\leftarrow {printer.names[p]} - \eta\, "
              rf"{printer.names[gradients[p.name]]}" for p in d.model.params if p.name in gradients]
    nielsen = nielsen_latex(d, printer)
    parts = [("Forward pass", _align(_equations(d, forward, printer)) if forward else ""),
             ("Loss", _align(_equations(d, loss, printer)) if loss else ""),
             ("Backward pass", _align(_equations(d, adjoints, printer)) if adjoints else ""),
             ("Gradients", _align(_equations(d, grads, printer))),
             ("The four equations of backpropagation", nielsen),
             ("Update rule", "Gradient descent with learning rate $\\eta$:\n" + _align(update))]
    return [(title, body) for title, body in parts if body]


def _tex_text(text: str) -> str:
    """Plain text (a title, a description) as LaTeX text that shows it literally."""
    return "".join(" " if c.isspace() else latex_char(c, math=False) for c in text)


def latex_document(d: Derivation | Model, title: str | None = None) -> str:
    """A complete LaTeX document (amsmath, amssymb) that compiles with pdflatex; ``d`` is a
    Derivation or a Model to derive."""
    d = as_derivation(d)
    title = _tex_text(title or f"Backpropagation in {d.model.name}")
    intro = _tex_text(d.model.description or "")
    note = _adjoint_note(MathPrinter(symbol_latex(d)), d)
    body = [f"\\section*{{{name}}}\n{content}" for name, content in _sections(d)]
    return "\n".join([
        f"% {MARK} {__version__}",
        r"\documentclass[11pt]{article}",
        r"\ifdefined\pdfinfo\pdfinfo{/Creator (Generated by symbp)}\fi",
        r"\usepackage{amsmath}",
        r"\usepackage{amssymb}",
        rf"\title{{{title}}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        intro,
        f"Each backward step is the chain rule: the upstream gradient ${note}$ times the local "
        r"derivative of the node, summed over every use of a value. $\mathbf{1}$ is the column "
        r"of ones that broadcasts a bias over the rows, $\odot$ the elementwise product.",
        *body,
        r"\end{document}",
        "",
    ])


def markdown(d: Derivation) -> str:
    """The derivation as Markdown with ``$$`` math (Jupyter, GitHub)."""
    chunks = [f"**{d.model.name}**" + (f": {d.model.description}" if d.model.description else "")]
    for name, content in _sections(d):
        math = content.replace("\\begin{align*}", "\\begin{aligned}").replace(
            "\\end{align*}", "\\end{aligned}")
        prose, _, block = math.rpartition("\\begin{aligned}")
        chunks.append(f"### {name}\n\n{prose.strip()}\n\n$$\n\\begin{{aligned}}{block}\n$$".replace(
            "\n\n\n", "\n\n"))
    return "\n\n".join(chunks) + "\n"


def compile_pdf(tex_path) -> Path:
    """Run pdflatex on ``tex_path`` in a scratch directory; the PDF lands next to it."""
    tex_path = Path(tex_path)
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise SymbpError("pdflatex was not found; install a TeX distribution (apt install "
                         "texlive-latex-base, or MiKTeX / MacTeX) to build the PDF.")
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run([pdflatex, "-no-shell-escape", "-interaction=nonstopmode",
                                 "-halt-on-error",
                                 f"-output-directory={scratch}", str(tex_path.resolve())],
                                capture_output=True, text=True, timeout=300)
        pdf = Path(scratch) / (tex_path.stem + ".pdf")
        if result.returncode != 0 or not pdf.exists():
            error = next((line for line in result.stdout.splitlines() if line.startswith("!")),
                         "see the pdflatex log")
            raise SymbpError(f"pdflatex failed on {tex_path}: {error}")
        target = tex_path.with_suffix(".pdf")
        shutil.copyfile(pdf, target)
    return target
