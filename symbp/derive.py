"""The reverse sweep: graph -> forward steps + backward steps.

1. Every operation gets a provisional symbol; the sweep walks the nodes in
   reverse topological order, asks the rule table for each node's
   contributions to its arguments, and collects them per argument (fan-out).
2. A node whose value no backward rule reads and whose only user is an
   addition, scaling or Hadamard product is folded into that user
   (``Z1 = X W1 + 1 b1`` rather than a separate ``X W1`` step); adjoints that
   are a bare copy of another adjoint get no step of their own.
3. Steps are named in order (``Z1``, ``A1``, ..., ``L``; ``Z1_bar``, ...).
4. A scalar model describes one sample and its code averages over N samples: each term of
   a parameter-side adjoint (a node no data reaches) that reads a per-sample value is
   wrapped in ``BatchMean`` (``w_bar = meanₙ(x·z_bar)``), so every consumer shows the mean
   the code computes.

Besides the steps, the Derivation records what its consumers would otherwise read off the
graph: each step's N-d ``full_shape`` and block title, the node kinds present (``kinds``)
and each parameter's initialisation (``init``, from ``fans.init_facts``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import sympy as sp

from .errors import SymbpError
from .fans import init_facts
from .graph import Graph, Node, value
from .ir import Derivation, InlinedAdjoint, Role, Step, Term
from .model import Model
from .naming import Namer, adjoint_name
from .primitives import REGISTRY, node_kinds
from .primitives.mean import BatchMean
from .primitives.tensor import tensor_shape_or_none
from .rules import Ctx, times, vjp
from .simplify import tidy
from .tracing import trace

__all__ = ["derive", "as_derivation"]

_INLINE = frozenset(r.name for r in node_kinds() if r.view)  # views, never steps
_FOLDABLE = frozenset(r.name for r in node_kinds() if r.foldable)
_ABSORBING = frozenset(r.name for r in node_kinds() if r.absorbing)


def _arithmetic(node: Node) -> bool:
    if node.kind != "scalar":
        return True
    t = node.attr
    return t.is_Add or t.is_Mul or (t.is_Pow and t.exp.is_number)


def _symbol(name: str, shape: tuple):
    return sp.MatrixSymbol(name, *shape) if shape else sp.Symbol(name)


def _total(terms: list):
    """The sum of the contributions, equal ones merged (``G E + G E = 2 G E``)."""
    if not getattr(terms[0], "is_Matrix", False):
        return sp.Add(*terms)
    merged: dict = {}
    for t in terms:
        coeff, mats = t.as_coeff_matrices() if isinstance(t, sp.MatMul) else (1, [t])
        rest = mats[0] if len(mats) == 1 else sp.MatMul(*mats)
        merged[rest] = merged.get(rest, 0) + coeff
    parts = [times(c, m) for m, c in merged.items() if c != 0]
    return parts[0] if len(parts) == 1 else sp.MatAdd(*parts)


class _Sweep:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes = graph.nodes
        self.needs = graph.needs_grad()
        self.users = graph.users()
        self.user_of: dict[int, int] = {}
        for node in self.nodes:
            for a in node.args:
                self.user_of[a] = node.index
        self.prov: dict[int, sp.Basic] = {}
        self.adj: dict[int, sp.Basic] = {}  # provisional adjoint symbol (or 1 at the root)
        self.terms: dict[int, list[tuple[int, sp.Basic]]] = defaultdict(list)
        self.order: list[int] = []

    # -- pass 1: provisional values and contributions ----------------------
    def provisional(self) -> None:
        for node in self.nodes:
            if node.is_leaf:
                self.prov[node.index] = node.attr
            elif node.kind in _INLINE:
                self.prov[node.index] = value(node, [self.prov[a] for a in node.args])
            else:
                self.prov[node.index] = _symbol(f"_symbp_f{node.index}", node.shape)

    def sweep(self) -> None:
        root = self.graph.root
        for node in reversed(self.nodes):
            i = node.index
            if not self.needs[i] or (i != root and not self.terms[i]):
                continue
            self.order.append(i)
            if i == root:
                self.adj[i] = sp.Integer(1)
            elif node.kind in _INLINE:
                self.adj[i] = _total([t for _, t in self.terms[i]])
            else:
                self.adj[i] = _symbol(f"_symbp_b{i}", node.shape)
            if node.is_leaf:
                continue
            ctx = Ctx(node, [self.prov[a] for a in node.args], self.prov[i], self.adj[i],
                      [self.prov[x] for x in node.aux])
            for arg, contribution in zip(node.args, vjp(ctx), strict=True):
                if self.needs[arg] and not isinstance(contribution, sp.ZeroMatrix):  # a path
                    # counted elsewhere (layer norm's x̂ rule counts the one through 1/σ)
                    self.terms[arg].append((i, contribution))

    # -- pass 2: folding decisions -----------------------------------------
    def scan(self) -> tuple[set, dict[int, int]]:
        """The forward symbols the contributions read, and how often each adjoint is used."""
        adjoint = {s: i for i, s in self.adj.items() if isinstance(s, (sp.Symbol, sp.MatrixSymbol))}
        read: set = set()
        uses: dict[int, int] = defaultdict(int)
        for terms in self.terms.values():
            for _, t in terms:
                symbols = t.free_symbols
                read |= symbols
                for s in symbols & adjoint.keys():
                    uses[adjoint[s]] += 1
        return read, uses

    def folded(self, read: set) -> set[int]:
        """Nodes written into their only user (see the module docstring)."""
        keep = {self.graph.root, *self.graph.outputs.values(), *self.graph.names}
        out = set()
        for node in self.nodes:
            i = node.index
            user = self.user_of.get(i)
            while user is not None and self.nodes[user].kind == "transpose" and self.users[user] == 1:
                user = self.user_of.get(user)
            if (node.kind in _FOLDABLE and _arithmetic(node) and self.users[i] == 1
                    and i not in keep and self.prov[i] not in read and user is not None
                    and self.nodes[user].kind in _ABSORBING and _arithmetic(self.nodes[user])):
                out.add(i)
        return out

    # -- pass 3: final steps -----------------------------------------------
    def build(self, model: Model) -> Derivation:
        self.provisional()
        self.sweep()
        self.namer = Namer()
        self.identifiers = {sym: self.namer.claim(sym.name) for sym in model.symbols}
        self.final: dict = {}  # provisional symbol -> final symbol or folded expression
        self.names: dict[int, str] = {}  # node -> step name
        self.inlined: list[InlinedAdjoint] = []  # adjoints of forward steps without a step
        self.full: dict[int, tuple] = {}  # node -> the N-d shape of its forward step's arrays
        read, uses = self.scan()
        folded = self.folded(read)
        forward = self.forward_steps(folded)
        backward = self.backward_steps(folded, uses)
        if model.is_scalar:
            forward, backward = _sample_means(self.graph, forward, backward)
        gradients = {self.nodes[s.node].attr: s.expr for s in backward if s.role is Role.GRADIENT}
        for p in model.params:
            if p not in gradients:
                gradients[p] = sp.ZeroMatrix(*p.shape) if p.is_Matrix else sp.Integer(0)
        root = self.prov[self.graph.root]
        outputs = {k: self.final.get(self.prov[i], self.prov[i])
                   for k, i in self.graph.outputs.items()}
        kinds = tuple(dict.fromkeys(node.kind for node in self.nodes))
        return Derivation(model, forward, backward, gradients, self.final.get(root, root),
                          outputs, self.graph, self.identifiers, tuple(self.order),
                          tuple(self.inlined), kinds, init_facts(self.graph))

    def forward_steps(self, folded: set[int]) -> list[Step]:
        """One step per operation, folded nodes written into their user."""
        steps = []
        for node in self.nodes:
            i = node.index
            if node.is_leaf or node.kind in _INLINE:
                continue
            expr = tidy(value(node, [self.prov[a] for a in node.args]).xreplace(self.final))
            if i in folded:
                self.final[self.prov[i]] = expr
                continue
            self.names[i] = self._forward_name(node)
            sym = _symbol(self.names[i], node.shape)
            self.final[self.prov[i]] = sym
            self.full[i] = tuple(node.full_shape or tensor_shape_or_none(expr) or node.shape)
            record = REGISTRY.get(node.kind)
            block = record.block(node.attr) if record is not None and record.block else ""
            steps.append(Step(self.names[i], sym, expr, node.shape, self._role(node), i,
                              kind=node.kind, full_shape=self.full[i], block=block))
        return steps

    def backward_steps(self, folded: set[int], uses: dict[int, int]) -> list[Step]:
        """Adjoint steps in sweep order; a bare copy of another adjoint gets no step."""
        steps = []
        for i in self.order:
            node = self.nodes[i]
            if node.kind in _INLINE or (i == self.graph.root and node.kind != "param"):
                continue
            terms = [Term(self._user_name(u), tidy(t.xreplace(self.final)))
                     for u, t in self.terms[i]]
            if i == self.graph.root:  # the loss is a parameter itself
                terms = [Term(node.attr.name, sp.Integer(1))]
            expr = _total([t.expr for t in terms])
            if node.kind == "param":
                name, role = self.namer.claim(adjoint_name(self.identifiers[node.attr])), Role.GRADIENT
            elif i not in self.graph.names and self._inline_adjoint(expr, i in folded,
                                                                    uses.get(i, 0)):
                self.final[self.adj[i]] = expr
                if i in self.names:  # a forward step's adjoint, read by the paths
                    self.inlined.append(InlinedAdjoint(self.names[i], i, expr, tuple(terms)))
                continue
            else:
                base = self.names.get(i) or self.namer.numbered("T")
                name, role = self.namer.claim(adjoint_name(base)), Role.ADJOINT
            sym = _symbol(name, node.shape)
            self.final[self.adj[i]] = sym
            of = node.attr.name if node.kind == "param" else self.names.get(i, "")
            full = (tuple(self.graph.model.shape_of(node.attr)) if node.kind == "param"
                    else self.full.get(i)) or tensor_shape_or_none(expr) or node.shape
            steps.append(Step(name, sym, expr, node.shape, role, i, tuple(terms), of, node.kind,
                              full))
        return steps

    def _inline_adjoint(self, expr, folded: bool, uses: int) -> bool:
        if isinstance(expr, (sp.Symbol, sp.MatrixSymbol)):
            return True
        if expr.free_symbols <= set(self.graph.model.dims):
            return True
        return folded and uses <= 1

    def _forward_name(self, node: Node) -> str:
        if node.index in self.graph.names:
            return self.namer.claim(self.graph.names[node.index])
        if node.index == self.graph.root:
            return self.namer.claim("L")
        for key, i in self.graph.outputs.items():
            if i == node.index:
                return self.namer.claim(key)
        return self.namer.step(node.kind, node.attr, self.graph.model.is_scalar)

    def _role(self, node: Node) -> Role:
        if node.index == self.graph.root:
            return Role.LOSS
        if node.index in self.graph.outputs.values():
            return Role.OUTPUT
        if node.index not in self.user_of:
            return Role.AUX
        return Role.FORWARD

    def _user_name(self, user: int) -> str:
        """The step a contribution comes from: the user, or the step it was folded into."""
        while user not in self.names and user in self.user_of:
            user = self.user_of[user]
        return self.names.get(user, "L")


def _sample_means(graph: Graph, forward: list[Step], backward: list[Step]):
    """A scalar model's steps with each per-sample term of a parameter-side adjoint (a backward
    step whose node no data reaches) in a ``BatchMean``; ``per_sample`` marks the steps whose
    value differs from sample to sample (they read data outside a mean)."""
    reach = [False] * len(graph.nodes)  # nodes that depend on data (per sample)
    for node in graph.nodes:
        reach[node.index] = node.kind == "data" or any(reach[a] for a in node.args)
    batched = set(graph.model.data)
    out = []
    for step in (*forward, *backward):
        if step.role in (Role.ADJOINT, Role.GRADIENT) and not reach[step.node] and any(
                t.expr.free_symbols & batched for t in step.terms):
            terms = tuple(Term(t.user, BatchMean(t.expr) if t.expr.free_symbols & batched
                               else t.expr) for t in step.terms)
            step = replace(step, expr=_total([t.expr for t in terms]), terms=terms)
        elif step.expr.free_symbols & batched:
            batched.add(step.symbol)
            step = replace(step, per_sample=True)
        out.append(step)
    return out[:len(forward)], out[len(forward):]


def derive(model: Model) -> Derivation:
    """Derive the backpropagation formulas of ``model`` by the chain rule."""
    if not isinstance(model, Model):
        raise SymbpError(f"derive needs a symbp.Model, not a {type(model).__name__}; wrap the "
                         "loss: sb.derive(sb.Model(loss, params=[...])).")
    graph = trace(model)
    return _Sweep(graph).build(model)


def as_derivation(d) -> Derivation:
    """``d`` itself, or the derivation of ``d`` when it is a Model."""
    if isinstance(d, Model):
        return derive(d)
    if not isinstance(d, Derivation):
        raise SymbpError(f"expected a Model or a Derivation (from sb.derive(model)), not a "
                         f"{type(d).__name__}.")
    return d
