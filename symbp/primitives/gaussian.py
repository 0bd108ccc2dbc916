"""The exact GELU ``x Φ(x)`` and the standard normal density ``φ`` and CDF ``Φ`` it reads.

NumPy has no ``erf``, so ``Φ`` prints as a series (``|x| < 2.5``) and a continued fraction
of ``erfc`` (beyond, up to 6 where ``erf`` is 1 in float64), both evaluated with ``polyval``
and accurate to a few units in the last place of a float64. The coefficients are computed
once, exactly, by SymPy.
"""

from __future__ import annotations

import math

import sympy as sp

from .base import Primitive, code_paren, np_name, register, unicode_call
from .elementwise import _latex_call

__all__ = ["NormalPDF", "NormalCDF", "GELU", "erf_code", "reads_erf", "ERF_TABLES"]


def _erf_tables(terms: int = 36, depth: int = 24) -> tuple[list, list, list]:
    """Coefficients (highest power first, for ``polyval``) of the series
    ``erf(s) = 2/√π e^{-s²} s Σ (2s²)^k / (2k+1)!!`` and of the continued fraction
    ``erfc(b) = e^{-b²}/√π · 1/(b + ½/(b + 1/(b + 3/2/(b + ...))))`` written as
    ``den(b) / num(b)`` (both with positive coefficients: no cancellation)."""
    series, term = [], sp.Integer(1)
    for k in range(terms):
        series.append(float(term))
        term *= sp.Rational(2, 2 * k + 3)
    b = sp.Symbol("b")
    num, den = b, sp.Integer(1)
    for k in range(depth, 0, -1):
        num, den = sp.expand(b * num + sp.Rational(k, 2) * den), num
    coeffs = [[float(c) for c in sp.Poly(p, b).all_coeffs()] for p in (num, den)]
    return series[::-1], coeffs[0], coeffs[1]


_SERIES, _CF_NUM, _CF_DEN = _erf_tables()
_CUT, _FAR = 2.5, 6.0  # series below _CUT; erf(6) is 1 in float64


ERF_TABLES = {"series": _SERIES, "cf_num": _CF_NUM, "cf_den": _CF_DEN, "cut": _CUT, "far": _FAR}
"""What ``templates/erf_ops.py.j2`` writes into a generated module that reads ``erf``."""


def reads_erf(exprs) -> bool:
    """Whether any of ``exprs`` reads the normal CDF (GELU and its derivative do): the
    generated module then carries the runtime helper ``_erf``."""
    return any(e.has(NormalCDF, GELU) for e in exprs)


def erf_code(printer, x: str) -> str:
    """Code for ``erf(x)`` (``x`` already printed and parenthesised): in symbp's generated
    modules a call of their runtime helper ``_erf(xp, x)`` (array-API operations only); in
    any other NumPy printer (plain ``lambdify``) the same formula written out with ``polyval``."""
    if getattr(printer, "runtime_erf", False):
        return f"_erf(xp, {x})"
    np_ = lambda name: np_name(printer, name)  # noqa: E731
    a = f"{np_('abs')}({x})"
    s = f"{np_('minimum')}({a}, {_CUT})"
    b = f"{np_('clip')}({a}, {_CUT}, {_FAR})"
    poly = lambda c, v: f"{np_('polyval')}({c!r}, {v})"  # noqa: E731
    series = f"{2 / math.sqrt(math.pi)!r} * {np_('exp')}(-{s} ** 2) * {s} * {poly(_SERIES, s + ' ** 2')}"
    tail = (f"1 - {np_('exp')}(-{b} ** 2) * {poly(_CF_DEN, b)} / "
            f"({math.sqrt(math.pi)!r} * {poly(_CF_NUM, b)})")
    return f"{np_('sign')}({x}) * {np_('where')}({a} < {_CUT}, {series}, {tail})"


class _ClosedForm(sp.Function):
    """A one-argument function with a closed form (``formula``): a number evaluates to it, and
    so does ``evalf``; every other argument stays the function itself."""

    nargs = 1

    @staticmethod
    def formula(x):
        raise NotImplementedError

    @classmethod
    def eval(cls, x):
        return cls.formula(x) if x.is_Number else None

    def _eval_evalf(self, prec):
        return self.formula(self.args[0]).evalf(prec)


class NormalPDF(_ClosedForm):
    """The standard normal density ``φ(x) = exp(-x²/2) / √(2π)``."""

    @staticmethod
    def formula(x):
        return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)

    def fdiff(self, argindex=1):
        return -self.args[0] * self

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\varphi", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "φ")

    def _numpycode(self, printer, **kwargs):
        x = code_paren(printer, self.args[0])
        return f"({1 / math.sqrt(2 * math.pi)!r} * {np_name(printer, 'exp')}(-0.5 * {x} ** 2))"


class NormalCDF(_ClosedForm):
    """The standard normal CDF ``Φ(x) = (1 + erf(x/√2)) / 2``."""

    @staticmethod
    def formula(x):
        return (1 + sp.erf(x / sp.sqrt(2))) / 2

    def fdiff(self, argindex=1):
        return NormalPDF(self.args[0])

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\Phi", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "Φ")

    def _numpycode(self, printer, **kwargs):
        x = f"({code_paren(printer, self.args[0])} * {1 / math.sqrt(2)!r})"
        return f"(0.5 + 0.5 * {erf_code(printer, x)})"


class GELU(_ClosedForm):
    """The exact GELU ``x Φ(x)``; derivative ``Φ(x) + x φ(x)``."""

    @staticmethod
    def formula(x):
        return x * NormalCDF(x)

    def fdiff(self, argindex=1):
        x = self.args[0]
        return NormalCDF(x) + x * NormalPDF(x)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\operatorname{GELU}", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "GELU")

    def _numpycode(self, printer, **kwargs):
        x = self.args[0]
        return f"{code_paren(printer, x)} * {printer._print(NormalCDF(x))}"


register(Primitive("NormalPDF", NormalPDF, elementwise=True))
register(Primitive("NormalCDF", NormalCDF, elementwise=True))
register(Primitive("GELU", GELU, elementwise=True))
