"""Row-wise softmax, log-softmax and softmax cross-entropy: classes and node records.

Each row of an ``n x k`` matrix is one sample, each column one class. The
classes evaluate on explicit matrices (``doit``) and print as named operators
(LaTeX, Unicode); in NumPy they are lowered to stable statements by the
printer's ``_row_parts`` (``shift = Z - rowmax``, ``exp(shift)``, row sums,
emitted once per function and shared by every later use). Their records give
the graph node kinds ``softmax``, ``log_softmax`` and ``sce`` with their
values, shapes and vector-Jacobian products; log-softmax and the cross-entropy
read the softmax of their logits as a helper forward node.

``softmax_cross_entropy(Z, Y)`` is the mean over the ``n`` rows of
``-sum_j Y_ij log softmax(Z)_ij``; its gradient ``(softmax(Z) ⊙ (Y 𝟙) 𝟙ᵀ - Y) / n``
is exact for any labels (for one-hot rows it is ``(softmax(Z) - Y) / n``).
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement, MatrixExpr

from ..matalg import neg, rowsum_broadcast, times
from ..model import as_expr
from .base import Primitive, np_name, register, unicode_call

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
    _text = ""

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

    def _sympystr(self, printer):
        return unicode_call(printer, self, self._text)


class Softmax(_RowWise):
    """Row-wise softmax of an ``n x k`` matrix expression."""

    _row = staticmethod(_row_softmax)
    _name = r"\operatorname{softmax}"
    _text = "softmax"

    def _numpycode(self, printer, **kwargs):
        _, exps, sums = printer._row_parts(self.args[0])
        return f"({exps} / {sums})"


class LogSoftmax(_RowWise):
    """Row-wise ``log(softmax(Z))``, computed stably."""

    _row = staticmethod(lambda row: [sp.log(p) for p in _row_softmax(row)])
    _name = r"\log\operatorname{softmax}"
    _text = "log softmax"

    def _numpycode(self, printer, **kwargs):
        shift, _, sums = printer._row_parts(self.args[0])
        return f"({shift} - {np_name(printer, 'log')}({sums}))"


class SoftmaxCrossEntropy(sp.Expr):
    """Mean over rows of ``-sum_j Y_ij log softmax(Z)_ij`` (a scalar)."""

    is_commutative = True
    label_args = (1,)  # the positions of arguments that are labels (drawn as such by checks)

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

    def _sympystr(self, printer):
        if not getattr(printer, "unicode", False):
            return printer._print_Basic(self)
        z, y = (printer._print(a) for a in self.args)
        return f"CE(softmax({z}), {y})"

    def _numpycode(self, printer, **kwargs):
        z, y = self.args
        shift, _, sums = printer._row_parts(z)
        rows = printer._paren(z.shape[0])
        total, log = np_name(printer, "sum"), np_name(printer, "log")
        return f"(-{total}({printer._paren(y)} * ({shift} - {log}({sums}))) / {rows})"


def _softmax_vjp(c):
    p, cols = c.out, c.out.shape[1]
    dot = rowsum_broadcast(sp.HadamardProduct(c.g, p), cols)
    return (sp.HadamardProduct(p, sp.MatAdd(c.g, neg(dot))),)


def _log_softmax_vjp(c):
    (p,), cols = c.aux, c.out.shape[1]
    return (sp.MatAdd(c.g, neg(sp.HadamardProduct(p, rowsum_broadcast(c.g, cols)))),)


def _sce_vjp(c):
    """``(P ⊙ (Y 𝟙) 𝟙ᵀ - Y) / n``: exact for any labels (one-hot rows, whose sums are one,
    weighted rows, all-zero padding rows); the row sums cost one pass over ``Y``."""
    (z, y), (p,) = c.a, c.aux
    rows, cols = z.shape
    fitted = sp.HadamardProduct(p, rowsum_broadcast(y, cols))
    return times(c.g / rows, sp.MatAdd(fitted, neg(y))), times(-c.g / rows, LogSoftmax(z))


def _log_of_softmax(e):
    """``log(softmax(Z))`` (elementwise, or of one entry) is ``log_softmax(Z)``."""
    if isinstance(e, ElementwiseApplyFunction) and isinstance(e.args[1], Softmax):
        var = e.function.variables[0]
        return LogSoftmax(e.args[1].args[0]) if e.function.expr == sp.log(var) else None
    if isinstance(e, sp.log) and isinstance(e.args[0], MatrixElement):
        u = e.args[0]
        return LogSoftmax(u.parent.args[0])[u.i, u.j] if isinstance(u.parent, Softmax) else None
    return None


def _same_shape(shapes, attr):
    return shapes[0]


register(Primitive("softmax", Softmax, value=lambda node, a: Softmax(a[0]), shape=_same_shape,
                   vjp=_softmax_vjp, prefix="P", elementwise=True, traced=True,
                   block=lambda attr: "attention weights"))
register(Primitive("log_softmax", LogSoftmax, value=lambda node, a: LogSoftmax(a[0]),
                   shape=_same_shape, vjp=_log_softmax_vjp, aux=("softmax",), prefix="S",
                   elementwise=True, traced=True, stable=_log_of_softmax))
register(Primitive("sce", SoftmaxCrossEntropy, value=lambda node, a: SoftmaxCrossEntropy(*a),
                   shape=lambda shapes, attr: (), vjp=_sce_vjp, aux=("softmax",), traced=True))
