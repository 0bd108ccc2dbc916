"""The computational graph: a DAG with one node per operation (built by ``tracing``).

Equal sub-expressions become one node. SymPy rewrites ``(X W)^T`` into
``W^T X^T`` and pushes transposes into ``applyfunc``; every node is looked
up under its own key and under the key of its transpose, so ``Trace(E.T*E)``
computes the network once and transposes the result.

A tensor node's ``shape`` is its matrix view (``primitives/tensor.py``); ``full_shape`` is
the N-d shape its arrays have. Node kinds and their arguments (``attr`` in brackets); what each kind computes,
its shape, its backward rule and its flags live in its record in ``symbp.primitives``:

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
conv2d             X, K[, b] [spec]        cross-correlation of NCHW tensors
max/avg_pool2d     X        [spec]         pooling over k x k windows
flatten            X        [(C, H, W)]    (n, C·H·W) matrix of a tensor (a view)
einsum             A1..Ak   [spec]         Einstein summation
rows/batched       X        [(to, from)]   (n, T, d) tensor <-> (n T, d) rows (a view)
batch_broadcast    P        [n]            a (T, d) matrix repeated over n sequences
batch_sum          G        [(T, d)]       its adjoint: the sum over the batch axis
param/data/dim     -        [symbol]       leaves
const              -        [expr]         numbers, OneMatrix, Identity, 1/n
=================  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.matrices.expressions.special import OneMatrix, ZeroMatrix

from .errors import SymbpError
from .model import Model
from .primitives import REGISTRY, U, node_kinds, placeholder
from .primitives.tensor import tensor_shape_or_none

__all__ = ["Node", "Graph", "value", "U", "placeholder"]

LEAF_KINDS = frozenset({"param", "data", "dim", "const"})
_TRANSPOSABLE = frozenset(r.name for r in node_kinds() if r.transposable)
_PAIRS = {r.name: r.pair for r in node_kinds() if r.pair}


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

    @property
    def full_shape(self) -> tuple:
        """The shape its arrays have: a tensor's N-d shape (``shape`` is its matrix view)."""
        found = tensor_shape_or_none(self.source) if self.shape and self.source is not None \
            else None
        return self.shape if found is None else found


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

    def __str__(self) -> str:
        """One line per node, ``%3 = matmul(%1, %2)  (n, 8)``; leaves show their symbol,
        the loss and outputs are marked."""
        marks = {self.root: "  <- loss", **{i: f"  <- {k}" for k, i in self.outputs.items()}}
        lines = []
        for node in self.nodes:
            if node.is_leaf:
                body = f"{node.kind} {node.attr}"
            else:
                args = ", ".join(f"%{a}" for a in node.args)
                aux = f"; aux {', '.join(f'%{a}' for a in node.aux)}" if node.aux else ""
                body = f"{node.kind}({args}{aux})" + ("" if node.attr is None else f" [{node.attr}]")
            dims = node.full_shape
            shape = f"  ({', '.join(map(str, dims))}{',' * (len(dims) == 1)})" if dims else ""
            lines.append(f"%{node.index} = {body}{shape}{marks.get(node.index, '')}")
        return "\n".join(lines)

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
        if kind in _TRANSPOSABLE:
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
        if kind in _TRANSPOSABLE:
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
        record = REGISTRY.get(kind)
        return tuple(self.op(a, (args[0],)) for a in record.aux) if record else ()

    def _shape(self, kind, args, attr) -> tuple:
        return REGISTRY[kind].shape([self.nodes[a].shape for a in args], attr)


def _is_symmetric_const(expr) -> bool:
    return isinstance(expr, sp.Identity) or (
        getattr(expr, "is_Matrix", False) and expr.shape[0] == expr.shape[1]
        and isinstance(expr, (OneMatrix, ZeroMatrix)))


def value(node: Node, a: list) -> sp.Basic:
    """The SymPy expression node ``node`` computes from argument values ``a``."""
    record = REGISTRY.get(node.kind)
    if record is None or record.value is None:
        raise SymbpError(f"no forward value for the node kind {node.kind!r}.")
    return record.value(node, a)
