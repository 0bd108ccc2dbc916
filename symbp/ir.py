"""The derivation: ordered single-assignment steps every consumer reads.

``Step(name, expr, shape, role)`` assigns ``expr`` (a SymPy expression over
earlier steps and the model's symbols) to the symbol ``name``. Forward
steps compute the loss and outputs; backward steps compute adjoints
(``Z1_bar`` = dL/dZ1), each the sum of its ``terms`` (one per user of the
node: fan-out), ending in the parameters' gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from .model import Model

__all__ = ["Step", "Term", "Derivation"]

FORWARD_ROLES = ("forward", "aux", "output", "loss")
BACKWARD_ROLES = ("adjoint", "gradient")


@dataclass(frozen=True)
class Term:
    """One contribution to an adjoint: what the rule of ``user`` sent back."""

    user: str  # name of the step (or symbol) whose rule produced it
    expr: sp.Basic


@dataclass(frozen=True)
class Step:
    """``name = expr``: one single-assignment statement."""

    name: str
    symbol: sp.Basic  # Symbol or MatrixSymbol called ``name``
    expr: sp.Basic
    shape: tuple  # () for a scalar
    role: str  # forward | aux | output | loss | adjoint | gradient
    node: int = -1  # graph node it belongs to
    terms: tuple[Term, ...] = ()  # backward steps: the summed contributions
    of: str = ""  # backward steps: the name of the value it is the adjoint of

    def __str__(self) -> str:
        from .text import unicode

        return f"{self.name} = {unicode(self.expr)}"


@dataclass
class Derivation:
    """Forward and backward steps of a model, and its gradients."""

    model: Model
    forward: list[Step]
    backward: list[Step]
    gradients: dict  # param symbol -> SymPy expression of its gradient
    loss: sp.Basic  # the symbol holding the loss
    outputs: dict = field(default_factory=dict)  # output name -> symbol
    graph: object = None
    identifiers: dict = field(default_factory=dict)  # model symbol -> Python identifier

    @property
    def steps(self) -> list[Step]:
        return [*self.forward, *self.backward]

    def step(self, name: str) -> Step:
        """The step called ``name`` (KeyError if none)."""
        return self._steps_by_name[name]

    @cached_property
    def _steps_by_name(self) -> dict:
        return {s.name: s for s in self.steps}

    def gradient_symbol(self, param) -> sp.Basic:
        """The symbol (``W1_bar``) holding the gradient of ``param`` (KeyError if none)."""
        return self.gradient_symbols[param.name]

    @cached_property
    def gradient_symbols(self) -> dict:
        """param name -> the symbol holding its gradient (params with a gradient step)."""
        return {s.of: s.symbol for s in self.backward if s.role == "gradient"}

    def inline(self, expr) -> sp.Basic:
        """``expr`` with every step symbol replaced by its definition, recursively."""
        defs = {s.symbol: s.expr for s in self.steps}
        for _ in range(len(defs) + 1):
            new = expr.xreplace(defs)
            if new == expr:
                return new
            expr = new
        return expr

    def __str__(self) -> str:
        lines = [f"# {self.model.name}: forward"]
        lines += [str(s) for s in self.forward]
        lines.append("# backward")
        lines += [str(s) for s in self.backward]
        return "\n".join(lines)

    def __repr__(self) -> str:
        grads = ", ".join(p.name for p in self.model.params if p.name in self.gradient_symbols)
        return (f"<Derivation of {self.model.name}: {len(self.forward)} forward and "
                f"{len(self.backward)} backward steps; gradients of {grads}; print() shows them>")

    def explain(self, lang: str = "en", values=None) -> str:
        """The derivation step by step, as a teacher presents it."""
        from .explain import explain

        return explain(self, lang=lang, values=values)

    def latex(self) -> str:
        """An ``align*`` block with the forward and backward equations."""
        from .latex import latex_block

        return latex_block(self)

    def markdown(self) -> str:
        """The derivation as Markdown with ``$$`` math."""
        from .latex import markdown

        return markdown(self)

    def _repr_latex_(self) -> str:
        from .latex import latex_block

        return latex_block(self, display=True)

    def _repr_markdown_(self) -> str:
        return self.markdown()
