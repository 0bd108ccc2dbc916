"""The primitive record: what one node kind or vocabulary function *is*, in one place.

A ``Primitive`` names a SymPy class of the vocabulary and, for the classes that
are graph nodes of their own (softmax, log-softmax, softmax cross-entropy),
everything the pipeline needs of the node kind: its forward value, its shape,
the helper forward nodes its backward rule reads (``aux``), its vector-Jacobian
product, the prefix of its step names and whether it acts entry by entry.
Scalar activations (sigmoid, ReLU, ...) live inside ``map``/``scalar`` nodes:
their record gives the initialisation hint of the weights feeding them and the
plain SymPy forms the tracer reads as them (``Max(0, x)`` is ``ReLU(x)``).

How each primitive prints lives on its class, where SymPy's printers look
first: ``_latex`` (LaTeX), ``_numpycode`` (generated NumPy) and ``_sympystr``
(the Unicode text of ``symbp.text``; ``str()`` stays SymPy's own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

__all__ = ["Primitive", "REGISTRY", "register", "node_kinds", "by_class", "recognise",
           "stable_form", "code_paren", "np_name", "unicode_call", "U", "placeholder"]

U = sp.Symbol("_symbp_u", real=True)
"""The elementwise variable of a ``map`` node's body."""

_PLACEHOLDERS: list[sp.Symbol] = []


def placeholder(i: int) -> sp.Symbol:
    """``S<i>``: the i-th argument of a scalar template or extra map argument."""
    while len(_PLACEHOLDERS) <= i:
        _PLACEHOLDERS.append(sp.Symbol(f"_symbp_s{len(_PLACEHOLDERS)}", real=True))
    return _PLACEHOLDERS[i]


@dataclass(frozen=True)
class Primitive:
    """One entry of the vocabulary; see the module docstring."""

    name: str  # the graph node kind, or the class name of a scalar activation
    cls: type  # the SymPy class it is (vocabulary) or whose expression its value builds
    value: Callable | None = None  # (node, argument values) -> SymPy expression
    shape: Callable | None = None  # (argument shapes, attr) -> shape
    vjp: Callable | None = None  # (Ctx) -> one contribution per argument
    aux: tuple[str, ...] = ()  # helper nodes, each this kind applied to the first argument
    prefix: str | None = None  # first letter of its step names
    elementwise: bool = False  # whether it acts entry by entry (or row by row)
    init: str | None = None  # "he" when the weights feeding it want He-normal init
    recognise: Callable | None = None  # plain SymPy expression -> this primitive, or None
    stable: Callable | None = None  # an unstable plain SymPy form -> this primitive, or None
    traced: bool = False  # the tracer makes an instance of ``cls`` this node, args in order
    operands: Callable | None = None  # traced expression -> (argument expressions, attr)
    transposable: bool = False  # an equal node of the transposed arguments is its transpose
    view: bool = False  # a transpose or broadcast: never a step of its own
    foldable: bool = False  # used once, it may be written into an absorbing user
    absorbing: bool = False  # it may absorb a foldable argument used only by it
    pair: str | None = None  # the kind computing its transpose (of the argument's transpose)
    block: Callable | None = None  # attr -> title of the block it closes in a collapsed picture

    @property
    def is_node(self) -> bool:
        """Whether it is a node kind of the graph (else it lives inside map/scalar nodes)."""
        return self.vjp is not None


REGISTRY: dict[str, Primitive] = {}


def register(record: Primitive) -> Primitive:
    """Add ``record`` to the registry (each name once) and return it."""
    if record.name in REGISTRY:
        raise ValueError(f"the primitive {record.name!r} is registered twice.")
    REGISTRY[record.name] = record
    return record


def node_kinds() -> list[Primitive]:
    """The records that are graph node kinds, in registration order."""
    return [p for p in REGISTRY.values() if p.is_node]


def by_class(expr) -> Primitive | None:
    """The record of ``expr``'s class, or None."""
    for record in REGISTRY.values():
        if type(expr) is record.cls:
            return record
    return None


def recognise(expr):
    """``expr`` as a vocabulary function when it is a plain SymPy form of one, else ``expr``."""
    for record in REGISTRY.values():
        if record.recognise is not None:
            found = record.recognise(expr)
            if found is not None:
                return found
    return expr


def stable_form(expr):
    """``expr`` as the primitive computing it stably (``log(det(A))`` is ``LogDet(A)``), or
    None; ``symbp.stable`` applies it bottom-up before tracing."""
    for record in REGISTRY.values():
        if record.stable is not None:
            found = record.stable(expr)
            if found is not None:
                return found
    return None


def np_name(printer, name: str) -> str:
    """``np.<name>`` in generated code; in any NumPy printer, the name it imports."""
    return printer._module_format("numpy." + name)


def code_paren(printer, expr) -> str:
    """``expr`` printed as an operand of ``*`` by a NumPy printer (bracketed if needed)."""
    paren = getattr(printer, "_paren", None)
    return paren(expr) if paren is not None else f"({printer._print(expr)})"


def unicode_call(printer, expr, name: str, args=None) -> str:
    """``name(args)`` for the Unicode printer; SymPy's own ``str`` for any other."""
    if not getattr(printer, "unicode", False):
        return printer._print_Function(expr) if hasattr(expr, "func") and expr.is_Function \
            else printer._print_Basic(expr)
    inner = ", ".join(printer._print(a) for a in (expr.args if args is None else args))
    return f"{name}({inner})"
