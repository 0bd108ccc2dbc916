"""Linear algebra beyond products: the Kronecker product and the log-determinant.

``kron`` is SymPy's ``KroneckerProduct`` (``A ⊗ B``, the block matrix of the blocks
``A_ij B``); its adjoints are blockwise: ``Ā_ij = ⟨Ḡ_(ij), B⟩`` (the Frobenius product
of the upstream adjoint's (i, j) block with ``B``) and ``B̄ = Σ_ij A_ij Ḡ_(ij)``, one
``einsum`` over the upstream adjoint viewed as ``(m, p, n, q)`` each.

``logdet`` is ``log |det A|``, what ``log(det(A))`` is rewritten to before tracing
(``stable``): the generated code computes it with ``np.linalg.slogdet``, which neither
overflows nor underflows where ``det`` does, and its VJP is ``Ā = ḡ A⁻ᵀ``, read from
the inverse of ``A`` that the forward pass computes once (``aux``), shared with an
``Inverse(A)`` the model itself uses (the Gaussian negative log-likelihood's Σ⁻¹).
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from ..matalg import times, transpose
from .base import Primitive, code_paren, np_name, register

__all__ = ["Kron", "KronAdjoint", "LogDet"]


def _simple(expr) -> bool:
    return isinstance(expr, (sp.Symbol, sp.MatrixSymbol))


def _latex_operand(printer, expr) -> str:
    code = printer._print(expr)  # braced: it may carry a subscript of its own
    return f"{{{code}}}" if _simple(expr) else rf"\left({code}\right)"


def _text_operand(printer, expr) -> str:
    code = printer._print(expr)
    return code if _simple(expr) else f"({code})"


class Kron(sp.KroneckerProduct):
    """``A ⊗ B``: the value of a ``kron`` node, printing as ``np.kron``."""

    def _sympystr(self, printer):
        if not getattr(printer, "unicode", False):
            return printer._print_Basic(self)
        return " ⊗ ".join(_text_operand(printer, a) for a in self.args)

    def _latex(self, printer):
        return r" \otimes ".join(_latex_operand(printer, a) for a in self.args)

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'kron')}({', '.join(printer._print(a) for a in self.args)})"


class KronAdjoint(MatrixExpr):
    """The adjoint of one factor of ``A ⊗ B`` given the upstream adjoint ``G``:
    ``side`` 0 is ``Ā`` (``[⟨G_(ij), B⟩]_ij``, given ``B``), 1 is ``B̄``
    (``Σ_ij A_ij G_(ij)``, given ``A``); ``shape`` is the factor's."""

    def __new__(cls, g, other, side, rows, cols):
        return super().__new__(cls, g, other, *map(sp.sympify, (side, rows, cols)))

    @property
    def shape(self):
        return self.args[3], self.args[4]

    def _dims(self):
        """``(m, p, n, q)``: A is m x n and B p x q."""
        g, other, side, rows, cols = self.args
        p, q = map(sp.sympify, other.shape)
        return (rows, p, cols, q) if side == 0 else (p, rows, q, cols)

    def _entry(self, i, j, **kwargs):
        g, other, side = self.args[:3]
        m, p, n, q = self._dims()
        if side == 0:  # the (i, j) block of G against B
            return _block_sum(lambda r, c: g[i * p + r, j * q + c] * other[r, c], p, q)
        return _block_sum(lambda r, c: other[r, c] * g[r * p + i, c * q + j], m, n)

    def _sympystr(self, printer):
        g, other = (_text_operand(printer, a) for a in self.args[:2])
        if self.args[2] == 0:
            return f"[⟨{g}_(ij), {other}⟩]_ij"
        return f"Σ_ij {other}_ij {g}_(ij)"

    def _latex(self, printer):
        g, other = (_latex_operand(printer, a) for a in self.args[:2])
        if self.args[2] == 0:
            return rf"\left[\left\langle {g}_{{(ij)}}, {other}\right\rangle\right]_{{ij}}"
        return rf"\sum_{{ij}} {other}_{{ij}} {g}_{{(ij)}}"

    def _numpycode(self, printer, **kwargs):
        g, other, side = self.args[:3]
        dims = ", ".join(printer._print(d) for d in self._dims())
        spec = "ikjl,kl->ij" if side == 0 else "ikjl,ij->kl"
        return (f'{np_name(printer, "einsum")}("{spec}", {code_paren(printer, g)}.reshape({dims}), '
                f"{printer._print(other)})")


def _block_sum(term, rows, cols):
    """``Σ_r Σ_c term(r, c)`` over ``rows x cols`` indices (a SymPy ``Sum`` if symbolic)."""
    if rows.is_Integer and cols.is_Integer:
        return sp.Add(*[term(r, c) for r in range(int(rows)) for c in range(int(cols))])
    r, c = sp.Dummy("r", integer=True), sp.Dummy("c", integer=True)
    return sp.Sum(term(r, c), (r, 0, rows - 1), (c, 0, cols - 1))


def _kron_operands(e):
    first, *rest = e.args
    return (first, rest[0] if len(rest) == 1 else sp.KroneckerProduct(*rest)), None


def _kron_vjp(c):
    a, b = c.a
    return (KronAdjoint(c.g, b, 0, *a.shape), KronAdjoint(c.g, a, 1, *b.shape))


class LogDet(sp.Expr):
    """``log |det A|`` of a square matrix: the value of a ``logdet`` node, printing as
    ``np.linalg.slogdet(A)[1]``."""

    is_commutative = True
    is_real = True

    def __new__(cls, mat):
        return super().__new__(cls, sp.sympify(mat))

    @property
    def arg(self):
        return self.args[0]

    def doit(self, **hints):
        arg = self.arg.doit(**hints) if hints.get("deep", True) else self.arg
        return sp.log(sp.Abs(sp.Determinant(arg).doit(**hints)))

    def _latex(self, printer, exp=None):
        body = rf"\log\left|\det\left({printer._print(self.arg)}\right)\right|"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _sympystr(self, printer):
        if not getattr(printer, "unicode", False):
            return printer._print_Basic(self)
        return f"log|det({printer._print(self.arg)})|"

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'linalg.slogdet')}({printer._print(self.arg)})[1]"


def _log_of_det(e):
    """``LogDet(A)`` for ``log(det(A))``, the plain SymPy way to write it."""
    if isinstance(e, sp.log) and isinstance(e.args[0], sp.Determinant):
        return LogDet(e.args[0].arg)
    return None


register(Primitive(
    "kron", sp.KroneckerProduct, value=lambda node, a: Kron(*a),
    shape=lambda shapes, attr: (shapes[0][0] * shapes[1][0], shapes[0][1] * shapes[1][1]),
    vjp=_kron_vjp, prefix="K", traced=True, operands=_kron_operands))
register(Primitive(
    "logdet", LogDet, value=lambda node, a: LogDet(a[0]), shape=lambda shapes, attr: (),
    vjp=lambda c: (times(c.g, transpose(c.aux[0])),), aux=("inverse",), prefix="t",
    traced=True, stable=_log_of_det))  # d log|det A| / dA = A^-T
