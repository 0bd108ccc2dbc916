"""The scalar activations: one class each, holding its value, derivative and printing.

Each class is a SymPy ``Function`` of scalars (applied to matrices entry by
entry through ``functions.elementwise``): ``eval``/``_eval_evalf`` give its
value, ``fdiff`` its derivative (what the rule table's ``map`` and ``scalar``
nodes differentiate), ``output_derivative`` the derivative written through the
output where that is cheaper, and ``_latex``/``_numpycode``/``_sympystr`` its
LaTeX, NumPy and Unicode forms. NumPy forms are the stable ones: the sigmoid as
``0.5 + 0.5 tanh(x/2)`` (no overflow), softplus as ``logaddexp(0, x)``.

Conventions: ``relu'(0) = 0``, ``leaky_relu'(0) = alpha`` and ``elu'(0) = alpha``, as in
PyTorch. GELU and the normal distribution's ``φ`` and ``Φ`` are in ``gaussian``.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.logic import fuzzy_and

from .base import Primitive, code_paren, np_name, register, unicode_call

__all__ = ["Sigmoid", "ReLU", "LeakyReLU", "Softplus", "LogSumExp", "SiLU", "ELU"]


class _RealMap(sp.Function):
    """A map that is real at real arguments (so SymPy's ``Abs``, ``re`` and ``sign`` of it
    simplify instead of leaving ``re(f) sign(f) / f``, NaN where f = 0)."""

    def _eval_is_extended_real(self):
        return fuzzy_and(a.is_extended_real for a in self.args)


def _latex_call(printer, name: str, args, exp=None) -> str:
    inner = ", ".join(printer._print(a) for a in args)
    head = name if exp is None else f"{name}^{{{exp}}}"
    return rf"{head}\left({inner}\right)"


def _fold(printer, fn: str, args) -> str:
    code = printer._print(args[0])
    for a in args[1:]:
        code = f"{fn}({code}, {printer._print(a)})"
    return code


class Sigmoid(_RealMap):
    """The logistic function ``1 / (1 + exp(-x))``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        return self._eval_rewrite_as_exp(*self.args).evalf(prec)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\sigma", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "σ")

    def _numpycode(self, printer, **kwargs):
        return f"(0.5 + 0.5 * {np_name(printer, 'tanh')}(0.5 * {code_paren(printer, self.args[0])}))"


class ReLU(_RealMap):
    """``max(0, x)``, with derivative ``Heaviside(x, 0)`` (0 at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number and x.is_extended_real:
            return sp.Max(0, x)
        return None

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def output_derivative(self, out):
        """The derivative written in the output ``out``: ``[out > 0]``."""
        return sp.Heaviside(out, 0)

    def _eval_evalf(self, prec):
        return sp.Max(0, self.args[0]).evalf(prec)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\operatorname{ReLU}", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "ReLU")

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'maximum')}({printer._print(self.args[0])}, 0.0)"


class LeakyReLU(_RealMap):
    """``x`` for ``x > 0``, else ``alpha * x``; derivative ``alpha`` at 0."""

    nargs = 2

    @classmethod
    def eval(cls, x, alpha):
        if x.is_Number and alpha.is_Number:
            return x if x > 0 else alpha * x
        return None

    def fdiff(self, argindex=1):
        x, alpha = self.args
        if argindex == 1:
            return alpha + (1 - alpha) * sp.Heaviside(x, 0)
        return sp.Min(x, 0)

    def output_derivative(self, out):
        """The derivative in the output ``out`` (the sign of the output is the input's
        only for a positive slope), else None."""
        alpha = self.args[1]
        return alpha + (1 - alpha) * sp.Heaviside(out, 0) if alpha.is_positive else None

    def _latex(self, printer, exp=None):
        name = r"\operatorname{LeakyReLU}_{" + printer._print(self.args[1]) + "}"
        return _latex_call(printer, name, self.args[:1], exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, f"LeakyReLU_{printer._print(self.args[1])}", self.args[:1])

    def _numpycode(self, printer, **kwargs):
        x, alpha = self.args
        code = printer._print(x)
        where = np_name(printer, "where")
        return f"{where}({code} > 0.0, {code}, {code_paren(printer, alpha)} * {code_paren(printer, x)})"


class Softplus(_RealMap):
    """``log(1 + exp(x))``, a smooth ReLU whose derivative is the sigmoid."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.log(1 + sp.exp(x))
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec):
        return self._eval_rewrite_as_exp(*self.args).evalf(prec)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\operatorname{softplus}", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "Softplus")

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'logaddexp')}(0, {printer._print(self.args[0])})"


class LogSumExp(_RealMap):
    """``log(sum_i exp(x_i))`` of scalars; ``d/dx_i`` is ``softmax_i``."""

    @classmethod
    def eval(cls, *xs):
        if xs and all(x.is_Number for x in xs):
            return sp.log(sp.Add(*[sp.exp(x) for x in xs]))
        return None

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_evalf(self, prec):
        return sp.log(sp.Add(*[sp.exp(x) for x in self.args])).evalf(prec)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\operatorname{logsumexp}", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "LogSumExp")

    def _numpycode(self, printer, **kwargs):
        return _fold(printer, np_name(printer, "logaddexp"), self.args)


class SiLU(_RealMap):
    """``x σ(x)`` (swish); derivative ``σ(x) (1 + x (1 - σ(x)))``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return x / (1 + sp.exp(-x))
        return None

    def fdiff(self, argindex=1):
        x = self.args[0]
        return Sigmoid(x) * (1 + x * (1 - Sigmoid(x)))

    def _eval_evalf(self, prec):
        return (self.args[0] / (1 + sp.exp(-self.args[0]))).evalf(prec)

    def _latex(self, printer, exp=None):
        return _latex_call(printer, r"\operatorname{SiLU}", self.args, exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, "SiLU")

    def _numpycode(self, printer, **kwargs):
        x = self.args[0]
        # bracketed: the product may sit inside a power or a quotient
        return f"({code_paren(printer, x)} * {printer._print(Sigmoid(x))})"


class ELU(_RealMap):
    """``x`` for ``x > 0``, else ``alpha (exp(x) - 1)``; derivative ``alpha`` at 0 (PyTorch)."""

    nargs = 2

    @classmethod
    def eval(cls, x, alpha):
        if x.is_Number and alpha.is_Number:
            return x if x > 0 else alpha * (sp.exp(x) - 1)
        return None

    def fdiff(self, argindex=1):
        x, alpha = self.args
        if argindex == 1:
            return sp.Heaviside(x, 0) + (1 - sp.Heaviside(x, 0)) * alpha * sp.exp(x)
        return (1 - sp.Heaviside(x, 0)) * (sp.exp(x) - 1)

    def output_derivative(self, out):
        """``1`` where the output is positive, else ``out + alpha`` (for a positive alpha)."""
        alpha = self.args[1]
        if not alpha.is_positive:
            return None
        return sp.Heaviside(out, 0) + (1 - sp.Heaviside(out, 0)) * (out + alpha)

    def _eval_evalf(self, prec):
        x, alpha = self.args
        return sp.Piecewise((x, x > 0), (alpha * (sp.exp(x) - 1), True)).evalf(prec)

    def _latex(self, printer, exp=None):
        name = r"\operatorname{ELU}_{" + printer._print(self.args[1]) + "}"
        return _latex_call(printer, name, self.args[:1], exp)

    def _sympystr(self, printer):
        return unicode_call(printer, self, f"ELU_{printer._print(self.args[1])}", self.args[:1])

    def _numpycode(self, printer, **kwargs):
        x, alpha = self.args
        code = printer._print(x)
        below = f"{np_name(printer, 'minimum')}({code}, 0.0)"
        neg = f"{code_paren(printer, alpha)} * {np_name(printer, 'expm1')}({below})"
        return f"{np_name(printer, 'where')}({code} > 0.0, {code}, {neg})"


def _relu_of_max(expr):
    """``ReLU(x)`` for ``Max(0, x)``, the plain SymPy way to write it."""
    if isinstance(expr, sp.Max) and len(expr.args) == 2 and 0 in expr.args:
        return ReLU(expr.args[0] if expr.args[1] == 0 else expr.args[1])
    return None


def _one_plus_exp(u):
    """``v`` when ``u`` is ``1 + exp(v)``."""
    if isinstance(u, sp.Add) and len(u.args) == 2 and sp.S.One in u.args:
        other = u.args[1] if u.args[0] == 1 else u.args[0]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def _one_minus_sigmoid(u):
    """``v`` when ``u`` is ``1 - sigmoid(v)``."""
    if isinstance(u, sp.Add) and len(u.args) == 2 and sp.S.One in u.args:
        other = u.args[1] if u.args[0] == 1 else u.args[0]
        coeff, rest = other.as_coeff_Mul()
        if coeff == -1 and isinstance(rest, Sigmoid):
            return rest.args[0]
    return None


def _exp_times_sigmoid(e):
    """``exp(v) * sigmoid(-v) * rest`` -> ``sigmoid(v) * rest``."""
    factors = list(e.args)
    for i, f in enumerate(factors):
        if not isinstance(f, sp.exp):
            continue
        for j, g in enumerate(factors):
            if isinstance(g, Sigmoid) and sp.Add(g.args[0], f.args[0]) == 0:
                rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                return sp.Mul(Sigmoid(f.args[0]), *rest)
    return None


def _sigmoid_forms(e):
    """The sigmoid's stable forms: ``1/(1 + exp(v))`` is ``sigmoid(-v)``, ``exp(v) sigmoid(-v)``
    is ``sigmoid(v)``, ``log(sigmoid(v))`` is ``-softplus(-v)`` and ``log(1 - sigmoid(v))``
    is ``-softplus(v)``."""
    if isinstance(e, sp.Pow) and e.exp == -1:
        v = _one_plus_exp(e.base)
        return None if v is None else Sigmoid(-v)
    if isinstance(e, sp.Mul):
        return _exp_times_sigmoid(e)
    if isinstance(e, sp.log) and isinstance(e.args[0], Sigmoid):
        return -Softplus(-e.args[0].args[0])
    if isinstance(e, sp.log):
        v = _one_minus_sigmoid(e.args[0])
        return None if v is None else -Softplus(v)
    return None


def _softplus_form(e):
    """``log(1 + exp(v))`` is ``softplus(v)``."""
    v = _one_plus_exp(e.args[0]) if isinstance(e, sp.log) else None
    return None if v is None else Softplus(v)


register(Primitive("Sigmoid", Sigmoid, elementwise=True, stable=_sigmoid_forms))
register(Primitive("ReLU", ReLU, elementwise=True, init="he", recognise=_relu_of_max))
register(Primitive("LeakyReLU", LeakyReLU, elementwise=True, init="he"))
register(Primitive("Softplus", Softplus, elementwise=True, stable=_softplus_form))
register(Primitive("LogSumExp", LogSumExp))
register(Primitive("SiLU", SiLU, elementwise=True))
register(Primitive("ELU", ELU, elementwise=True))
