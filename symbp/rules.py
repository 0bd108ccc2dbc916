"""The rule table: one vector-Jacobian product (VJP) per node kind.

A rule reads a ``Ctx`` (the SymPy values of the node's arguments ``a``,
of its output ``out``, of its helper forward nodes ``aux``, and the upstream
adjoint ``g`` = dL/d(out)) and returns one contribution dL/d(arg) per
argument, in argument order. The reverse sweep sums the contributions that
reach a node from all its users (fan-out).

Scalar functions have no hand-written rule: their local derivative is
SymPy's own (``diff`` of the node's template, i.e. ``fdiff``), which is the
symbolic chain rule. Where a derivative can be written through the output
(``sigmoid' = a(1-a)``, ``tanh' = 1-a^2``, ``exp' = a``, a primitive's
``output_derivative``) the rule reuses the forward value instead of recomputing
it. The node kinds of ``symbp.primitives`` (softmax and its fused cross-entropy)
bring their own rules, which join this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.matrices.expressions.special import OneMatrix

from .errors import SymbpError
from .functions import elementwise
from .graph import Node, U, placeholder
from .matalg import inner, neg, times, transpose
from .model import _short
from .primitives import node_kinds

__all__ = ["Ctx", "RULES", "vjp", "UnitMatrix", "transpose", "times", "local_derivative"]


class UnitMatrix(MatrixExpr):
    """``E_ij``: the ``rows x cols`` matrix with a single one at ``(i, j)``."""

    def __new__(cls, i, j, rows, cols):
        return super().__new__(cls, *map(sp.sympify, (i, j, rows, cols)))

    @property
    def shape(self):
        return self.args[2], self.args[3]

    def _entry(self, i, j, **kwargs):
        return sp.KroneckerDelta(i, self.args[0]) * sp.KroneckerDelta(j, self.args[1])

    def _latex(self, printer):
        i, j = (printer._print(a) for a in self.args[:2])
        return rf"E_{{{i}{j}}}"


@dataclass
class Ctx:
    """What a rule sees of one node during the reverse sweep."""

    node: Node
    a: list  # values of the arguments
    out: sp.Basic  # value of the node
    g: sp.Basic  # upstream adjoint dL/d(out)
    aux: list  # values of the helper forward nodes


RULES: dict[str, Callable[[Ctx], tuple]] = {}


def rule(kind: str):
    def register(fn):
        RULES[kind] = fn
        return fn
    return register


def _elementwise(body, x):
    return elementwise(sp.Lambda(U, body), x)


@rule("matmul")
def _matmul(c: Ctx):
    a, b = c.a
    return sp.MatMul(c.g, transpose(b)), sp.MatMul(transpose(a), c.g)


@rule("add")
def _add(c: Ctx):
    return (c.g,) * len(c.a)


@rule("hadamard")
def _hadamard(c: Ctx):
    return tuple(sp.HadamardProduct(c.g, *(x for k, x in enumerate(c.a) if k != i))
                 for i in range(len(c.a)))


@rule("hpow")
def _hpow(c: Ctx):
    a, p = c.a
    power = a if p - 1 == 1 else sp.HadamardPower(a, p - 1)
    d_a = sp.HadamardProduct(c.g, times(p, power))
    d_p = inner(c.g, sp.HadamardProduct(c.out, _elementwise(sp.log(U), a)))
    return d_a, d_p


@rule("scale")
def _scale(c: Ctx):
    s, m = c.a
    return inner(c.g, m), times(s, c.g)


@rule("transpose")
def _transpose(c: Ctx):
    return (transpose(c.g),)


@rule("trace")
def _trace(c: Ctx):
    return (times(c.g, sp.Identity(c.a[0].shape[0])),)


@rule("inverse")
def _inverse(c: Ctx):
    t = transpose(c.out)
    return (neg(sp.MatMul(t, c.g, t)),)


@rule("frobenius")
def _frobenius(c: Ctx):
    p, q = c.a
    return times(c.g, transpose(q)), times(c.g, transpose(p))


@rule("element")
def _element(c: Ctx):
    i, j = c.node.attr
    rows, cols = c.a[0].shape
    if (rows, cols) == (1, 1):  # the only entry: the adjoint itself, as a 1 x 1 matrix
        return (times(c.g, OneMatrix(1, 1)),)
    return (times(c.g, UnitMatrix(i, j, rows, cols)),)


@rule("broadcast_rows")
def _broadcast_rows(c: Ctx):
    return (sp.MatMul(OneMatrix(1, c.node.attr), c.g),)


@rule("broadcast_cols")
def _broadcast_cols(c: Ctx):
    return (sp.MatMul(c.g, OneMatrix(c.node.attr, 1)),)


@rule("colsum")
def _colsum(c: Ctx):
    return (sp.MatMul(OneMatrix(c.a[0].shape[0], 1), c.g),)


@rule("rowsum")
def _rowsum(c: Ctx):
    return (sp.MatMul(c.g, OneMatrix(1, c.a[0].shape[1])),)


@rule("map")
def _map(c: Ctx):
    template, (x, *extras) = c.node.attr, c.a
    subs = {placeholder(k): v for k, v in enumerate(extras)}
    body, on = local_derivative(c.node, template, U, subs)
    contributions = [sp.HadamardProduct(c.g, _elementwise(body, c.out if on else x))]
    for k in range(len(extras)):
        d = _checked_diff(c.node, template, placeholder(k)).xreplace(subs)
        contributions.append(inner(c.g, _elementwise(d, x)))
    return tuple(contributions)


@rule("scalar")
def _scalar(c: Ctx):
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


def _checked_diff(node: Node, template, var):
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


def local_derivative(node: Node, template, var, subs):
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


RULES.update({record.name: record.vjp for record in node_kinds()})


def vjp(ctx: Ctx) -> tuple:
    """The contributions of ``ctx.node`` to its arguments' adjoints."""
    fn = RULES.get(ctx.node.kind)
    if fn is None:
        raise SymbpError(f"no backward rule for the node kind {ctx.node.kind!r}.")
    return fn(ctx)
