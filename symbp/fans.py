"""How each parameter starts, read off the graph at derive time (``Derivation.init``).

Weights feeding a ReLU (a record whose ``init`` is ``"he"``) get He-normal, other weights
Glorot-uniform, with the fans of the matrix product a weight enters, the convolution a
kernel (O, C, kh, kw) enters (fan-in C·kh·kw), or the sum of products a scalar weight is a
term of; biases zeros, a norm's gain ones. ``training.init_plan`` writes the generated
module's ``init_params`` from these facts, without walking the graph itself.
"""

from __future__ import annotations

from typing import NamedTuple

from .graph import Graph
from .primitives import by_class

__all__ = ["Init", "init_facts"]


class Init(NamedTuple):
    """A parameter's initialisation: ``rule`` (zeros, ones, he, glorot) and its fans (None
    where the rule has none; a dimension may be a symbol)."""

    rule: str
    fan_in: object = None
    fan_out: object = None


def init_facts(graph: Graph) -> dict:
    """param symbol -> its ``Init``, in the order of the model's parameters."""
    users = _users(graph)
    leaf = {node.attr: node for node in graph.nodes if node.kind == "param"}
    model = graph.model
    return {p: Init(*_init_rule(graph, users, leaf[p], model.shape_of(p)))
            for p in model.params if p in leaf}


def _users(graph) -> dict[int, list[tuple[int, int, bool]]]:
    """node -> [(user, argument position, through a transpose)], transposes looked through."""
    direct: dict[int, list[tuple[int, int]]] = {}
    for node in graph.nodes:
        for pos, a in enumerate(node.args):
            direct.setdefault(a, []).append((node.index, pos))
    out: dict[int, list[tuple[int, int, bool]]] = {}
    for node in graph.nodes:
        found, stack = [], [(node.index, False)]
        while stack:
            i, flipped = stack.pop()
            for user, pos in direct.get(i, []):
                if graph.nodes[user].kind == "transpose":
                    stack.append((user, not flipped))
                else:
                    found.append((user, pos, flipped))
        out[node.index] = found
    return out


def _feeds_relu(graph, users, index: int) -> bool:
    """Whether node ``index`` reaches a function whose record asks for He init (ReLU)
    through additions and scalings only."""
    seen = 0
    while seen < 8:
        seen += 1
        after = users.get(index, [])
        if len(after) != 1:
            return False
        node = graph.nodes[after[0][0]]
        template = node.attr if node.kind in ("map", "scalar") else None
        record = by_class(template) if template is not None else None
        if record is not None and record.init == "he":
            return True
        if node.kind not in ("add", "scale") and not (node.kind == "scalar" and template.is_Add):
            return False
        index = node.index
    return False


def _scales_normalized(graph, users, node) -> bool:
    """Whether the broadcast ``node`` multiplies a normalised input (a norm's gain, 1 at
    first, as torch's)."""
    for user, _, _ in users.get(node, []):
        if graph.nodes[user].kind == "hadamard" and any(
                graph.nodes[a].kind == "normalize" for a in graph.nodes[user].args):
            return True
    return False


def _init_rule(graph, users, node, shape) -> tuple[str, object, object]:
    """``(rule, fan_in, fan_out)`` with rule in zeros / he / glorot."""
    uses = users.get(node.index, [])
    for user, pos, flipped in uses:
        kind = graph.nodes[user].kind
        if kind in ("broadcast_rows", "broadcast_cols") or (kind == "conv2d" and pos == 2):
            return ("ones" if _scales_normalized(graph, users, user) else "zeros"), None, None
        if kind == "conv2d" and pos == 1:  # a kernel (O, C, kh, kw): fans C·kh·kw and O·kh·kw
            o, c, kh, kw = shape
            rule = "he" if _feeds_relu(graph, users, user) else "glorot"
            return rule, c * kh * kw, o * kh * kw
        if kind == "matmul" and shape:
            rows, cols = shape
            fan_in, fan_out = (rows, cols) if (pos == 1) != flipped else (cols, rows)
            return ("he" if _feeds_relu(graph, users, user) else "glorot"), fan_in, fan_out
        if kind == "scalar" and graph.nodes[user].attr.is_Mul:
            sums = [u for u, _, _ in users.get(user, []) if graph.nodes[u].attr is not None
                    and graph.nodes[u].kind == "scalar" and graph.nodes[u].attr.is_Add]
            if sums:
                fan_in = sum(1 for a in graph.nodes[sums[0]].args
                             if graph.nodes[a].kind == "scalar" and graph.nodes[a].attr.is_Mul)
                rule = "he" if _feeds_relu(graph, users, sums[0]) else "glorot"
                return rule, max(fan_in, 1), 1
        if kind == "scalar" and graph.nodes[user].attr.is_Add and not shape:
            return "zeros", None, None
    fan = shape or (1, 1)
    return "glorot", fan[0], fan[-1]
