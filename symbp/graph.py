"""SymPy expression -> computational graph (a DAG with one node per operation).

``trace(model)`` walks the loss (and the model's outputs) iteratively, so a
200-layer network does not hit Python's recursion limit. Equal
sub-expressions become one node. SymPy rewrites ``(X W)^T`` into
``W^T X^T`` and pushes transposes into ``applyfunc``; every node is looked
up under its own key and under the key of its transpose, so ``Trace(E.T*E)``
computes the network once and transposes the result.

Node kinds and their arguments (``attr`` in brackets):

=================  ===============================================
matmul             A, B                    A B (binary)
add                A1..Ak                  A1 + ... + Ak
hadamard           A1..Ak                  A1 ⊙ ... ⊙ Ak
hpow               A, p                    A^∘p (p a scalar node)
scale              c, A                    c A (c a scalar node)
transpose          A                       A^T
broadcast_rows     b        [rows]         1 b (b is 1 x k)
broadcast_cols     a        [cols]         a 1^T (a is m x 1)
colsum / rowsum    A                       1^T A / A 1
trace              A                       tr(A)
frobenius          P, Q                    tr(P Q)
element            A        [(i, j)]       A[i, j]
inverse            A                       A^-1
map                A, s1..  [body]         f(A) elementwise; body in U, S1..
scalar             x1..     [template]     a SymPy scalar op in S0, S1..
softmax            Z                       row-wise softmax
log_softmax        Z        (aux softmax)  row-wise log-softmax
sce                Z, Y     (aux softmax)  softmax cross-entropy
param/data/dim     -        [symbol]       leaves
const              -        [expr]         numbers, OneMatrix, Identity, 1/n
=================  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.matrices.expressions.special import OneMatrix, ZeroMatrix

from .errors import SymbpError
from .functions import LogSoftmax, ReLU, Softmax, SoftmaxCrossEntropy
from .model import Model, _short
from .order import ordered_terms

__all__ = ["Node", "Graph", "trace", "value", "U", "placeholder"]

U = sp.Symbol("_symbp_u", real=True)
"""The elementwise variable of a ``map`` node's body."""

_PLACEHOLDERS: list[sp.Symbol] = []


def placeholder(i: int) -> sp.Symbol:
    """``S<i>``: the i-th argument of a scalar template or extra map argument."""
    while len(_PLACEHOLDERS) <= i:
        _PLACEHOLDERS.append(sp.Symbol(f"_symbp_s{len(_PLACEHOLDERS)}", real=True))
    return _PLACEHOLDERS[i]


LEAF_KINDS = frozenset({"param", "data", "dim", "const"})
_TRANSPOSABLE = frozenset({"add", "hadamard", "hpow", "scale", "map"})
_PAIRS = {"broadcast_rows": "broadcast_cols", "broadcast_cols": "broadcast_rows",
          "colsum": "rowsum", "rowsum": "colsum"}


@dataclass(eq=False)
class Node:
    """One operation: ``kind`` applied to the nodes ``args``."""

    index: int
    kind: str
    args: tuple[int, ...]
    shape: tuple  # () for a scalar, else (rows, cols) as SymPy integers/symbols
    attr: object = None  # kind-specific, see the module docstring
    aux: tuple[int, ...] = ()  # forward nodes the backward rule reads
    source: object = None  # the user's sub-expression, for error messages

    @property
    def is_leaf(self) -> bool:
        return self.kind in LEAF_KINDS


@dataclass
class Graph:
    """Nodes in topological order (every argument before its user)."""

    model: Model
    nodes: list[Node] = field(default_factory=list)
    root: int = -1
    outputs: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # node -> name chosen by the user
    renumbered: dict[int, int] = field(default_factory=dict)  # old index -> index after prune
    _keys: dict = field(default_factory=dict, repr=False)

    def users(self) -> list[int]:
        """How many times each node is used (as argument, aux, root or output)."""
        count = [0] * len(self.nodes)
        for node in self.nodes:
            for a in (*node.args, *node.aux):
                count[a] += 1
        count[self.root] += 1
        for i in self.outputs.values():
            count[i] += 1
        return count

    def needs_grad(self) -> list[bool]:
        """Whether each node depends on a parameter."""
        needs = [False] * len(self.nodes)
        for node in self.nodes:
            needs[node.index] = node.kind == "param" or any(needs[a] for a in node.args)
        return needs

    def prune(self) -> None:
        """Drop nodes the loss and outputs do not reach (left over by transposing)."""
        live = [False] * len(self.nodes)
        stack = [self.root, *self.outputs.values()]
        while stack:
            i = stack.pop()
            if not live[i]:
                live[i] = True
                stack.extend((*self.nodes[i].args, *self.nodes[i].aux))
        new_index: dict[int, int] = {}
        kept = []
        for node in self.nodes:
            if live[node.index]:
                new_index[node.index] = len(kept)
                node.index = len(kept)
                node.args = tuple(new_index[a] for a in node.args)
                node.aux = tuple(new_index[a] for a in node.aux)
                kept.append(node)
        self.nodes = kept
        self.renumbered = new_index
        self.root = new_index[self.root]
        self.outputs = {k: new_index[i] for k, i in self.outputs.items()}
        self._keys = {(n.kind, n.args, n.attr): n.index for n in kept}

    # -- node construction -------------------------------------------------
    def _add(self, kind, args, shape, attr=None, aux=(), source=None) -> int:
        key = (kind, args, attr)
        found = self._keys.get(key)
        if found is not None:
            return found
        node = Node(len(self.nodes), kind, args, shape, attr, aux, source)
        self.nodes.append(node)
        self._keys[key] = node.index
        return node.index

    def leaf(self, expr, kind: str) -> int:
        shape = tuple(expr.shape) if getattr(expr, "is_Matrix", False) else ()
        return self._add(kind, (), shape, expr, source=expr)

    def transpose(self, i: int) -> int:
        node = self.nodes[i]
        if node.kind == "transpose":
            return node.args[0]
        if not node.shape or (node.kind == "const" and _is_symmetric_const(node.attr)):
            return i
        if node.kind == "const":
            return self.leaf(sp.Transpose(node.attr).doit(), "const")
        return self._add("transpose", (i,), node.shape[::-1], source=node.source)

    def _lookup_t(self, i: int):
        """The transpose of node i if it exists already, else None."""
        node = self.nodes[i]
        if node.kind == "transpose":
            return node.args[0]
        if not node.shape or node.kind == "const":
            return self.transpose(i)
        return self._keys.get(("transpose", (i,), None))

    def op(self, kind: str, args: tuple[int, ...], attr=None, source=None) -> int:
        """The node ``kind(args)``, reusing an equal node or the transpose of one."""
        key = (kind, args, attr)
        if key in self._keys:
            return self._keys[key]
        flipped = self._transposed_form(kind, args, attr)
        if flipped is not None:
            tkind, targs, tattr = flipped
            if (tkind, targs, tattr) in self._keys:
                return self.transpose(self._keys[(tkind, targs, tattr)])
        if kind in _TRANSPOSABLE or kind == "matmul":
            if self._prefers_flip(kind, args):
                targs = self._t_args(kind, args, create=True)
                return self.transpose(self.op(kind, targs, attr, source))
        elif kind in _PAIRS and self.nodes[args[0]].kind == "transpose":
            inner = self.op(_PAIRS[kind], (self.nodes[args[0]].args[0],), attr, source)
            return self.transpose(inner)
        shape = self._shape(kind, args, attr)
        aux = self._aux(kind, args)
        return self._add(kind, args, shape, attr, aux, source)

    def _t_args(self, kind, args, create):
        get = self.transpose if create else self._lookup_t
        if kind == "matmul":
            return (get(args[1]), get(args[0]))
        if kind in ("scale", "hpow"):
            i = 1 if kind == "scale" else 0
            t = get(args[i])
            return None if t is None else tuple(t if k == i else a for k, a in enumerate(args))
        if kind == "map":
            t = get(args[0])
            return None if t is None else (t, *args[1:])
        ts = tuple(get(a) for a in args)
        return None if any(t is None for t in ts) else ts

    def _transposed_form(self, kind, args, attr):
        if kind in _TRANSPOSABLE or kind == "matmul":
            targs = self._t_args(kind, args, create=False)
            return None if targs is None or None in targs else (kind, targs, attr)
        if kind in _PAIRS:
            t = self._lookup_t(args[0])
            return None if t is None else (_PAIRS[kind], (t,), attr)
        return None

    def _prefers_flip(self, kind, args) -> bool:
        mats = [a for a in args if self.nodes[a].shape]
        if kind == "matmul":
            mats = list(args)
        transposed = sum(self.nodes[a].kind == "transpose" for a in mats)
        plain = sum(self.nodes[a].kind not in ("transpose", "const") for a in mats)
        return transposed > plain

    def _aux(self, kind, args) -> tuple[int, ...]:
        if kind in ("log_softmax", "sce"):
            return (self.op("softmax", (args[0],)),)
        return ()

    def _shape(self, kind, args, attr) -> tuple:
        shapes = [self.nodes[a].shape for a in args]
        if kind == "matmul":
            return (shapes[0][0], shapes[1][1])
        if kind in ("add", "hadamard", "softmax", "log_softmax", "map", "inverse"):
            return shapes[0]
        if kind == "hpow":
            return shapes[0]
        if kind == "scale":
            return shapes[1]
        if kind == "broadcast_rows":
            return (attr, shapes[0][1])
        if kind == "broadcast_cols":
            return (shapes[0][0], attr)
        if kind == "colsum":
            return (sp.Integer(1), shapes[0][1])
        if kind == "rowsum":
            return (shapes[0][0], sp.Integer(1))
        return ()


def _is_symmetric_const(expr) -> bool:
    return isinstance(expr, sp.Identity) or (
        getattr(expr, "is_Matrix", False) and expr.shape[0] == expr.shape[1]
        and isinstance(expr, (OneMatrix, ZeroMatrix)))


class _Tracer:
    """Iterative post-order walk turning SymPy expressions into graph nodes."""

    def __init__(self, model: Model):
        self.graph = Graph(model)
        self.params = set(model.params)
        self.dims = set(model.dims)
        self.memo: dict = {}
        self.plans: dict = {}

    def trace(self, expr) -> int:
        stack = [expr]
        while stack:
            e = stack[-1]
            if e in self.memo:
                stack.pop()
                continue
            plan = self.plans.get(e)
            if plan is None:
                plan = self.plans[e] = self._plan(e)
            children, _ = plan
            pending = [c for c in children if c not in self.memo]
            if pending:
                stack.extend(reversed(pending))
                continue
            stack.pop()
            children, build = plan
            self.memo[e] = build(*[self.memo[c] for c in children])
        return self.memo[expr]

    # Each _plan_* returns (child expressions, build(child ids) -> node id).
    def _plan(self, e):
        g = self.graph
        if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            kind = "param" if e in self.params else "dim" if e in self.dims else "data"
            return (), lambda: g.leaf(e, kind)
        if self._is_const(e):
            return (), lambda: g.leaf(e, "const")
        for cls, method in _DISPATCH:
            if isinstance(e, cls):
                return getattr(self, method)(e)
        if isinstance(e, sp.Expr) and not getattr(e, "is_Matrix", False):
            return self._plan_scalar(e)
        raise SymbpError(
            f"symbp has no rule for {_short(e)} (a {type(e).__name__}); supported are "
            "matrix products, sums, transposes, Hadamard products and powers, traces, "
            "elementwise functions, softmax cross-entropy and scalar SymPy functions."
        )

    @staticmethod
    def _is_const(e) -> bool:
        return isinstance(e, (OneMatrix, ZeroMatrix, sp.Identity)) or (
            isinstance(e, sp.Expr) and (e.is_Number or isinstance(e, sp.NumberSymbol)))

    def _plan_matmul(self, e):
        g = self.graph
        scalars = [a for a in e.args if not a.is_Matrix]
        mats = [a for a in e.args if a.is_Matrix]
        if scalars:
            coeff = sp.Mul(*scalars)
            rest = mats[0] if len(mats) == 1 else sp.MatMul(*mats)
            return (coeff, rest), lambda c, m: g.op("scale", (c, m), source=e)
        if sum(isinstance(m, sp.Transpose) for m in mats) * 2 > len(mats):
            flipped = sp.MatMul(*[_t(m) for m in reversed(mats)])
            return (flipped,), lambda f: g.transpose(f)
        first, last = mats[0], mats[-1]
        if len(mats) == 2:
            if isinstance(first, OneMatrix):
                return self._plan_ones_left(first, last, e)
            if isinstance(last, OneMatrix):
                return self._plan_ones_right(first, last, e)
        left = first if len(mats) == 2 else sp.MatMul(*mats[:-1])
        return (left, last), lambda a, b: g.op("matmul", (a, b), source=e)

    def _plan_ones_left(self, ones, b, e):
        g = self.graph
        rows, inner = ones.shape
        if inner == 1:
            return (b,), lambda i: g.op("broadcast_rows", (i,), rows, source=e)
        if rows == 1:
            return (b,), lambda i: g.op("colsum", (i,), source=e)
        summed = sp.MatMul(OneMatrix(1, inner), b)
        return (summed,), lambda i: g.op("broadcast_rows", (i,), rows, source=e)

    def _plan_ones_right(self, a, ones, e):
        g = self.graph
        inner, cols = ones.shape
        if inner == 1:
            return (a,), lambda i: g.op("broadcast_cols", (i,), cols, source=e)
        if cols == 1:
            return (a,), lambda i: g.op("rowsum", (i,), source=e)
        summed = sp.MatMul(a, OneMatrix(inner, 1))
        return (summed,), lambda i: g.op("broadcast_cols", (i,), cols, source=e)

    def _plan_nary(self, kind):
        def plan(e):
            return e.args, lambda *ids: self.graph.op(kind, ids, source=e)
        return plan

    def _plan_matadd(self, e):
        terms = tuple(ordered_terms(e))
        return terms, lambda *ids: self.graph.op("add", ids, source=e)

    def _plan_hadamard(self, e):
        return self._plan_nary("hadamard")(e)

    def _plan_hpow(self, e):
        return (e.base, e.exp), lambda b, p: self.graph.op("hpow", (b, p), source=e)

    def _plan_matpow(self, e):
        base, k = e.args
        if not (k.is_Integer and k != 0):
            raise SymbpError(f"the matrix power {e} needs a nonzero integer exponent.")
        if k < 0:
            base = sp.Inverse(base)
        factors = [base] * abs(int(k))
        if len(factors) == 1:
            return (base,), lambda i: i
        return (sp.MatMul(*factors),), lambda i: i

    def _plan_inverse(self, e):
        return (e.arg,), lambda a: self.graph.op("inverse", (a,), source=e)

    def _plan_transpose(self, e):
        return (e.arg,), lambda a: self.graph.transpose(a)

    def _plan_trace(self, e):
        g = self.graph
        arg = e.arg
        if isinstance(arg, sp.MatMul):
            scalars = [a for a in arg.args if not a.is_Matrix]
            mats = [a for a in arg.args if a.is_Matrix]
            if scalars:
                inner = sp.Trace(mats[0] if len(mats) == 1 else sp.MatMul(*mats))
                return (sp.Mul(*scalars) * inner,), lambda i: i
            if len(mats) >= 2:
                left = mats[0] if len(mats) == 2 else sp.MatMul(*mats[:-1])
                return (left, mats[-1]), lambda p, q: g.op("frobenius", (p, q), source=e)
        return (arg,), lambda a: g.op("trace", (a,), source=e)

    def _plan_element(self, e):
        parent, i, j = e.args
        if not (i.is_Integer and j.is_Integer):
            raise SymbpError(f"the element {e} has a symbolic index; use integer indices.")
        return (parent,), lambda p: self.graph.op("element", (p,), (int(i), int(j)), source=e)

    def _plan_map(self, e):
        lam = e.function
        var, body = lam.variables[0], lam.expr
        if isinstance(body, sp.Max) and set(body.args) == {sp.Integer(0), var}:
            body = ReLU(var)
        extras = sorted((s for s in body.free_symbols if s != var), key=str)
        subs = {var: U, **{s: placeholder(k) for k, s in enumerate(extras)}}
        template = body.xreplace(subs)
        return (e.expr, *extras), lambda a, *xs: self.graph.op("map", (a, *xs), template, source=e)

    def _plan_softmax(self, e):
        kind = "softmax" if isinstance(e, Softmax) else "log_softmax"
        return (e.args[0],), lambda z: self.graph.op(kind, (z,), source=e)

    def _plan_sce(self, e):
        return e.args, lambda z, y: self.graph.op("sce", (z, y), source=e)

    def _plan_scalar(self, e):
        if isinstance(e, sp.Max) and len(e.args) == 2 and 0 in e.args:
            other = e.args[0] if e.args[1] == 0 else e.args[1]
            return self._plan_scalar(ReLU(other))
        if not (e.is_Add or e.is_Mul or e.is_Pow or isinstance(e, (sp.Function, sp.Max, sp.Min))):
            raise SymbpError(f"symbp has no rule for {_short(e)} (a {type(e).__name__}).")
        children = tuple(a for a in e.args if not self._is_const(a))
        return children, lambda *ids: self._build_scalar(e, children, ids)

    def _build_scalar(self, e, children, ids) -> int:
        """A ``scalar`` node; constant arguments (numbers, 1/n) go into its template."""
        g = self.graph
        values = dict(zip(children, ids, strict=True))
        args, new_args = [], []
        for a in e.args:
            node = g.nodes[values[a]] if a in values else None
            if node is None or node.kind in ("const", "dim"):
                new_args.append(a if node is None else node.attr)
            else:
                new_args.append(placeholder(len(args)))
                args.append(node.index)
        if not args:
            return g.leaf(e, "const")
        return g.op("scalar", tuple(args), e.func(*new_args), source=e)


def _t(m):
    return m.arg if isinstance(m, sp.Transpose) else sp.Transpose(m)


_DISPATCH = [
    (sp.MatMul, "_plan_matmul"),
    (sp.MatAdd, "_plan_matadd"),
    (sp.HadamardProduct, "_plan_hadamard"),
    (sp.HadamardPower, "_plan_hpow"),
    (sp.Transpose, "_plan_transpose"),
    (sp.Inverse, "_plan_inverse"),  # before MatPow: Inverse subclasses it
    (sp.MatPow, "_plan_matpow"),
    (sp.Trace, "_plan_trace"),
    (MatrixElement, "_plan_element"),
    (ElementwiseApplyFunction, "_plan_map"),
    (Softmax, "_plan_softmax"),
    (LogSoftmax, "_plan_softmax"),
    (SoftmaxCrossEntropy, "_plan_sce"),
]


def trace(model: Model) -> Graph:
    """Build the computational graph of ``model``'s loss and outputs."""
    tracer = _Tracer(model)
    graph = tracer.graph
    graph.root = tracer.trace(model.loss)
    for name, expr in model.outputs.items():
        graph.outputs[name] = tracer.trace(expr)
    graph.prune()
    for expr, name in model.names.items():
        if expr in tracer.memo:
            node = tracer.memo[expr]
            graph.names[graph.renumbered.get(node, node)] = name
        else:
            raise SymbpError(f"the named node {_short(expr)} ({name}) is not part of the loss.")
    return graph


def value(node: Node, a: list) -> sp.Basic:
    """The SymPy expression node ``node`` computes from argument values ``a``."""
    kind = node.kind
    if kind == "matmul":
        return sp.MatMul(*a)
    if kind == "add":
        return sp.MatAdd(*a) if node.shape else sp.Add(*a)
    if kind == "hadamard":
        return sp.HadamardProduct(*a)
    if kind == "hpow":
        return sp.HadamardPower(*a)
    if kind == "scale":
        return sp.MatMul(*a)
    if kind == "broadcast_rows":
        return sp.MatMul(OneMatrix(node.attr, 1), a[0])
    if kind == "broadcast_cols":
        return sp.MatMul(a[0], OneMatrix(1, node.attr))
    if kind == "colsum":
        return sp.MatMul(OneMatrix(1, a[0].shape[0]), a[0])
    if kind == "rowsum":
        return sp.MatMul(a[0], OneMatrix(a[0].shape[1], 1))
    if kind == "trace":
        return sp.Trace(a[0])
    if kind == "inverse":
        return sp.Inverse(a[0])
    if kind == "frobenius":
        return sp.Trace(sp.MatMul(*a))
    if kind == "element":
        return MatrixElement(a[0], *node.attr)
    if kind == "map":
        subs = {placeholder(k): v for k, v in enumerate(a[1:])}
        return ElementwiseApplyFunction(sp.Lambda(U, node.attr.xreplace(subs)), a[0])
    if kind == "scalar":
        return node.attr.xreplace({placeholder(k): v for k, v in enumerate(a)})
    if kind == "softmax":
        return Softmax(a[0])
    if kind == "log_softmax":
        return LogSoftmax(a[0])
    if kind == "sce":
        return SoftmaxCrossEntropy(*a)
    raise SymbpError(f"no forward value for the node kind {kind!r}.")
