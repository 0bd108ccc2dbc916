"""The derivation explained step by step, in English or Chinese, for terminals.

The order is the one a teacher uses: the nodes of the computational graph,
the forward pass, the loss, then each backward step as a chain-rule line
``∂L/∂Z1 = ∂L/∂A1 ⊙ ∂A1/∂Z1 = ...`` (upstream gradient times local
derivative, summed over every use of a value), the parameter gradients and
the gradient-descent update. With ``values`` every step shows its number.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

from .errors import SymbpError
from .ir import Derivation, Step
from .text import unicode

__all__ = ["explain", "step_values", "evaluate_at", "format_value", "TEXT"]

TEXT = {
    "en": {
        "title": "Backpropagation in {name}",
        "graph": "Computational graph: {nodes} nodes, each one local computation.",
        "data": "Data (inputs): {items}",
        "params": "Parameters: {items}",
        "forward": "Forward pass (each node from its inputs):",
        "loss": "Loss (the error to minimise):",
        "backward": "Backward pass (chain rule: upstream gradient × local derivative, "
                    "summed over every use of a value):",
        "grads": "Parameter gradients:",
        "update": "Gradient-descent update (learning rate η):",
        "none": "none",
    },
    "zh": {
        "title": "{name} 的误差反向传播",
        "graph": "计算图：共 {nodes} 个节点，每个节点只做一步局部计算。",
        "data": "数据（输入）：{items}",
        "params": "参数（权重）：{items}",
        "forward": "前向传播（每个节点由它的输入计算）：",
        "loss": "损失（要最小化的误差）：",
        "backward": "反向传播（链式法则：上游梯度 × 局部导数，对每一条路径求和）：",
        "grads": "参数的梯度：",
        "update": "权重更新（梯度下降，学习率 η）：",
        "none": "无",
    },
}

_ELEMENTWISE = frozenset({"map", "hadamard", "hpow", "softmax", "log_softmax"})


def format_value(value) -> str:
    """A number as a teacher writes it (``0.7``, ``1000``); small matrices in full."""
    if isinstance(value, sp.MatrixBase):
        array = np.array(value.evalf(), dtype=float)
        if array.size <= 4:
            return np.array2string(array, precision=4, suppress_small=True).replace("\n", "")
        return f"({array.shape[0]}×{array.shape[1]}, ‖·‖ = {np.linalg.norm(array):.4g})"
    number = complex(sp.N(value))
    return f"{number.real:.6g}" if number.imag == 0 else f"{number:.6g}"


def evaluate_at(expr, env: dict):
    """The value of ``expr`` with the symbols of ``env`` substituted (explicit matrices)."""
    value = expr.xreplace(env)
    if getattr(value, "is_Matrix", False):
        value = value.replace(lambda e: isinstance(e, sp.OneMatrix),
                              lambda e: sp.ones(*e.shape))
        return sp.ImmutableMatrix(value.doit().as_explicit())
    return value.doit()


def _value(sym, value):
    try:
        if isinstance(sym, sp.MatrixSymbol):
            return sp.ImmutableMatrix(np.atleast_2d(np.asarray(value)).tolist())
        return sp.Float(value) if isinstance(value, float) else sp.sympify(value)
    except (TypeError, ValueError, sp.SympifyError) as exc:
        raise SymbpError(f"the value given for {sym.name} is not a number or matrix.") from exc


def step_values(d: Derivation, values: Mapping) -> dict:
    """symbol -> value of every model symbol given and every step (SymPy, exact)."""
    model = d.model
    missing = [s.name for s in (*model.params, *model.data) if s not in values]
    if missing:
        raise SymbpError(f"values has no number for {', '.join(missing)}; give one for every "
                         "parameter and data symbol.")
    env = {}
    for sym in (*model.params, *model.data):
        value = values[sym]
        env[sym] = _value(sym, value)
        if isinstance(sym, sp.MatrixSymbol):
            for dim, size in zip(sym.shape, env[sym].shape, strict=True):
                if dim.is_Symbol and env.setdefault(dim, sp.Integer(size)) != size:
                    raise SymbpError(f"the value of {sym.name} has {size} for {dim}, but another "
                                     f"value has {env[dim]}.")
                if not dim.is_Symbol and dim != size:
                    raise SymbpError(f"the value of {sym.name} has shape {env[sym].shape}, "
                                     f"but {sym.name} is {sym.shape[0]} x {sym.shape[1]}.")
    for step in d.steps:
        try:
            env[step.symbol] = evaluate_at(step.expr, env)
        except (TypeError, ValueError, AttributeError) as exc:
            raise SymbpError(f"cannot evaluate the step {step.name} at the given values: "
                             f"{exc}.") from exc
    return env


class _Explainer:
    def __init__(self, d: Derivation, lang: str, values: Mapping | None):
        if lang not in TEXT:
            raise SymbpError(f"no explanation in {lang!r}; choose one of {', '.join(TEXT)}.")
        self.d, self.t = d, TEXT[lang]
        self.loss = d.loss.name if hasattr(d.loss, "name") else "L"
        self.partials = {s.symbol: f"∂{self.loss}/∂{s.of}" for s in d.backward if s.of}
        self.values = step_values(d, values) if values is not None else None
        self.kinds = {s.name: d.graph.nodes[s.node].kind for s in d.forward if s.node >= 0}

    def number(self, sym) -> str:
        if self.values is None or sym not in self.values:
            return ""
        return f" = {format_value(self.values[sym])}"

    def show(self, expr) -> str:
        return unicode(expr, self.partials)

    def forward(self, step: Step) -> str:
        return f"  {step.name} = {self.show(step.expr)}{self.number(step.symbol)}"

    def chain(self, step: Step) -> str:
        """``∂L/∂Z1 = ∂L/∂A1 ⊙ ∂A1/∂Z1 = <formula>``."""
        pieces = []
        for term in step.terms:
            if term.user == self.loss and step.of == self.loss:
                continue
            op = "⊙" if self.kinds.get(term.user) in _ELEMENTWISE else "·"
            pieces.append(f"∂{self.loss}/∂{term.user} {op} ∂{term.user}/∂{step.of}")
        middle = " + ".join(pieces)
        lhs = f"∂{self.loss}/∂{step.of}"
        formula = self.show(step.expr)
        chain = f" = {middle}" if middle and middle != formula else ""
        return f"  {lhs}{chain} = {formula}{self.number(step.symbol)}"

    def text(self) -> str:
        d, t = self.d, self.t
        model = d.model

        def items(symbols):
            return ", ".join(f"{s.name} ({'×'.join(map(str, s.shape))})" if s.is_Matrix else s.name
                             for s in symbols) or t["none"]
        lines = [t["title"].format(name=model.name)]
        if model.description:
            lines.append(model.description)
        lines += ["", t["graph"].format(nodes=len(d.forward)),
                  t["data"].format(items=items(model.data)),
                  t["params"].format(items=items(model.params)), ""]
        if self.values is not None:
            given = [f"{s.name} = {format_value(self.values[s])}" for s in model.symbols
                     if s in self.values and s not in model.dims]
            lines += ["  " + ", ".join(given), ""]
        lines.append(t["forward"])
        lines += [self.forward(s) for s in d.forward if s.role != "loss"]
        lines += ["", t["loss"]]
        lines += [self.forward(s) for s in d.forward if s.role == "loss"]
        lines += ["", t["backward"], f"  ∂{self.loss}/∂{self.loss} = 1"]
        lines += [self.chain(s) for s in d.backward if s.role == "adjoint"]
        lines += ["", t["grads"]]
        lines += [self.chain(s) for s in d.backward if s.role == "gradient"]
        lines += ["", t["update"]]
        for p in model.params:
            lines.append(f"  {p.name} ← {p.name} − η · ∂{self.loss}/∂{p.name}")
        return "\n".join(lines) + "\n"


def explain(d: Derivation, lang: str = "en", values: Mapping | None = None) -> str:
    """The derivation as a chain-rule lesson (``lang`` "en" or "zh")."""
    return _Explainer(d, lang, values).text()
