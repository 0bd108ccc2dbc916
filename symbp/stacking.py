"""Stacked buffers: a long gradient sum as one product, on NumPy.

An unrolled recurrence's weight gradients are sums over the time steps,
``dL/dWh = A1ᵀ dL/dZ2 + ... + A49ᵀ dL/dZ50`` and ``dL/db = 𝟙ᵀ (dL/dZ1 + ... + dL/dZ50)``:
49 small products and their additions where hand-written NumPy does one large product.
The array API has no ``out=`` (JAX arrays are immutable), so ``loss_and_grad`` keeps the
sums as they are. ``stacked_body`` writes the same statements for NumPy:

* every value such a sum reads is computed straight into its slot of a stacked array
  (``xp.tanh(Z1, out=S[0])``, or computed and copied there where its statement does not end
  in one ufunc), and each sum becomes one product of the stacked rows,
  ``S.reshape(-1, 64).T @ R.reshape(-1, 64)``; where such a statement's ufunc multiplies by
  an elementwise factor (``1 - A1**2``), the factor is computed in one scratch array shared by
  every step, one ufunc a line (``xp.square(A1, out=tmp)``, ``xp.subtract(1, tmp, out=tmp)``);
* inputs such a sum reads (``X1 ... X50``) are stacked once, and where the statements multiply
  every one of them by the same parameters (``X1 @ Wx + b`` ...), that is one product too, and
  a statement reading its slot once adds the rest of its sum to the slot in place
  (``Z2 = X8_to_X1_Wx_b[6]`` then ``Z2 += A1 @ Wh``: one array fewer per step).

Everything else, the chain-rule comments included, is the generic body's, but for its biases:
added in one expression (``A8 @ V + c``), not in place (``CodePrinter.in_place_sum``).
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.matrices.expressions.special import OneMatrix

from .ir import Derivation
from .naming import Namer
from .primitives.tensor import full_shape
from .training import owners

__all__ = ["MIN_TERMS", "Stacked", "may_stack", "stacked_body"]

MIN_TERMS = 7
"""The fewest terms a sum needs to be stacked. Measured with ``python -m benchmarks.stacked`` on
an Elman RNN (16-64-10, batch 64, one thread): up to 7 steps the stacked body and the plain sums
take the same time (within 1%, the noise); from 8 steps on the stacked body is faster, by 2–3%
at 8 and 10 steps and 5–6% at 50."""

_UFUNCS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
           ast.MatMult: "matmul"}
"""The NumPy ufuncs of the binary operators a statement may end with (``**`` is left out:
``A**2`` squares by a fast path that ``np.power`` lacks)."""


@dataclass(eq=False)
class _Buffer:
    members: list          # the symbols, in slot order
    name: str = ""
    slot: dict = field(default_factory=dict)   # symbol -> index
    rows: str = ""         # a member's rows and columns, as the code writes them
    width: str = ""

    def __post_init__(self):
        self.slot = {m: k for k, m in enumerate(self.members)}


@dataclass
class _Sum:
    symbol: sp.Symbol      # the step the sum computes
    left: list | None      # Pᵢ of Σ Pᵢᵀ Qᵢ (None: 𝟙ᵀ Σ Qᵢ)
    right: list            # Qᵢ


def _sum_of(step) -> _Sum | None:
    """The step as ``Σ Pᵢᵀ Qᵢ`` or ``𝟙ᵀ Σ Qᵢ`` of distinct matrix symbols, if it is one."""
    expr = step.expr
    if isinstance(expr, sp.MatAdd):
        pairs = []
        for term in expr.args:
            if not (isinstance(term, sp.MatMul) and len(term.args) == 2
                    and isinstance(term.args[0], sp.Transpose)
                    and isinstance(term.args[0].arg, sp.MatrixSymbol)
                    and isinstance(term.args[1], sp.MatrixSymbol)):
                return None
            pairs.append((term.args[0].arg, term.args[1]))
        left, right = (list(side) for side in zip(*pairs, strict=True))
        return _Sum(step.symbol, left, right)
    if isinstance(expr, sp.MatMul) and len(expr.args) == 2 and isinstance(expr.args[0], OneMatrix) \
            and expr.args[0].shape[0] == 1 and isinstance(expr.args[1], sp.MatAdd) \
            and all(isinstance(a, sp.MatrixSymbol) for a in expr.args[1].args):
        return _Sum(step.symbol, None, list(expr.args[1].args))
    return None


class _Plan:
    """Which sums are stacked, and the buffers that hold what they read."""

    def __init__(self, d: Derivation, lines: list[str]):
        # a gradient returned as (a view of) a member: copied into its slot, not computed there
        # (a view of a slot would keep the whole stack alive)
        self.returned = owners([s.name for s in d.steps if s.role == "gradient"], lines)
        defined = _statements(lines)
        inputs = [*d.model.params, *d.model.data]
        steps = [s for s in d.steps if s.name in defined]
        self.position = {**{s: k - len(inputs) for k, s in enumerate(inputs)},
                         **{s.symbol: k for k, s in enumerate(steps)}}
        self.inputs = set(inputs)
        # the shapes of the arrays: a member must be a matrix, not a tensor or a (d,) vector
        self.arrays = {**{s: full_shape(s) for s in inputs},
                       **{s.symbol: tuple(s.full_shape or s.shape) for s in steps}}
        self.buffers: list[_Buffer] = []
        self.owner: dict = {}   # symbol -> its buffer
        self.sums: dict = {}    # step symbol -> (left buffer, start) or None, (right buffer, start)
        candidates = [s for s in map(_sum_of, steps) if s and len(s.right) >= MIN_TERMS
                      and self._stackable(s)]
        sums = {s.symbol for s in candidates}  # a sum another sum reads keeps its own statement
        candidates = [s for s in candidates if sums.isdisjoint({*s.right, *(s.left or ())})]
        # products first (they fix the slot order), longest first
        for s in sorted(candidates, key=lambda s: (s.left is None, -len(s.right))):
            self._place(s)

    def _stackable(self, s: _Sum) -> bool:
        for side in (s.left, s.right):
            if side is None:
                continue
            if len(set(side)) != len(side) or len({m.shape for m in side}) != 1 \
                    or any(self.arrays.get(m) != tuple(m.shape) for m in side):
                return False
        return True

    def _run(self, side: list):
        """``(buffer, start)`` if ``side`` is a run of consecutive slots of one buffer, in order;
        ``(None, 0)`` if no member has a buffer yet; else None."""
        holders = {self.owner.get(m) for m in side}
        if holders == {None}:
            return None, 0
        if len(holders) != 1 or None in holders:
            return None
        buffer = holders.pop()
        start = buffer.slot[side[0]]
        return (buffer, start) if [buffer.slot[m] for m in side] == list(range(start, start + len(side))) \
            else None

    def _place(self, s: _Sum):
        slot = lambda m: self.owner[m].slot[m] if m in self.owner else self.position[m]  # noqa: E731
        if s.left is None:  # a sum of Qᵢ, in any order
            sides = [sorted(s.right, key=slot)]
        else:  # Pᵢ and Qᵢ stay paired: in the slot order of a side that has slots already
            pairs = list(zip(s.left, s.right, strict=True))
            owned = [k for k in (1, 0) if any(p[k] in self.owner for p in pairs)]
            k = owned[0] if owned else int(any(q not in self.inputs for q in s.right))
            pairs.sort(key=lambda p: slot(p[k]))
            sides = [[p[0] for p in pairs], [p[1] for p in pairs]]
        runs = [self._run(side) for side in sides]
        if None in runs or (len(sides) == 2 and runs[0][0] is None and runs[1][0] is None
                            and set(sides[0]) & set(sides[1])):
            return  # slots that disagree with a sum placed before: this one stays as it is
        placed = []
        for side, (buffer, start) in zip(sides, runs, strict=True):
            if buffer is None:
                buffer = _Buffer(side)
                self.buffers.append(buffer)
                self.owner.update(dict.fromkeys(side, buffer))
            placed.append((buffer, start))
        self.sums[s.symbol] = (None if s.left is None else placed[0], placed[-1], len(s.right))


@dataclass
class Stacked:
    lines: list[str]       # the statements
    sums: str              # the sums made products, listed for the docstring
    products: bool         # whether a product of every stacked input is one product too


def may_stack(d: Derivation) -> bool:
    """Whether a step is a sum of ``MIN_TERMS`` terms or more that ``stacked_body`` may stack."""
    return any(s is not None and len(s.right) >= MIN_TERMS for s in map(_sum_of, d.steps))


def stacked_body(d: Derivation, names: dict, lines: list[str], taken) -> Stacked | None:
    """The statements ``lines`` of ``loss_and_grad`` for NumPy arrays of one float type, with
    the long sums of products over stacked buffers; None where no sum has ``MIN_TERMS`` terms
    that can be stacked. ``names``: every symbol's identifier; ``taken``: identifiers in use."""
    plan = _Plan(d, lines)
    if not plan.sums:
        return None
    namer = Namer(taken)
    ident = {**names, **{s.symbol: s.name for s in d.steps}}
    text = lambda x: names[x] if x.is_Symbol else str(x)  # noqa: E731  (a size in the code)
    for b in plan.buffers:
        b.name = namer.claim(f"{ident[b.members[0]]}_to_{ident[b.members[-1]]}")
        b.rows, b.width = map(text, b.members[0].shape)
    dtype = next(names[p] for p in d.model.params)  # every array's (see _one_float_type_of)
    at = _statements(lines)
    new = {k: [line] for k, line in enumerate(lines)}

    def insert(k: int, added: list[str]):
        """``added`` before statement ``k`` and the comment lines above it."""
        while k > 0 and lines[k - 1].startswith("#"):
            k -= 1
        new[k][:0] = added

    inputs = [b for b in plan.buffers if plan.inputs.issuperset(b.members)]
    splices: dict = {}
    products = False
    for b in inputs:  # stacked where they are first read
        reads = [at[ident[s]] for s, placed in plan.sums.items() if any(p and p[0] is b for p in placed[:2])]
        added = [f"{b.name} = xp.stack([{', '.join(ident[m] for m in b.members)}])"]
        product = _product(b, lines, {ident[m]: m for m in b.members}, {names[s]: s for s in plan.inputs})
        if product:  # X1 @ W + c, ..., Xk @ W + c in the statements: one matrix product
            (uses, operation), products = product, True
            array = namer.claim("_".join([b.name, *operation.split()[1::2]]))
            stacked = f"({_rows((b, 0), len(b.members))} {operation})"
            added += [f"# {ident[b.members[0]]} {operation}, ..., {ident[b.members[-1]]} {operation}: "
                      "one product",
                      f"{array} = {stacked}.reshape({len(b.members)}, {b.rows}, -1)"]
            for k, spans in uses.items():
                splices.setdefault(k, []).extend((span, f"{array}[{b.slot[m]}]") for span, m in spans)
            reads += uses
        insert(min(reads), added)
    members = {ident[m] for m in plan.owner}
    slot_reads = Counter(text for changes in splices.values() for _, text in changes)
    for k, changes in splices.items():
        new[k][-1] = _spliced(lines[k], changes)
        name, code = new[k][-1].split(" = ", 1)
        node = ast.parse(code, mode="eval").body
        if len(changes) == 1 and slot_reads[changes[0][1]] == 1 and name not in members \
                and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) \
                and ast.get_source_segment(code, node.left) == changes[0][1]:
            # the slot is read here only: the rest is added to it in place (one array fewer)
            rest = ast.get_source_segment(code, node.right)
            new[k][-1:] = [f"{name} = {changes[0][1]}", f"{name} += {rest}"]
    scratches: dict = {}  # a shape -> (the name of a scratch array of that shape, its first user)

    def scratch(shape: tuple, k: int) -> str:
        name, first = scratches.get(shape) or (namer.claim("tmp"), k)
        scratches[shape] = name, min(first, k)
        return name

    of_shape: dict = {}  # a shape -> the names of the arrays of that shape
    for symbol, shape in plan.arrays.items():
        if symbol in ident:
            of_shape.setdefault(shape, set()).add(ident[symbol])
    for b in plan.buffers:
        if b in inputs:
            continue
        first = min(at[ident[m]] for m in b.members if m not in plan.inputs)
        insert(first, [f"# {ident[b.members[0]]}, ..., {ident[b.members[-1]]}: computed into the "
                       f"slots of {b.name} (out=)",
                       f"{b.name} = xp.empty(({len(b.members)}, {b.rows}, {b.width}), dtype={dtype}.dtype)",
                       *(f"{b.name}[{k}] = {ident[m]}" for k, m in enumerate(b.members) if m in plan.inputs)])
        for k, m in enumerate(b.members):
            if m in plan.inputs:
                continue
            slot, line = f"{b.name}[{k}]", new[at[ident[m]]]
            code = line[-1].split(" = ", 1)[1]
            into = None if ident[m] in plan.returned else _into(code, slot)
            if into:  # its elementwise factor (1 - A1**2) in a scratch array, one ufunc a line
                shape, use = plan.arrays[m], at[ident[m]]
                before, into = _scratched(into, of_shape[shape], lambda s=shape, u=use: scratch(s, u))
                line[-1:] = [*before, f"{ident[m]} = {into}"]
            else:
                line[-1:] = [f"{ident[m]} = {code}", f"{slot} = {ident[m]}"]
    for shape, (name, first) in scratches.items():
        size = ", ".join(map(text, shape))
        insert(first, [f"# {name}: a scratch array of shape ({size}), reused by every step (out={name})",
                       f"{name} = xp.empty(({size}), dtype={dtype}.dtype)"])
    for symbol, (left, right, count) in plan.sums.items():
        code = f"xp.sum({_rows(right, count)}, axis=0, keepdims=True)" if left is None else \
            f"{_rows(left, count)}.T @ {_rows(right, count)}"
        new[at[ident[symbol]]][-1] = f"{ident[symbol]} = {code}"
    return Stacked([line for k in range(len(lines)) for line in new[k]],
                   ", ".join(ident[symbol] for symbol in plan.sums), products)


def _statements(lines: list[str]) -> dict:
    """``{name: index}`` of the statements ``name = ...`` among the printed ``lines``."""
    return {line.split(" = ", 1)[0]: k for k, line in enumerate(lines) if " = " in line and line[0] != "#"}


def _product(buffer: _Buffer, lines: list[str], members: dict, inputs: dict):
    """Where the statements multiply every member ``M`` of ``buffer`` (an input) by the same
    inputs (``inputs``: identifier -> symbol), ``M @ W + c`` (``c`` a row) or ``M @ W``:
    ``({line: [(span, member)]}, "@ W + c")``, the spans in UTF-8 bytes as ``ast`` gives them;
    None where they do not."""
    uses, found = {}, set()
    for k, line in enumerate(lines):
        if line.startswith("#"):
            continue
        inner = set()
        for node in ast.walk(ast.parse(line)):
            if id(node) in inner or not isinstance(node, ast.BinOp):
                continue
            row = isinstance(node.right, ast.Name) and inputs.get(node.right.id)
            plus = isinstance(node.op, ast.Add) and isinstance(row, sp.MatrixSymbol) and row.shape[0] == 1
            product = node.left if plus else node
            if not (isinstance(product, ast.BinOp) and isinstance(product.op, ast.MatMult)
                    and isinstance(product.left, ast.Name) and product.left.id in members):
                continue
            if not (isinstance(product.right, ast.Name) and product.right.id in inputs):
                return None  # a member times something else: leave the statements as they are
            inner.add(id(product))
            found.add(f"@ {product.right.id}" + (f" + {node.right.id}" if plus else ""))
            uses.setdefault(k, []).append(((node.col_offset, node.end_col_offset), members[product.left.id]))
    seen = {m for spans in uses.values() for _, m in spans}
    return (uses, found.pop()) if len(found) == 1 and seen == set(members.values()) else None


def _spliced(line: str, changes: list) -> str:
    """``line`` with each ``((start, end), text)`` of ``changes`` (UTF-8 byte spans) replaced."""
    raw = line.encode()
    for (start, end), text in sorted(changes, reverse=True):
        raw = raw[:start] + text.encode() + raw[end:]
    return raw.decode()


def _rows(placed, count: int) -> str:
    """``count`` slots of a buffer from ``start`` (``placed``: ``(buffer, start)``) as one matrix
    of their rows (a view)."""
    buffer, start = placed
    run = buffer.name if (start, count) == (0, len(buffer.members)) else \
        f"{buffer.name}[{start or ''}:{start + count}]"
    return f"{run}.reshape(-1, {buffer.width})"


def _into(code: str, slot: str) -> str | None:
    """``code`` (one expression) computing into ``slot`` by its last operation's ``out=``: a
    binary operator or an ``xp`` ufunc call; None where it is neither."""
    node = ast.parse(code, mode="eval").body
    segment = lambda n: ast.get_source_segment(code, n)  # noqa: E731  (the printer's own text)
    if isinstance(node, ast.BinOp) and type(node.op) in _UFUNCS:
        return f"xp.{_UFUNCS[type(node.op)]}({segment(node.left)}, {segment(node.right)}, out={slot})"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "xp" \
            and isinstance(getattr(np, node.func.attr, None), np.ufunc) and not node.keywords \
            and len(node.args) == getattr(np, node.func.attr).nin \
            and not any(isinstance(a, ast.Starred) for a in node.args):
        return f"xp.{node.func.attr}({', '.join(map(segment, node.args))}, out={slot})"
    return None


_ELEMENTWISE = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


def _scratched(call: str, full: set, scratch) -> tuple[list[str], str]:
    """``call`` (a ufunc call into a slot, as ``_into`` writes it) with its first argument that
    is a chain of elementwise operations on numbers and arrays of the slot's shape (``full``:
    their names), such as ``1 - A1**2``, computed beforehand into a scratch array, one ufunc a
    statement: ``(["xp.square(A1, out=tmp)", "xp.subtract(1, tmp, out=tmp)"],
    "xp.multiply(A1_bar, tmp, out=S[0])")``, as hand-written NumPy does it (no new arrays per
    step). ``scratch()`` names the scratch array; ``([], call)`` where no argument is a chain."""
    node = ast.parse(call, mode="eval").body
    segment = lambda n: ast.get_source_segment(call, n)  # noqa: E731
    for arg in node.args:
        steps = _chain(arg, full, segment)
        if steps:
            name = scratch()
            lines = [f"xp.{ufunc}({', '.join(name if a is None else a for a in args)}, out={name})"
                     for ufunc, args in steps]
            args = ", ".join(name if a is arg else segment(a) for a in node.args)
            keywords = ", ".join(f"{k.arg}={segment(k.value)}" for k in node.keywords)
            return lines, f"{segment(node.func)}({args}, {keywords})"
    return [], call


def _chain(node, full: set, segment) -> list | None:
    """``node`` as ufunc calls computing it into one array, innermost first: ``[(ufunc, args)]``,
    an argument None where it is the array itself (every operation has at most one operand
    that is an operation); None where ``node`` is not such a chain."""
    def leaf(n):
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            n = n.operand
        return isinstance(n, ast.Constant) and type(n.value) in (int, float)

    if isinstance(node, ast.BinOp) and type(node.op) in _ELEMENTWISE:
        ufunc, operands = _ELEMENTWISE[type(node.op)], [node.left, node.right]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and ast.unparse(node.right) == "2":
        ufunc, operands = "square", [node.left]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not leaf(node):
        ufunc, operands = "negative", [node.operand]
    else:
        return None
    arrays = [op for op in operands if isinstance(op, ast.Name) and op.id in full]
    inner = [op for op in operands if op not in arrays and not leaf(op)]
    if len(inner) > 1 or not (arrays or inner):
        return None  # two operations (two scratch arrays), or numbers alone
    steps = _chain(inner[0], full, segment) if inner else []
    if steps is None:
        return None
    return [*steps, (ufunc, [None if inner and op is inner[0] else segment(op) for op in operands])]
