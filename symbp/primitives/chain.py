"""The symbolic chain rule: ``map`` (f applied to every entry) and ``scalar`` nodes.

These node kinds carry a SymPy template (in ``U`` and the placeholders ``S0, S1..``)
instead of a hand-written rule: their local derivative is SymPy's own (``diff`` of
the template, i.e. each function's ``fdiff``). Where a derivative can be written
through the output (``sigmoid' = a(1-a)``, ``tanh' = 1-a^2``, ``exp' = a``, a
primitive's ``output_derivative`` such as ReLU's ``[a > 0]``) it reuses the
forward value instead of recomputing it.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SymbpError
from ..matalg import elementwise, inner
from ..model import _short
from .base import Primitive, U, placeholder, register

__all__ = ["local_derivative"]


def _elementwise(body, x):
    return elementwise(sp.Lambda(U, body), x)


def _map_value(node, a):
    subs = {placeholder(k): v for k, v in enumerate(a[1:])}
    return elementwise(sp.Lambda(U, node.attr.xreplace(subs)), a[0])


def _map_vjp(c):
    template, (x, *extras) = c.node.attr, c.a
    subs = {placeholder(k): v for k, v in enumerate(extras)}
    body, on = local_derivative(c.node, template, U, subs)
    if body.has(U) or body.is_zero is not False:
        contributions = [sp.HadamardProduct(c.g, _elementwise(body, c.out if on else x))]
    else:  # a constant slope (-u, u/2 + 1): dL/dx = -dL/dy, not dL/dy ⊙ (-1) over a full array
        contributions = [body * c.g]
    for k in range(len(extras)):
        d = _checked_diff(c.node, template, placeholder(k)).xreplace(subs)
        contributions.append(inner(c.g, _elementwise(d, x)))
    return tuple(contributions)


def _scalar_vjp(c):
    template = c.node.attr
    subs = {placeholder(k): v for k, v in enumerate(c.a)}
    out = []
    for k in range(len(c.a)):
        d, on = local_derivative(c.node, template, placeholder(k), subs)
        out.append(c.g * (d.xreplace({U: c.out}) if on else d))
    return tuple(out)


def _power_of(factor, var):
    """``p`` when ``factor`` is ``var**p`` with a constant ``p`` (1 for ``var``), else None."""
    if factor == var:
        return sp.Integer(1)
    if factor.is_Pow and factor.base == var and not factor.exp.has(var):
        return factor.exp
    return None


def _direct_diff(template, var):
    """d(template)/d(var) for sums and products of ``var`` (what most nodes are), or None."""
    if template.is_Add:
        parts = [_direct_diff(t, var) if t.has(var) else sp.Integer(0) for t in template.args]
        return None if any(p is None for p in parts) else sp.Add(*parts)
    if template.is_Mul:
        powers = [(k, _power_of(f, var)) for k, f in enumerate(template.args) if f.has(var)]
        if len(powers) != 1 or powers[0][1] is None:
            return None
        k, p = powers[0]
        rest = [f for j, f in enumerate(template.args) if j != k]
        return sp.Mul(p, var ** (p - 1), *rest)
    p = _power_of(template, var)
    return None if p is None else p * var ** (p - 1)


def _checked_diff(node, template, var):
    d = _direct_diff(template, var)
    if d is not None:
        return d
    d = sp.diff(template, var)
    if d.has(sp.Derivative, sp.Subs):
        hidden = sorted(template.free_symbols, key=lambda s: (len(s.name), s.name))
        shown = {s: sp.Symbol("x" if len(hidden) == 1 else f"x{k + 1}")
                 for k, s in enumerate(hidden)}
        raise SymbpError(
            f"symbp has no derivative for {_short(node.source)}: SymPy does not know the "
            f"derivative of {_short(template.xreplace(shown))} with respect to "
            f"{shown.get(var, var)}; use a function SymPy can differentiate or define fdiff on it."
        )
    return d


def local_derivative(node, template, var, subs):
    """``(d, through_output)``: d(template)/d(var), arguments substituted.

    When ``through_output`` is true, ``U`` in ``d`` stands for the node's own
    forward value, so the derivative reuses it instead of its input.
    """
    through_output = getattr(template, "output_derivative", None)
    if through_output is not None and template.args[0] == var:
        d = through_output(U)
        if d is not None:
            return d, True
    d = _checked_diff(node, template, var)
    rewritten = d.xreplace({template: _V})
    if rewritten.has(_V) and not rewritten.has(var):
        return rewritten.xreplace({_V: U}).xreplace(subs), True
    return d.xreplace(subs), False


_V = sp.Symbol("_symbp_v", real=True)


register(Primitive(
    "map", sp.Lambda, value=_map_value, shape=lambda shapes, attr: shapes[0], vjp=_map_vjp,
    prefix="A", elementwise=True, transposable=True))
register(Primitive(
    "scalar", sp.Expr, value=lambda node, a: node.attr.xreplace(
        {placeholder(k): v for k, v in enumerate(a)}),
    shape=lambda shapes, attr: (), vjp=_scalar_vjp, foldable=True, absorbing=True))
