"""The rule table: one vector-Jacobian product (VJP) per node kind.

A rule reads a ``Ctx`` (the SymPy values of the node's arguments ``a``,
of its output ``out``, of its helper forward nodes ``aux``, and the upstream
adjoint ``g`` = dL/d(out)) and returns one contribution dL/d(arg) per
argument, in argument order. The reverse sweep sums the contributions that
reach a node from all its users (fan-out).

Each rule lives with its node kind in ``symbp.primitives`` (matrix algebra,
the symbolic chain rule of ``map``/``scalar`` nodes, the row-wise softmax
family); this table gathers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .errors import SymbpError
from .graph import Node
from .matalg import times, transpose
from .primitives import node_kinds
from .primitives.algebra import UnitMatrix
from .primitives.chain import local_derivative

__all__ = ["Ctx", "RULES", "vjp", "UnitMatrix", "transpose", "times", "local_derivative"]


@dataclass
class Ctx:
    """What a rule sees of one node during the reverse sweep."""

    node: Node
    a: list  # values of the arguments
    out: sp.Basic  # value of the node
    g: sp.Basic  # upstream adjoint dL/d(out)
    aux: list  # values of the helper forward nodes


RULES: dict[str, Callable[[Ctx], tuple]] = {record.name: record.vjp for record in node_kinds()}


def vjp(ctx: Ctx) -> tuple:
    """The contributions of ``ctx.node`` to its arguments' adjoints."""
    fn = RULES.get(ctx.node.kind)
    if fn is None:
        raise SymbpError(f"no backward rule for the node kind {ctx.node.kind!r}.")
    return fn(ctx)
