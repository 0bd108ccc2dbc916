"""The exact GELU ``x Φ(x)`` and the standard normal density ``φ`` and CDF ``Φ`` it reads.

NumPy and the array API have no ``erf``, so ``Φ(x)`` prints as two polynomials in
``z = x/√2``: ``Φ = ½ + ½ z P(z²)`` for ``|z| < 1.5`` and, beyond, the tail
``½ erfc(|z|) = ½ e^{-z²} Q(t) / |z|`` with ``t = 1/|z|`` (held at 1/6 beyond 6, where
``erfc`` is below half an ulp of 1), read as ``Φ`` for ``x < 0`` and ``1 - Φ`` above. Both are Chebyshev
interpolants computed by ``mpmath.chebyfit`` at 50 digits (``tests/test_gaussian_tables.py``
recomputes them): ``erf`` to a few units in the last place, and the lower tail of ``Φ`` to
relative 1e-14 down to ``x = -8.4`` (2% beyond, where it is below 1e-17).
"""

from __future__ import annotations

import math

import sympy as sp

from .base import Primitive, code_paren, np_name, register, unicode_call
from .elementwise import _latex_call

__all__ = ["NormalPDF", "NormalCDF", "GELU", "normal_cdf_code", "reads_erf", "ERF_TABLES"]

_CUT, _FAR = 1.5, 6.0  # |z| where the tail takes over; where erfc(|z|) is no longer read
_SMALL = (1.5889546007818838e-13, -4.9101179846805086e-12, 8.685870114391334e-11,
          -1.2083048517022723e-09, 1.4765666857055745e-08, -1.6359841594724727e-07,
          1.6461484722454145e-06, -1.4925602741550847e-05, 0.00012055330429899759,
          -0.0008548326929470691, 0.005223977623179348, -0.02686617064480267,
          0.11283791670952624, -0.37612638903183676, 1.1283791670955126)
"""erf(z)/z as a polynomial in u = z² on [0, 1.5²] (highest power first)."""
_TAIL = (2.1155243771325294, -16.031367542727054, 56.65337603926299, -123.65814656055475,
         185.82578353726151, -202.32180670546393, 162.7797037188101, -96.04135178524685,
         39.62971941679495, -9.974948783390952, 1.0469708352983667, -0.33867914004335015,
         0.46418326125112225, -0.0036352511899607814, -0.28187236395594634,
         -8.407962144163968e-06, 0.564189731530364)
"""e^{b²} erfc(b) b as a polynomial in t = 1/b on [1/6, 1/1.5] (highest power first)."""

ERF_TABLES = {"small": _SMALL, "tail": _TAIL, "cut": _CUT, "far": _FAR,
              "sqrt_half": 1 / math.sqrt(2)}
"""What ``templates/erf_ops.py.j2`` writes into a generated module that reads ``Φ``."""


def reads_erf(exprs) -> bool:
    """Whether any of ``exprs`` reads the normal CDF (GELU and its derivative do): the
    generated module then carries the runtime helper ``_normal_cdf``."""
    return any(e.has(NormalCDF, GELU) for e in exprs)


def normal_cdf_code(printer, x: str) -> str:
    """Code for ``Φ(x)`` (``x`` already printed and parenthesised): in symbp's generated
    modules a call of their runtime helper ``_normal_cdf(xp, x)`` (array-API operations
    only); in any other NumPy printer (plain ``lambdify``) the same formula with ``polyval``."""
    if getattr(printer, "runtime_normal_cdf", False):
        return f"_normal_cdf(xp, {x})"
    np_ = lambda name: np_name(printer, name)  # noqa: E731
    z = f"({x} * {1 / math.sqrt(2)!r})"
    s = f"{np_('minimum')}({np_('abs')}({z}), {_CUT})"
    b = f"{np_('maximum')}({np_('abs')}({z}), {_CUT})"
    small = f"(0.5 + 0.5 * {np_('sign')}({z}) * {s} * {np_('polyval')}({list(_SMALL)!r}, {s} ** 2))"
    t = f"1 / {np_('minimum')}({b}, {_FAR})"
    tail = f"(0.5 * {np_('exp')}(-{b} ** 2) / {b} * {np_('polyval')}({list(_TAIL)!r}, {t}))"
    return (f"{np_('where')}({np_('abs')}({z}) < {_CUT}, {small}, "
            f"{np_('where')}({x} < 0, {tail}, 1 - {tail}))")


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

    def _eval_is_extended_real(self):  # real at a real argument: Abs and sign of it simplify
        return self.args[0].is_extended_real


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
        """Printed once per generated function where the printer shares values (a GELU's
        forward and backward read the same ``Φ``)."""
        code = normal_cdf_code(printer, code_paren(printer, self.args[0]))
        share = getattr(printer, "shared", None)
        return share(code, "Phi") if share else code


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
        # bracketed: the product may sit inside a power or a quotient
        return f"({code_paren(printer, x)} * {printer._print(NormalCDF(x))})"


register(Primitive("NormalPDF", NormalPDF, elementwise=True))
register(Primitive("NormalCDF", NormalCDF, elementwise=True))
register(Primitive("GELU", GELU, elementwise=True))
