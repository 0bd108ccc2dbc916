"""Row-wise softmax, log-softmax and softmax cross-entropy as SymPy matrix expressions.

Each row of an ``n x k`` matrix is one sample, each column one class. They
evaluate on explicit matrices (``doit``), print as named operators in LaTeX,
and are lowered to stable NumPy code (shift by the row maximum) by the printer.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from .model import as_expr

__all__ = ["Softmax", "LogSoftmax", "SoftmaxCrossEntropy"]


def _latex_call(printer, name: str, args) -> str:
    inner = ", ".join(printer._print(a) for a in args)
    return rf"{name}\left({inner}\right)"


def _explicit_rows(matrix):
    rows, cols = matrix.shape
    return [[matrix[i, j] for j in range(cols)] for i in range(rows)]


def _row_softmax(row):
    exps = [sp.exp(v) for v in row]
    total = sp.Add(*exps)
    return [e / total for e in exps]


class _RowWise(MatrixExpr):
    """A row-wise function of an ``n x k`` matrix; ``_row`` maps one explicit row."""

    _row = staticmethod(lambda row: row)
    _name = ""

    def __new__(cls, arg):
        return super().__new__(cls, as_expr(f"the argument of {cls.__name__}", arg))

    @property
    def shape(self):
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        arg = self.args[0]
        return self._row([arg[i, k] for k in range(self.shape[1])])[j]

    def doit(self, **hints):
        arg = self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]
        if isinstance(arg, sp.MatrixBase):
            return sp.ImmutableMatrix([self._row(r) for r in _explicit_rows(arg)])
        return type(self)(arg)

    def _latex(self, printer):
        return _latex_call(printer, self._name, self.args)


class Softmax(_RowWise):
    """Row-wise softmax of an ``n x k`` matrix expression."""

    _row = staticmethod(_row_softmax)
    _name = r"\operatorname{softmax}"


class LogSoftmax(_RowWise):
    """Row-wise ``log(softmax(Z))``, computed stably."""

    _row = staticmethod(lambda row: [sp.log(p) for p in _row_softmax(row)])
    _name = r"\log\operatorname{softmax}"


class SoftmaxCrossEntropy(sp.Expr):
    """Mean over rows of ``-sum_j Y_ij log softmax(Z)_ij`` (a scalar)."""

    is_commutative = True

    def __new__(cls, logits, labels):
        return super().__new__(cls, as_expr("the logits", logits), as_expr("the labels", labels))

    def doit(self, **hints):
        z, y = (a.doit(**hints) for a in self.args)
        if isinstance(z, sp.MatrixBase) and isinstance(y, sp.MatrixBase):
            total = 0
            for zr, yr in zip(_explicit_rows(z), _explicit_rows(y), strict=True):
                total += sum(-yv * sp.log(p) for p, yv in zip(_row_softmax(zr), yr, strict=True))
            return total / z.shape[0]
        return SoftmaxCrossEntropy(z, y)

    def _latex(self, printer, exp=None):
        z, y = (printer._print(a) for a in self.args)
        return rf"\operatorname{{CE}}\left(\operatorname{{softmax}}\left({z}\right), {y}\right)"
