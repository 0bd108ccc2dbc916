"""SymPy expression -> graph nodes: an iterative walk over the user's expression.

``trace(model)`` walks the loss (and the model's outputs) with an explicit
stack, so a 200-layer network does not hit Python's recursion limit. Each
SymPy class has a ``_plan_*`` method saying which sub-expressions to trace
first and how to build the node from their nodes; matrix products with
scalar factors, ones-vectors, chains and transposed chains are normalised
on the way (see ``graph.py`` for the node kinds). A product ``A * B`` of
tensors (SymPy's ``MatMul`` of their matrix views) is elementwise, as in
PyTorch.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.matrices.expressions.special import OneMatrix, ZeroMatrix

from .errors import SymbpError
from .functions import broadcast_shape
from .graph import Graph, U, placeholder
from .model import Model, _short
from .order import ordered_terms
from .primitives import node_kinds, recognise
from .primitives.algebra import UnitMatrix
from .primitives.tensor import is_tensor, misaligned, tensor_shape_or_none
from .rewrites import broadcast_terms, condition_sides, rows_sum
from .stable import stabilize

__all__ = ["trace"]


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
        return isinstance(e, (OneMatrix, ZeroMatrix, sp.Identity, UnitMatrix)) or (
            isinstance(e, sp.Expr) and (e.is_Number or isinstance(e, sp.NumberSymbol)))

    def _plan_matmul(self, e):
        g = self.graph
        scalars = [a for a in e.args if not a.is_Matrix]
        mats = [a for a in e.args if a.is_Matrix]
        if scalars:
            coeff = sp.Mul(*scalars)
            rest = mats[0] if len(mats) == 1 else sp.MatMul(*mats)
            return (coeff, rest), lambda c, m: g.op("scale", (c, m), source=e)
        if len(mats) > 1 and misaligned(mats) and any(is_tensor(m) for m in mats):
            _same_tensor_shapes("multiplied", e)  # A * B of tensors: elementwise
            return tuple(mats), lambda *ids: g.op("hadamard", ids, source=e)
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
        _same_tensor_shapes("added", e)
        terms = tuple(ordered_terms(sp.MatAdd(*broadcast_terms(e))))
        return terms, lambda *ids: self.graph.op("add", ids, source=e)

    def _plan_hadamard(self, e):
        _same_tensor_shapes("multiplied", e)
        terms = broadcast_terms(e)
        return terms, lambda *ids: self.graph.op("hadamard", ids, source=e)

    def _plan_hpow(self, e):
        return (e.base, e.exp), lambda b, p: self.graph.op("hpow", (b, p), source=e)

    def _plan_matpow(self, e):
        base, k = e.args
        if base.shape[0] != base.shape[1] and is_tensor(base):  # T * T of a tensor: elementwise
            return (base, k), lambda b, p: self.graph.op("hpow", (b, p), source=e)
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
        rows, cols = broadcast_shape(arg)
        if rows != cols:
            raise SymbpError(f"the trace {_short(e)} is of a {rows} x {cols} matrix; a trace "
                             "needs a square one.")
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
        if not all(k.is_Integer or k.free_symbols <= self.dims for k in (i, j)):
            raise SymbpError(f"the element {e} has an index that is neither an integer nor a "
                             "dimension such as n - 1; use such indices (or a Sum over the rows).")
        return (parent,), lambda p: self.graph.op("element", (p,), (i, j), source=e)

    def _plan_map(self, e):
        lam = e.function
        var, body = lam.variables[0], lam.expr
        known = recognise(body)  # Max(0, x) is ReLU(x)
        if known.args == (var,):
            body = known
        elements = sorted(body.atoms(MatrixElement), key=str)  # T[0, 0] of a parameter T
        rest = body.xreplace({el: sp.Dummy() for el in elements}).free_symbols
        extras = elements + sorted((s for s in body.free_symbols & rest if s != var), key=str)
        subs = {var: U, **{s: placeholder(k) for k, s in enumerate(extras)}}
        template = body.xreplace(subs)
        return (e.expr, *extras), lambda a, *xs: self.graph.op("map", (a, *xs), template, source=e)

    def _plan_primitive(self, e):
        record = next(r for r in node_kinds() if r.traced and type(e) is r.cls)
        args, attr = record.operands(e) if record.operands else (e.args, None)
        return args, lambda *ids: self.graph.op(record.name, ids, attr, source=e)

    def _plan_sum(self, e):
        """``Sum(f(M[i, j], ...), (i, 0, n - 1))``: ``𝟙ᵀ f(M[:, j], ...)``, a sum over the rows."""
        return (rows_sum(e),), lambda i: i

    def _plan_piecewise(self, e):
        """A ``scalar`` node over the pieces' values and the sides of their conditions, so a
        value the pieces share (Huber's residual) is computed once, before the branch."""
        parts: list = []
        for value, cond in e.args:
            parts += [value, *condition_sides(cond)]
        children = tuple(dict.fromkeys(p for p in parts if not self._is_const(p)))

        def build(*ids):
            template = e.xreplace({c: placeholder(k) for k, c in enumerate(children)})
            return self.graph.op("scalar", ids, template, source=e)
        return children, build

    def _plan_scalar(self, e):
        if isinstance(e, sp.Piecewise):
            return self._plan_piecewise(e)
        known = recognise(e)  # Max(0, x) is ReLU(x)
        if known is not e:
            return self._plan_scalar(known)
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


def _same_tensor_shapes(how: str, e) -> None:
    """Tensors combined entry by entry must have one shape (their matrix views may agree)."""
    shapes = [(t, tensor_shape_or_none(t)) for t in e.args if getattr(t, "is_Matrix", False)]
    shapes = [(t, s) for t, s in shapes if s is not None]
    for t, s in shapes[1:]:
        if s != shapes[0][1]:
            first, dims = shapes[0]
            raise SymbpError(f"the tensors {_short(first, 40)} of shape {dims} and "
                             f"{_short(t, 40)} of shape {s} are {how} entry by entry; their "
                             "shapes must be equal.")


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
    *((record.cls, "_plan_primitive") for record in node_kinds() if record.traced),
    (sp.Sum, "_plan_sum"),
]


def trace(model: Model) -> Graph:
    """Build the computational graph of ``model``'s loss and outputs."""
    tracer = _Tracer(model)
    graph = tracer.graph
    graph.root = tracer.trace(stabilize(model.loss, keep=model.names))
    for name, expr in model.outputs.items():
        graph.outputs[name] = tracer.trace(stabilize(expr, keep=model.names))
    graph.prune()
    for expr, name in model.names.items():
        if expr in tracer.memo:
            node = tracer.memo[expr]
            graph.names[graph.renumbered.get(node, node)] = name
        else:
            raise SymbpError(f"the named node {_short(expr)} ({name}) is not part of the loss.")
    return graph
