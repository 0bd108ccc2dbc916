"""The paths of the backward pass: each gradient as one term per path through the graph.

A value used in several places sends back one contribution per use; a term that
gathers several paths (``𝟙ᵀ(Z1_bar + Z2_bar)``) is split by linearity. The
explanation, the graph picture and the lesson page read these paths, so each
edge carries the gradient flowing along it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .ir import Derivation, Term

__all__ = ["Adjoint", "gradient_paths", "edge_gradients"]


@dataclass(frozen=True)
class Adjoint:
    """One line of the backward pass: the gradient of ``of`` as the sum of its ``paths``."""

    of: str  # the value (step or parameter) whose gradient this is
    expr: sp.Basic  # what the code computes: the step's expression (inlined: its value)
    paths: tuple[Term, ...]  # one per path: the user and the gradient flowing back from it
    role: str  # adjoint | gradient | inlined (no step of its own)
    symbol: sp.Basic | None = None  # the step's symbol (None when inlined)


def gradient_paths(d: Derivation) -> list[Adjoint]:
    """Every gradient of the backward pass in sweep order, each term split per path.

    A term that gathers several paths (``𝟙ᵀ(Z1_bar + Z2_bar)``: a bias broadcast once
    and used twice) is split by linearity into one term per adjoint it reads. Adjoints
    the derivation wrote into their users (``y_hat_bar = z4_bar``) come with role
    "inlined" (``d.inlined``).
    """
    owners = {s.symbol: s.of or s.name for s in d.backward}
    rank = {s.name: k for k, s in enumerate(d.forward)}
    steps = {s.node: s for s in d.backward}
    inlined = {a.node: a for a in d.inlined}
    entries = []
    for i in d.order:
        if i in steps:
            s = steps[i]
            entries.append(Adjoint(owners[s.symbol], s.expr, _split(s.terms, owners, rank),
                                   s.role, s.symbol))
        elif i in inlined:
            a = inlined[i]
            entries.append(Adjoint(a.of, a.expr, _split(a.terms, owners, rank), "inlined"))
    return entries


def edge_gradients(d: Derivation) -> dict[tuple[str, str], sp.Basic]:
    """(value name, user name) -> the gradient flowing back along that edge of the graph."""
    flows: dict[tuple[str, str], sp.Basic] = {}
    for entry in gradient_paths(d):
        for path in entry.paths:
            key = (entry.of, path.user)
            flows[key] = flows[key] + path.expr if key in flows else path.expr
    return flows


def _split(terms, owners: dict, rank: dict) -> tuple[Term, ...]:
    """One term per path, in the order of the forward pass."""
    paths = []
    for term in terms:
        pieces = _pieces(term.expr, [a for a in owners if a in term.expr.free_symbols])
        paths += [term] if pieces is None else [Term(owners[a], e) for a, e in pieces]
    return tuple(sorted(paths, key=lambda t: rank.get(t.user, -1)))


def _pieces(expr, adjoints: list):
    """[(adjoint, the part of ``expr`` linear in it)] for a term reading several adjoints
    through one sum (``𝟙ᵀ(A + B)`` -> ``𝟙ᵀA``, ``𝟙ᵀB``), or None."""
    if len(adjoints) < 2:
        return None
    for sub in sp.preorder_traversal(expr):
        if not isinstance(sub, (sp.Add, sp.MatAdd)):
            continue
        groups: dict = {}
        for arg in sub.args:
            inside = [a for a in adjoints if a in arg.free_symbols]
            groups.setdefault(inside[0] if len(inside) == 1 else None, []).append(arg)
        if None in groups or len(groups) != len(adjoints):
            continue
        pieces = [(a, expr.xreplace({sub: args[0] if len(args) == 1 else sub.func(*args)}))
                  for a, args in groups.items()]
        if all([b for b in adjoints if b in p.free_symbols] == [a] for a, p in pieces):
            return pieces
    return None
