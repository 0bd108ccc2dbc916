"""The derivation: ordered single-assignment steps every consumer reads.

The IR knows none of its consumers: the views a ``Derivation`` offers as methods
(``explain``, ``latex``, ``markdown``) are looked up in ``VIEWS``, which the
modules that write them fill when ``symbp`` is imported.

``Step(name, expr, shape, role)`` assigns ``expr`` (a SymPy expression over
earlier steps and the model's symbols) to the symbol ``name``. Forward
steps compute the loss and outputs; backward steps compute adjoints
(``Z1_bar`` = dL/dZ1), each the sum of its ``terms`` (one per user of the
node: fan-out), ending in the parameters' gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

import sympy as sp

from .errors import SymbpError
from .model import Model
from .text import unicode

__all__ = ["Role", "Step", "Term", "InlinedAdjoint", "Derivation", "VIEWS", "view"]


class Role(str, Enum):
    """What a step computes; compares and prints as its string value (``"gradient"``)."""

    FORWARD = "forward"  # an intermediate value of the forward pass
    AUX = "aux"  # a forward value only a backward rule reads
    OUTPUT = "output"  # a named output of the model
    LOSS = "loss"
    ADJOINT = "adjoint"  # dL/d(an intermediate value)
    GRADIENT = "gradient"  # dL/d(a parameter)

    __str__ = str.__str__
    __format__ = str.__format__



VIEWS: dict[str, Callable] = {}
"""view name -> function(derivation, **options); filled by the consumers (explain, latex)."""


def view(name: str):
    """Register the decorated function as the ``Derivation`` view ``name``."""
    def register(fn):
        VIEWS[name] = fn
        return fn
    return register


def _view(name: str) -> Callable:
    if name not in VIEWS:
        raise SymbpError(f"the {name} view is not loaded; import symbp first.")
    return VIEWS[name]


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
    role: Role
    node: int = -1  # graph node it belongs to
    terms: tuple[Term, ...] = ()  # backward steps: the summed contributions
    of: str = ""  # backward steps: the name of the value it is the adjoint of
    kind: str = ""  # the graph node kind it computes (of a backward step: of its value)
    full_shape: tuple | None = None  # the shape of its arrays: a tensor's N-d shape (``shape``
    # is its matrix view); an adjoint's is its value's
    block: str = ""  # forward steps: the title of the vocabulary block it closes ("layer norm")
    per_sample: bool = False  # scalar models: its value differs from sample to sample

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the steps, symbols and dimensions it reads, sorted."""
        return tuple(sorted({s.name for s in self.expr.free_symbols}))

    def __post_init__(self):
        object.__setattr__(self, "role", Role(self.role))

    def __str__(self) -> str:
        return f"{self.name} = {unicode(self.expr)}"


@dataclass(frozen=True)
class InlinedAdjoint:
    """The adjoint of a forward step that got no backward step of its own (a bare copy of
    another adjoint, or written into its only use): what the sweep summed for it."""

    of: str  # the forward step's name
    node: int  # its graph node
    expr: sp.Basic  # the adjoint's value, over the steps' symbols
    terms: tuple[Term, ...]  # the contributions of its users


@dataclass
class Derivation:
    """Forward and backward steps of a model, and its gradients."""

    model: Model
    forward: list[Step]
    backward: list[Step]
    gradients: dict  # param symbol -> SymPy expression of its gradient
    loss: sp.Basic  # the symbol holding the loss
    outputs: dict = field(default_factory=dict)  # output name -> symbol
    graph: object = None  # the traced DAG (print(d.graph)); no consumer reads it (ARCHITECTURE.md)
    identifiers: dict = field(default_factory=dict)  # model symbol -> Python identifier
    order: tuple[int, ...] = ()  # graph nodes in the order the reverse sweep reached them
    inlined: tuple[InlinedAdjoint, ...] = ()  # adjoints of forward steps without a step
    kinds: tuple[str, ...] = ()  # the graph node kinds present, in the order they first appear
    init: dict = field(default_factory=dict)  # param symbol -> its ``fans.Init``

    @property
    def steps(self) -> list[Step]:
        return [*self.forward, *self.backward]

    def step(self, name: str) -> Step:
        """The step called ``name`` (KeyError if none)."""
        return self._steps_by_name[name]

    @cached_property
    def _steps_by_name(self) -> dict:
        return {s.name: s for s in self.steps}

    @cached_property
    def gradient_symbols(self) -> dict:
        """param name -> the symbol holding its gradient (params with a gradient step)."""
        return {s.of: s.symbol for s in self.backward if s.role is Role.GRADIENT}

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
        return _view("explain")(self, lang=lang, values=values)

    def latex(self) -> str:
        """An ``align*`` block with the forward and backward equations."""
        return _view("latex")(self)

    def markdown(self) -> str:
        """The derivation as Markdown with ``$$`` math."""
        return _view("markdown")(self)

    def _repr_latex_(self) -> str:
        return _view("latex")(self, display=True)

    def _repr_markdown_(self) -> str:
        return self.markdown()
