"""The mean over the samples of a scalar model, and how it prints.

A scalar model (plain ``sp.Symbol`` parameters and data) describes one sample; its
generated code takes data arrays of N samples and returns the mean loss and the gradient
of that mean. A value that reads data differs from sample to sample (per-sample); a
parameter's gradient is the same for all, so ``derive`` wraps each per-sample term of a
parameter-side adjoint in ``BatchMean``: what explain, the LaTeX and the generated code's
comments show is what the code computes.

>>> from sympy import Symbol
>>> x, g = Symbol("x"), Symbol("g")
>>> from symbp.text import unicode
>>> unicode(BatchMean(x * g))
'meanₙ(g·x)'
>>> BatchMean(0.5)  # of one number (one sample): the number itself
0.500000000000000
"""

from __future__ import annotations

import sympy as sp

from .base import unicode_call

__all__ = ["BatchMean"]


class BatchMean(sp.Function):
    """``meanₙ(x)``: the mean of the per-sample value ``x`` over the samples n = 1, ..., N."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:  # one number for every sample
            return x
        return None

    def _sympystr(self, printer):
        return unicode_call(printer, self, "meanₙ")

    def _latex(self, printer, exp=None):
        inner = printer._print(self.args[0])
        if isinstance(self.args[0], sp.Add):
            inner = rf"\left({inner}\right)"
        text = rf"\frac{{1}}{{N}} \sum_{{n=1}}^{{N}} {inner}"
        return rf"\left({text}\right)^{{{exp}}}" if exp is not None else text

    def _numpycode(self, printer, **kwargs):
        """``xp.sum(x) / N``; of a product of two per-sample arrays, their dot product
        ``xp.vecdot(x, g) / N`` (the printer knows the per-sample symbols, ``batched``, and
        the identifier of N, ``batch_size``; without them, ``mean(x)``)."""
        arg = self.args[0]
        size = getattr(printer, "batch_size", None)
        if not size:
            return f"{printer._module_format('numpy.mean')}({printer._print(arg)})"
        batched = getattr(printer, "batched", set())
        factors = sp.Mul.make_args(arg)
        per_sample = [f for f in factors if f.free_symbols & batched]
        if len(per_sample) < 2:  # a sum over N is faster than xp.mean here
            return f"xp.sum({printer._print(arg)}) / {size}"
        rest = sp.Mul(*[f for f in factors if f is not per_sample[0]])
        return f"xp.vecdot({printer._print(per_sample[0])}, {printer._print(rest)}) / {size}"
