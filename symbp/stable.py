"""Numerically stable forms of what users write: ``stabilize(expr)``.

``log(sigmoid(z))``, ``log(1 + exp(z))``, ``1/(1 + exp(-z))`` and
``log(softmax(Z))`` are exact on paper but overflow or underflow in floating
point (``log(1 + exp(1000))`` is inf, ``log(sigmoid(-1000))`` is -inf). The
vocabulary computes the same functions stably, so each such form is
replaced by its vocabulary equivalent, bottom-up, on scalars, inside the
``Lambda`` of an ``applyfunc`` and across two nested ``applyfunc``:

=================================  ===================
written                            rewritten
=================================  ===================
``log(1 + exp(v))``                ``softplus(v)``
``log(sigmoid(v))``                ``-softplus(-v)``
``log(1 - sigmoid(v))``            ``-softplus(v)``
``1/(1 + exp(v))``                 ``sigmoid(-v)``
``exp(v) * sigmoid(-v)``           ``sigmoid(v)`` (``exp(v)/(1 + exp(v))`` once the above ran)
``log(exp(v))``                    ``v`` (real v)
``log(softmax(Z))`` elementwise    ``log_softmax(Z)``
``log(det(A))``                    ``LogDet(A)`` (``log |det A|``, by slogdet)
=================================  ===================

Each primitive registers its own such forms (``Primitive.stable``, next to its class);
this module walks the expression and applies them, with ``log(exp(v)) = v`` and the
composition of nested ``applyfunc``.

The derivative of each rewritten node comes from the vocabulary's own rules
(``softplus' = sigmoid``). Nothing else changes: a node none of whose
sub-expressions was rewritten is returned as the same object.

>>> import sympy as sp
>>> z = sp.Symbol("z")
>>> stabilize(sp.log(1 + sp.exp(-z)))
Softplus(-z)
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .model import walk
from .primitives.base import stable_form

__all__ = ["stabilize"]


def stabilize(expr, keep=()):
    """``expr`` with each unstable form replaced by its stable equivalent.

    A rewrite that would remove a sub-expression listed in ``keep`` (the
    model's named nodes) is not made.
    """
    keep = frozenset(keep)
    memo: dict = {}
    changed: set = set()  # the sub-expressions whose stable form differs from them
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in memo:
            stack.pop()
            continue
        kids = list(e.args)
        pending = [a for a in kids if a not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        rebuilt = e.func(*[memo[a] for a in kids]) if any(a in changed for a in kids) else e
        memo[e] = _accepted(rebuilt, _rewrite(rebuilt), keep)
        if memo[e] is not e:
            changed.add(e)
    return memo[expr]


def _accepted(before, after, keep):
    """``after``, unless it removes a named sub-expression of ``before``."""
    if after is None:
        return before
    if keep:
        lost = set(walk(before)) - set(walk(after))
        if lost & keep:
            return before
    return after


def _rewrite(e):
    """The stable form of the node ``e`` (its children already stable), or None."""
    found = stable_form(e)  # the forms the primitives register (log det A is LogDet(A))
    if found is not None:
        return found
    if isinstance(e, sp.log) and isinstance(e.args[0], sp.exp):
        return e.args[0].args[0]
    if isinstance(e, ElementwiseApplyFunction):
        return _composed(e)
    return None


def _composed(e):
    """An applyfunc of an applyfunc whose composition stabilizes, as one applyfunc."""
    var, body = e.function.variables[0], e.function.expr
    inner = e.args[1]
    if isinstance(inner, ElementwiseApplyFunction):
        ivar, ibody = inner.function.variables[0], inner.function.expr
        composed = body.xreplace({var: ibody})
        stable = stabilize(composed)
        if stable != composed:
            return ElementwiseApplyFunction(sp.Lambda(ivar, stable), inner.args[1])
    return None
